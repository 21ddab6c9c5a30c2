// The linear shortcut from TypeScript (docs/VAE.md, "The linear shortcut"): in the config,
// fitted by VaeTrainer.fitShortcut (the model then starts as the fitted linear code) and
// by trainVae before the first step of a new run, never by a resumed one; bad calls name
// the option. Its numerics (PyTorch reference, exact recovery of a low-rank code,
// streaming) are native/tests/test_vae_shortcut.cpp, test_vae and test_vae_stream.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TINY } from '../helpers/vae.js';
import { ndarray, psnr, trainVae, Vae, VaeTrainer, type NdArray, type VaeShortcutFit } from '../../lib/index.js';

const LINEAR = { ...TINY, linearShortcut: true };

// Smooth random clips [n, 3, t, h, w]: a few moving sinusoids per channel.
function clips(n: number, t: number, h: number, w: number, seed: number): NdArray {
  const data = new Float32Array(n * 3 * t * h * w);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let c = 0; c < 3; c++) {
      const fx = 0.2 + 0.1 * ((b * 7 + c * 3 + seed) % 5), fy = 0.15 + 0.1 * ((b * 3 + c + seed) % 4);
      for (let f = 0; f < t; f++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) data[i++] = 0.5 * Math.sin(fx * x + fy * y + 0.3 * f * (c + 1) + b + seed);
    }
  return ndarray(data, [n, 3, t, h, w]);
}

describe('linear shortcut', () => {
  it('is kept in the config and excludes the mean shortcut', async () => {
    const vae = await Vae.create(LINEAR, { seed: 1 });
    expect((await vae.info()).config.linearShortcut).toBe(true);
    expect((await (await Vae.create(TINY)).info()).config.linearShortcut).toBe(false);
    await expect(Vae.create({ ...LINEAR, meanShortcut: true })).rejects.toThrow(/mean_shortcut and linear_shortcut exclude each other/);
  });

  it('fitShortcut: the model starts as the fitted linear code, which beats the unfitted start', async () => {
    const data = [clips(4, 5, 16, 16, 1), clips(3, 1, 16, 8, 2), clips(4, 5, 8, 16, 3)];
    const held = clips(2, 5, 16, 16, 9);
    const before = await VaeTrainer.create(LINEAR, { seed: 2 });
    const x0 = await before.decode((await before.encode(held)).mean);
    const trainer = await VaeTrainer.create(LINEAR, { seed: 2 });
    const fit: VaeShortcutFit = await trainer.fitShortcut(data);
    // TINY: x4 spatial, x2 temporal, 4x4 cells; frame 0: 4*16 + 3*8 + 4*8 cells, later groups 2 per clip.
    expect(fit.cellsFirst).toBe(4 * 16 + 3 * 8 + 4 * 8);
    expect(fit.cellsRest).toBe(4 * 2 * 16 + 4 * 2 * 8);
    expect(fit.psnr).toBeGreaterThan(20);
    expect(fit.mse).toBeCloseTo(4 / 10 ** (fit.psnr / 10), 12);
    const x1 = await trainer.decode((await trainer.encode(held)).mean);
    const p0 = psnr(held, x0), p1 = psnr(held, x1);
    expect(p1).toBeGreaterThan(p0 + 3);
    expect(p1).toBeGreaterThan(fit.psnr - 3); // held-out clips of the same kind code about as well
  });

  it('fitShortcut refuses a model without it, and an empty list', async () => {
    const plain = await VaeTrainer.create(TINY);
    await expect(plain.fitShortcut([clips(1, 5, 8, 8, 1)])).rejects.toThrow(/config\.linearShortcut/);
    const t = await VaeTrainer.create(LINEAR);
    await expect(t.fitShortcut([])).rejects.toThrow(/clips/);
    await expect(t.fitShortcut([clips(1, 5, 8, 8, 1), clips(1, 4, 8, 8, 1)])).rejects.toThrow(/T = 1 \+ 2 k frames/);
    // a failed fit leaves nothing behind: the next one counts only its own cells
    expect((await t.fitShortcut([clips(1, 5, 8, 8, 2)])).cellsFirst).toBe(4);
  });

  it('trainVae fits it to whole clips before the first step of a new run, not on resume', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-vae-linear-'));
    const out = join(dir, 'v.safetensors');
    const fits: VaeShortcutFit[] = [];
    const common = {
      data: 'world' as const, out, config: LINEAR,
      sampler: { batchSize: 2, frames: 5, sizes: [[16, 16]] as [number, number][], crop: [8, 8] as [number, number] },
      shortcutFitBatches: 3, onShortcutFit: (f: VaeShortcutFit) => fits.push(f), train: { lr: 1e-3 },
    };
    await trainVae({ ...common, steps: 2, checkpointEvery: 1 });
    expect(fits).toHaveLength(1);
    expect(fits[0]!.cellsFirst).toBe(3 * 2 * 16); // whole 16x16 clips (4x4 cells), not the 8x8 training crops
    await trainVae({ ...common, steps: 3, resume: true });
    expect(fits).toHaveLength(1); // resumed: the checkpoint holds the fitted shortcut
    await expect(trainVae({ ...common, steps: 1, shortcutFitBatches: -1 })).rejects.toThrow(/shortcutFitBatches/);
  });
});
