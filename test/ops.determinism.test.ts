// Thread-count independence: every op's outputs and input gradients must be
// bit-identical with 1 and 2 threads (native/core/threadpool.h: kernels
// partition outputs only, and reductions use a fixed blocking). Shapes are
// large enough that the thread pool really splits the work. Compared as
// Uint32 views, so -0/+0 and NaN payloads count too.
import { afterAll, describe, expect, it } from 'vitest';
import { ops, type NdArray } from '../lib/index.js';
import { firstBitDifference, randn } from './helpers/numeric.js';

interface Case {
  name: string;
  op: string;
  inputs: NdArray[];
  params?: ops.OpParams;
  /** Run ops.grad with random output gradients (default true). */
  backward?: boolean;
}

let seed = 5000;
const r = (shape: number[], scale = 1) => randn(shape, seed++, scale);

/** adamw's second moment v must be non-negative. */
const abs = (x: NdArray): NdArray => ({ data: x.data.map(Math.abs), shape: x.shape });

function mask(shape: number[]): NdArray {
  const m = r(shape, 0.5);
  const nk = shape[3]!;
  for (let i = 0; i < m.data.length; i++) {
    if (i % 11 === 3) m.data[i] = -Infinity;
    if (i % nk === Math.floor(i / nk) % nk) m.data[i] = 0;
  }
  return m;
}

const cuQ = [0, 57, 200, 311];
const cuK = [0, 90, 150, 260];
const big = [64, 1531];
const cases: Case[] = [
  { name: '300x200x150', op: 'matmul', inputs: [r([300, 200]), r([200, 150]), r([150])] },
  { name: 'batched, transA transB', op: 'matmul', inputs: [r([3, 120, 97]), r([3, 101, 120])], params: { transA: true, transB: true } },
  { name: 'shared 2-d weight', op: 'matmul', inputs: [r([4, 75, 96]), r([130, 96])], params: { transB: true } },
  { name: 'k333 pad 1', op: 'conv3d', inputs: [r([1, 8, 7, 17, 15]), r([12, 8, 3, 3, 3], 0.2), r([12])], params: { padding: [1, 1, 1] } },
  { name: 'causal stride 2', op: 'conv3d', inputs: [r([2, 6, 9, 16, 14]), r([8, 6, 3, 3, 3], 0.2)], params: { stride: [2, 2, 2], padding: [0, 1, 1], causal: true } },
  { name: 'N=200 mask', op: 'attention', inputs: [r([1, 2, 200, 32]), r([1, 2, 203, 32]), r([1, 2, 203, 32]), mask([1, 2, 200, 203])] },
  { name: 'N=200 no mask', op: 'attention', inputs: [r([2, 2, 200, 24]), r([2, 2, 200, 24]), r([2, 2, 200, 24])] },
  { name: 'varlen', op: 'attention_varlen', inputs: [r([311, 2, 32]), r([260, 2, 32]), r([260, 2, 32])], params: { cuSeqlensQ: cuQ, cuSeqlensK: cuK } },
  { name: 'default sections', op: 'rope3d', inputs: [r([2, 4, 301, 64]), r([301, 3], 20)] },
  { name: 'B*H = 3, tasks split tokens', op: 'rope3d', inputs: [r([1, 3, 3001, 32]), r([3001, 3], 20)], params: { sections: [8, 0, 24], theta: 100 } },
  { name: 'broadcast', op: 'add', inputs: [r([64, 1, 1531]), r([7, 1])] },
  { name: 'broadcast', op: 'sub', inputs: [r(big), r([1531])] },
  { name: 'broadcast', op: 'mul', inputs: [r([64, 1531]), r([64, 1])] },
  { name: '', op: 'scale', inputs: [r(big)], params: { alpha: 0.3 } },
  { name: '', op: 'silu', inputs: [r(big)] },
  { name: 'erf', op: 'gelu', inputs: [r(big)] },
  { name: 'tanh', op: 'gelu', inputs: [r(big)], params: { approximate: 'tanh' } },
  { name: '', op: 'softmax', inputs: [r(big, 3)] },
  { name: '', op: 'exp', inputs: [r(big, 3)] },
  { name: 'min, max', op: 'clamp', inputs: [r(big)], params: { min: -0.5, max: 0.8 } },
  { name: 'max only', op: 'clamp', inputs: [r(big)], params: { max: 0.1 } },
  { name: 'affine', op: 'layer_norm', inputs: [r(big), r([1531]), r([1531])] },
  { name: 'weight', op: 'rms_norm', inputs: [r(big), r([1531])] },
  { name: '5-d', op: 'group_norm', inputs: [r([2, 32, 5, 17, 19]), r([32]), r([32])], params: { numGroups: 8 } },
  { name: '5-d, 1 group', op: 'group_norm', inputs: [r([1, 4, 9, 33, 35])], params: { numGroups: 1 } },
  { name: '', op: 'mse_loss', inputs: [r([1000, 131]), r([1000, 131])] },
  { name: '', op: 'l1_loss', inputs: [r([1000, 131]), r([1000, 131])] },
  { name: 'all', op: 'sum', inputs: [r([1000, 131])] },
  { name: 'dims [0]', op: 'sum', inputs: [r([1000, 131])], params: { dims: [0] } },
  { name: 'dims [1, -1]', op: 'mean', inputs: [r([20, 300, 41])], params: { dims: [1, -1], keepdim: true } },
  { name: '', op: 'reshape', inputs: [r(big)], params: { shape: [-1, 64] } },
  { name: '', op: 'permute', inputs: [r([16, 77, 129])], params: { dims: [2, 0, 1] } },
  { name: '', op: 'slice', inputs: [r([300, 401])], params: { dim: 1, start: 3, end: -5, step: 3 } },
  { name: '', op: 'concat', inputs: [r([30, 100, 17]), r([30, 201, 17]), r([30, 3, 17])], params: { dim: 1 } },
  { name: '', op: 'pad', inputs: [r([40, 91, 77])], params: { pads: [3, 1, 2, 5], value: -1 } },
  { name: 'trilinear [2,2,2]', op: 'upsample', inputs: [r([1, 8, 5, 17, 15])], params: { factor: [2, 2, 2], mode: 'trilinear' } },
  { name: 'nearest [1,4,4]', op: 'upsample', inputs: [r([1, 8, 3, 17, 15])], params: { factor: [1, 4, 4], mode: 'nearest' } },
  { name: 'trilinear [2,2,2]', op: 'downsample', inputs: [r([1, 8, 6, 32, 36])], params: { factor: [2, 2, 2], mode: 'trilinear' } },
  { name: 'nearest [4,4] 4-d', op: 'downsample', inputs: [r([2, 8, 64, 36])], params: { factor: [4, 4], mode: 'nearest' } },
  { name: '', op: 'randn', inputs: [], params: { shape: [1001, 333], seed: 42, offset: 5 }, backward: false },
  { name: '', op: 'adamw', inputs: [r([300001]), r([300001]), r([300001], 0.1), abs(r([300001], 0.01))], params: { lr: 1e-3, step: 3 }, backward: false },
  { name: '', op: 'clip_grad_norm', inputs: [r([100003]), r([377, 501]), r([7])], params: { maxNorm: 1 }, backward: false },
];

