// The VAE from TypeScript: shapes and rules of encode/decode, training steps that
// lower the loss, checkpoints that resume exactly, atomic files, and train-vae.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TINY } from '../helpers/vae.js';
import { ndarray, saveLatent, trainVae, Vae, VaeTrainer, type NdArray, type VaeConfig } from '../../lib/index.js';

const root = join(import.meta.dirname, '..', '..');

function video(n: number, t: number, h: number, w: number, seed = 1): NdArray {
  const data = new Float32Array(n * 3 * t * h * w);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = Math.sin(i * 0.37 + seed) * 0.6 + ((s >>> 8) / 2 ** 24 - 0.5) * 0.2;
  }
  return ndarray(data, [n, 3, t, h, w]);
}

describe('Vae', () => {
  it('encodes T frames to 1 + (T - 1) / td latent frames and decodes back to the video shape', async () => {
    const vae = await Vae.create(TINY, { seed: 3 });
    const info = await vae.info();
    expect(info.config.spatialDown).toBe(4);
    expect(info.numParameters).toBeGreaterThan(1000);
    const { mean, logvar } = await vae.encode(video(2, 5, 16, 12));
    expect(mean.shape).toEqual([2, 4, 3, 4, 3]);
    expect(logvar.shape).toEqual(mean.shape);
    const x = await vae.decode(mean);
    expect(x.shape).toEqual([2, 3, 5, 16, 12]);
    // an image is a one-frame video
    const img = await vae.encode(video(1, 1, 8, 8));
    expect(img.mean.shape).toEqual([1, 4, 1, 2, 2]);
  });

  it('meanShortcut: kept in the config, and refused with fewer latent than input channels', async () => {
    const vae = await Vae.create({ ...TINY, meanShortcut: true }, { seed: 3 });
    expect((await vae.info()).config.meanShortcut).toBe(true);
    expect((await (await Vae.create(TINY)).info()).config.meanShortcut).toBe(false);
    const { mean } = await vae.encode(video(1, 5, 8, 8));
    expect((await vae.decode(mean)).shape).toEqual([1, 3, 5, 8, 8]);
    await expect(Vae.create({ ...TINY, latentChannels: 2, meanShortcut: true })).rejects.toThrow(
      /mean_shortcut needs latent_channels >= in_channels.*got latent_channels 2/,
    );
  });

  it('rejects unsupported sizes with the rule and the value', async () => {
    const vae = await Vae.create(TINY);
    await expect(vae.encode(video(1, 4, 16, 16))).rejects.toThrow(/T = 4.*1 \+ temporal_down \* k/);
    await expect(vae.encode(video(1, 5, 18, 16))).rejects.toThrow(/H = 18 must be a positive multiple of spatial_down = 4/);
    await expect(Vae.create({ ...TINY, spatialDown: 3 })).rejects.toThrow(/spatial_down/);
    await expect(Vae.create({ bogus: 1 } as VaeConfig)).rejects.toThrow(/config\.bogus/);
  });

  it('trains: the loss falls, and a resumed checkpoint continues exactly as an unbroken run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-vae-'));
    const batches = [0, 1, 2, 3, 4, 5].map((i) => video(2, 3, 8, 8, i % 2));
    const a = await VaeTrainer.create(TINY, { seed: 5, train: { lr: 2e-3 } });
    const lossesA: number[] = [];
    for (const b of batches) lossesA.push((await a.step(b)).loss);
    expect(lossesA[5]!).toBeLessThan(lossesA[0]!);

    const b = await VaeTrainer.create(TINY, { seed: 5, train: { lr: 2e-3 } });
    for (const x of batches.slice(0, 3)) await b.step(x);
    const ckpt = join(dir, 'run.ckpt');
    await b.saveCheckpoint(ckpt);
    const fromCheckpoint = await Vae.load(ckpt); // a checkpoint's weights load as a model
    const z0 = (await b.encode(batches[0]!)).mean;
    expect(Array.from((await fromCheckpoint.decode(z0)).data)).toEqual(Array.from((await b.decode(z0)).data));
    const c = await VaeTrainer.resume(ckpt);
    expect((await c.info()).steps).toBe(3);
    const lossesC: number[] = [];
    for (const x of batches.slice(3)) lossesC.push((await c.step(x)).loss);
    expect(lossesC).toEqual(lossesA.slice(3)); // bit for bit: moments, step count and noise stream restored

    // model files: save/load round trip gives the same decode; no temporary files left behind
    const model = join(dir, 'model.safetensors');
    await c.save(model);
    const loaded = await Vae.load(model);
    const z = (await c.encode(batches[0]!)).mean;
    expect(Array.from((await loaded.decode(z)).data)).toEqual(Array.from((await c.decode(z)).data));
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writes f16 / bf16 model files half the size that load back within their rounding', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-vae-'));
    const vae = await Vae.create(TINY, { seed: 5 });
    const x = video(1, 5, 16, 16, 4);
    const want = await vae.decode((await vae.encode(x)).mean);
    const size: Record<string, number> = {};
    for (const dtype of ['f32', 'f16', 'bf16'] as const) {
      const file = join(dir, `${dtype}.safetensors`);
      await vae.save(file, { dtype });
      size[dtype] = statSync(file).size;
      const back = await Vae.load(file);
      expect((await back.info()).config).toEqual((await vae.info()).config);
      const got = await back.decode((await back.encode(x)).mean);
      let worst = 0, scale = 0;
      for (let i = 0; i < want.data.length; i++) {
        worst = Math.max(worst, Math.abs(got.data[i]! - want.data[i]!));
        scale = Math.max(scale, Math.abs(want.data[i]!));
      }
      // f32: exact; f16 rounds weights to 2^-11 relative, bf16 to 2^-8: the outputs move by about that much
      const bound = { f32: 0, f16: 2e-2, bf16: 1e-1 }[dtype] * scale;
      expect(worst).toBeLessThanOrEqual(bound);
      if (dtype !== 'f32') expect(worst).toBeGreaterThan(0);
    }
    expect(size.f16! / size.f32!).toBeLessThan(0.55);
    expect(size.bf16! / size.f32!).toBeLessThan(0.55);
    await expect(async () => vae.save(join(dir, 'x.safetensors'), { dtype: 'f8' as 'f16' })).rejects.toThrow(
      "Expected one of 'f32', 'f16', 'bf16' for dtype but received 'f8'",
    );
  });

  it('a corrupt or foreign file is a clear error, not a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-vae-'));
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, Buffer.from([1, 2, 3]));
    await expect(Vae.load(bad)).rejects.toThrow(/bad\.safetensors/);
    const trainer = await VaeTrainer.create(TINY);
    const model = join(dir, 'm.safetensors');
    await trainer.save(model);
    await expect(VaeTrainer.resume(model)).rejects.toThrow(/not a tessera VAE checkpoint/);
    await expect(Vae.load(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors/);
    const latent = join(dir, 'z.safetensors');
    await saveLatent(latent, (await trainer.encode(video(1, 1, 8, 8))).mean);
    await expect(Vae.load(latent)).rejects.toThrow(
      /not a tessera VAE model file or checkpoint \(metadata format must be "tessera.vae" or "tessera.vae.checkpoint", got "tessera.latent"\)/,
    );
  });
});

