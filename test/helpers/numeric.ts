// Shared helpers for the op tests: seeded random arrays, tolerance checks with
// readable failure messages, and bit-level comparison.
import type { NdArray } from '../../lib/index.js';

/** mulberry32: a small seeded uniform generator in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Standard normal float32 values (Box-Muller on a seeded stream), scaled, never exactly zero. */
export function randn(shape: readonly number[], seed: number, scale = 1): NdArray {
  const u = rng(seed);
  const n = count(shape);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u()) * scale;
    data[i] = r === 0 ? 0.5 * scale : r;
  }
  return { data, shape: [...shape] };
}

export function fill(shape: readonly number[], value: number): NdArray {
  return { data: new Float32Array(count(shape)).fill(value), shape: [...shape] };
}

export const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;

export interface CompareResult {
  ok: boolean;
  message: string;
  maxAbs: number;
  maxRel: number;
}

/**
 * Checks |got - want| <= atol + rtol * |want| element by element (non-finite
 * values must match exactly) and describes the worst elements on failure.
 */
export function compare(what: string, got: NdArray | null | undefined, want: NdArray, rtol: number, atol: number): CompareResult {
  if (!got) return { ok: false, message: `${what}: missing (expected shape ${fmtShape(want.shape)})`, maxAbs: NaN, maxRel: NaN };
  if (fmtShape(got.shape) !== fmtShape(want.shape))
    return { ok: false, message: `${what}: shape ${fmtShape(got.shape)}, expected ${fmtShape(want.shape)}`, maxAbs: NaN, maxRel: NaN };
  let maxAbs = 0, maxRel = 0, bad = 0, firstBad = -1, worst = -1, worstExcess = -Infinity;
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i]!, w = want.data[i]!;
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      if (!Object.is(g, w) && !(Number.isNaN(g) && Number.isNaN(w))) {
        bad++;
        if (firstBad < 0) firstBad = i;
        maxAbs = Infinity;
        if (worstExcess < Infinity) { worstExcess = Infinity; worst = i; }
      }
      continue;
    }
    const abs = Math.abs(g - w);
    const rel = abs / Math.max(Math.abs(w), 1e-30);
    if (abs > maxAbs) maxAbs = abs;
    if (abs > 0 && rel > maxRel) maxRel = rel;
    const excess = abs - (atol + rtol * Math.abs(w));
    if (excess > 0) {
      bad++;
      if (firstBad < 0) firstBad = i;
    }
    if (excess > worstExcess) { worstExcess = excess; worst = i; }
  }
  const ok = bad === 0;
  const message = ok
    ? `${what}: ok (max abs ${maxAbs.toExponential(2)}, max rel ${maxRel.toExponential(2)})`
    : `${what}: ${bad} of ${want.data.length} elements outside rtol ${rtol} atol ${atol}; ` +
      `max abs error ${maxAbs.toExponential(3)}, max rel error ${maxRel.toExponential(3)}; ` +
      `worst at flat index ${worst}: got ${got.data[worst]}, want ${want.data[worst]}; first bad at ${firstBad}`;
  return { ok, message, maxAbs, maxRel };
}

/** Index of the first element whose bits differ, or -1 (shapes must match too). */
export function firstBitDifference(a: NdArray, b: NdArray): number {
  if (fmtShape(a.shape) !== fmtShape(b.shape)) return 0;
  const ua = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.length);
  const ub = new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

/** erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): enough for a KS statistic. */
export function erf(x: number): number {
  const s = Math.sign(x), a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
export const normalCdf = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));
