// How fast VAE architectures learn world content beyond the mean shortcut's floor (the
// block means alone): the reference architecture at two sizes against a plain conv
// autoencoder, in PyTorch (Debian's python3-torch), on world clips drawn here.
//   npm run bench:vae-learning -- [--steps 400] [--clips 2000] [--threads 2] [--only plain,tessera-b16] [--modes frames,clips]
// See benchmarks/vae_learning.py for the models and the training setup.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { opt } from './args.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const T = await import(pathToFileURL(path.join(here, '..', 'dist', 'index.js')).href);

const count = Number(opt('clips', 2000));
if (!Number.isInteger(count) || count < 4) {
  console.error(`bench:vae-learning: --clips must be an integer >= 4, got ${opt('clips')}`);
  process.exit(2);
}

// The training recipe's world data: clips drawn at 64x64, cut to random 32x32 windows, 9 frames.
const sampler = T.data.clipSampler({ source: 'world', frames: 9, sizes: [[64, 64]], crop: [32, 32], batchSize: 4, imageFraction: 0, seed: 7 });
const parts = [];
for (let i = 0; i * 4 < count; i++) parts.push(Buffer.from((await sampler.batch(i)).x.data.buffer.slice(0)));
const dir = mkdtempSync(path.join(tmpdir(), 'tessera-vae-learning-'));
try {
  const file = path.join(dir, 'clips.f32');
  const n = parts.length * 4;
  writeFileSync(file, Buffer.concat(parts));
  const py = ['--clips', file, '--count', String(n), '--steps', opt('steps', '400'), '--threads', opt('threads', '2')];
  if (opt('only')) py.push('--only', opt('only'));
  if (opt('modes')) py.push('--modes', opt('modes'));
  const r = spawnSync('/usr/bin/python3', [path.join(here, 'vae_learning.py'), ...py], { stdio: 'inherit' });
  if (r.error) console.error(`bench:vae-learning: cannot run /usr/bin/python3 (apt-get install python3-torch): ${r.error.message}`);
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
