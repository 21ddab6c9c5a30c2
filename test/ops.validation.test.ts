// Bad inputs get clear errors before any work starts.
//
// 1. The typed wrappers in lib/ops.ts throw synchronously (TypeError or
//    RangeError) with messages that name the argument and the rule.
// 2. The native op table, called directly through ops.run / ops.grad (no JS
//    checks), rejects with err.code ERR_TESSERA_INVALID_ARGUMENT (a value breaks
//    a rule) or ERR_TESSERA_SHAPE_MISMATCH (shapes do not fit), and a message
//    that names the op and the offending argument (native/core/error.h).
import { describe, expect, it } from 'vitest';
import { ndarray, ops, type NdArray } from '../lib/index.js';

const t = (...shape: number[]): NdArray => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape });

describe('typed wrappers throw synchronously, naming the argument and the rule', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['ndarray data length', () => ndarray([1, 2, 3], [2, 2]), /Expected 4 elements for shape \[2, 2\] for data/],
    ['matmul a rank', () => ops.matmul(t(3), t(3, 2)), /Expected at least 2 dims for a\.shape/],
    ['matmul inner dims', () => ops.matmul(t(3, 4), t(5, 2)), /matmul: inner dimensions differ.*K 4 vs 5/],
    ['matmul transB inner dims', () => ops.matmul(t(3, 4), t(4, 5), { transB: true }), /inner dimensions differ.*K 4 vs 5/],
    ['matmul batch dims', () => ops.matmul(t(2, 3, 4), t(3, 4, 5)), /batch dims must match/],
    ['matmul bias length', () => ops.matmul(t(3, 4), t(4, 5), { bias: t(4) }), /bias has 4 elements, expected N = 5/],
    ['matmul transA type', () => ops.matmul(t(3, 4), t(4, 5), { transA: 1 as unknown as boolean }), /Expected a boolean for transA/],
    ['conv3d x rank', () => ops.conv3d(t(1, 3, 4, 4), t(5, 3, 3, 3, 3)), /Expected a 5-d shape for x\.shape/],
    ['conv3d channels', () => ops.conv3d(t(1, 3, 4, 4, 4), t(5, 4, 3, 3, 3)), /conv3d: x has 3 channels but w expects 4/],
    ['conv3d stride', () => ops.conv3d(t(1, 3, 4, 4, 4), t(5, 3, 3, 3, 3), { stride: [1, 0, 1] }), /integer >= 1 for stride\[1\]/],
    ['conv3d padding length', () => ops.conv3d(t(1, 3, 4, 4, 4), t(5, 3, 3, 3, 3), { padding: [1, 1] as unknown as number }), /array of 3 integers for padding/],
    ['conv3d bias', () => ops.conv3d(t(1, 3, 4, 4, 4), t(5, 3, 3, 3, 3), { bias: t(3) }), /bias has 3 elements, expected Cout = 5/],
    ['attention q rank', () => ops.attention(t(2, 3, 4), t(2, 3, 4), t(2, 3, 4)), /4-d shape for q\.shape/],
    ['attention k head dim', () => ops.attention(t(1, 2, 3, 4), t(1, 2, 5, 6), t(1, 2, 5, 6)), /attention: k \[1, 2, 5, 6\] does not match q/],
    ['attention v shape', () => ops.attention(t(1, 2, 3, 4), t(1, 2, 5, 4), t(1, 2, 6, 4)), /v \[1, 2, 6, 4\] must have k's shape/],
    ['attention mask shape', () => ops.attention(t(2, 2, 3, 4), t(2, 2, 5, 4), t(2, 2, 5, 4), { mask: t(3, 1, 3, 5) }), /mask \[3, 1, 3, 5\] must be \[1 or 2, 1 or 2, 3, 5\]/],
    ['varlen cuSeqlensQ end', () => ops.attentionVarlen(t(6, 1, 4), t(6, 1, 4), t(6, 1, 4), { cuSeqlensQ: [0, 2, 5] }), /ending at 6 for cuSeqlensQ/],
    ['varlen cuSeqlensQ decreasing', () => ops.attentionVarlen(t(6, 1, 4), t(6, 1, 4), t(6, 1, 4), { cuSeqlensQ: [0, 4, 2, 6] }), /non-decreasing offsets .* for cuSeqlensQ/],
    ['varlen cuSeqlensK count', () => ops.attentionVarlen(t(6, 1, 4), t(5, 1, 4), t(5, 1, 4), { cuSeqlensQ: [0, 2, 6], cuSeqlensK: [0, 5] }), /3 offsets .* for cuSeqlensK/],
    ['rope3d x rank', () => ops.rope3d(t(2, 5, 8), t(5, 3)), /Expected a 4-d shape for x\.shape/],
    ['rope3d positions rank', () => ops.rope3d(t(1, 2, 5, 8), t(15)), /Expected a 2-d shape for positions\.shape/],
    ['rope3d positions shape', () => ops.rope3d(t(1, 2, 5, 8), t(4, 3)), /rope3d: positions \[4, 3\] must be \[N, 3\] = \[5, 3\]/],
    ['rope3d sections odd', () => ops.rope3d(t(1, 2, 5, 8), t(5, 3), { sections: [2, 3, 3] }), /three even non-negative integers \[st, sh, sw\] summing to Dh = 8 for sections but received \[2, 3, 3\]/],
    ['rope3d sections sum', () => ops.rope3d(t(1, 2, 5, 8), t(5, 3), { sections: [2, 2, 2] }), /summing to Dh = 8 for sections but received \[2, 2, 2\]/],
    ['rope3d sections length', () => ops.rope3d(t(1, 2, 5, 8), t(5, 3), { sections: [4, 4] as unknown as [number, number, number] }), /summing to Dh = 8 for sections but received \[4, 4\]/],
    ['rope3d default needs even Dh', () => ops.rope3d(t(1, 2, 5, 7), t(5, 3)), /explicit sections for head dim Dh = 7/],
    ['rope3d theta', () => ops.rope3d(t(1, 2, 5, 8), t(5, 3), { theta: 0 }), /a finite number > 0 for theta but received 0/],
    ['rope3d theta infinite', () => ops.rope3d(t(1, 2, 5, 8), t(5, 3), { theta: Infinity }), /a finite number > 0 for theta but received Infinity/],
    ['add broadcast', () => ops.add(t(2, 3), t(4)), /add: shapes \[2, 3\] and \[4\] do not broadcast/],
    ['mul broadcast', () => ops.mul(t(4, 1, 5), t(3, 2)), /mul: shapes .* do not broadcast \(dim 2: 5 vs 2\)/],
    ['scale alpha', () => ops.scale(t(3), NaN), /Expected a number for alpha/],
    ['gelu approximate', () => ops.gelu(t(3), { approximate: 'fast' as 'tanh' }), /one of 'none', 'tanh' for approximate/],
    ['exp x', () => ops.exp({ data: [1, 2], shape: [2] } as unknown as NdArray), /Expected an NdArray .* for x/],
    ['clamp no bounds', () => ops.clamp(t(3), {}), /Expected a number for at least one of the two bounds for min or max but received undefined/],
    ['clamp options missing', () => ops.clamp(t(3), undefined as unknown as ops.ClampOptions), /Expected an object .* for options but received undefined/],
    ['clamp min > max', () => ops.clamp(t(3), { min: 2, max: 1 }), /Expected a number >= min \(2\) for max but received 1 of type number/],
    ['clamp min NaN', () => ops.clamp(t(3), { min: NaN }), /Expected a number for min but received NaN/],
    ['clamp max type', () => ops.clamp(t(3), { max: '1' as unknown as number }), /Expected a number for max but received '1' of type string/],
    ['layerNorm weight', () => ops.layerNorm(t(2, 5), { weight: t(4) }), /layerNorm: weight has 4 elements, expected 5/],
    ['layerNorm bias without weight', () => ops.layerNorm(t(2, 5), { bias: t(5) }), /an NdArray when bias is given for weight/],
    ['rmsNorm weight', () => ops.rmsNorm(t(2, 5), { weight: t(6) }), /rmsNorm: weight has 6 elements, expected 5/],
    ['groupNorm numGroups divides C', () => ops.groupNorm(t(2, 6, 5), 4), /Expected a divisor of the channel count 6 for numGroups but received 4/],
    ['groupNorm rank', () => ops.groupNorm(t(6), 2), /at least 2 dims \[N, C, \.\.\.\] for x\.shape/],
    ['mseLoss shapes', () => ops.mseLoss(t(2, 3), t(3, 2)), /mseLoss: input \[2, 3\] and target \[3, 2\] must have the same shape/],
    ['sum dims range', () => ops.sum(t(2, 3), { dims: [2] }), /a dim in \[-2, 1\] for dims\[0\]/],
    ['reshape shape', () => ops.reshape(t(2, 3), [-2, 3]), /integer >= -1 for shape\[0\]/],
    ['permute dims', () => ops.permute(t(2, 3, 4), [0, 0, 1]), /a permutation of 0\.\.2 for dims/],
    ['slice dim', () => ops.slice(t(2, 3), 2, 0, 1), /between -2 and 1 for dim/],
    ['slice step', () => ops.slice(t(2, 3), 1, 0, 3, 0), /integer >= 1 for step/],
    ['concat empty', () => ops.concat([], 0), /non-empty array of NdArrays for xs/],
    ['pad odd length', () => ops.pad(t(2, 3), [1, 2, 3]), /an even number of entries, at most 4 for pads/],
    ['upsample rank', () => ops.upsample(t(2, 3, 4), [2]), /4 or 5-d shape for x\.shape/],
    ['upsample factor value', () => ops.upsample(t(1, 1, 4, 4), [3, 2]), /1, 2 or 4 for factor\[0\]/],
    ['upsample factor count', () => ops.upsample(t(1, 1, 4, 4, 4), [2, 2]), /3 entries \(one per spatial dim\) for factor/],
    ['downsample factor divides size', () => ops.downsample(t(1, 1, 4, 6, 4), [2, 4, 2]), /a divisor of the input size 6 for factor\[1\]/],
    ['upsample mode', () => ops.upsample(t(1, 1, 4, 4), [2, 2], { mode: 'cubic' as 'nearest' }), /one of 'nearest', 'trilinear' for mode/],
    ['randn seed', () => ops.randn([3], { seed: -1 }), /integer >= 0 for seed/],
    ['randn shape', () => ops.randn([3, -1]), /integer >= 0 for shape\[1\]/],
    ['setThreads', () => ops.setThreads(-1), /between 0 and 1024 for threads/],
    ['setCpuIsa', () => ops.setCpuIsa('sse' as 'generic'), /one of 'avx512', 'avx2', 'generic' for isa/],
  ];
  it.each(cases)('%s', (_name, call, message) => {
    // Throwing synchronously (rather than rejecting) proves no native work started.
    expect(call).toThrow(message);
  });

  it('async wrappers (adamw, clipGradNorm) reject before calling the op', async () => {
    await expect(ops.adamw(t(3), t(4), t(3), t(3), { lr: 1e-3, step: 1 })).rejects.toThrow(/adamw: grad \[4\] must have param's shape \[3\]/);
    await expect(ops.adamw(t(3), t(3), t(3), t(3), { lr: 1e-3, step: 0 })).rejects.toThrow(/integer >= 1 for step/);
    await expect(ops.clipGradNorm([], 1)).rejects.toThrow(/non-empty array of NdArrays for grads/);
    await expect(ops.clipGradNorm([t(3)], -1)).rejects.toThrow(/between 0 and Infinity for maxNorm/);
  });
});