async function runAll(c: Case): Promise<NdArray[]> {
  const params = c.params ?? {};
  if (c.backward === false) return ops.run(c.op, c.inputs, params);
  const outs = await ops.run(c.op, c.inputs, params);
  const gouts = outs.map((o, k) => randn(o.shape, 31 + k));
  const r = await ops.grad(c.op, c.inputs, params, gouts);
  return [...r.outputs, ...r.grads.filter((g): g is NdArray => g !== null)];
}

describe('1 thread vs 2 threads: bit-identical outputs and gradients', () => {
  afterAll(() => ops.setThreads(0));
  it.each(cases.map((c) => [`${c.op} ${c.name}`.trim(), c] as const))('%s', async (_n, c) => {
    if (!ops.names().includes(c.op)) throw new Error(`op '${c.op}' is not in the op table`);
    ops.setThreads(1);
    const one = await runAll(c);
    ops.setThreads(2);
    const two = await runAll(c);
    expect(two.length).toBe(one.length);
    const diffs = one
      .map((t, k) => ({ k, at: firstBitDifference(t, two[k]!) }))
      .filter((d) => d.at >= 0)
      .map(({ k, at }) => `tensor ${k} [${one[k]!.shape}] differs first at ${at}: ${one[k]!.data[at]} vs ${two[k]!.data[at]}`);
    expect(diffs, `${c.op}: results depend on the thread count`).toEqual([]);
  });
});