describe('trainVae', () => {
  it('stops at the time limit, writing the checkpoint and the model; a schedule sets the rate per step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-vae-'));
    const out = join(dir, 'v.safetensors');
    const seen: number[] = [];
    const r = await trainVae({
      data: 'world', steps: 50, out, config: TINY, warmupSteps: 2, cosine: true, train: { lr: 1e-3 },
      sampler: { batchSize: 1, frames: 5, sizes: [[16, 16]] }, maxSeconds: 0.5, checkpointEvery: 1000,
      onStep: (s) => seen.push(s.step),
    });
    expect(r.stoppedEarly).toBe(true);
    expect(r.steps).toBeLessThan(50);
    expect(seen).toEqual(Array.from({ length: r.steps }, (_, i) => i + 1));
    expect(existsSync(out)).toBe(true);
    if (r.steps > 0) expect((await (await VaeTrainer.resume(r.checkpoint)).info()).steps).toBe(r.steps);
  });
});

describe('tessera train-vae', () => {
  it('trains, checkpoints and resumes from the command line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-vae-cli-'));
    const out = join(dir, 'v.safetensors');
    const cfg = join(dir, 'tiny.json');
    writeFileSync(cfg, JSON.stringify(TINY));
    const cli = join(root, 'dist', 'cli.js');
    const args = ['train-vae', '--data', 'world:2,world@24x32', '--out', out, '--config', cfg, '--batch-size', '2', '--frames', '5',
      '--sizes', '16x16,16x24', '--crop', '16x16', '--checkpoint-every', '2'];
    const r1 = spawnSync(process.execPath, [cli, ...args, '--steps', '3'], { encoding: 'utf8' });
    expect(r1.status, r1.stderr).toBe(0);
    expect(r1.stdout).toMatch(/wrote .*v\.safetensors after 3 steps/);
    expect(existsSync(out) && existsSync(`${out}.ckpt`)).toBe(true);
    const f32Bytes = statSync(out).size;
    const r2 = spawnSync(process.execPath, [cli, ...args, '--steps', '5', '--resume', '--out-dtype', 'f16'], { encoding: 'utf8' });
    expect(r2.status, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/after 5 steps/);
    expect(statSync(out).size / f32Bytes).toBeLessThan(0.55);
    const bad = spawnSync(process.execPath, [cli, 'train-vae', '--data', 'world', '--out', out, '--steps', '2', '--frames', '6'], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--frames must be an integer 1 \+ 4k.*got 6/);
  });
});
