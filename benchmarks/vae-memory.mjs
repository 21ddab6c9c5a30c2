// Peak memory of streaming VAE decoding against the video's length (docs/VAE.md,
// "Inference"): each decode runs in a fresh Node process, frames streamed to a callback
// that drops them, and reports that process's peak resident set (VmHWM), its RSS before
// decoding, and the time. Random weights and latents: the numbers are about memory.
//   node benchmarks/vae-memory.mjs [--config tiny|small|default|file.json] [--size 256]
//        [--frames 17,65,257] [--chunk 2] [--tile auto|0|N] [--overlap 8] [--whole] [--threads N]
// --whole also runs vae.decode with chunkFrames = all latent frames and no tiles (the
// non-streaming peak) for each length. Needs dist/ (npx tsup) and the addon.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { opt } from './args.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);

const CONFIGS = {
  // the native memory test's model (native/tests/test_vae_stream.cpp)
  tiny: { latentChannels: 4, baseChannels: 4, channelMult: [1, 2, 2, 4], numResBlocks: 1, spatialDown: 8, temporalDown: 4, normGroups: 4 },
  small: null, // SMALL_VAE_CONFIG
  default: {},
};

function vmKb(key) {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

async function child() {
  const T = await import(pathToFileURL(path.join(here, '..', 'dist', 'index.js')).href);
  const [frames, size, chunk, tile, overlap, mode, threads] = args.slice(1, 8);
  if (Number(threads) > 0) T.ops.setThreads(Number(threads));
  const cfgName = args[8];
  const config = cfgName === 'small' ? T.SMALL_VAE_CONFIG : CONFIGS[cfgName] ?? JSON.parse(readFileSync(cfgName, 'utf8'));
  const vae = await T.Vae.create(config, { seed: 1 });
  const c = (await vae.info()).config;
  const t = 1 + (Number(frames) - 1) / c.temporalDown, h = Number(size) / c.spatialDown;
  const n = c.latentChannels * t * h * h;
  const z = T.ndarray(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.8), [1, c.latentChannels, t, h, h]);
  const base = vmKb('VmRSS');
  const t0 = performance.now();
  let got = 0;
  if (mode === 'whole') {
    got = (await vae.decode(z, { chunkFrames: t, tile: 0 })).shape[2];
  } else {
    await vae.decode(z, {
      chunkFrames: Number(chunk),
      tile: tile === 'auto' ? 'auto' : Number(tile),
      ...(overlap === 'default' ? {} : { overlap: Number(overlap) }),
      onFrames: (f) => {
        got += f.shape[2];
      },
    });
  }
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ peakKb: vmKb('VmHWM'), baseKb: base, frames: got, seconds: s, params: (await vae.info()).numParameters }) + '\n');
}

async function main() {
  const cfg = opt('config', 'tiny');
  const size = Number(opt('size', 256));
  const lengths = String(opt('frames', '17,65,257')).split(',').map(Number);
  const chunk = opt('chunk', '2');
  const tile = opt('tile', 'auto');
  const overlap = opt('overlap', 'default');
  const threads = opt('threads', '0');
  const run = (frames, mode) => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', String(frames), String(size), chunk, tile, overlap, mode, threads, cfg], {
      encoding: 'utf8',
      env: process.env,
      maxBuffer: 1 << 20,
    });
    if (r.status !== 0) throw new Error(`child ${frames} ${mode} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  };
  console.log(`vae-memory: config ${cfg}, ${size}x${size}, chunk ${chunk} latent frames, tile ${tile}, overlap ${overlap}`);
  let first;
  for (const frames of lengths) {
    const r = run(frames, 'stream');
    first ??= r;
    console.log(
      `  ${String(frames).padStart(4)} frames streamed: peak ${(r.peakKb / 1024).toFixed(1)} MB (before decoding ${(r.baseKb / 1024).toFixed(1)} MB), ` +
        `${r.seconds.toFixed(2)} s, ${(frames / r.seconds).toFixed(1)} fps; x${(r.peakKb / first.peakKb).toFixed(3)} the ${lengths[0]}-frame peak` +
        ` (${(r.params / 1e6).toFixed(2)}M params)`,
    );
    if (args.includes('--whole')) {
      const w = run(frames, 'whole');
      console.log(`  ${String(frames).padStart(4)} frames at once: peak ${(w.peakKb / 1024).toFixed(1)} MB, ${w.seconds.toFixed(2)} s`);
    }
  }
}

if (args[0] === '--child') await child();
else await main();
