// The `ops` namespace: every op in the native op table (docs/OPS.md), callable
// from JavaScript with Float32Array data. Shapes are checked here, before any
// work starts, with errors that name the argument, the value and the rule; the
// computation runs off the JS thread and resolves a Promise.
import { native, type NativeParams, type NativeTensor } from './native.js';
import { cudaStatus } from './backends.js';
import {
  checkBoolean,
  checkInteger,
  checkIntegerArray,
  checkNumber,
  checkOneOf,
  describeValue,
  invalidParameter,
  invalidRange,
} from './validate.js';

/** A dense row-major float32 array with a shape. */
export interface NdArray {
  data: Float32Array;
  shape: number[];
}

export type OpParams = NativeParams;

/** Builds an NdArray, checking that data fits the shape. */
export function ndarray(data: Float32Array | number[], shape: readonly number[]): NdArray {
  const d = data instanceof Float32Array ? data : Float32Array.from(data);
  const s = checkShape('shape', shape);
  const n = s.reduce((a, b) => a * b, 1);
  if (d.length !== n) throw invalidRange('data', `${n} elements for shape [${s.join(', ')}]`, d);
  return { data: d, shape: s };
}

function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw invalidParameter(name, 'an array of non-negative integers', shape);
  return checkIntegerArray(name, shape, 0);
}

function checkArray(name: string, value: unknown, rank?: number | readonly number[]): NdArray {
  const v = value as NdArray;
  if (typeof value !== 'object' || value === null || !(v.data instanceof Float32Array))
    throw invalidParameter(name, 'an NdArray {data: Float32Array, shape: number[]}', value);
  const shape = checkShape(`${name}.shape`, v.shape);
  const n = shape.reduce((a, b) => a * b, 1);
  if (v.data.length !== n)
    throw invalidRange(`${name}.data`, `${n} elements for shape [${shape.join(', ')}]`, v.data);
  if (rank !== undefined) {
    const ranks = typeof rank === 'number' ? [rank] : rank;
    if (!ranks.includes(shape.length))
      throw invalidRange(`${name}.shape`, `a ${ranks.join(' or ')}-d shape`, shape);
  }
  return v;
}

