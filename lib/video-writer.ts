// Writing decoded frames to a file as they arrive (tessera decode): an animated GIF
// (gifenc, a palette per chunk written) or raw rgb24 frames.
// Each writer appends to a temporary file in the same folder and renames it onto the
// real name in close(), so an interrupted decode never leaves a truncated video there.
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import * as gifencNs from 'gifenc';
import type { NdArray } from './ops.js';

// gifenc ships CommonJS (node) and ESM (bundlers): take the functions from wherever they are.
type GifencLib = typeof gifencNs;
const gifenc: GifencLib = (gifencNs as unknown as { quantize?: unknown }).quantize
  ? gifencNs
  : (gifencNs as unknown as { default: GifencLib }).default;
// The encoder's stream API (writeHeader / reset), which lib/world/gifenc.d.ts leaves out.
type StreamingEncoder = gifencNs.Encoder & { writeHeader(): void; reset(): void };

/**
 * Frames [N, 3, t, H, W] in [-1, 1] of batch item `index` -> packed rgb24 (t x H x W x 3):
 * v -> round((v + 1) * 127.5), clamped to 0..255.
 */
export function framesToRgb(frames: NdArray, index = 0): Uint8Array {
  const [N, C, T, H, W] = frames.shape as [number, number, number, number, number];
  if (frames.shape.length !== 5 || C !== 3) throw new RangeError(`frames must be [N, 3, t, H, W], got [${frames.shape.join(', ')}]`);
  if (!(Number.isInteger(index) && index >= 0 && index < N)) throw new RangeError(`index must be an integer between 0 and ${N - 1}, got ${index}`);
  const plane = H * W;
  const out = new Uint8Array(T * plane * 3);
  const d = frames.data;
  for (let c = 0; c < 3; c++)
    for (let t = 0; t < T; t++) {
      const src = ((index * 3 + c) * T + t) * plane;
      const dst = t * plane * 3 + c;
      for (let p = 0; p < plane; p++) {
        const v = Math.round((d[src + p]! + 1) * 127.5);
        out[dst + p * 3] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  return out;
}

export interface VideoWriter {
  /** Appends `count` packed rgb24 frames. */
  write(rgb: Uint8Array, count: number): Promise<void>;
  /** Finishes the file and moves it to its name. */
  close(): Promise<void>;
  /** Drops the temporary file (after a failure). */
  abort(): Promise<void>;
  readonly frames: number;
}

abstract class TempFileWriter implements VideoWriter {
  frames = 0;
  protected fh?: FileHandle;
  protected readonly tmp: string;
  constructor(protected readonly path: string) {
    this.tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  }
  protected async append(bytes: Uint8Array): Promise<void> {
    this.fh ??= await fs.open(this.tmp, 'w');
    await this.fh.write(bytes);
  }
  abstract write(rgb: Uint8Array, count: number): Promise<void>;
  protected async finish(): Promise<void> {}
  async close(): Promise<void> {
    await this.finish();
    if (!this.fh) this.fh = await fs.open(this.tmp, 'w');
    await this.fh.close();
    this.fh = undefined;
    await fs.rename(this.tmp, this.path);
  }
  async abort(): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
    await fs.rm(this.tmp, { force: true });
  }
}

/**
 * Animated GIF, looping, `fps` frames per second. Each chunk written gets its own 256-colour
 * palette, quantized from up to 4 of its frames: the first chunk's is the global colour table,
 * later chunks' frames carry it as a local table, so colours that appear only later in a
 * stream keep their hue (and stay stable within a chunk).
 */
export class GifWriter extends TempFileWriter {
  private readonly enc = gifenc.GIFEncoder({ auto: false }) as StreamingEncoder;
  private readonly rgba: Uint8Array;
  constructor(path: string, readonly width: number, readonly height: number, readonly fps: number) {
    super(path);
    this.rgba = new Uint8Array(width * height * 4);
  }
  async write(rgb: Uint8Array, count: number): Promise<void> {
    const px = this.width * this.height;
    if (rgb.length !== count * px * 3) throw new RangeError(`expected ${count} frames of ${this.width}x${this.height} rgb24, got ${rgb.length} bytes`);
    if (count === 0) return;
    const picks = Math.min(count, 4);
    const sample = new Uint8Array(px * 4 * picks);
    for (let k = 0; k < picks; k++) {
      const src = Math.floor((k * count) / picks) * px * 3;
      for (let i = 0; i < px; i++) {
        sample[(k * px + i) * 4] = rgb[src + i * 3]!;
        sample[(k * px + i) * 4 + 1] = rgb[src + i * 3 + 1]!;
        sample[(k * px + i) * 4 + 2] = rgb[src + i * 3 + 2]!;
        sample[(k * px + i) * 4 + 3] = 255;
      }
    }
    const palette = gifenc.quantize(sample, 256);
    if (this.frames === 0) this.enc.writeHeader();
    const delay = Math.round(1000 / this.fps);
    for (let f = 0; f < count; f++) {
      const src = f * px * 3;
      for (let i = 0; i < px; i++) {
        this.rgba[i * 4] = rgb[src + i * 3]!;
        this.rgba[i * 4 + 1] = rgb[src + i * 3 + 1]!;
        this.rgba[i * 4 + 2] = rgb[src + i * 3 + 2]!;
        this.rgba[i * 4 + 3] = 255;
      }
      const index = gifenc.applyPalette(this.rgba, palette);
      // the global table on the first frame, a local one on every later frame
      this.enc.writeFrame(index, this.width, this.height, { palette, first: this.frames === 0, delay, repeat: 0 });
      this.frames++;
    }
    await this.append(this.enc.bytes());
    this.enc.reset(); // the bytes are on disk: start the buffer over
  }
  protected override async finish(): Promise<void> {
    if (this.frames === 0) throw new RangeError('a GIF needs at least one frame');
    this.enc.finish();
    await this.append(this.enc.bytes());
    this.enc.reset();
  }
}

/** Raw rgb24 frames, one after another (ffmpeg: -f rawvideo -pix_fmt rgb24 -s WxH -r fps -i file). */
export class RawRgbWriter extends TempFileWriter {
  constructor(path: string, readonly width: number, readonly height: number) {
    super(path);
  }
  async write(rgb: Uint8Array, count: number): Promise<void> {
    if (rgb.length !== count * this.width * this.height * 3)
      throw new RangeError(`expected ${count} frames of ${this.width}x${this.height} rgb24, got ${rgb.length} bytes`);
    await this.append(rgb);
    this.frames += count;
  }
}

export const VIDEO_OUT_EXTENSIONS = ['.gif', '.rgb'] as const;

/** A writer for `path` by its extension (.gif or .rgb). */
export function videoWriter(path: string, width: number, height: number, fps: number): VideoWriter {
  const ext = extname(path).toLowerCase();
  if (ext === '.gif') return new GifWriter(path, width, height, fps);
  if (ext === '.rgb') return new RawRgbWriter(path, width, height);
  throw new RangeError(`--out must end in ${VIDEO_OUT_EXTENSIONS.join(' or ')} (animated GIF or raw rgb24 frames), got ${path}`);
}
