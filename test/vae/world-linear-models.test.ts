// The committed world VAEs with the linear shortcut (docs/VAE.md): the small config's network,
// x8 spatial, x4 temporal, the shortcut fitted to the principal components of 500 training
// batches' cells before step 1, then trained on world clips on 2 cores in under an hour.
// - models/vae-world-c16.safetensors (scripts/train-vae-world-c16.sh): 16 latent channels,
//   48x compression, 4000 steps on whole 64x64 clips.
// - models/vae-world-c96.safetensors (scripts/train-vae-world-c96.sh): 96 latent channels,
//   each 3x4x8x8 cell of 768 values in 96 numbers (8x compression), 4000 steps on whole
//   64x64 clips; the one above 32 dB.
// Both fits whitened the latents (variance 1 per channel over the fitted cells), and training
// kept them near that scale: the check is a per-channel standard deviation in (0.25, 4) on the
// 4 clips, where unwhitened codes of these cells range from about 16 down to 0.1.
// Each loads with its architecture, reconstructs held-out world clips (seeds training never
// draws) far above their block means, and decodes in chunks exactly. Their full numbers:
// benchmarks/RESULTS.md.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { worldCheck } from '../helpers/vae.js';
import { SMALL_VAE_CONFIG, Vae } from '../../lib/index.js';

const models = [
  // measured on the 4 clips: 27.68 dB against 24.01 dB (the 16 bench:vae clips: 26.13 against 22.23 dB);
  // per-channel standard deviations 0.39 to 1.17 on the 4 clips
  { name: 'vae-world-c16', channels: 16, above: 27.5, aboveFloor: 3 },
  // measured on the 4 clips: 34.38 dB against 24.01 dB (the 16 bench:vae clips: 32.76 against 22.23 dB);
  // per-channel standard deviations 0.40 to 1.35 on the 4 clips
  { name: 'vae-world-c96', channels: 96, above: 34, aboveFloor: 10 },
];

describe('committed world VAEs with the linear shortcut', () => {
  it.each(models)('$name reconstructs held-out world clips 64x64x17 from an 8x8x5x$channels latent', async (m) => {
    const vae = await Vae.load(join(import.meta.dirname, '..', '..', 'models', `${m.name}.safetensors`));
    const { config } = await vae.info();
    expect(config).toMatchObject({ ...SMALL_VAE_CONFIG, latentChannels: m.channels, meanShortcut: false, linearShortcut: true });
    const w = await worldCheck(vae);
    expect(w.mean.shape).toEqual([4, m.channels, 5, 8, 8]);
    console.log(`${m.name}, world 64x64x17, 4 held-out clips: ${w.model.toFixed(2)} dB (block means alone ${w.floor.toFixed(2)} dB)`);
    expect(w.model).toBeGreaterThan(m.above);
    expect(w.model).toBeGreaterThan(w.floor + m.aboveFloor);
    expect(w.chunkedDiff).toBeLessThan(1e-4);
    const [n, L, t, h, wd] = w.mean.shape as [number, number, number, number, number];
    const per = t * h * wd;
    for (let l = 0; l < L; l++) {
      let sum = 0, sq = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < per; j++) {
          const v = w.mean.data[(i * L + l) * per + j]!;
          sum += v, sq += v * v;
        }
      const sd = Math.sqrt(sq / (n * per) - (sum / (n * per)) ** 2);
      expect(sd, `latent channel ${l}`).toBeGreaterThan(0.25);
      expect(sd, `latent channel ${l}`).toBeLessThan(4);
    }
  });
});
