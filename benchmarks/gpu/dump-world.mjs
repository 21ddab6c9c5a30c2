// World clips for benchmarks/gpu/vae_budget.py, which runs where there is no Node.js:
// 64x64x17 clips drawn as scripts/train-vae-small.sh draws them (training seed 7) and
// bench:vae's 16 held-out clips (seeds 1,000,000+), as 8-bit RGB [N, 3, 17, 64, 64]
// (world colours are 8-bit, so nothing is lost). The training clips are xz-compressed
// (4000 clips: 836 MB raw, a few MB packed).
//   node benchmarks/gpu/dump-world.mjs [--clips 4000] [--out benchmarks/gpu/data]
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { opt } from '../args.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const T = await import(pathToFileURL(path.join(here, '..', '..', 'dist', 'index.js')).href);
const count = Number(opt('clips', 4000));
if (!Number.isInteger(count) || count < 4 || count % 4 !== 0) {
  console.error(`dump-world: --clips must be a multiple of 4 and >= 4, got ${opt('clips')}`);
  process.exit(2);
}
const out = opt('out', path.join(here, 'data'));
mkdirSync(out, { recursive: true });

// [-1, 1] floats back to the 8-bit values they were made from.
const bytes = (f) => {
  const u = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) u[i] = Math.max(0, Math.min(255, Math.round((f[i] + 1) * 127.5)));
  return Buffer.from(u.buffer);
};
const write = (file, data) => {
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
};

const sampler = T.data.clipSampler({ source: 'world', frames: 17, sizes: [[64, 64]], batchSize: 4, imageFraction: 0, seed: 7 });
const train = [];
for (let i = 0; i * 4 < count; i++) train.push(bytes((await sampler.batch(i)).x.data));
const held = [];
for (let i = 0; i < 16; i++) {
  const one = T.data.clipSampler({ source: 'world', frames: 17, sizes: [[64, 64]], batchSize: 1, imageFraction: 0, seed: 1_000_000 + i });
  held.push(bytes((await one.batch(0)).x.data));
}
write(path.join(out, 'world-eval.u8'), Buffer.concat(held));
const xz = spawnSync('xz', ['-6', '-T0', '-c'], { input: Buffer.concat(train), maxBuffer: 1 << 30 });
if (xz.status !== 0) {
  console.error(`dump-world: xz failed (${xz.error?.message ?? xz.stderr.toString().trim()})`);
  process.exit(1);
}
write(path.join(out, 'world-train.u8.xz'), xz.stdout);
console.log(`dump-world: ${count} training clips (${(xz.stdout.length / 1e6).toFixed(1)} MB xz) and 16 held-out clips in ${out}`);
