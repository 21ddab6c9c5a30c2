// World generation speed: frames per second at 64x64 on one core (Node runs this on one thread).
// Run after `npm run build` (needs the tsup entry world/index -> dist/world/index.js):
//   node benchmarks/world.mjs [seconds]
// TESSERA_WORLD_MODULE=/path/to/world/index.js overrides the module path.
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modPath = process.env.TESSERA_WORLD_MODULE ?? path.join(here, '..', 'dist', 'world', 'index.js');
const W = await import(pathToFileURL(modPath).href);
const seconds = Number(process.argv[2] ?? 3);

function bench(label, opts) {
  // warm-up
  for (let i = 0; i < 50; i++) W.generateSample({ ...opts, seed: i });
  let frames = 0;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const s = W.generateSample({ ...opts, seed: 1000 + n });
    frames += s.numFrames;
    n++;
  }
  const dt = (performance.now() - t0) / 1000;
  const fps = frames / dt;
  console.log(`${label.padEnd(44)} ${String(Math.round(fps)).padStart(8)} frames/s  (${n} samples, ${frames} frames, ${dt.toFixed(1)} s)`);
  return fps;
}

console.log(`tessera world benchmark (node ${process.version}, one thread)`);
const main = bench('64x64, 16-frame videos (sim+render+captions)', { width: 64, height: 64, numFrames: 16, fps: 12 });
bench('64x64, 1-frame images', { width: 64, height: 64, numFrames: 1 });
bench('128x128, 16-frame videos', { width: 128, height: 128, numFrames: 16, fps: 12 });
bench('256x144, 32-frame videos', { width: 256, height: 144, numFrames: 32, fps: 24 });
const target = 2000;
console.log(`64x64 target >= ${target} frames/s: ${main >= target ? 'PASS' : 'FAIL'} (${Math.round(main)})`);
if (main < target) process.exitCode = 1;
