// Finite-difference gradient checks for every differentiable op on tiny, odd
// shapes. With L = sum(out * g) for a random g, the analytic gradient from
// ops.grad is compared with central differences
//   dL/dx_j ~ (L(x + h e_j) - L(x - h e_j)) / (x_j^+ - x_j^-)
// where x_j^+- are the float32 values actually stored and L is summed in
// float64 in JS. The op computes in float32, so each L carries ~1e-7 relative
// rounding noise, amplified by 1/h: tolerances of ~1e-2 relative are expected.
import { describe, expect, it } from 'vitest';
import { ops, type NdArray } from '../lib/index.js';
import { fmtShape, randn } from './helpers/numeric.js';

interface GradCase {
  name: string;
  op: string;
  inputs: NdArray[];
  params?: ops.OpParams;
  /** Inputs to check (default: all). */
  check?: number[];
  h: number;
  rtol: number;
  atol: number;
  /** Why these tolerances. */
  why: string;
}

let seed = 9000;
const r = (shape: number[], scale = 1) => randn(shape, seed++, scale);
const clone = (x: NdArray): NdArray => ({ data: Float32Array.from(x.data), shape: [...x.shape] });

function dot(outs: NdArray[], gs: NdArray[]): number {
  let s = 0;
  outs.forEach((o, k) => { const g = gs[k]!; for (let i = 0; i < o.data.length; i++) s += o.data[i]! * g.data[i]!; });
  return s;
}

async function gradcheck(c: GradCase): Promise<void> {
  const params = c.params ?? {};
  const outs0 = await ops.run(c.op, c.inputs, params);
  const gs = outs0.map((o, k) => randn(o.shape, 777 + k));
  const { grads } = await ops.grad(c.op, c.inputs, params, gs);
  const problems: string[] = [];
  for (const i of c.check ?? c.inputs.map((_, k) => k)) {
    const an = grads[i];
    if (!an) { problems.push(`input ${i}: no analytic gradient`); continue; }
    if (fmtShape(an.shape) !== fmtShape(c.inputs[i]!.shape)) { problems.push(`input ${i}: gradient shape ${fmtShape(an.shape)} != ${fmtShape(c.inputs[i]!.shape)}`); continue; }
    const x = c.inputs[i]!;
    let worst = -Infinity, worstMsg = '';
    for (let j = 0; j < x.data.length; j++) {
      const plus = c.inputs.map((t, k) => (k === i ? clone(t) : t));
      const minus = c.inputs.map((t, k) => (k === i ? clone(t) : t));
      plus[i]!.data[j] = x.data[j]! + c.h;
      minus[i]!.data[j] = x.data[j]! - c.h;
      const step = plus[i]!.data[j]! - minus[i]!.data[j]!; // exact float32 values, in float64
      const lp = dot(await ops.run(c.op, plus, params), gs);
      const lm = dot(await ops.run(c.op, minus, params), gs);
      const fd = (lp - lm) / step;
      const a = an.data[j]!;
      const excess = Math.abs(fd - a) - (c.atol + c.rtol * Math.abs(a));
      if (excess > worst) { worst = excess; worstMsg = `input ${i}[${j}]: analytic ${a}, finite difference ${fd}`; }
    }
    if (worst > 0) problems.push(`${worstMsg} (rtol ${c.rtol}, atol ${c.atol}, h ${c.h})`);
  }
  expect(problems, `${c.op} ${c.name}:\n  ${problems.join('\n  ')}`).toEqual([]);
}

// Tolerances: rtol 1e-2 everywhere (float32 forward, central differences);
// atol set from the magnitude of L and h (noise ~ 1e-7 * |L| / h).
const SMOOTH = { h: 1e-2, rtol: 1e-2, atol: 2e-3, why: 'smooth op, |L| ~ 10: float32 noise ~1e-4, curvature error ~h^2' };
const LINEAR = { h: 1e-2, rtol: 1e-2, atol: 1e-3, why: 'linear in each input: central differences are exact up to float32 rounding' };
const NORM = { h: 5e-3, rtol: 1e-2, atol: 3e-3, why: 'normalization: gradients scale with 1/sigma and curvature is larger, so a smaller h' };

function withL1Target(x: NdArray): NdArray {
  // target at least 0.2 away from input so |input - target| never crosses zero within h
  const t = r(x.shape);
  return { data: t.data.map((v, i) => x.data[i]! + Math.sign(v) * (0.2 + Math.abs(v))), shape: [...x.shape] };
}

