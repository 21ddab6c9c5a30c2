// Every op against PyTorch reference fixtures (test/fixtures/ops/*.safetensors,
// made by test/fixtures/make_fixtures.py in float64): forward outputs and, for
// differentiable ops, the gradient of every input given the stored upstream
// gradient. The whole set runs once per CPU kernel path this machine has
// (AVX-512, AVX2+FMA, generic), forced with ops.setCpuIsa, and once more on the
// CUDA backend when one is loaded (in CI: the CUDA kernels under the CPU
// emulator, libtessera_cuda_emu.so via TESSERA_CUDA_LIBRARY; set
// TESSERA_REQUIRE_CUDA=1 to fail instead of skipping when CUDA is off).
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, cudaMemory, ops, type NdArray } from '../lib/index.js';
import { compare, erf, fmtShape, normalCdf } from './helpers/numeric.js';
import { philox4x32_10, philoxNormalAt } from './helpers/philox.js';
import { parseSafetensors, readSafetensors, type SafetensorsFile } from './helpers/safetensors.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ops');
const files = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();

interface Fixture {
  file: string;
  op: string;
  caseName: string;
  params: Record<string, unknown>;
  rtol: number;
  atol: number;
  inputs: NdArray[];
  outputs: NdArray[];
  gouts: NdArray[];
  gins: Map<number, NdArray>;
}

function numbered(f: SafetensorsFile, prefix: string): NdArray[] {
  const out: NdArray[] = [];
  for (let i = 0; f.tensors.has(`${prefix}.${i}`); i++) out.push(f.tensors.get(`${prefix}.${i}`)!);
  return out;
}

function load(file: string): Fixture {
  const f = readSafetensors(join(dir, file));
  const m = f.metadata;
  const gins = new Map<number, NdArray>();
  for (const [name, t] of f.tensors) if (name.startsWith('gin.')) gins.set(Number(name.slice(4)), t);
  return {
    file,
    op: m.op!,
    caseName: m.case!,
    params: JSON.parse(m.params!),
    rtol: Number(m.rtol),
    atol: Number(m.atol),
    inputs: numbered(f, 'in'),
    outputs: numbered(f, 'out'),
    gouts: numbered(f, 'gout'),
    gins,
  };
}

const fixtures = files.map(load);
const ISAS = ['avx512', 'avx2', 'generic'] as const;
const RANK = { generic: 0, avx2: 1, avx512: 2 } as const;

function failures(results: { ok: boolean; message: string }[]): string[] {
  return results.filter((r) => !r.ok).map((r) => r.message);
}

async function checkFixture(fx: Fixture): Promise<void> {
  if (!ops.names().includes(fx.op)) throw new Error(`op '${fx.op}' is not in the op table (ops.names())`);
  const results: { ok: boolean; message: string }[] = [];
  // Forward alone (the no-grad path, which saves nothing).
  const outs = await ops.run(fx.op, fx.inputs, fx.params as ops.OpParams);
  expect(outs.length, `${fx.op}: number of outputs`).toBe(fx.outputs.length);
  fx.outputs.forEach((want, i) => results.push(compare(`out.${i}`, outs[i], want, fx.rtol, fx.atol)));
  if (fx.gouts.length > 0) {
    const r = await ops.grad(fx.op, fx.inputs, fx.params as ops.OpParams, fx.gouts);
    fx.outputs.forEach((want, i) => results.push(compare(`grad-path out.${i}`, r.outputs[i], want, fx.rtol, fx.atol)));
    expect(r.grads.length, `${fx.op}: one gradient per input`).toBe(fx.inputs.length);
    fx.inputs.forEach((_, i) => {
      const want = fx.gins.get(i);
      if (want) results.push(compare(`gin.${i}`, r.grads[i], want, fx.rtol, fx.atol));
      else results.push({ ok: r.grads[i] == null, message: `gin.${i}: expected no gradient (null), got shape ${fmtShape(r.grads[i]?.shape ?? [])}` });
    });
  }
  const bad = failures(results);
  expect(bad, `${fx.file} (rtol ${fx.rtol}, atol ${fx.atol})\n  ${bad.join('\n  ')}`).toEqual([]);
}

