import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as gifencNs from 'gifenc';

// gifenc ships CommonJS (node) and ESM (bundlers): take the functions from wherever they are.
type GifencLib = typeof gifencNs;
const gifenc: GifencLib = (gifencNs as unknown as { quantize?: unknown }).quantize
  ? gifencNs
  : (gifencNs as unknown as { default: GifencLib }).default;
const { GIFEncoder, applyPalette, quantize } = gifenc;

/** Encode packed RGB frames as an animated GIF (through gifenc), looping forever. */
export function encodeGif(frames: Uint8Array, width: number, height: number, numFrames: number, fps: number): Uint8Array {
  const gif = GIFEncoder();
  const px = width * height;
  const rgba = new Uint8Array(px * 4);
  // One global palette from a few frames keeps colors stable across the animation.
  const picks = Math.min(numFrames, 4);
  const sample = new Uint8Array(px * 4 * picks);
  for (let k = 0; k < picks; k++) {
    const f = Math.floor((k * numFrames) / picks);
    const src = f * px * 3;
    for (let i = 0; i < px; i++) {
      sample[(k * px + i) * 4] = frames[src + i * 3];
      sample[(k * px + i) * 4 + 1] = frames[src + i * 3 + 1];
      sample[(k * px + i) * 4 + 2] = frames[src + i * 3 + 2];
      sample[(k * px + i) * 4 + 3] = 255;
    }
  }
  const palette = quantize(sample, 256);
  const delay = Math.round(1000 / fps);
  for (let f = 0; f < numFrames; f++) {
    const src = f * px * 3;
    for (let i = 0; i < px; i++) {
      rgba[i * 4] = frames[src + i * 3];
      rgba[i * 4 + 1] = frames[src + i * 3 + 1];
      rgba[i * 4 + 2] = frames[src + i * 3 + 2];
      rgba[i * 4 + 3] = 255;
    }
    const index = applyPalette(rgba, palette);
    gif.writeFrame(index, width, height, { palette: f === 0 ? palette : undefined, delay, repeat: 0 });
  }
  gif.finish();
  return gif.bytes();
}

/** Write a file atomically: to a temporary name in the same folder, then rename. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}

export async function writeGif(file: string, frames: Uint8Array, width: number, height: number, numFrames: number, fps: number): Promise<void> {
  await writeFileAtomic(file, encodeGif(frames, width, height, numFrames, fps));
}
