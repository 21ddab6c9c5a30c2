// The VAE training loop: batches from the clip sampler (lib/data), one AdamW step
// each, a checkpoint every `checkpointEvery` steps (temporary file + rename, so at
// most that many steps are ever lost), the model file at the end. A run resumed
// from its checkpoint continues with the same batches and the same noise.
import { existsSync } from 'node:fs';
import type { NdArray } from './ops.js';
import { clipSampler, type ClipSamplerOptions } from './data/index.js';
import { checkInteger, checkOneOf, invalidParameter } from './validate.js';
import { VAE_FILE_DTYPES, VaeTrainer, type VaeConfig, type VaeFileDtype, type VaeShortcutFit, type VaeStepStats, type VaeTrainOptions } from './vae.js';

export interface TrainVaeOptions {
  /** Training data: 'world', 'fashion-mnist', a folder of images and videos, or a weighted mix. */
  data: ClipSamplerOptions['source'];
  steps: number;
  /** Model file written at the end (safetensors). */
  out: string;
  /** Number format of the model file's weights (default 'f32'; the checkpoint is always f32). */
  outDtype?: VaeFileDtype;
  /** Checkpoint file (default `${out}.ckpt`); resumed from when it exists and `resume` is true. */
  checkpoint?: string;
  checkpointEvery?: number;
  resume?: boolean;
  config?: VaeConfig;
  train?: VaeTrainOptions;
  /** Clip sampler options: batchSize, frames, sizes, imageFraction, seed... */
  sampler?: Omit<ClipSamplerOptions, 'source' | 'count'>;
  seed?: number;
  /** Stop (saving checkpoint and model) once this much wall time has passed. */
  maxSeconds?: number;
  /**
   * Learning-rate schedule: linear warm-up over `warmupSteps`, then cosine decay to
   * `minLrFraction` of train.lr at `steps` (default: warm-up 0 and a constant rate).
   */
  warmupSteps?: number;
  cosine?: boolean;
  minLrFraction?: number;
  /**
   * Batches fitted by the linear shortcut (`config.linearShortcut`) before the first step of a
   * new run: batches 0 .. n-1 of the training sampler drawn whole, without `sampler.crop`
   * (default 200; 0 keeps the shortcut as the mean shortcut). Whole clips, because a crop
   * window at any pixel offset mixes cells across the latent grid: on world clips a fit to
   * 32x32 windows of 64x64 clips starts 0.23 dB below one to the clips themselves.
   */
  shortcutFitBatches?: number;
  /** Called once the linear shortcut is fitted. */
  onShortcutFit?: (fit: VaeShortcutFit) => void;
  /** Called after every step. */
  onStep?: (stats: VaeStepStats & { clipsPerSecond: number; source: string }) => void;
  /** Called after every checkpoint write. */
  onCheckpoint?: (path: string, step: number) => void;
}

export interface TrainVaeResult {
  steps: number;
  /** True when maxSeconds ended the run before `steps`. */
  stoppedEarly: boolean;
  last: VaeStepStats | undefined;
  out: string;
  checkpoint: string;
}

export async function trainVae(options: TrainVaeOptions): Promise<TrainVaeResult> {
  const steps = checkInteger('steps', options.steps, 1);
  if (typeof options.out !== 'string' || options.out === '') throw invalidParameter('out', 'a file path', options.out);
  const checkpoint = options.checkpoint ?? `${options.out}.ckpt`;
  const every = checkInteger('checkpointEvery', options.checkpointEvery ?? 100, 1);
  const seed = checkInteger('seed', options.seed ?? 0, 0);
  const outDtype = checkOneOf('outDtype', options.outDtype ?? 'f32', VAE_FILE_DTYPES);
  // The sampler validates its options before any model work starts.
  const sampler = clipSampler({ ...(options.sampler ?? {}), source: options.data, seed });
  const fitBatches = checkInteger('shortcutFitBatches', options.shortcutFitBatches ?? 200, 0);
  const resuming = options.resume === true && existsSync(checkpoint);
  const trainer = resuming
    ? await VaeTrainer.resume(checkpoint)
    : await VaeTrainer.create(options.config ?? {}, { seed, train: { seed, ...(options.train ?? {}) } });
  if (!resuming && options.config?.linearShortcut && fitBatches > 0) {
    const { crop: _crop, ...whole } = options.sampler ?? {};
    const fitSampler = clipSampler({ ...whole, source: options.data, seed });
    async function* batches(): AsyncGenerator<NdArray> {
      for (let i = 0; i < fitBatches; i++) yield (await fitSampler.batch(i)).x;
    }
    options.onShortcutFit?.(await trainer.fitShortcut(batches()));
  }
  let step = (await trainer.info()).steps;
  let last: VaeStepStats | undefined;
  const baseLr = options.train?.lr ?? 2e-4;
  const warmup = checkInteger('warmupSteps', options.warmupSteps ?? 0, 0);
  const minFrac = options.minLrFraction ?? 0.1;
  const schedule = (s: number): number => {
    let f = warmup > 0 ? Math.min(1, (s + 1) / warmup) : 1;
    if (options.cosine && s >= warmup) f *= minFrac + (1 - minFrac) * 0.5 * (1 + Math.cos((Math.PI * (s - warmup)) / Math.max(1, steps - warmup)));
    return baseLr * f;
  };
  const useSchedule = warmup > 0 || options.cosine === true;
  const deadline = options.maxSeconds !== undefined ? Date.now() + options.maxSeconds * 1000 : Infinity;
  let stoppedEarly = false;
  while (step < steps) {
    if (Date.now() >= deadline) {
      stoppedEarly = true;
      break;
    }
    if (useSchedule) await trainer.setLearningRate(schedule(step));
    const batch = await sampler.batch(step); // random access: a resumed run sees the same batches
    const stats = await trainer.step(batch.x);
    step = stats.step;
    last = stats;
    const clips = batch.x.shape[0]!;
    options.onStep?.({ ...stats, clipsPerSecond: clips / (stats.ms / 1000), source: batch.source });
    if (step % every === 0 || step === steps) {
      await trainer.saveCheckpoint(checkpoint);
      options.onCheckpoint?.(checkpoint, step);
    }
  }
  if (stoppedEarly && last) await trainer.saveCheckpoint(checkpoint);
  await trainer.save(options.out, { dtype: outDtype });
  return { steps: step, stoppedEarly, last, out: options.out, checkpoint };
}
