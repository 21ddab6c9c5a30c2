import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipSampler, encodeIdx, rgbToChannelsFirst, type ClipBatch, type ClipSamplerOptions } from '../../lib/data/index.js';
import { generateSample } from '../../lib/world/index.js';
import { FFMPEG } from '../helpers/ffmpeg.js';

/** Bytewise equality (vitest's toEqual walks a big typed array element by element, slowly). */
const same = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-clips-'));
const images = path.join(tmp, 'images');
const mixed = path.join(tmp, 'mixed');
const fashion = path.join(tmp, 'fashion');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

beforeAll(async () => {
  for (const d of [images, mixed, fashion, path.join(tmp, 'empty')]) mkdirSync(d, { recursive: true });
  // two noisy images of different sizes and aspect ratios
  for (const [name, w, h] of [['n1.png', 90, 60], ['n2.png', 50, 100]] as const) {
    const px = Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 2654435761) >>> 24));
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(images, name));
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(mixed, name));
  }
  if (FFMPEG) {
    const ff = (...args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args], { stdio: 'ignore' });
    ff('-f', 'lavfi', '-i', 'testsrc=size=80x64:rate=8', '-frames:v', '12', '-pix_fmt', 'yuv420p', path.join(mixed, 'v.mp4'));
  }
  // a fake Fashion-MNIST train split of 20 images
  const n = 20;
  const px = Uint8Array.from({ length: n * 784 }, (_, k) => ((k % 784) * 3 + Math.floor(k / 784) * 11) % 256);
  writeFileSync(path.join(fashion, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx(px, [n, 28, 28])));
  writeFileSync(path.join(fashion, 'train-labels-idx1-ubyte.gz'), gzipSync(encodeIdx(Uint8Array.from({ length: n }, (_, i) => i % 10), [n])));
});

async function take(opts: ClipSamplerOptions, n: number): Promise<ClipBatch[]> {
  const out: ClipBatch[] = [];
  for await (const b of clipSampler(opts)) {
    out.push(b);
    if (out.length === n) break;
  }
  return out;
}

