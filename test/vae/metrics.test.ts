import { describe, expect, it } from 'vitest';
import { ndarray } from '../../lib/index.js';
import { blockMeans, meanClipPsnr, psnr, ssim } from '../../lib/metrics.js';

const img = (f: (i: number) => number, shape = [1, 3, 2, 16, 16]) =>
  ndarray(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => f(i)), shape);

describe('psnr / ssim', () => {
  const x = img((i) => Math.sin(i * 0.173) * 0.7);
  it('identical videos: infinite PSNR, SSIM 1', () => {
    expect(psnr(x, x)).toBe(Infinity);
    expect(ssim(x, x)).toBeCloseTo(1, 12);
  });
  it('a constant error e gives 10 log10(4 / e^2)', () => {
    const y = img((i) => x.data[i]! + 0.05);
    expect(psnr(x, y)).toBeCloseTo(10 * Math.log10(4 / 0.0025), 4);
    // a pure offset keeps structure: SSIM stays close to 1 but below it
    const s = ssim(x, y);
    expect(s).toBeLessThan(1);
    expect(s).toBeGreaterThan(0.95);
  });
  it('noise lowers SSIM more than an offset of the same MSE', () => {
    const noisy = img((i) => x.data[i]! + (i % 2 ? 0.05 : -0.05));
    const shifted = img((i) => x.data[i]! + 0.05);
    expect(psnr(x, noisy)).toBeCloseTo(psnr(x, shifted), 6);
    expect(ssim(x, noisy)).toBeLessThan(ssim(x, shifted));
  });
  it('meanClipPsnr: the mean of each clip\'s PSNR, capped, beside the pooled PSNR', () => {
    // clip 0 off by 0.1 everywhere (20 dB), clip 1 off by 0.01 (40 dB), clip 2 exact (capped)
    const a = img((i) => Math.cos(i * 0.31) * 0.5, [3, 3, 1, 4, 4]);
    const b = img((i) => a.data[i]! + [0.1, 0.01, 0][Math.floor(i / 48)]!, [3, 3, 1, 4, 4]);
    const db = (e: number) => 10 * Math.log10(4 / (e * e));
    expect(meanClipPsnr(a, b)).toBeCloseTo((db(0.1) + db(0.01) + 99) / 3, 4);
    expect(meanClipPsnr(a, b, 60)).toBeCloseTo((db(0.1) + db(0.01) + 60) / 3, 4);
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10(4 / ((0.01 + 0.0001) / 3)), 4); // pooled: the worst clip dominates
    expect(() => meanClipPsnr(a, img(() => 0, [3, 3, 1, 4, 2]))).toThrow(/shapes differ/);
  });
  it('rejects different shapes', () => {
    expect(() => psnr(x, img(() => 0, [1, 3, 2, 16, 8]))).toThrow(/shapes differ/);
  });
});

describe('blockMeans', () => {
  it('fills each block (frame 0 alone, then td frames x sd x sd pixels) with its mean', () => {
    // [1, 1, 3, 2, 4]: T = 3 = 1 + 2k with td 2, blocks of 2x2 pixels
    const data = Float32Array.from({ length: 24 }, (_, i) => i * 0.1 - 1);
    const y = blockMeans({ data, shape: [1, 1, 3, 2, 4] }, 2, 2);
    expect(y.shape).toEqual([1, 1, 3, 2, 4]);
    const mean = (idx: number[]) => idx.reduce((s, i) => s + data[i]!, 0) / idx.length;
    expect(y.data[0]).toBeCloseTo(mean([0, 1, 4, 5]), 6); // frame 0, left block
    expect(y.data[7]).toBeCloseTo(mean([2, 3, 6, 7]), 6); // frame 0, right block
    const right = mean([10, 11, 14, 15, 18, 19, 22, 23]); // frames 1-2, right block
    for (const i of [10, 11, 14, 15, 18, 19, 22, 23]) expect(y.data[i]).toBeCloseTo(right, 6);
    expect(() => blockMeans({ data, shape: [1, 1, 3, 2, 4] }, 4, 2)).toThrow(/do not fit blocks of 2 frames and 4x4 pixels/);
  });
});