// ---- the native op table ---------------------------------------------------------

const INVALID = 'ERR_TESSERA_INVALID_ARGUMENT';
const SHAPE = 'ERR_TESSERA_SHAPE_MISMATCH';

interface NativeCase {
  name: string;
  op: string;
  inputs: (NdArray | null)[];
  params?: ops.OpParams;
  /** Each must match the message: the argument, and the value or rule. */
  says: RegExp[];
  codes?: string[];
}

const n: NativeCase[] = [
  { name: 'matmul a is 1-d', op: 'matmul', inputs: [t(3), t(3, 2)], says: [/\ba\b/, /\b(2-d|dims?|rank)\b/i] },
  { name: 'matmul inner dims', op: 'matmul', inputs: [t(3, 4), t(5, 2)], says: [/\b4\b/, /\b5\b/] },
  { name: 'matmul transB inner dims', op: 'matmul', inputs: [t(3, 4), t(4, 5)], params: { transB: true }, says: [/\b4\b/, /\b5\b/] },
  { name: 'matmul batch dims', op: 'matmul', inputs: [t(2, 3, 4), t(3, 4, 5)], says: [/batch/i] },
  { name: 'matmul bias length', op: 'matmul', inputs: [t(3, 4), t(4, 5), t(4)], says: [/bias/, /\b5\b/] },
  { name: 'conv3d x rank', op: 'conv3d', inputs: [t(1, 3, 4, 4), t(5, 3, 3, 3, 3)], says: [/\bx\b/, /5-d/] },
  { name: 'conv3d w rank', op: 'conv3d', inputs: [t(1, 3, 4, 4, 4), t(5, 3, 3, 3)], says: [/\bw\b/, /5-d/] },
  { name: 'conv3d channel mismatch', op: 'conv3d', inputs: [t(1, 3, 4, 4, 4), t(5, 4, 3, 3, 3)], says: [/channel|Cin|C_in/i, /\b3\b/, /\b4\b/] },
  { name: 'conv3d kernel larger than padded input', op: 'conv3d', inputs: [t(1, 3, 2, 4, 4), t(5, 3, 3, 3, 3)], says: [/kernel|kD|output|size|larger/i] },
  { name: 'conv3d stride 0', op: 'conv3d', inputs: [t(1, 3, 4, 4, 4), t(5, 3, 3, 3, 3)], params: { stride: [1, 0, 1] }, says: [/stride/] },
  { name: 'conv3d padding length', op: 'conv3d', inputs: [t(1, 3, 4, 4, 4), t(5, 3, 3, 3, 3)], params: { padding: [1, 1] }, says: [/padding/, /3/] },
  { name: 'conv3d negative padding', op: 'conv3d', inputs: [t(1, 3, 4, 4, 4), t(5, 3, 3, 3, 3)], params: { padding: [1, -1, 1] }, says: [/padding/] },
  { name: 'conv3d bias length', op: 'conv3d', inputs: [t(1, 3, 4, 4, 4), t(5, 3, 3, 3, 3), t(3)], says: [/bias/, /\b5\b/] },
  { name: 'attention q rank', op: 'attention', inputs: [t(2, 3, 4), t(2, 3, 4), t(2, 3, 4)], says: [/\bq\b/, /4-d/] },
  { name: 'attention k head dim', op: 'attention', inputs: [t(1, 2, 3, 4), t(1, 2, 5, 6), t(1, 2, 5, 6)], says: [/\bk\b/] },
  { name: 'attention v shape', op: 'attention', inputs: [t(1, 2, 3, 4), t(1, 2, 5, 4), t(1, 2, 6, 4)], says: [/\bv\b/] },
  { name: 'attention mask batch', op: 'attention', inputs: [t(2, 2, 3, 4), t(2, 2, 5, 4), t(2, 2, 5, 4), t(3, 1, 3, 5)], says: [/mask/] },
  { name: 'attention mask keys', op: 'attention', inputs: [t(2, 2, 3, 4), t(2, 2, 5, 4), t(2, 2, 5, 4), t(1, 1, 3, 4)], says: [/mask/] },
  { name: 'varlen cuSeqlensQ end', op: 'attention_varlen', inputs: [t(6, 1, 4), t(6, 1, 4), t(6, 1, 4)], params: { cuSeqlensQ: [0, 2, 5] }, says: [/cuSeqlensQ/] },
  { name: 'varlen cuSeqlensQ start', op: 'attention_varlen', inputs: [t(6, 1, 4), t(6, 1, 4), t(6, 1, 4)], params: { cuSeqlensQ: [1, 2, 6] }, says: [/cuSeqlensQ/] },
  { name: 'varlen cuSeqlensQ decreasing', op: 'attention_varlen', inputs: [t(6, 1, 4), t(6, 1, 4), t(6, 1, 4)], params: { cuSeqlensQ: [0, 4, 2, 6] }, says: [/cuSeqlensQ/] },
  { name: 'varlen cuSeqlensK count', op: 'attention_varlen', inputs: [t(6, 1, 4), t(5, 1, 4), t(5, 1, 4)], params: { cuSeqlensQ: [0, 2, 6], cuSeqlensK: [0, 5] }, says: [/cuSeqlensK/] },
  { name: 'varlen missing cuSeqlensQ', op: 'attention_varlen', inputs: [t(6, 1, 4), t(6, 1, 4), t(6, 1, 4)], says: [/cuSeqlensQ/] },
  { name: 'rope3d x rank', op: 'rope3d', inputs: [t(2, 5, 8), t(5, 3)], says: [/\bx\b/, /4-d/, /\[2, 5, 8\]/] },
  { name: 'rope3d positions rows', op: 'rope3d', inputs: [t(1, 2, 5, 8), t(4, 3)], says: [/positions/, /\[5, 3\]/, /\[4, 3\]/] },
  { name: 'rope3d positions rank', op: 'rope3d', inputs: [t(1, 2, 5, 8), t(15)], says: [/positions/, /\[N, 3\]/, /\[15\]/] },
  { name: 'rope3d sections odd', op: 'rope3d', inputs: [t(1, 2, 5, 8), t(5, 3)], params: { sections: [2, 3, 3] }, says: [/sections/, /even/, /\[2, 3, 3\]/] },
  { name: 'rope3d sections sum', op: 'rope3d', inputs: [t(1, 2, 5, 8), t(5, 3)], params: { sections: [2, 2, 2] }, says: [/sections/, /Dh = 8/, /\[2, 2, 2\]/] },
  { name: 'rope3d sections length', op: 'rope3d', inputs: [t(1, 2, 5, 8), t(5, 3)], params: { sections: [4, 4] }, says: [/sections/, /three/, /\[4, 4\]/] },
  { name: 'rope3d sections negative', op: 'rope3d', inputs: [t(1, 2, 5, 8), t(5, 3)], params: { sections: [-2, 6, 4] }, says: [/sections/, /non-negative/, /\[-2, 6, 4\]/] },
  { name: 'rope3d default sections, odd Dh', op: 'rope3d', inputs: [t(1, 2, 5, 7), t(5, 3)], says: [/sections/, /Dh = 7/, /even Dh >= 6/] },
  { name: 'rope3d theta 0', op: 'rope3d', inputs: [t(1, 2, 5, 8), t(5, 3)], params: { theta: 0 }, says: [/theta/, /finite number > 0/, /got 0\b/] },
  { name: 'rope3d theta -1', op: 'rope3d', inputs: [t(1, 2, 5, 8), t(5, 3)], params: { theta: -1 }, says: [/theta/, /got -1\b/] },
  { name: 'rope3d theta infinite', op: 'rope3d', inputs: [t(1, 2, 5, 8), t(5, 3)], params: { theta: Infinity }, says: [/theta/, /got inf/] },
  { name: 'add does not broadcast', op: 'add', inputs: [t(2, 3), t(4)], says: [/broadcast/i, /2, 3/] },
  { name: 'sub does not broadcast', op: 'sub', inputs: [t(4, 1, 5), t(3, 2)], says: [/broadcast/i] },
  { name: 'mul does not broadcast', op: 'mul', inputs: [t(3), t(4)], says: [/broadcast/i] },
  { name: 'scale without alpha', op: 'scale', inputs: [t(3)], says: [/alpha/] },
  { name: 'gelu approximate', op: 'gelu', inputs: [t(3)], params: { approximate: 'fast' }, says: [/approximate/, /fast/] },
  { name: 'exp two inputs', op: 'exp', inputs: [t(3), t(3)], says: [/takes 1 inputs?, got 2/] },
  { name: 'clamp without bounds', op: 'clamp', inputs: [t(3)], says: [/\bmin\b/, /\bmax\b/, /at least one/, /got neither/] },
  { name: 'clamp min > max', op: 'clamp', inputs: [t(3)], params: { min: 2, max: 1 }, says: [/min \(2\)/, /max \(1\)/, /<=/] },
  { name: 'clamp min NaN', op: 'clamp', inputs: [t(3)], params: { min: NaN, max: 1 }, says: [/\bmin\b/, /finite or \+-inf/, /got -?nan/] },
  { name: 'clamp max NaN', op: 'clamp', inputs: [t(3)], params: { max: NaN }, says: [/\bmax\b/, /got -?nan/] },
  { name: 'clamp max not a number', op: 'clamp', inputs: [t(3)], params: { max: 'high' }, says: [/'max'/, /number/] },
  { name: 'layer_norm weight length', op: 'layer_norm', inputs: [t(2, 5), t(4)], says: [/weight/, /\b5\b/] },
  { name: 'layer_norm bias length', op: 'layer_norm', inputs: [t(2, 5), t(5), t(6)], says: [/bias/, /\b5\b/] },
  { name: 'rms_norm weight length', op: 'rms_norm', inputs: [t(2, 5), t(6)], says: [/weight/, /\b5\b/] },
  { name: 'group_norm numGroups does not divide C', op: 'group_norm', inputs: [t(2, 6, 5)], params: { numGroups: 4 }, says: [/numGroups/, /\b4\b/, /\b6\b/] },
  { name: 'group_norm numGroups missing', op: 'group_norm', inputs: [t(2, 6, 5)], says: [/numGroups/] },
  { name: 'group_norm x rank', op: 'group_norm', inputs: [t(6)], params: { numGroups: 2 }, says: [/\bx\b/] },
  { name: 'group_norm weight length', op: 'group_norm', inputs: [t(2, 6, 5), t(3)], params: { numGroups: 2 }, says: [/weight/, /\b6\b/] },
  { name: 'mse_loss shapes', op: 'mse_loss', inputs: [t(2, 3), t(3, 2)], says: [/input|target|shape/] },
  { name: 'l1_loss shapes', op: 'l1_loss', inputs: [t(2, 3), t(6)], says: [/input|target|shape/] },
  { name: 'sum dims out of range', op: 'sum', inputs: [t(2, 3)], params: { dims: [2] }, says: [/dims?\b/, /\b2\b/] },
  { name: 'mean dims repeated', op: 'mean', inputs: [t(2, 3)], params: { dims: [1, -1] }, says: [/dims?\b/] },
  { name: 'reshape element count', op: 'reshape', inputs: [t(2, 3)], params: { shape: [4, -1] }, says: [/4, -1/] },
  { name: 'reshape two -1', op: 'reshape', inputs: [t(2, 3)], params: { shape: [-1, -1] }, says: [/-1/] },
  { name: 'permute not a permutation', op: 'permute', inputs: [t(2, 3, 4)], params: { dims: [0, 0, 1] }, says: [/dims/] },
  { name: 'permute wrong length', op: 'permute', inputs: [t(2, 3, 4)], params: { dims: [1, 0] }, says: [/dims/] },
  { name: 'slice dim out of range', op: 'slice', inputs: [t(2, 3)], params: { dim: 2, start: 0, end: 1 }, says: [/dim/, /\b2\b/] },
  { name: 'slice step 0', op: 'slice', inputs: [t(2, 3)], params: { dim: 1, start: 0, end: 1, step: 0 }, says: [/step/] },
  { name: 'concat shapes', op: 'concat', inputs: [t(2, 3), t(3, 3)], params: { dim: 1 }, says: [/x1|input 1|inputs?\[1\]/] },
  { name: 'concat ranks', op: 'concat', inputs: [t(2, 3), t(2, 3), t(2, 3, 1)], params: { dim: 0 }, says: [/x2|input 2|inputs?\[2\]/] },
  { name: 'pad odd length', op: 'pad', inputs: [t(2, 3)], params: { pads: [1, 2, 3] }, says: [/pads/, /even/] },
  { name: 'pad too many', op: 'pad', inputs: [t(2, 3)], params: { pads: [1, 1, 1, 1, 1, 1] }, says: [/pads/] },
  { name: 'upsample rank', op: 'upsample', inputs: [t(4, 4)], params: { factor: [2, 2] }, says: [/\bx\b/, /5-d|4-d/] },
  { name: 'upsample factor value', op: 'upsample', inputs: [t(1, 1, 4, 4)], params: { factor: [3, 2] }, says: [/factor/, /1, 2 or 4/] },
  { name: 'upsample factor count', op: 'upsample', inputs: [t(1, 1, 4, 4)], params: { factor: [2, 2, 2] }, says: [/factor/, /\b2\b/] },
  { name: 'upsample mode', op: 'upsample', inputs: [t(1, 1, 4, 4)], params: { factor: [2, 2], mode: 'cubic' }, says: [/mode/, /cubic/] },
  { name: 'downsample factor does not divide', op: 'downsample', inputs: [t(1, 1, 3, 4)], params: { factor: [2, 2] }, says: [/factor/, /divi/i, /\b3\b/] },
  { name: 'randn negative seed', op: 'randn', inputs: [], params: { shape: [2], seed: -1 }, says: [/seed/] },
  { name: 'randn missing seed', op: 'randn', inputs: [], params: { shape: [2] }, says: [/seed/] },
  { name: 'adamw grad shape', op: 'adamw', inputs: [t(3), t(4), t(3), t(3)], params: { lr: 1e-3, step: 1 }, says: [/grad/] },
  { name: 'adamw step 0', op: 'adamw', inputs: [t(3), t(3), t(3), t(3)], params: { lr: 1e-3, step: 0 }, says: [/step/] },
  { name: 'adamw missing lr', op: 'adamw', inputs: [t(3), t(3), t(3), t(3)], params: { step: 1 }, says: [/\blr\b/] },
  { name: 'clip_grad_norm negative maxNorm', op: 'clip_grad_norm', inputs: [t(3), t(2)], params: { maxNorm: -1 }, says: [/maxNorm/] },
  { name: 'clip_grad_norm missing maxNorm', op: 'clip_grad_norm', inputs: [t(3)], says: [/maxNorm/] },
];

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected the call to reject, but it resolved');
}