function maskWithInf(shape: number[]): NdArray {
  const m = r(shape, 0.5);
  const [, , nq, nk] = shape as [number, number, number, number];
  for (let i = 0; i < m.data.length; i++) {
    const col = i % nk, row = Math.floor(i / nk) % nq;
    if (col === row % nk) m.data[i] = 0; // one open key per row
    else if ((i * 7) % 5 === 0) m.data[i] = -Infinity;
    else if ((i * 7) % 5 === 1) m.data[i] = -1e9;
  }
  return m;
}

/** x with every value at least `margin` from each bound, so x +- h never crosses one (clamp's kinks). */
function awayFrom(x: NdArray, bounds: number[], margin = 0.03): NdArray {
  const data = x.data.map((v) => {
    for (const b of bounds) if (Math.abs(v - b) < margin) return b + (v < b ? -margin : margin);
    return v;
  });
  return { data, shape: [...x.shape] };
}

const x1 = r([2, 3, 5]);
const cases: GradCase[] = [
  // linear algebra
  ...[false, true].flatMap((transA) => [false, true].map((transB) => ({
    name: `transA=${transA} transB=${transB}`, op: 'matmul',
    inputs: [r(transA ? [5, 3] : [3, 5]), r(transB ? [4, 5] : [5, 4]), r([4])],
    params: { transA, transB }, ...LINEAR,
  }))),
  { name: 'batched a, shared 2-d b', op: 'matmul', inputs: [r([2, 3, 4]), r([4, 3])], ...LINEAR },
  { name: 'shared 2-d a, batched b', op: 'matmul', inputs: [r([3, 4]), r([2, 4, 3])], ...LINEAR },
  { name: 'k232 pad 1 bias', op: 'conv3d', inputs: [r([1, 2, 3, 4, 3]), r([2, 2, 2, 3, 2], 0.5), r([2])], params: { padding: [1, 1, 1] }, ...LINEAR },
  { name: 'stride 2 pad [1,0,1]', op: 'conv3d', inputs: [r([1, 2, 3, 5, 4]), r([3, 2, 2, 2, 2], 0.5)], params: { stride: [2, 2, 2], padding: [1, 0, 1] }, ...LINEAR },
  { name: 'causal', op: 'conv3d', inputs: [r([2, 1, 3, 3, 2]), r([2, 1, 3, 2, 1], 0.5), r([2])], params: { causal: true, padding: [0, 1, 0] }, ...LINEAR },
  // attention
  { name: 'no mask', op: 'attention', inputs: [r([1, 2, 3, 4]), r([1, 2, 5, 4]), r([1, 2, 5, 4])], ...SMOOTH },
  { name: 'mask with -inf, scale 0.7', op: 'attention', inputs: [r([2, 1, 3, 4]), r([2, 1, 5, 4]), r([2, 1, 5, 4]), maskWithInf([2, 1, 3, 5])], params: { scale: 0.7 }, check: [0, 1, 2], ...SMOOTH },
  { name: 'lengths [2,4] / [3,2]', op: 'attention_varlen', inputs: [r([6, 1, 4]), r([5, 1, 4]), r([5, 1, 4])], params: { cuSeqlensQ: [0, 2, 6], cuSeqlensK: [0, 3, 5] }, ...SMOOTH },
  // rotary position embedding (linear in x; positions get no gradient)
  { name: 'default sections, Dh 12', op: 'rope3d', inputs: [r([1, 2, 3, 12]), r([3, 3], 5)], check: [0], ...LINEAR },
  { name: 'sections [2,0,8], theta 100', op: 'rope3d', inputs: [r([2, 1, 3, 10]), r([3, 3], 5)], params: { sections: [2, 0, 8], theta: 100 }, check: [0], ...LINEAR },
  // elementwise
  ...(['add', 'sub', 'mul'] as const).map((op) => ({ name: '[2,1,3] with [4,1]', op, inputs: [r([2, 1, 3]), r([4, 1])], ...LINEAR })),
  { name: 'same shape', op: 'mul', inputs: [r([3, 5]), r([3, 5])], ...LINEAR },
  { name: 'alpha -1.7', op: 'scale', inputs: [r([7])], params: { alpha: -1.7 }, ...LINEAR },
  { name: '', op: 'silu', inputs: [r([3, 5], 2)], ...SMOOTH },
  { name: 'erf', op: 'gelu', inputs: [r([3, 5], 2)], ...SMOOTH },
  { name: 'tanh', op: 'gelu', inputs: [r([3, 5], 2)], params: { approximate: 'tanh' }, ...SMOOTH },
  { name: '', op: 'softmax', inputs: [r([3, 7], 2)], ...SMOOTH },
  { name: '', op: 'exp', inputs: [r([3, 5], 1.5)], ...SMOOTH },
  // clamp: about half the points clamped; none within 3h of a bound (finite differences across the kink are meaningless)
  { name: 'min -0.5, max 0.8', op: 'clamp', inputs: [awayFrom(r([3, 7], 1.5), [-0.5, 0.8])], params: { min: -0.5, max: 0.8 }, ...LINEAR },
  { name: 'min -0.3, max Infinity', op: 'clamp', inputs: [awayFrom(r([4, 5]), [-0.3])], params: { min: -0.3, max: Infinity }, ...LINEAR },
  { name: 'max only', op: 'clamp', inputs: [awayFrom(r([2, 3, 3]), [0.2])], params: { max: 0.2 }, ...LINEAR },
  // normalization
  { name: 'weight, bias', op: 'layer_norm', inputs: [r([3, 7]), r([7]), r([7])], ...NORM },
  { name: 'plain', op: 'layer_norm', inputs: [r([2, 5])], ...NORM },
  { name: 'weight', op: 'rms_norm', inputs: [r([3, 7]), r([7])], ...NORM },
  { name: 'plain', op: 'rms_norm', inputs: [r([2, 5])], ...NORM },
  { name: '3-d, 2 groups, affine', op: 'group_norm', inputs: [r([2, 4, 3]), r([4]), r([4])], params: { numGroups: 2 }, ...NORM },
  { name: '5-d, 3 groups', op: 'group_norm', inputs: [r([1, 3, 2, 2, 3])], params: { numGroups: 3 }, ...NORM },
  // losses and reductions
  { name: '', op: 'mse_loss', inputs: [r([3, 5]), r([3, 5])], ...SMOOTH },
  { name: '', op: 'l1_loss', inputs: [x1, withL1Target(x1)], ...LINEAR },
  { name: 'all', op: 'sum', inputs: [r([2, 3, 5])], ...LINEAR },
  { name: 'dims [0,-1] keepdim', op: 'sum', inputs: [r([2, 3, 5])], params: { dims: [0, -1], keepdim: true }, ...LINEAR },
  { name: 'dims [1]', op: 'mean', inputs: [r([2, 3, 5])], params: { dims: [1] }, ...LINEAR },
  { name: 'all', op: 'mean', inputs: [r([3, 5])], ...LINEAR },
  // shape
  { name: '', op: 'reshape', inputs: [r([2, 3, 4])], params: { shape: [4, -1] }, ...LINEAR },
  { name: '', op: 'permute', inputs: [r([2, 3, 4])], params: { dims: [2, 0, 1] }, ...LINEAR },
  { name: 'step 2, negative start', op: 'slice', inputs: [r([3, 7])], params: { dim: 1, start: -6, end: 7, step: 2 }, ...LINEAR },
  { name: '3 inputs', op: 'concat', inputs: [r([2, 1, 3]), r([2, 3, 3]), r([2, 2, 3])], params: { dim: 1 }, ...LINEAR },
  { name: 'two dims', op: 'pad', inputs: [r([2, 3, 2])], params: { pads: [1, 2, 0, 1], value: 0.5 }, ...LINEAR },
  // resampling
  ...(['nearest', 'trilinear'] as const).flatMap((mode) => [
    { name: `5-d [1,2,2] ${mode}`, op: 'upsample', inputs: [r([1, 2, 2, 2, 3])], params: { factor: [1, 2, 2], mode }, ...LINEAR },
    { name: `4-d [2,4] ${mode}`, op: 'upsample', inputs: [r([1, 1, 3, 2])], params: { factor: [2, 4], mode }, ...LINEAR },
    { name: `5-d [2,1,2] ${mode}`, op: 'downsample', inputs: [r([1, 2, 2, 3, 4])], params: { factor: [2, 1, 2], mode }, ...LINEAR },
    { name: `4-d [4,2] ${mode}`, op: 'downsample', inputs: [r([2, 1, 4, 4])], params: { factor: [4, 2], mode }, ...LINEAR },
  ]),
];

describe('finite-difference gradients', () => {
  it.each(cases.map((c) => [`${c.op} ${c.name}`.trim(), c] as const))('%s', async (_n, c) => {
    if (!ops.names().includes(c.op)) throw new Error(`op '${c.op}' is not in the op table`);
    await gradcheck(c);
  });
});
