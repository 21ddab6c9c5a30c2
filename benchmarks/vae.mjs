// VAE reconstruction benchmark: one line per dataset with PSNR, SSIM and encode /
// decode throughput, for a trained model file.
//   npm run bench:vae -- [--model models/vae-small.safetensors] [--world 16] [--fashion 512] [--threads N]
// (--world 0 or --fashion 0 skips that dataset)
// world: held-out world videos 64x64x17 (seeds 1,000,000+, never drawn in training,
//        which draws batch seeds from the training seed); fashion-mnist: the test split
//        padded to 32x32 (one-frame videos).
// PSNR and SSIM are means over clips (each clip's PSNR from its own mean squared error,
// capped at 99 dB), as image and video codec benchmarks report them; the line also gives
// the PSNR of the error pooled over all clips, which weighs the hardest clips more.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { opt } from './args.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const T = await import(pathToFileURL(path.join(here, '..', 'dist', 'index.js')).href);
const { blockMeans, meanClipPsnr, ssim } = T;

const modelPath = opt('model', path.join(here, '..', 'models', 'vae-small.safetensors'));
const nWorld = Number(opt('world', 16));
const nFashion = Number(opt('fashion', 512));
if (opt('threads')) T.ops.setThreads(Number(opt('threads')));
if (!existsSync(modelPath)) {
  console.error(`bench:vae: no model at ${modelPath} (train one with tessera train-vae, or pass --model)`);
  process.exit(2);
}
const vae = await T.Vae.load(modelPath);
const info = await vae.info();
// compression: pixel values per latent value in a cell of td frames (frame 0's cell holds 1 frame)
const c = info.config;
const compression = ((c.inChannels ?? 3) * c.temporalDown * c.spatialDown * c.spatialDown) / c.latentChannels;
console.log(`model ${path.basename(modelPath)}: ${(info.numParameters / 1e6).toFixed(2)}M parameters, x${c.spatialDown} spatial, x${c.temporalDown} temporal, ${c.latentChannels} latent channels (${Number(compression.toFixed(1))}x compression)${c.meanShortcut ? ", mean shortcut" : ""}${c.linearShortcut ? ", linear shortcut" : ""}; ${T.ops.getThreads()} threads`);

async function measure(label, clips, batch) {
  let encMs = 0, decMs = 0, frames = 0, p = 0, s = 0, n = 0, floor = 0, se = 0, values = 0;
  const asBatch = (c) => T.ndarray(c.data, [1, ...c.shape]); // one clip as a batch of 1
  for (const c of clips) floor += meanClipPsnr(asBatch(c), asBatch(blockMeans(c, info.config.spatialDown, info.config.temporalDown)));
  for (let i = 0; i < clips.length; i += batch) {
    const group = clips.slice(i, i + batch);
    const shape = [group.length, ...group[0].shape];
    const data = new Float32Array(shape.reduce((a, b) => a * b));
    group.forEach((c, k) => data.set(c.data, k * c.data.length));
    const x = T.ndarray(data, shape);
    const t0 = performance.now();
    const { mean } = await vae.encode(x);
    const t1 = performance.now();
    const y = await vae.decode(mean);
    const t2 = performance.now();
    encMs += t1 - t0;
    decMs += t2 - t1;
    frames += shape[0] * shape[2];
    for (let i = 0; i < x.data.length; i++) se += (x.data[i] - y.data[i]) ** 2;
    values += x.data.length;
    for (let k = 0; k < group.length; k++) {
      const one = (a) => T.ndarray(a.data.subarray(k * group[0].data.length, (k + 1) * group[0].data.length), group[0].shape);
      p += meanClipPsnr(asBatch(one(x)), asBatch(one(y)));
      s += ssim(one(x), one(y));
      n++;
    }
  }
  console.log(`${label}: PSNR ${(p / n).toFixed(2)} dB, SSIM ${(s / n).toFixed(3)}, encode ${(frames / (encMs / 1000)).toFixed(1)} fps, decode ${(frames / (decMs / 1000)).toFixed(1)} fps (${n} clips; PSNR of the pooled error ${(10 * Math.log10(4 / (se / values))).toFixed(2)} dB; block means alone ${(floor / clips.length).toFixed(2)} dB)`);
}

const worldClips = [];
for (let i = 0; i < nWorld; i++) {
  const b = await T.data.clipSampler({ source: 'world', frames: 17, sizes: [[64, 64]], batchSize: 1, imageFraction: 0, seed: 1_000_000 + i }).batch(0);
  worldClips.push(T.ndarray(b.x.data, b.x.shape.slice(1)));
}
if (nWorld > 0) await measure('world 64x64x17', worldClips, 2);

const fm = await T.data.loadFashionMnist({ split: 'test' });
const fashion = [];
for (let i = 0; i < Math.min(nFashion, fm.count); i++) fashion.push(T.data.fashionMnistClip(fm, i).x);
if (fashion.length > 0) await measure('fashion-mnist 32x32', fashion, 64);
