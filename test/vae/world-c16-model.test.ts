// The committed world VAE with 16 latent channels and the linear shortcut
// (models/vae-world-c16.safetensors, scripts/train-vae-world-c16.sh: the shortcut fitted to
// the principal components of 500 training batches' cells, then 55 minutes of training on
// 2 cores): it loads with that architecture, reconstructs held-out world clips (seeds
// training never draws) far above their block means, and decodes in chunks exactly. Its
// full numbers: benchmarks/RESULTS.md.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { worldCheck } from '../helpers/vae.js';
import { SMALL_VAE_CONFIG, Vae } from '../../lib/index.js';

const modelPath = join(import.meta.dirname, '..', '..', 'models', 'vae-world-c16.safetensors');

describe('committed world VAE, 16 channels, linear shortcut', () => {
  it('reconstructs held-out world clips 64x64x17 from an 8x8x5x16 latent', async () => {
    const vae = await Vae.load(modelPath);
    const { config } = await vae.info();
    expect(config).toMatchObject({ ...SMALL_VAE_CONFIG, latentChannels: 16, meanShortcut: false, linearShortcut: true });
    const w = await worldCheck(vae);
    expect(w.mean.shape).toEqual([4, 16, 5, 8, 8]);
    console.log(`world 64x64x17, 4 held-out clips: ${w.model.toFixed(2)} dB (block means alone ${w.floor.toFixed(2)} dB)`);
    // measured 27.78 dB against 24.01 dB (the 16 bench:vae clips: 26.06 against 22.23 dB)
    expect(w.model).toBeGreaterThan(27.5);
    expect(w.model).toBeGreaterThan(w.floor + 3);
    expect(w.chunkedDiff).toBeLessThan(1e-4);
  });
});