function shapeError(message: string): RangeError {
  return new RangeError(message);
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Names of all ops in the native op table. */
export function names(): string[] {
  return native().opNames();
}

export type Device = 'cpu' | 'cuda';
let currentDevice: Device = 'cpu';

/**
 * The device ops run on from now on. 'cuda' loads the CUDA backend (see
 * backends()) and throws ERR_TESSERA_BACKEND with the reason when it is off.
 * Inputs and outputs stay host arrays; they are copied to and from the GPU.
 */
export function setDevice(device: Device): void {
  checkOneOf('device', device, ['cpu', 'cuda'] as const);
  if (device === 'cuda') {
    const s = cudaStatus();
    if (!s.available) {
      const err = new Error(`tessera: CUDA is not available (${s.reason}): ${s.detail}`) as Error & { code: string };
      err.code = 'ERR_TESSERA_BACKEND';
      throw err;
    }
  }
  currentDevice = device;
}

/** The device ops run on ('cpu' unless setDevice('cuda') was called). */
export function getDevice(): Device {
  return currentDevice;
}

function placed(params: OpParams): OpParams {
  return currentDevice === 'cpu' ? params : { ...params, __device: currentDevice };
}

/** Runs an op's forward by name (no validation beyond the native checks). */
export function run(name: string, inputs: (NdArray | null)[], params: OpParams = {}): Promise<NdArray[]> {
  return native().runOp(name, inputs as (NativeTensor | null)[], placed(params));
}

/**
 * Runs an op's forward, then its backward with the given output gradients.
 * Returns the outputs and one gradient per input (null where an input has none).
 */
export function grad(
  name: string,
  inputs: (NdArray | null)[],
  params: OpParams,
  gradOutputs: (NdArray | null)[],
): Promise<{ outputs: NdArray[]; grads: (NdArray | null)[] }> {
  return native().runOpBackward(name, inputs, placed(params), gradOutputs);
}

/** Times `iterations` runs of an op (forward, or forward+backward when gradOutputs is given) in ms each. */
export function bench(
  name: string,
  inputs: (NdArray | null)[],
  params: OpParams,
  iterations: number,
  gradOutputs?: (NdArray | null)[],
): Promise<number[]> {
  checkInteger('iterations', iterations, 1);
  const p = placed(gradOutputs ? { ...params, __backward: true } : params);
  return native().benchOp(name, inputs, p, iterations, gradOutputs);
}

/** Threads used by CPU kernels (default: TESSERA_THREADS or all cores). 0 restores the default. */
export function setThreads(threads: number): void {
  native().setThreads(checkInteger('threads', threads, 0, 1024));
}
export function getThreads(): number {
  return native().numThreads();
}

export type CpuIsa = 'avx512' | 'avx2' | 'generic';
/** The instruction set CPU kernels use, and the best one this CPU has. */
export function cpuIsa(): { active: CpuIsa; detected: CpuIsa } {
  return native().cpuIsa() as { active: CpuIsa; detected: CpuIsa };
}
/** Forces a lower instruction set (for testing each kernel path). */
export function setCpuIsa(isa: CpuIsa): void {
  native().setIsa(checkOneOf('isa', isa, ['avx512', 'avx2', 'generic'] as const));
}

async function one(name: string, inputs: (NdArray | null)[], params: OpParams = {}): Promise<NdArray> {
  const out = await run(name, inputs, params);
  return out[0]!;
}

// ---- linear algebra -------------------------------------------------------

export interface MatmulOptions {
  bias?: NdArray;
  transA?: boolean;
  transB?: boolean;
}

/** a @ b (+ bias), batched over leading dims; one side may be 2-d and is then shared. */
export function matmul(a: NdArray, b: NdArray, options: MatmulOptions = {}): Promise<NdArray> {
  checkArray('a', a);
  checkArray('b', b);
  const transA = options.transA === undefined ? false : checkBoolean('transA', options.transA);
  const transB = options.transB === undefined ? false : checkBoolean('transB', options.transB);
  if (a.shape.length < 2) throw invalidRange('a.shape', 'at least 2 dims', a.shape);
  if (b.shape.length < 2) throw invalidRange('b.shape', 'at least 2 dims', b.shape);
  const ka = transA ? a.shape.at(-2)! : a.shape.at(-1)!;
  const kb = transB ? b.shape.at(-1)! : b.shape.at(-2)!;
  const n = transB ? b.shape.at(-2)! : b.shape.at(-1)!;
  if (ka !== kb) throw shapeError(`matmul: inner dimensions differ: a ${fmt(a.shape)} and b ${fmt(b.shape)} (K ${ka} vs ${kb})`);
  const ba = a.shape.slice(0, -2), bb = b.shape.slice(0, -2);
  if (ba.length && bb.length && fmt(ba) !== fmt(bb))
    throw shapeError(`matmul: batch dims must match or one side must be 2-d: a ${fmt(a.shape)}, b ${fmt(b.shape)}`);
  const inputs: (NdArray | null)[] = [a, b];
  if (options.bias) {
    checkArray('bias', options.bias, 1);
    if (options.bias.shape[0] !== n) throw shapeError(`matmul: bias has ${options.bias.shape[0]} elements, expected N = ${n}`);
    inputs.push(options.bias);
  }
  return one('matmul', inputs, { transA, transB });
}

export interface Conv3dOptions {
  bias?: NdArray;
  stride?: number | [number, number, number];
  padding?: number | [number, number, number];
  /** Temporal padding kD-1 frames before and none after (frame t sees only frames <= t). */
  causal?: boolean;
}

const triple = (name: string, v: number | number[] | undefined, def: number, min: number): number[] => {
  if (v === undefined) return [def, def, def];
  if (typeof v === 'number') return [checkInteger(name, v, min), v, v];
  const arr = checkIntegerArray(name, v, min);
  if (arr.length !== 3) throw invalidRange(name, 'a number or an array of 3 integers', v);
  return arr;
};

/** 3-D convolution, x [N, Cin, D, H, W], w [Cout, Cin, kD, kH, kW]. */
export function conv3d(x: NdArray, w: NdArray, options: Conv3dOptions = {}): Promise<NdArray> {
  checkArray('x', x, 5);
  checkArray('w', w, 5);
  if (x.shape[1] !== w.shape[1])
    throw shapeError(`conv3d: x has ${x.shape[1]} channels but w expects ${w.shape[1]} (x ${fmt(x.shape)}, w ${fmt(w.shape)})`);
  const stride = triple('stride', options.stride, 1, 1);
  const padding = triple('padding', options.padding, 0, 0);
  const causal = options.causal === undefined ? false : checkBoolean('causal', options.causal);
  const inputs: (NdArray | null)[] = [x, w];
  if (options.bias) {
    checkArray('bias', options.bias, 1);
    if (options.bias.shape[0] !== w.shape[0]) throw shapeError(`conv3d: bias has ${options.bias.shape[0]} elements, expected Cout = ${w.shape[0]}`);
    inputs.push(options.bias);
  }
  return one('conv3d', inputs, { stride, padding, causal });
}

// ---- attention --------------------------------------------------------------

export interface AttentionOptions {
  /** Additive mask [Bm, Hm, Nq, Nk] (Bm in {1, B}, Hm in {1, H}); -Infinity masks a pair. */
  mask?: NdArray;
  scale?: number;
}

/** softmax(q k^T * scale + mask) v, flash-style: O(N) memory. q [B, H, Nq, Dh]. */
export function attention(q: NdArray, k: NdArray, v: NdArray, options: AttentionOptions = {}): Promise<NdArray> {
  checkArray('q', q, 4);
  checkArray('k', k, 4);
  checkArray('v', v, 4);
  const [B, H, Nq, D] = q.shape as [number, number, number, number];
  if (k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== D)
    throw shapeError(`attention: k ${fmt(k.shape)} does not match q ${fmt(q.shape)} in batch, heads or head dim`);
  if (fmt(v.shape) !== fmt(k.shape)) throw shapeError(`attention: v ${fmt(v.shape)} must have k's shape ${fmt(k.shape)}`);
  const inputs: (NdArray | null)[] = [q, k, v];
  if (options.mask) {
    const m = checkArray('mask', options.mask, 4);
    const ok = (m.shape[0] === 1 || m.shape[0] === B) && (m.shape[1] === 1 || m.shape[1] === H) && m.shape[2] === Nq && m.shape[3] === k.shape[2];
    if (!ok) throw shapeError(`attention: mask ${fmt(m.shape)} must be [1 or ${B}, 1 or ${H}, ${Nq}, ${k.shape[2]}]`);
    inputs.push(m);
  }
  const params: OpParams = {};
  if (options.scale !== undefined) params.scale = checkNumber('scale', options.scale);
  return one('attention', inputs, params);
}

export interface VarlenAttentionOptions {
  /** Offsets of each sequence in q: [0, len0, len0+len1, ..., Tq]. */
  cuSeqlensQ: number[];
  /** Offsets in k and v (default: cuSeqlensQ). */
  cuSeqlensK?: number[];
  scale?: number;
}

function checkCuSeqlens(name: string, cu: unknown, total: number): number[] {
  const arr = checkIntegerArray(name, cu, 0);
  if (arr.length < 2 || arr[0] !== 0 || arr.at(-1) !== total || arr.some((x, i) => i > 0 && x < arr[i - 1]!))
    throw invalidRange(name, `non-decreasing offsets starting at 0 and ending at ${total}`, cu);
  return arr;
}

/** Attention over sequences packed back to back: q [Tq, H, Dh], k and v [Tk, H, Dh]. */
export function attentionVarlen(q: NdArray, k: NdArray, v: NdArray, options: VarlenAttentionOptions): Promise<NdArray> {
  checkArray('q', q, 3);
  checkArray('k', k, 3);
  checkArray('v', v, 3);
  if (k.shape[1] !== q.shape[1] || k.shape[2] !== q.shape[2])
    throw shapeError(`attentionVarlen: k ${fmt(k.shape)} does not match q ${fmt(q.shape)} in heads or head dim`);
  if (fmt(v.shape) !== fmt(k.shape)) throw shapeError(`attentionVarlen: v ${fmt(v.shape)} must have k's shape ${fmt(k.shape)}`);
  const cuQ = checkCuSeqlens('cuSeqlensQ', options?.cuSeqlensQ, q.shape[0]!);
  const cuK = options.cuSeqlensK === undefined ? cuQ : checkCuSeqlens('cuSeqlensK', options.cuSeqlensK, k.shape[0]!);
  if (cuK.length !== cuQ.length) throw invalidRange('cuSeqlensK', `${cuQ.length} offsets (as many sequences as cuSeqlensQ)`, cuK);
  const params: OpParams = { cuSeqlensQ: cuQ, cuSeqlensK: cuK };
  if (options.scale !== undefined) params.scale = checkNumber('scale', options.scale);
  return one('attention_varlen', [q, k, v], params);
}

// ---- rotary position embedding -------------------------------------------------

export interface Rope3dOptions {
  /**
   * Channels per axis [st, sh, sw]: even, non-negative, summing to Dh. Channels
   * [0, st) rotate with t, [st, st+sh) with h, the rest with w. Default:
   * sh = sw = 2*floor(3*Dh/16), st = Dh - sh - sw (Dh = 64: [16, 24, 24]); needs an even Dh >= 6.
   */
  sections?: [number, number, number];
  /** Frequency base: pair i of a section of size s turns by p * theta^(-2i/s) (default 10000). */
  theta?: number;
}

/**
 * 3-d rotary position embedding: x [B, H, N, Dh] rotated in interleaved channel
 * pairs by the (t, h, w) coordinates of each token, positions [N, 3] (may be fractional).
 */
export function rope3d(x: NdArray, positions: NdArray, options: Rope3dOptions = {}): Promise<NdArray> {
  checkArray('x', x, 4);
  checkArray('positions', positions, 2);
  const [, , N, Dh] = x.shape as [number, number, number, number];
  if (positions.shape[0] !== N || positions.shape[1] !== 3)
    throw shapeError(`rope3d: positions ${fmt(positions.shape)} must be [N, 3] = [${N}, 3] (one (t, h, w) row per token of x ${fmt(x.shape)})`);
  const params: OpParams = {};
  if (options.sections !== undefined) {
    const s = options.sections as unknown as number[];
    const rule = `three even non-negative integers [st, sh, sw] summing to Dh = ${Dh}`;
    if (!Array.isArray(s) || !s.every((v) => Number.isInteger(v))) throw invalidParameter('sections', rule, s);
    if (s.length !== 3 || s.some((v) => v < 0 || v % 2 !== 0) || s[0]! + s[1]! + s[2]! !== Dh) throw invalidRange('sections', rule, s);
    params.sections = [...s];
  } else if (Dh % 2 !== 0 || Dh < 6) {
    throw invalidRange('sections', `explicit sections for head dim Dh = ${Dh} (the default needs an even Dh >= 6)`, undefined);
  }
  if (options.theta !== undefined) {
    const theta = checkNumber('theta', options.theta);
    if (!Number.isFinite(theta) || theta <= 0) throw invalidRange('theta', 'a finite number > 0', theta);
    params.theta = theta;
  }
  return one('rope3d', [x, positions], params);
}

// ---- elementwise ------------------------------------------------------------

function broadcastShape(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw shapeError(`${op}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast (dim ${i}: ${da} vs ${db})`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

function binary(op: string, a: NdArray, b: NdArray): Promise<NdArray> {
  checkArray('a', a);
  checkArray('b', b);
  broadcastShape(op, a.shape, b.shape);
  return one(op, [a, b]);
}
/** a + b with NumPy broadcasting. */
export const add = (a: NdArray, b: NdArray) => binary('add', a, b);
/** a - b with NumPy broadcasting. */
export const sub = (a: NdArray, b: NdArray) => binary('sub', a, b);
/** a * b with NumPy broadcasting. */
export const mul = (a: NdArray, b: NdArray) => binary('mul', a, b);
/** alpha * x. */
export function scale(x: NdArray, alpha: number): Promise<NdArray> {
  checkArray('x', x);
  return one('scale', [x], { alpha: checkNumber('alpha', alpha) });
}

export function silu(x: NdArray): Promise<NdArray> {
  return one('silu', [checkArray('x', x)]);
}
export function gelu(x: NdArray, options: { approximate?: 'none' | 'tanh' } = {}): Promise<NdArray> {
  checkArray('x', x);
  const approximate = options.approximate === undefined ? 'none' : checkOneOf('approximate', options.approximate, ['none', 'tanh'] as const);
  return one('gelu', [x], { approximate });
}
/** e^x, elementwise (the gradient is dy * e^x). */
export function exp(x: NdArray): Promise<NdArray> {
  return one('exp', [checkArray('x', x)]);
}
export interface ClampOptions {
  /** Lower bound (a number, -Infinity allowed); omit for none. */
  min?: number;
  /** Upper bound (a number, Infinity allowed); omit for none. */
  max?: number;
}
/**
 * x clamped to [min, max] elementwise: at least one bound, min <= max; NaN stays NaN.
 * Bounds are rounded to float32. The gradient passes where min <= x <= max (the
 * bounds included, as PyTorch's clamp) and is 0 elsewhere.
 */
export function clamp(x: NdArray, options: ClampOptions): Promise<NdArray> {
  checkArray('x', x);
  if (typeof options !== 'object' || options === null)
    throw invalidParameter('options', 'an object { min?: number, max?: number }', options);
  const min = options.min === undefined ? undefined : checkNumber('min', options.min);
  const max = options.max === undefined ? undefined : checkNumber('max', options.max);
  if (min === undefined && max === undefined)
    throw invalidParameter('min or max', 'a number for at least one of the two bounds', undefined);
  if (min !== undefined && max !== undefined && min > max) throw invalidRange('max', `a number >= min (${min})`, max);
  return one('clamp', [x], { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) });
}
/** Softmax over the last dimension. */
export function softmax(x: NdArray): Promise<NdArray> {
  return one('softmax', [checkArray('x', x)]);
}

// ---- normalization ----------------------------------------------------------

function checkVector(name: string, v: NdArray | undefined, length: number, op: string): NdArray | undefined {
  if (v === undefined) return undefined;
  checkArray(name, v, 1);
  if (v.shape[0] !== length) throw shapeError(`${op}: ${name} has ${v.shape[0]} elements, expected ${length}`);
  return v;
}

export interface NormOptions {
  weight?: NdArray;
  bias?: NdArray;
  eps?: number;
}

/** LayerNorm over the last dim. */
export function layerNorm(x: NdArray, options: NormOptions = {}): Promise<NdArray> {
  checkArray('x', x);
  if (x.shape.length < 1) throw invalidRange('x.shape', 'at least 1 dim', x.shape);
  const C = x.shape.at(-1)!;
  const w = checkVector('weight', options.weight, C, 'layerNorm');
  const b = checkVector('bias', options.bias, C, 'layerNorm');
  if (b && !w) throw invalidParameter('weight', 'an NdArray when bias is given', undefined);
  return one('layer_norm', [x, ...(w ? [w] : []), ...(b ? [b] : [])], { eps: checkNumber('eps', options.eps ?? 1e-5, 0) });
}

/** RMSNorm over the last dim: x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: NdArray, options: { weight?: NdArray; eps?: number } = {}): Promise<NdArray> {
  checkArray('x', x);
  const w = checkVector('weight', options.weight, x.shape.at(-1) ?? 0, 'rmsNorm');
  return one('rms_norm', [x, ...(w ? [w] : [])], { eps: checkNumber('eps', options.eps ?? 1e-6, 0) });
}

/** GroupNorm over x [N, C, *]. */
export function groupNorm(x: NdArray, numGroups: number, options: NormOptions = {}): Promise<NdArray> {
  checkArray('x', x);
  if (x.shape.length < 2) throw invalidRange('x.shape', 'at least 2 dims [N, C, ...]', x.shape);
  const C = x.shape[1]!;
  checkInteger('numGroups', numGroups, 1);
  if (C % numGroups !== 0) throw invalidRange('numGroups', `a divisor of the channel count ${C}`, numGroups);
  const w = checkVector('weight', options.weight, C, 'groupNorm');
  const b = checkVector('bias', options.bias, C, 'groupNorm');
  if (b && !w) throw invalidParameter('weight', 'an NdArray when bias is given', undefined);
  return one('group_norm', [x, ...(w ? [w] : []), ...(b ? [b] : [])], { numGroups, eps: checkNumber('eps', options.eps ?? 1e-5, 0) });
}

// ---- losses and reductions ---------------------------------------------------

function sameShape(op: string, a: NdArray, b: NdArray) {
  checkArray('input', a);
  checkArray('target', b);
  if (fmt(a.shape) !== fmt(b.shape)) throw shapeError(`${op}: input ${fmt(a.shape)} and target ${fmt(b.shape)} must have the same shape`);
}
/** mean((input - target)^2) as a scalar. */
export function mseLoss(input: NdArray, target: NdArray): Promise<NdArray> {
  sameShape('mseLoss', input, target);
  return one('mse_loss', [input, target]);
}
/** mean(|input - target|) as a scalar. */
export function l1Loss(input: NdArray, target: NdArray): Promise<NdArray> {
  sameShape('l1Loss', input, target);
  return one('l1_loss', [input, target]);
}

export interface ReduceOptions {
  dims?: number[];
  keepdim?: boolean;
}
function reduce(op: string, x: NdArray, options: ReduceOptions): Promise<NdArray> {
  checkArray('x', x);
  const params: OpParams = {};
  if (options.dims !== undefined) {
    const dims = checkIntegerArray('dims', options.dims);
    const r = x.shape.length;
    dims.forEach((d, i) => { if (d < -r || d >= r) throw invalidRange(`dims[${i}]`, `a dim in [-${r}, ${r - 1}]`, d); });
    params.dims = dims;
  }
  if (options.keepdim !== undefined) params.keepdim = checkBoolean('keepdim', options.keepdim);
  return one(op, [x], params);
}
export const sum = (x: NdArray, options: ReduceOptions = {}) => reduce('sum', x, options);
export const mean = (x: NdArray, options: ReduceOptions = {}) => reduce('mean', x, options);

// ---- shape ------------------------------------------------------------------

export function reshape(x: NdArray, shape: number[]): Promise<NdArray> {
  checkArray('x', x);
  const s = checkIntegerArray('shape', shape, -1);
  return one('reshape', [x], { shape: s });
}
export function permute(x: NdArray, dims: number[]): Promise<NdArray> {
  checkArray('x', x);
  const d = checkIntegerArray('dims', dims);
  if (d.length !== x.shape.length || [...d].map((v) => (v < 0 ? v + d.length : v)).sort((a, b) => a - b).some((v, i) => v !== i))
    throw invalidRange('dims', `a permutation of 0..${x.shape.length - 1}`, dims);
  return one('permute', [x], { dims: d });
}
export function slice(x: NdArray, dim: number, start: number, end: number, step = 1): Promise<NdArray> {
  checkArray('x', x);
  const r = x.shape.length;
  checkInteger('dim', dim, -r, r - 1);
  return one('slice', [x], { dim, start: checkInteger('start', start), end: checkInteger('end', end), step: checkInteger('step', step, 1) });
}
export function concat(xs: NdArray[], dim: number): Promise<NdArray> {
  if (!Array.isArray(xs) || xs.length === 0) throw invalidParameter('xs', 'a non-empty array of NdArrays', xs);
  xs.forEach((x, i) => checkArray(`xs[${i}]`, x));
  const r = xs[0]!.shape.length;
  checkInteger('dim', dim, -r, r - 1);
  return one('concat', xs, { dim });
}
/** Constant padding; pads as torch.nn.functional.pad: [beforeLast, afterLast, before2ndLast, ...]. */
export function pad(x: NdArray, pads: number[], value = 0): Promise<NdArray> {
  checkArray('x', x);
  const p = checkIntegerArray('pads', pads, 0);
  if (p.length % 2 !== 0 || p.length / 2 > x.shape.length)
    throw invalidRange('pads', `an even number of entries, at most ${2 * x.shape.length}`, pads);
  return one('pad', [x], { pads: p, value: checkNumber('value', value) });
}

// ---- resampling -------------------------------------------------------------

export type ResampleMode = 'nearest' | 'trilinear';
function resample(op: string, x: NdArray, factor: number[], mode: ResampleMode | undefined): Promise<NdArray> {
  checkArray('x', x, [4, 5]);
  const f = checkIntegerArray('factor', factor, 1);
  if (f.length !== x.shape.length - 2) throw invalidRange('factor', `${x.shape.length - 2} entries (one per spatial dim)`, factor);
  f.forEach((v, i) => { if (![1, 2, 4].includes(v)) throw invalidRange(`factor[${i}]`, '1, 2 or 4', v); });
  if (op === 'downsample')
    f.forEach((v, i) => {
      const size = x.shape[i + 2]!;
      if (size % v !== 0) throw invalidRange(`factor[${i}]`, `a divisor of the input size ${size}`, v);
    });
  return one(op, [x], { factor: f, mode: checkOneOf('mode', mode ?? 'nearest', ['nearest', 'trilinear'] as const) });
}
/** Upsampling by 1, 2 or 4 per spatial dim (torch's interpolate, align_corners=false). */
export const upsample = (x: NdArray, factor: number[], options: { mode?: ResampleMode } = {}) => resample('upsample', x, factor, options.mode);
/** Downsampling by 1, 2 or 4 per spatial dim (interpolate with scale_factor 1/f). */
export const downsample = (x: NdArray, factor: number[], options: { mode?: ResampleMode } = {}) => resample('downsample', x, factor, options.mode);

// ---- random and optimizer ------------------------------------------------------

/** Philox4x32-10 standard normals: the same numbers for the same (seed, offset) on every backend. */
export function randn(shape: number[], options: { seed?: number; offset?: number } = {}): Promise<NdArray> {
  const s = checkShape('shape', shape);
  return one('randn', [], { shape: s, seed: checkInteger('seed', options.seed ?? 0, 0), offset: checkInteger('offset', options.offset ?? 0, 0) });
}

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** 1-based step number (bias correction). */
  step: number;
}
/** One AdamW step (decoupled weight decay); returns the new param, m and v. */
export async function adamw(param: NdArray, grad: NdArray, m: NdArray, v: NdArray, options: AdamWOptions): Promise<{ param: NdArray; m: NdArray; v: NdArray }> {
  for (const [n, t] of [['grad', grad], ['m', m], ['v', v]] as const) {
    checkArray(n, t);
    if (fmt(t.shape) !== fmt(checkArray('param', param).shape)) throw shapeError(`adamw: ${n} ${fmt(t.shape)} must have param's shape ${fmt(param.shape)}`);
  }
  const params: OpParams = {
    lr: checkNumber('lr', options?.lr, 0),
    beta1: checkNumber('beta1', options.beta1 ?? 0.9, 0, 1),
    beta2: checkNumber('beta2', options.beta2 ?? 0.999, 0, 1),
    eps: checkNumber('eps', options.eps ?? 1e-8, 0),
    weightDecay: checkNumber('weightDecay', options.weightDecay ?? 0.01, 0),
    step: checkInteger('step', options.step, 1),
  };
  const [p, m2, v2] = await run('adamw', [param, grad, m, v], params);
  return { param: p!, m: m2!, v: v2! };
}

/** Scales all gradients together so their global L2 norm is at most maxNorm; returns them and the norm before clipping. */
export async function clipGradNorm(grads: NdArray[], maxNorm: number): Promise<{ grads: NdArray[]; norm: number }> {
  if (!Array.isArray(grads) || grads.length === 0) throw invalidParameter('grads', 'a non-empty array of NdArrays', grads);
  grads.forEach((g, i) => checkArray(`grads[${i}]`, g));
  const out = await run('clip_grad_norm', grads, { maxNorm: checkNumber('maxNorm', maxNorm, 0) });
  return { grads: out.slice(0, -1), norm: out.at(-1)!.data[0]! };
}

export { describeValue };