function checkBatch(b: ClipBatch, B: number) {
  const [H, W] = b.size;
  expect(b.x.shape).toEqual([B, 3, b.frames, H, W]);
  expect(b.x.data.length).toBe(B * 3 * b.frames * H * W);
  expect(b.meta.length).toBe(B);
  let lo = Infinity, hi = -Infinity;
  for (const v of b.x.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  expect(lo).toBeGreaterThanOrEqual(-1);
  expect(hi).toBeLessThanOrEqual(1);
  expect(hi).toBeGreaterThan(lo); // not blank
}

const SIZES: [number, number][] = [[64, 64], [48, 80], [80, 48], [32, 32]];

describe('clipSampler: world', () => {
  it('yields batches [B, 3, T, H, W] in [-1, 1] with captions, varied sizes and T in {1, frames}', async () => {
    const batches = await take({ source: 'world', frames: 5, sizes: SIZES, batchSize: 2, imageFraction: 0.4, seed: 7 }, 16);
    for (const b of batches) {
      checkBatch(b, 2);
      expect(b.source).toBe('world');
      expect([1, 5]).toContain(b.frames);
      for (const m of b.meta) {
        expect(m.source).toBe('world');
        expect(m.caption!.length).toBeGreaterThan(10);
      }
    }
    expect(batches.map((b) => b.index)).toEqual([...Array(16).keys()]);
    const sizes = new Set(batches.map((b) => b.size.join('x')));
    expect(sizes.size).toBeGreaterThanOrEqual(3);
    expect(new Set(batches.map((b) => b.frames))).toEqual(new Set([1, 5]));
    // clips of a batch differ (own seeds)
    const b = batches[0];
    const per = b.x.data.length / 2;
    expect(same(b.x.data.subarray(0, per), b.x.data.subarray(per))).toBe(false);
  });

  it('renders non-square sizes natively: each clip is the world sample rendered at exactly [H, W]', async () => {
    const [b] = await take({ source: 'world', frames: 5, imageFraction: 0, sizes: [[48, 80]], batchSize: 2, seed: 3 }, 1);
    expect(b.x.shape).toEqual([2, 3, 5, 48, 80]);
    const m = b.meta[1];
    const s = generateSample({ seed: m.seed!, width: 80, height: 48, numFrames: 5, fps: m.fps! });
    expect(m.caption).toBe(s.caption);
    const per = 3 * 5 * 48 * 80;
    expect(same(b.x.data.subarray(per), rgbToChannelsFirst(s.frames, 5, 48, 80))).toBe(true);
  });

  it('is deterministic for a seed, in any order, with or without prefetch', async () => {
    const opts: ClipSamplerOptions = { source: 'world', frames: 9, sizes: SIZES, batchSize: 2, seed: 42 };
    const a = await take(opts, 3);
    const b = await take({ ...opts, prefetch: 0 }, 3);
    const s = clipSampler(opts);
    const c2 = await s.batch(2);
    const c0 = await s.batch(0);
    for (const [x, y] of [[a[0], b[0]], [a[2], b[2]], [a[2], c2], [a[0], c0]]) {
      expect(y.size).toEqual(x.size);
      expect(y.frames).toBe(x.frames);
      expect(y.meta).toEqual(x.meta);
      expect(same(y.x.data, x.x.data)).toBe(true);
    }
    const other = await take({ ...opts, seed: 43 }, 1);
    expect(other[0].meta.map((m) => m.caption)).not.toEqual(a[0].meta.map((m) => m.caption));
  });

  it('stops after count batches', async () => {
    const out: ClipBatch[] = [];
    for await (const b of clipSampler({ source: 'world', frames: 1, sizes: [[16, 16]], batchSize: 1, count: 3 })) out.push(b);
    expect(out.length).toBe(3);
    expect(clipSampler({ source: 'world', count: 0 }).options.count).toBe(0);
  });
});

describe('clipSampler: Fashion-MNIST', () => {
  it('yields images (T = 1) padded with -1, whatever frames says', async () => {
    const batches = await take({ source: 'fashion-mnist', root: fashion, frames: 17, sizes: [[32, 32], [48, 80]], batchSize: 4, seed: 1 }, 6);
    for (const b of batches) {
      checkBatch(b, 4);
      expect(b.frames).toBe(1);
      expect(b.x.data[0]).toBe(-1); // top-left corner is padding
      for (const m of b.meta) {
        expect(m.source).toBe('fashion-mnist');
        expect(m.label).toBe(m.index! % 10);
      }
    }
    expect(new Set(batches.map((b) => b.size.join('x'))).size).toBe(2);
  });

  it('reports missing files on the first batch', async () => {
    const s = clipSampler({ source: 'fashion-mnist', root: path.join(tmp, 'empty') });
    await expect(s.next()).rejects.toMatchObject({ code: 'ERR_TESSERA_DATA_MISSING', message: expect.stringContaining('apt-get install dataset-fashion-mnist') });
  });
});

describe('clipSampler: folders', () => {
  it('crops images randomly to each size (image-only folder: T = 1)', async () => {
    const batches = await take({ source: images, frames: 5, sizes: [[32, 32], [24, 40]], batchSize: 3, seed: 5 }, 4);
    for (const b of batches) {
      checkBatch(b, 3);
      expect(b.frames).toBe(1);
      expect(b.source).toBe(images);
      for (const m of b.meta) expect(path.dirname(m.path!)).toBe(images);
    }
    // the same crops again for the same seed
    const again = await take({ source: images, frames: 5, sizes: [[32, 32], [24, 40]], batchSize: 3, seed: 5 }, 4);
    expect(again.map((b) => Array.from(b.x.data.subarray(0, 64)))).toEqual(batches.map((b) => Array.from(b.x.data.subarray(0, 64))));
  });

  it.skipIf(!FFMPEG)('takes random frame windows from videos, and single frames for image batches', async () => {
    const opts: ClipSamplerOptions = { source: mixed, frames: 5, sizes: [[32, 32], [48, 64]], batchSize: 2, imageFraction: 0.3, seed: 11 };
    const batches = await take(opts, 8);
    const videoBatches = batches.filter((b) => b.frames === 5);
    expect(videoBatches.length).toBeGreaterThan(0);
    expect(batches.some((b) => b.frames === 1)).toBe(true);
    for (const b of batches) checkBatch(b, 2);
    for (const b of videoBatches)
      for (const m of b.meta) {
        expect(m.path).toBe(path.join(mixed, 'v.mp4'));
        expect(m.start).toBeGreaterThanOrEqual(0);
        expect(m.start).toBeLessThanOrEqual(12 - 5);
      }
    const again = await clipSampler(opts).batch(videoBatches[0].index);
    expect(same(again.x.data, videoBatches[0].x.data)).toBe(true);
    // no video of 13 frames
    const long = clipSampler({ ...opts, frames: 13, imageFraction: 0 });
    await expect(long.batch(0)).rejects.toMatchObject({ code: 'ERR_TESSERA_NO_DATA', message: expect.stringContaining('no video with at least 13 frames') });
  });

  it('mixes sources by weight, one source per batch', async () => {
    const batches = await take({ source: [{ source: 'world', weight: 1 }, images], frames: 5, sizes: [[32, 32]], batchSize: 1, seed: 2 }, 12);
    const sources = new Set(batches.map((b) => b.source));
    expect(sources).toEqual(new Set(['world', images]));
    for (const b of batches) expect(b.meta[0].source).toBe(b.source === 'world' ? 'world' : 'folder');
  });

  it('draws each source\'s batches from its own sizes when it has them', async () => {
    const source = [{ source: 'world', sizes: [[32, 48]] as [number, number][] }, { source: images, sizes: [[16, 24], [24, 16]] as [number, number][] }];
    const batches = await take({ source, frames: 5, sizes: [[64, 64]], batchSize: 1, seed: 4 }, 12);
    expect(new Set(batches.map((b) => b.source))).toEqual(new Set(['world', images]));
    for (const b of batches) {
      if (b.source === 'world') expect(b.size).toEqual([32, 48]);
      else expect([[16, 24], [24, 16]]).toContainEqual(b.size);
      expect(b.x.shape.slice(3)).toEqual(b.size);
    }
    // the shared sizes still apply to sources without their own
    const mixed = await take({ source: ['world', { source: images, sizes: [[16, 16]] }], frames: 5, sizes: [[40, 40]], batchSize: 1, seed: 4 }, 12);
    for (const b of mixed) expect(b.size).toEqual(b.source === 'world' ? [40, 40] : [16, 16]);
  });

  it('cuts a random window of each clip when asked for a crop, keeping the content of the full size', async () => {
    const opts = { source: 'world', frames: 5, sizes: [[48, 64]] as [number, number][], batchSize: 3, seed: 9 };
    const full = await clipSampler(opts).batch(2);
    const cut = await clipSampler({ ...opts, crop: [24, 32] }).batch(2);
    expect(cut.x.shape).toEqual([3, 3, 5, 24, 32]);
    expect(cut.size).toEqual([24, 32]);
    const offsets = new Set<string>();
    for (let j = 0; j < 3; j++) {
      // the window is the full clip's [y0, y0 + 24) x [x0, x0 + 32) for exactly one (y0, x0)
      const at = (a: Float32Array, H: number, W: number, c: number, y: number, x: number) => a[((j * 15 + c) * H + y) * W + x];
      const hits: string[] = [];
      for (let y0 = 0; y0 <= 24; y0++)
        for (let x0 = 0; x0 <= 32; x0++) {
          let same = true;
          for (let c = 0; c < 15 && same; c++)
            for (let y = 0; y < 24 && same; y++)
              for (let x = 0; x < 32 && same; x++) same = at(cut.x.data, 24, 32, c, y, x) === at(full.x.data, 48, 64, c, y0 + y, x0 + x);
          if (same) hits.push(`${y0},${x0}`);
        }
      expect(hits.length).toBeGreaterThanOrEqual(1);
      offsets.add(hits[0]!);
    }
    expect(offsets.size).toBeGreaterThan(1); // each clip has its own window
    await expect(clipSampler({ ...opts, crop: [24, 32] }).batch(2)).resolves.toEqual(cut); // deterministic
  });

  it('reports an empty folder', async () => {
    await expect(clipSampler({ source: path.join(tmp, 'empty') }).batch(0)).rejects.toMatchObject({ code: 'ERR_TESSERA_NO_DATA' });
  });
});

describe('clipSampler: option validation', () => {
  const bad = (opts: unknown, message: string | RegExp) => expect(() => clipSampler(opts as ClipSamplerOptions)).toThrow(message);

  it('names the option, the value and the rule', () => {
    bad({ source: 'world', frames: 16 }, 'Expected 1 + 4k (1, 5, 9, 13, 17, ...) for frames but received 16 of type number');
    bad({ source: 'world', frames: 0 }, 'Expected 1 + 4k (1, 5, 9, 13, 17, ...) for frames but received 0');
    bad({ source: 'world', frames: 2.5 }, 'Expected an integer 1 + 4k (1, 5, 9, 13, 17, ...) for frames but received 2.5');
    bad({ source: 'world', frames: 2049 }, 'Expected 1 + 4k up to 1021 (world source) for frames but received 2049');
    bad({ source: 'world', sizes: [[64, 60]] }, 'Expected a multiple of 8 between 16 and 512 (world source) for sizes[0][1] (W) but received 60 of type number');
    bad({ source: 'world', sizes: [[8, 8]] }, 'Expected a multiple of 8 between 16 and 512 (world source) for sizes[0][0] (H) but received 8');
    bad({ source: images, sizes: [[64, 64], [12, 8]] }, 'Expected a multiple of 8 between 8 and 4096 for sizes[1][0] (H) but received 12');
    bad({ source: 'world', sizes: [[64, 64, 3]] }, 'Expected an [H, W] pair of integers for sizes[0] but received [64, 64, 3] of type array');
    bad({ source: 'world', sizes: [] }, 'Expected a non-empty array of [H, W] pairs for sizes but received [] of type array');
    bad({ source: 'world', imageFraction: 1.5 }, 'Expected a number between 0 and 1 for imageFraction but received 1.5 of type number');
    bad({ source: 'world', seed: -1 }, 'Expected an integer between 0 and 4294967295 for seed but received -1');
    bad({ source: 'world', batchSize: 0 }, 'Expected an integer between 1 and 4096 for batchSize but received 0');
    bad({ source: 'world', count: 1.5 }, 'Expected an integer for count but received 1.5');
    bad({ source: 'world', fps: [0] }, 'Expected a number between 1 and 120 for fps[0] but received 0');
    bad({ source: 'fashion-mnist', split: 'valid' }, "Expected one of 'train', 'test' for split but received 'valid' of type string");
    bad({ source: images, fit: 'contain' }, "Expected one of 'cover', 'fill' for fit but received 'contain'");
    bad({ source: 'world', frame: 5 }, /Expected a known option \(source, frames, .*\) for options\.frame but received 5/);
  });

  it('checks sources', () => {
    bad({}, "Expected 'world', 'fashion-mnist', a folder path or an array of them for source but received undefined");
    bad({ source: 12 }, "Expected 'world', 'fashion-mnist' or a folder path for source but received 12 of type number");
    bad({ source: path.join(tmp, 'nope') }, `Expected 'world', 'fashion-mnist' or an existing folder (nothing at ${path.join(tmp, 'nope')}) for source`);
    bad({ source: path.join(fashion, 'train-images-idx3-ubyte.gz') }, /or a folder \(.* is a file\) for source/);
    bad({ source: [] }, 'Expected a non-empty array of sources for source but received [] of type array');
    bad({ source: ['world', { source: images, weight: 0 }] }, 'Expected a finite number > 0 for source[1].weight but received 0');
    bad({ source: ['world', { source: 'wrld' }] }, "Expected 'world', 'fashion-mnist' or an existing folder");
    bad({ source: [{ source: 'world', sizes: [[8, 8]] }] }, 'Expected a multiple of 8 between 16 and 512 (world source) for source[0].sizes[0][0] (H) but received 8');
    bad({ source: 'world', sizes: [[64, 64], [32, 48]], crop: [40, 40] }, 'Expected at least the crop 40x40 for sizes[1] but received [32, 48]');
    bad(
      { source: ['fashion-mnist', { source: 'world', sizes: [[64, 64], [32, 32]] }], sizes: [[64, 64]], crop: [48, 48] },
      'Expected at least the crop 48x48 for source[1].sizes[1] but received [32, 32]',
    );
    bad({ source: 'world', crop: [20, 20] }, 'Expected a multiple of 8 between 8 and 4096 for crop[0] (H) but received 20');
    bad({ source: [{ source: images, sizes: [] }] }, 'Expected a non-empty array of [H, W] pairs for source[0].sizes but received []');
    // a world source with its own sizes leaves the shared ones to the folder's limits
    expect(() => clipSampler({ source: [{ source: 'world', sizes: [[32, 32]] }, images], sizes: [[8, 8]] })).not.toThrow();
    expect(() => clipSampler({ source: './wrld' })).toThrow(/for source but received '.\/wrld'/);
  });

  it('resolves defaults', () => {
    const s = clipSampler({ source: 'world' });
    expect(s.options).toMatchObject({ frames: 17, batchSize: 8, imageFraction: 0.2, seed: 0, count: Infinity, sizes: SIZES, prefetch: 1 });
  });
});