describe('the native op table rejects bad input with a code and a message naming the op and argument', () => {
  it('unknown op name', async () => {
    const e = await rejection(ops.run('no_such_op', [t(2)], {}));
    expect(e.code).toBe(INVALID);
    expect(e.message).toMatch(/unknown op 'no_such_op'/);
  });
  it('wrong number of inputs', async () => {
    for (const op of ['matmul', 'softmax', 'mse_loss']) if (!ops.names().includes(op)) throw new Error(`op '${op}' is not in the op table`);
    const e = await rejection(ops.run('matmul', [t(2, 2)], {}));
    expect(e.code).toBe(INVALID);
    expect(e.message).toMatch(/matmul.*takes 2 to 3 inputs, got 1/);
    const e2 = await rejection(ops.run('softmax', [t(2), t(2)], {}));
    expect(e2.message).toMatch(/softmax.*takes 1 inputs?, got 2/);
  });
  it('clamp accepts infinite bounds (as either option) and keeps NaN', async () => {
    const x = ndarray([-3, -0.5, 0, 2, NaN, Infinity, -Infinity], [7]);
    const want = [-1, -0.5, 0, 2, NaN, Infinity, -1];
    expect([...(await ops.clamp(x, { min: -1, max: Infinity })).data]).toEqual(want);
    expect([...(await ops.clamp(x, { min: -1 })).data]).toEqual(want);
    const [y] = await ops.run('clamp', [x], { min: -Infinity, max: 0 });
    expect([...y!.data]).toEqual([-3, -0.5, 0, 0, NaN, 0, -Infinity]);
  });
  it('gradient for an output of the wrong shape', async () => {
    if (!ops.names().includes('softmax')) throw new Error(`op 'softmax' is not in the op table`);
    const e = await rejection(ops.grad('softmax', [t(2, 3)], {}, [t(3, 2)]));
    expect(e.code).toBe(SHAPE);
    expect(e.message).toMatch(/softmax.*gradient for output 0 has shape \[3, 2\]/);
  });
  it.each(n.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    if (!ops.names().includes(c.op)) throw new Error(`op '${c.op}' is not in the op table`);
    const e = await rejection(ops.run(c.op, c.inputs, c.params ?? {}));
    expect([INVALID, SHAPE], `err.code for: ${e.message}`).toContain(e.code);
    expect(e.message, 'the message names the op').toContain(c.op);
    for (const re of c.says) expect(e.message).toMatch(re);
  });
});
