// The committed small VAE (models/vae-small.safetensors, trained by
// scripts/train-vae-small.sh): it loads, has the documented architecture, and
// reconstructs held-out data against the floor of its own mean shortcut (each latent
// cell's block filled with its mean): Fashion-MNIST test images well above it, held-out
// world clips (seeds the training never draws, as in bench:vae) at least at it, with
// chunked decode equal to whole decode. Its full numbers: benchmarks/RESULTS.md.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { data, ndarray, psnr, Vae, type NdArray } from '../../lib/index.js';

const modelPath = join(import.meta.dirname, '..', '..', 'models', 'vae-small.safetensors');
const haveFashion = existsSync(join(data.FASHION_MNIST_ROOT, 't10k-images-idx3-ubyte.gz'));

// Each latent cell's block (frame 0 alone, then groups of td frames; sd x sd pixels)
// filled with its mean: what the mean shortcut alone reconstructs.
function blockMeans(x: NdArray, sd: number, td: number): NdArray {
  const [n, c, t, h, w] = x.shape;
  const out = new Float32Array(x.data.length);
  const groups: [number, number][] = [[0, 1]];
  for (let f = 1; f < t; f += td) groups.push([f, f + td]);
  const at = (p: number, f: number, y: number) => ((p * t + f) * h + y) * w;
  for (let p = 0; p < n * c; p++)
    for (const [f0, f1] of groups)
      for (let by = 0; by < h; by += sd)
        for (let bx = 0; bx < w; bx += sd) {
          let sum = 0;
          for (let f = f0; f < f1; f++)
            for (let y = by; y < by + sd; y++) for (let xx = bx; xx < bx + sd; xx++) sum += x.data[at(p, f, y) + xx];
          const m = sum / ((f1 - f0) * sd * sd);
          for (let f = f0; f < f1; f++) for (let y = by; y < by + sd; y++) out.fill(m, at(p, f, y) + bx, at(p, f, y) + bx + sd);
        }
  return ndarray(out, x.shape);
}

describe.skipIf(!existsSync(modelPath))('committed small VAE', () => {
  it('reconstructs held-out world clips at least at its block means, chunked decode equal to whole', async () => {
    const vae = await Vae.load(modelPath);
    const { config, numParameters } = await vae.info();
    expect(config).toMatchObject({ spatialDown: 8, temporalDown: 4, latentChannels: 8, meanShortcut: true });
    expect(numParameters).toBeGreaterThan(8e6);
    const batch = await data
      .clipSampler({ source: 'world', frames: 17, sizes: [[64, 64]], batchSize: 2, imageFraction: 0, seed: 2_000_000 })
      .batch(0);
    const x = ndarray(batch.x.data, batch.x.shape);
    const { mean } = await vae.encode(x);
    expect(mean.shape).toEqual([2, 8, 5, 8, 8]);
    const y = await vae.decode(mean);
    const model = psnr(x, y);
    const floor = psnr(x, blockMeans(x, 8, 4));
    console.log(`world 64x64x17, 2 held-out clips: ${model.toFixed(2)} dB (block means alone ${floor.toFixed(2)} dB)`);
    expect(model).toBeGreaterThan(20);
    expect(model).toBeGreaterThan(floor - 0.25);
    const chunked = await vae.decode(mean, { chunkFrames: 2 });
    let worst = 0;
    for (let i = 0; i < y.data.length; i++) worst = Math.max(worst, Math.abs(chunked.data[i]! - y.data[i]!));
    expect(worst).toBeLessThan(1e-4);
  });

  it.skipIf(!haveFashion)('reconstructs Fashion-MNIST test images well above its block means', async () => {
    const vae = await Vae.load(modelPath);
    const fm = await data.loadFashionMnist({ split: 'test' });
    const n = 32;
    const x = ndarray(new Float32Array(n * 3 * 32 * 32), [n, 3, 1, 32, 32]);
    for (let i = 0; i < n; i++) x.data.set(data.fashionMnistClip(fm, i * 97).x.data, i * 3 * 32 * 32);
    const y = await vae.decode((await vae.encode(x)).mean);
    const model = psnr(x, y);
    const floor = psnr(x, blockMeans(x, 8, 4));
    console.log(`fashion-mnist 32x32, ${n} test images: ${model.toFixed(2)} dB (block means alone ${floor.toFixed(2)} dB)`);
    expect(model).toBeGreaterThan(floor + 3);
  });
});