// randn has no PyTorch reference: check its statistics, that (seed, offset)
// is a window onto one stream, and the stream against a JS Philox4x32-10.
async function checkRandn(fx: Fixture): Promise<void> {
  const p = fx.params as { shape: number[]; seed: number; offset?: number };
  const offset = p.offset ?? 0;
  const [z] = await ops.run('randn', [], fx.params as ops.OpParams);
  expect(z!.shape).toEqual(p.shape);
  const n = z!.data.length;
  // Moments: |mean| within 4.5 standard errors, variance within 4.5 standard errors (sqrt(2/n)).
  let s = 0, s2 = 0;
  for (const x of z!.data) { s += x; s2 += x * x; }
  const mean = s / n, variance = s2 / n - mean * mean;
  expect(Math.abs(mean), `randn mean ${mean} over ${n}`).toBeLessThan(4.5 / Math.sqrt(n));
  expect(Math.abs(variance - 1), `randn variance ${variance} over ${n}`).toBeLessThan(4.5 * Math.sqrt(2 / n));
  // Kolmogorov-Smirnov against the normal CDF: D < 1.95/sqrt(n) (p ~ 0.001).
  const sorted = Float64Array.from(z!.data).sort();
  let D = 0;
  sorted.forEach((x, i) => { const c = normalCdf(x); D = Math.max(D, c - i / n, (i + 1) / n - c); });
  expect(D, `randn KS statistic over ${n}`).toBeLessThan(1.95 / Math.sqrt(n));
  // A window of a longer stream from offset 0: bit-identical.
  const [whole] = await ops.run('randn', [], { shape: [offset + n + 5], seed: p.seed, offset: 0 });
  const a = new Uint32Array(z!.data.buffer, z!.data.byteOffset, n);
  const b = new Uint32Array(whole!.data.buffer, whole!.data.byteOffset + offset * 4, n);
  let firstDiff = -1;
  for (let i = 0; i < n && firstDiff < 0; i++) if (a[i] !== b[i]) firstDiff = i;
  expect(firstDiff, 'randn(seed, offset) must equal randn(seed, 0)[offset:]').toBe(-1);
  // The Philox stream itself (philox.h), to float32 rounding.
  let worst = 0, worstAt = -1;
  for (let i = 0; i < Math.min(n, 4096); i++) {
    const want = philoxNormalAt(p.seed, offset + i);
    const err = Math.abs(z!.data[i]! - want) / Math.max(1, Math.abs(want));
    if (err > worst) { worst = err; worstAt = i; }
  }
  expect(worst, `randn vs JS Philox4x32-10 + Box-Muller: worst at ${worstAt}`).toBeLessThan(1e-6);
}

it('the JS Philox reference matches the Random123 known answer', () => {
  expect(philox4x32_10(0, 0).map((x) => x.toString(16))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
  expect(Math.abs(erf(1) - 0.8427007929497149)).toBeLessThan(2e-7);
});

it('the safetensors reader rejects a header length past the end of the file, and bad offsets', () => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(0, 1n << 40n, true);
  expect(() => parseSafetensors(bytes)).toThrow(/header length 1099511627776 exceeds the file/);
  const json = new TextEncoder().encode(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));
  const f = new Uint8Array(8 + json.length + 4);
  new DataView(f.buffer).setBigUint64(0, BigInt(json.length), true);
  f.set(json, 8);
  expect(() => parseSafetensors(f)).toThrow(/data_offsets \[0, 8\] do not fit shape \[2\] in 4 data bytes/);
  expect(() => parseSafetensors(new Uint8Array(5))).toThrow(/too short/);
});

it('there is a fixture for every op in the op table contract', () => {
  const have = new Set(fixtures.map((f) => f.op));
  const contract = ['matmul', 'conv3d', 'attention', 'attention_varlen', 'add', 'sub', 'mul', 'scale', 'silu', 'gelu',
    'softmax', 'layer_norm', 'rms_norm', 'group_norm', 'mse_loss', 'l1_loss', 'sum', 'mean', 'reshape', 'permute',
    'slice', 'concat', 'pad', 'upsample', 'downsample', 'randn', 'adamw', 'clip_grad_norm', 'rope3d', 'exp', 'clamp'];
  expect(contract.filter((op) => !have.has(op))).toEqual([]);
});

const detected = ops.cpuIsa().detected;
const isas = ISAS.filter((isa) => RANK[isa] <= RANK[detected]);

describe.each(isas)('fixtures on the %s kernel path', (isa) => {
  beforeAll(() => {
    ops.setCpuIsa(isa);
    expect(ops.cpuIsa().active).toBe(isa);
  });
  afterAll(() => ops.setCpuIsa(detected));

  it.each(fixtures.map((f) => [`${f.op} ${f.caseName}`, f] as const))('%s', async (_name, fx) => {
    if (fx.op === 'randn') await checkRandn(fx);
    else await checkFixture(fx);
  });
});

const cuda = backends().find((b) => b.name === 'cuda')!;
if (process.env.TESSERA_REQUIRE_CUDA === '1')
  it('the CUDA backend is available (TESSERA_REQUIRE_CUDA=1)', () => {
    expect(cuda.available, `${cuda.reason}: ${cuda.detail}`).toBe(true);
  });

describe.runIf(cuda.available)('fixtures on the CUDA backend', () => {
  beforeAll(() => ops.setDevice('cuda'));
  afterAll(() => ops.setDevice('cpu'));

  it.each(fixtures.map((f) => [`${f.op} ${f.caseName}`, f] as const))('%s', async (_name, fx) => {
    if (fx.op === 'randn') await checkRandn(fx);
    else await checkFixture(fx);
  });

  it('the caching allocator serves a repeated op from cached blocks (no new device allocations)', async () => {
    const fx = fixtures.find((f) => f.op === 'matmul')!;
    await checkFixture(fx); // its block sizes are cached from here on
    const before = cudaMemory();
    for (let i = 0; i < 3; i++) await checkFixture(fx);
    const after = cudaMemory();
    expect(after.deviceAllocs).toBe(before.deviceAllocs);
    expect(after.inUse).toBe(before.inUse);
    expect(after.peakInUse).toBeGreaterThan(0);
  });
});
