// npm run bench:ops — tessera's CPU kernels beside their peers, measured in one run:
//   matmul on DiT shapes vs OpenBLAS sgemm (numpy), conv3d vs PyTorch CPU (oneDNN),
//   attention vs PyTorch's softmax(QK^T)V written out (and SDPA for information),
//   with peak RSS of each attention run measured in its own process.
// Options: --threads N (default 2), --write (append the table to benchmarks/RESULTS.md).
// Needs `npm run build` (dist/) and, for the peers, Debian's python3-numpy and python3-torch.
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const threads = Number(args[args.indexOf('--threads') + 1] ?? 2) || 2;
const write = args.includes('--write');
const python = process.env.TESSERA_PYTHON ?? '/usr/bin/python3';

// Peers get exactly `threads` threads. OpenBLAS 0.3.21 does not recognise this
// machine's CPU model and falls back to its slow Prescott kernels (about 50
// GFLOP/s), which would be a meaningless target, so the peer is pinned to its
// fastest kernels for the instruction set the CPU has (SKYLAKEX for AVX-512,
// HASWELL for AVX2); any inherited OPENBLAS_L2_SIZE is dropped.
const peerEnv = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
delete peerEnv.OPENBLAS_L2_SIZE;

function peer(extra) {
  const out = execFileSync(python, [join(here, 'peers.py'), '--threads', String(threads), ...extra], { env: peerEnv, maxBuffer: 1 << 24 });
  return JSON.parse(out.toString());
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function randn(n, seed) {
  // Small LCG + Box-Muller: benchmark inputs only.
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next())), t = 2 * Math.PI * next();
    a[i] = r * Math.cos(t);
    if (i + 1 < n) a[i + 1] = r * Math.sin(t);
  }
  return a;
}
const arr = (shape, seed, scale = 1) => {
  const data = randn(shape.reduce((a, b) => a * b, 1), seed);
  if (scale !== 1) for (let i = 0; i < data.length; i++) data[i] *= scale;
  return { data, shape };
};

// --- child mode: one attention forward in a fresh process, for its peak RSS ---
if (args[0] === '--attention-child') {
  const { ops } = await import(join(here, '..', 'dist', 'index.js'));
  ops.setThreads(threads);
  const n = Number(args[1]);
  const q = arr([1, 6, n, 64], 1), k = arr([1, 6, n, 64], 2), v = arr([1, 6, n, 64], 3);
  const base = process.resourceUsage().maxRSS;
  const times = await ops.bench('attention', [q, k, v], {}, 5);
  process.stdout.write(JSON.stringify({ ms: median(times.slice(1)), baseRssMb: base / 1024, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

const { ops } = await import(join(here, '..', 'dist', 'index.js'));
ops.setThreads(threads);
const isa = ops.cpuIsa();
peerEnv.OPENBLAS_CORETYPE = process.env.TESSERA_PEER_CORETYPE ?? (isa.detected === 'avx512' ? 'SKYLAKEX' : isa.detected === 'avx2' ? 'HASWELL' : 'PRESCOTT');
const lines = [];
const log = (s = '') => { console.log(s); lines.push(s); };

log(`tessera bench:ops — ${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model ?? 'cpu'}, ${threads} threads, isa ${isa.active}`);
log();

// matmul
const peers = peer(['--only', 'matmul']);
log(`peer BLAS: ${JSON.stringify(peers.blas)}, OPENBLAS_CORETYPE=${peerEnv.OPENBLAS_CORETYPE}`);
log('| matmul (M, K, N) | layout | tessera GFLOP/s | OpenBLAS GFLOP/s | ratio |');
log('| --- | --- | ---: | ---: | ---: |');
for (const p of peers.matmul) {
  const a = arr([p.M, p.K], 1), b = arr([p.K, p.N], 2), bt = arr([p.N, p.K], 3);
  for (const [layout, inputs, params, peerMs] of [
    ['A @ B', [a, b], {}, p.ms_nn],
    ['A @ Wᵀ (linear)', [a, bt], { transB: true }, p.ms_nt],
  ]) {
    const times = await ops.bench('matmul', inputs, params, 25);
    const ms = median(times.slice(3));
    const flops = 2 * p.M * p.K * p.N;
    const g = flops / ms / 1e6, gp = flops / peerMs / 1e6;
    log(`| ${p.M}, ${p.K}, ${p.N} | ${layout} | ${g.toFixed(1)} | ${gp.toFixed(1)} | ${(g / gp).toFixed(2)} |`);
  }
}
log();

// conv3d
{
  const torchPeer = peer(['--only', 'conv3d']);
  const x = arr([1, 128, 8, 64, 64], 4), w = arr([128, 128, 3, 3, 3], 5, 0.05);
  const times = await ops.bench('conv3d', [x, w], { padding: [1, 1, 1] }, 5);
  const ms = median(times.slice(1));
  const flops = 2 * 128 * 128 * 27 * 8 * 64 * 64;
  log(`peer: PyTorch ${torchPeer.torch} (mkldnn ${torchPeer.conv3d.mkldnn})`);
  log('| conv3d 1x128x8x64x64, 3x3x3, pad 1 | tessera | PyTorch | speed ratio (PyTorch ms / tessera ms) |');
  log('| --- | ---: | ---: | ---: |');
  log(`| forward ms (GFLOP/s) | ${ms.toFixed(1)} (${(flops / ms / 1e6).toFixed(1)}) | ${torchPeer.conv3d.ms.toFixed(1)} (${(flops / torchPeer.conv3d.ms / 1e6).toFixed(1)}) | ${(torchPeer.conv3d.ms / ms).toFixed(2)} |`);
  log();
}

// attention, each run in its own process so peak RSS belongs to it alone
log('| attention B=1, H=6, Dh=64 | tessera ms | torch written-out ms | speedup | torch SDPA ms | tessera peak RSS MB (base) | written-out peak RSS MB |');
log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const n of [1024, 4096]) {
  const child = JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--attention-child', String(n), '--threads', String(threads)]).toString());
  const p = peer(['--only', 'attention', '--tokens', String(n)]);
  const t = p.attention[0];
  log(`| ${n} tokens | ${child.ms.toFixed(1)} | ${t.ms_written_out.toFixed(1)} | ${(t.ms_written_out / child.ms).toFixed(2)}x | ${t.ms_sdpa == null ? 'n/a (torch ' + p.torch + ')' : t.ms_sdpa.toFixed(1)} | ${child.peakRssMb.toFixed(0)} (${child.baseRssMb.toFixed(0)}) | ${p.peak_rss_mb.toFixed(0)} |`);
}

if (write) {
  const path = join(here, 'RESULTS.md');
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n';
  const marker = '## CPU ops (`npm run bench:ops`)';
  const section = `${marker}\n\nCommand: \`npm run bench:ops -- --threads ${threads} --write\`\n\n${lines.join('\n')}\n`;
  const start = old.indexOf(marker);
  let next;
  if (start < 0) next = `${old.trimEnd()}\n\n${section}`;
  else {
    const end = old.indexOf('\n## ', start + marker.length);
    next = old.slice(0, start) + section + (end < 0 ? '' : old.slice(end + 1));
  }
  writeFileSync(path + '.tmp', next);
  renameSync(path + '.tmp', path);
  console.log(`\nwrote ${path}`);
}
