// The committed Fashion-MNIST VAE at x8 spatial compression (models/vae-fashion-x8.safetensors,
// trained on Fashion-MNIST alone by scripts/train-vae-fashion-x8.sh, 55 minutes on 2 cores):
// SMALL_VAE_CONFIG's architecture, and test images reconstructed at the bar of 26 dB
// (bench:vae on 512 test images: 26.31 dB). Its full numbers: benchmarks/RESULTS.md.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blockMeans, data, meanClipPsnr, ndarray, psnr, SMALL_VAE_CONFIG, Vae } from '../../lib/index.js';

const modelPath = join(import.meta.dirname, '..', '..', 'models', 'vae-fashion-x8.safetensors');
const haveFashion = existsSync(join(data.FASHION_MNIST_ROOT, 't10k-images-idx3-ubyte.gz'));

describe.skipIf(!existsSync(modelPath) || !haveFashion)('committed Fashion-MNIST x8 VAE', () => {
  it('reconstructs Fashion-MNIST test images at 26 dB with a 4x4x8 latent', async () => {
    const vae = await Vae.load(modelPath);
    const { config } = await vae.info();
    expect(config).toMatchObject(SMALL_VAE_CONFIG);
    const fm = await data.loadFashionMnist({ split: 'test' });
    const n = 64;
    const x = ndarray(new Float32Array(n * 3 * 32 * 32), [n, 3, 1, 32, 32]);
    for (let i = 0; i < n; i++) x.data.set(data.fashionMnistClip(fm, i * 151).x.data, i * 3 * 32 * 32);
    const { mean } = await vae.encode(x);
    expect(mean.shape).toEqual([n, 8, 1, 4, 4]);
    const y = await vae.decode(mean);
    // PSNR as bench:vae reports it: each image's own, then the mean over images.
    const model = meanClipPsnr(x, y);
    const floor = meanClipPsnr(x, blockMeans(x, 8, 4));
    const pooled = psnr(x, y);
    console.log(
      `fashion-mnist 32x32 at x8, ${n} test images: ${model.toFixed(2)} dB (of the pooled error ${pooled.toFixed(2)} dB; block means alone ${floor.toFixed(2)} dB)`,
    );
    // measured 26.63 dB (of the pooled error 24.46 dB) against 12.60 dB
    expect(model).toBeGreaterThan(26);
  });
});
