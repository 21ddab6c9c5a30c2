// Committed VAEs on Fashion-MNIST's test split at x8 spatial compression (32x32 images, a
// 4x4 latent): models/vae-fashion-x8.safetensors, SMALL_VAE_CONFIG trained on Fashion-MNIST
// alone by scripts/train-vae-fashion-x8.sh (55 minutes on 2 cores; bench:vae on 512 test
// images: 26.31 dB), and models/vae-world-c96.safetensors, the 96-channel world model
// (scripts/train-vae-world-c96.sh), which never saw Fashion-MNIST: one image's 3x8x8 cell
// goes into 96 numbers. Both at or above the bar of 26 dB. Full numbers:
// benchmarks/RESULTS.md.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blockMeans, data, meanClipPsnr, ndarray, psnr, SMALL_VAE_CONFIG, Vae } from '../../lib/index.js';

const haveFashion = existsSync(join(data.FASHION_MNIST_ROOT, 't10k-images-idx3-ubyte.gz'));

const models = [
  // measured 26.63 dB (of the pooled error 24.46 dB) against 12.60 dB
  { name: 'vae-fashion-x8', config: SMALL_VAE_CONFIG, channels: 8, above: 26 },
  // measured 30.96 dB (of the pooled error 30.35 dB) against 12.60 dB
  {
    name: 'vae-world-c96',
    config: { ...SMALL_VAE_CONFIG, latentChannels: 96, meanShortcut: false, linearShortcut: true },
    channels: 96,
    above: 30,
  },
];

describe.skipIf(!haveFashion)('committed VAEs on Fashion-MNIST at x8', () => {
  it.each(models)('$name reconstructs Fashion-MNIST test images from a 4x4x$channels latent', async (m) => {
    const vae = await Vae.load(join(import.meta.dirname, '..', '..', 'models', `${m.name}.safetensors`));
    const { config } = await vae.info();
    expect(config).toMatchObject(m.config);
    const fm = await data.loadFashionMnist({ split: 'test' });
    const n = 64;
    const x = ndarray(new Float32Array(n * 3 * 32 * 32), [n, 3, 1, 32, 32]);
    for (let i = 0; i < n; i++) x.data.set(data.fashionMnistClip(fm, i * 151).x.data, i * 3 * 32 * 32);
    const { mean } = await vae.encode(x);
    expect(mean.shape).toEqual([n, m.channels, 1, 4, 4]);
    const y = await vae.decode(mean);
    // PSNR as bench:vae reports it: each image's own, then the mean over images.
    const model = meanClipPsnr(x, y);
    const floor = meanClipPsnr(x, blockMeans(x, 8, 4));
    const pooled = psnr(x, y);
    console.log(
      `${m.name}: fashion-mnist 32x32 at x8, ${n} test images: ${model.toFixed(2)} dB (of the pooled error ${pooled.toFixed(2)} dB; block means alone ${floor.toFixed(2)} dB)`,
    );
    expect(model).toBeGreaterThan(m.above);
  });
});
