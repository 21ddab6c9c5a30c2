import { describe, expect, it } from 'vitest';
import { resizePlane, rgbClip, rgbToChannelsFirst } from '../../lib/data/index.js';

describe('rgbToChannelsFirst', () => {
  it('turns packed T x H x W x 3 bytes into [3, T, H, W] floats in [-1, 1]', () => {
    // T = 2, H = 1, W = 2: pixel (t, x) = [r, g, b]
    const rgb = Uint8Array.from([0, 255, 51, 255, 0, 102, 127, 128, 204, 1, 2, 3]);
    const c = rgbClip(rgb, 2, 1, 2);
    expect(c.shape).toEqual([3, 2, 1, 2]);
    const v = (b: number) => b / 127.5 - 1;
    expect(Array.from(c.data)).toEqual([0, 255, 127, 1, 255, 0, 128, 2, 51, 102, 204, 3].map((b) => Math.fround(v(b))));
    expect(c.data[0]).toBe(-1);
    expect(c.data[1]).toBe(1);
    const out = new Float32Array(20).fill(9);
    rgbToChannelsFirst(rgb, 2, 1, 2, out, 4);
    expect(Array.from(out.subarray(0, 4))).toEqual([9, 9, 9, 9]);
    expect(out.subarray(4, 16)).toEqual(c.data);
    expect(() => rgbClip(rgb, 3, 1, 2)).toThrow(/12 bytes, expected 18/);
  });
});

describe('resizePlane', () => {
  it('keeps constants, averages when shrinking, stays within the input range when growing', () => {
    const flat = resizePlane(new Float32Array(12).fill(0.25), 3, 4, 7, 5);
    for (const v of flat) expect(v).toBeCloseTo(0.25, 6);
    // 8 x 8 checkerboard of +-1 shrunk 2x (antialiased): the inside averages to 0 (edges replicate the border pixel)
    const board = Float32Array.from({ length: 64 }, (_, i) => ((i >> 3) + (i & 7)) % 2 ? 1 : -1);
    const small = resizePlane(board, 8, 8, 4, 4);
    for (const [y, x] of [[1, 1], [1, 2], [2, 1], [2, 2]]) expect(Math.abs(small[y * 4 + x])).toBeLessThan(1e-6);
    for (const v of small) expect(Math.abs(v)).toBeLessThanOrEqual(0.25 + 1e-6);
    const ramp = Float32Array.from({ length: 8 }, (_, i) => i / 7 * 2 - 1);
    const up = resizePlane(ramp, 1, 8, 1, 32);
    expect(Math.min(...up)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...up)).toBeLessThanOrEqual(1);
    for (let i = 1; i < 32; i++) expect(up[i]).toBeGreaterThanOrEqual(up[i - 1] - 1e-7); // monotone
    expect(resizePlane(ramp, 1, 8, 1, 8)).toEqual(ramp);
  });
});
