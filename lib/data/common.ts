// Shared pieces of the data loaders: the clip type, errors with codes, uint8 RGB -> float
// conversion into the channels-first layout, and a small antialiased resampler.
import type { NdArray } from '../ops.js';

/** Where a clip came from, and what is known about it. */
export interface ClipMeta {
  source: 'world' | 'fashion-mnist' | 'folder';
  /** World: the detailed caption and the short one. */
  caption?: string;
  shortCaption?: string;
  /** Fashion-MNIST: label 0..9, its class name and the image index in the split. */
  label?: number;
  className?: string;
  index?: number;
  /** Folder: the file, and the first frame of the window taken from it (0 for an image). */
  path?: string;
  start?: number;
  /** World: the sample's seed and frame rate (folder videos: the file's frame rate, when known). */
  seed?: number;
  fps?: number;
}

/** One training clip: x is [3, T, H, W] float32 in [-1, 1] (T = 1 for an image). */
export interface Clip {
  x: NdArray;
  meta: ClipMeta;
}

export type DataErrorCode =
  /** Dataset files are not installed where they were looked for. */
  | 'ERR_TESSERA_DATA_MISSING'
  /** An IDX file is malformed: bad magic, type, dims, or truncated. */
  | 'ERR_TESSERA_IDX'
  /** ffmpeg / ffprobe are not on PATH (or not where TESSERA_FFMPEG points). */
  | 'ERR_TESSERA_FFMPEG'
  /** An image or video could not be decoded. */
  | 'ERR_TESSERA_DECODE'
  /** A folder has nothing usable for the request (no media, no video long enough). */
  | 'ERR_TESSERA_NO_DATA';

export interface DataError extends Error {
  code: DataErrorCode;
  /** The file or folder the error is about. */
  path?: string;
}

export function dataError(code: DataErrorCode, message: string, path?: string, cause?: unknown): DataError {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as DataError;
  err.code = code;
  if (path !== undefined) err.path = path;
  return err;
}

/** uint8 0..255 -> [-1, 1]: 0 -> -1, 255 -> 1. */
export const U8_TO_UNIT = new Float32Array(256).map((_, i) => i / 127.5 - 1);

/**
 * Packed RGB frames (T x H x W x 3, as the world renderer and ffmpeg's rgb24 write them)
 * into channels-first [3, T, H, W] floats in [-1, 1], written to out at offset.
 */
export function rgbToChannelsFirst(
  rgb: Uint8Array,
  T: number,
  H: number,
  W: number,
  out: Float32Array = new Float32Array(3 * T * H * W),
  offset = 0,
): Float32Array {
  const plane = T * H * W;
  if (rgb.length < plane * 3) throw new RangeError(`rgbToChannelsFirst: ${rgb.length} bytes, expected ${plane * 3} for ${T}x${H}x${W}x3`);
  const r = offset, g = offset + plane, b = offset + 2 * plane;
  for (let p = 0, q = 0; p < plane; p++, q += 3) {
    out[r + p] = U8_TO_UNIT[rgb[q]!]!;
    out[g + p] = U8_TO_UNIT[rgb[q + 1]!]!;
    out[b + p] = U8_TO_UNIT[rgb[q + 2]!]!;
  }
  return out;
}

/** A [3, T, H, W] clip from packed RGB frames. */
export function rgbClip(rgb: Uint8Array, T: number, H: number, W: number): NdArray {
  return { data: rgbToChannelsFirst(rgb, T, H, W), shape: [3, T, H, W] };
}

interface Taps {
  /** taps per output sample */
  k: number;
  idx: Int32Array;
  w: Float32Array;
}

/** Triangle-filter taps for resizing inSize -> outSize, widened when shrinking (antialiasing, as PIL does). */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = Math.max(1, scale);
  const k = Math.ceil(support) * 2 + 1;
  const idx = new Int32Array(outSize * k);
  const w = new Float32Array(outSize * k);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.floor(center - support);
    let total = 0;
    for (let j = 0; j < k; j++) {
      const i = lo + j;
      const d = Math.abs(i + 0.5 - center) / support;
      const wt = d < 1 ? 1 - d : 0;
      idx[o * k + j] = i < 0 ? 0 : i >= inSize ? inSize - 1 : i;
      w[o * k + j] = wt;
      total += wt;
    }
    for (let j = 0; j < k; j++) w[o * k + j] /= total;
  }
  return { k, idx, w };
}

/** Resizes one float plane h x w -> H x W (bilinear, antialiased when shrinking). Values stay within the input's range. */
export function resizePlane(src: Float32Array, h: number, w: number, H: number, W: number): Float32Array {
  if (h === H && w === W) return src.slice(0, h * w);
  const tx = taps(w, W);
  const ty = taps(h, H);
  const tmp = new Float32Array(h * W);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let j = 0, t = x * tx.k; j < tx.k; j++, t++) s += src[row + tx.idx[t]!]! * tx.w[t]!;
      tmp[y * W + x] = s;
    }
  }
  const out = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let j = 0, t = y * ty.k; j < ty.k; j++, t++) {
      const wt = ty.w[t]!;
      if (wt === 0) continue;
      const row = ty.idx[t]! * W;
      for (let x = 0; x < W; x++) out[y * W + x] += tmp[row + x] * wt;
    }
  }
  return out;
}
