// `tessera train-vae`: trains the video VAE with a progress bar, loss, PSNR and
// throughput, checkpointing as it goes (docs/VAE.md).
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { trainVae } from '../vae-train.js';
import { SMALL_VAE_CONFIG, type VaeConfig } from '../vae.js';

export interface TrainVaeCliOptions {
  data: string;
  steps: number;
  out: string;
  checkpoint?: string;
  checkpointEvery: number;
  resume: boolean;
  config: VaeConfig;
  batchSize: number;
  frames: number;
  sizes: [number, number][];
  lr: number;
  klWeight: number;
  seed: number;
  maxMinutes?: number;
  warmup: number;
  cosine: boolean;
}

function int(name: string, raw: unknown, rule: string, ok: (v: number) => boolean): number {
  const s = String(raw).trim();
  const v = /^[+-]?\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(v) || !ok(v)) throw new RangeError(`${name} must be ${rule}, got ${String(raw)}`);
  return v;
}

function positiveNumber(name: string, raw: unknown): number {
  const v = Number(String(raw).trim());
  if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name} must be a number >= 0, got ${String(raw)}`);
  return v;
}

/** Validates raw option values; errors name the option, the rule and the value. */
export function parseTrainVaeOptions(raw: Record<string, unknown>): TrainVaeCliOptions {
  const data = raw.data;
  if (typeof data !== 'string' || data.trim() === '')
    throw new RangeError(`--data must be world, fashion-mnist or a folder path, got ${String(data)}`);
  const out = raw.out;
  if (typeof out !== 'string' || out.trim() === '') throw new RangeError(`--out must be a file path, got ${String(out)}`);
  const sizes = String(raw.sizes ?? '64x64,48x80,80x48,32x32')
    .split(',')
    .map((s) => {
      const m = /^(\d+)x(\d+)$/.exec(s.trim());
      if (!m) throw new RangeError(`--sizes entries must be HxW (e.g. 64x64), got ${s}`);
      return [Number(m[1]), Number(m[2])] as [number, number];
    });
  let config: VaeConfig;
  const c = String(raw.config ?? 'small');
  if (c === 'small') config = { ...SMALL_VAE_CONFIG };
  else if (c === 'default') config = {};
  else {
    try {
      config = JSON.parse(readFileSync(c, 'utf8')) as VaeConfig;
    } catch (e) {
      throw new RangeError(`--config must be small, default or a JSON file of VAE options; reading ${c}: ${(e as Error).message}`);
    }
  }
  return {
    data,
    steps: int('--steps', raw.steps, 'an integer >= 1', (x) => x >= 1),
    out,
    checkpoint: typeof raw.checkpoint === 'string' ? raw.checkpoint : undefined,
    checkpointEvery: int('--checkpoint-every', raw.checkpointEvery ?? 100, 'an integer >= 1', (x) => x >= 1),
    resume: raw.resume === true,
    config,
    batchSize: int('--batch-size', raw.batchSize ?? 4, 'an integer between 1 and 1024', (x) => x >= 1 && x <= 1024),
    frames: int('--frames', raw.frames ?? 9, 'an integer 1 + 4k (1, 5, 9, 13, 17, ...)', (x) => x >= 1 && (x - 1) % 4 === 0),
    sizes,
    lr: positiveNumber('--lr', raw.lr ?? 2e-4),
    klWeight: positiveNumber('--kl-weight', raw.klWeight ?? 1e-6),
    seed: int('--seed', raw.seed ?? 0, 'an integer between 0 and 4294967295', (x) => x >= 0 && x <= 4294967295),
    maxMinutes: raw.maxMinutes === undefined ? undefined : positiveNumber('--max-minutes', raw.maxMinutes),
    warmup: int('--warmup', raw.warmup ?? 0, 'an integer >= 0', (x) => x >= 0),
    cosine: raw.cosine === true,
  };
}

export function registerVaeCommands(program: Command): void {
  program
    .command('train-vae')
    .description('train the video VAE (causal 3D-conv) on world videos, Fashion-MNIST or a folder of images and videos')
    .requiredOption('--data <source>', 'world, fashion-mnist, a folder of images/videos, or a comma-separated mix')
    .requiredOption('--steps <n>', 'optimizer steps')
    .requiredOption('--out <file>', 'model file to write (safetensors)')
    .option('--checkpoint <file>', 'checkpoint file (default: <out>.ckpt)')
    .option('--checkpoint-every <n>', 'steps between checkpoints', '100')
    .option('--resume', 'continue from the checkpoint if it exists', false)
    .option('--config <small|default|file.json>', 'architecture: small (trains on a CPU), default (61.6M params) or a JSON file', 'small')
    .option('--batch-size <n>', 'clips per batch', '4')
    .option('--frames <n>', 'frames per video clip (1 + 4k)', '9')
    .option('--sizes <HxW,...>', 'clip sizes to draw from (multiples of 8)', '64x64,48x80,80x48,32x32')
    .option('--lr <x>', 'AdamW learning rate', '2e-4')
    .option('--kl-weight <x>', 'weight of the KL term', '1e-6')
    .option('--seed <n>', 'seed for initialization, data and noise', '0')
    .option('--max-minutes <m>', 'stop after this much wall time (checkpoint and model are written)')
    .option('--warmup <n>', 'linear learning-rate warm-up steps', '0')
    .option('--cosine', 'cosine learning-rate decay to 10% at --steps', false)
    .action(async (raw: Record<string, unknown>) => {
      const o = parseTrainVaeOptions(raw);
      const bar = new SingleBar({
        format: 'train-vae [{bar}] {value}/{total} | loss {loss} | PSNR {psnr} dB | {rate} clips/s | {source}',
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 5000,
      });
      let started = false;
      const result = await trainVae({
        // "world,fashion-mnist": an equal mix, one source per batch
        data: o.data.includes(',') ? o.data.split(',').map((d) => d.trim()) : o.data,
        steps: o.steps,
        out: o.out,
        checkpoint: o.checkpoint,
        checkpointEvery: o.checkpointEvery,
        resume: o.resume,
        config: o.config,
        train: { lr: o.lr, klWeight: o.klWeight },
        sampler: { batchSize: o.batchSize, frames: o.frames, sizes: o.sizes },
        seed: o.seed,
        maxSeconds: o.maxMinutes === undefined ? undefined : o.maxMinutes * 60,
        warmupSteps: o.warmup,
        cosine: o.cosine,
        onStep: (s) => {
          const payload = { loss: s.loss.toFixed(4), psnr: s.psnr.toFixed(2), rate: s.clipsPerSecond.toFixed(2), source: s.source };
          if (!started) {
            bar.start(o.steps, s.step - 1, payload);
            started = true;
          }
          bar.update(s.step, payload);
        },
      });
      if (started) bar.stop();
      process.stdout.write(
        `wrote ${result.out} after ${result.steps} steps${result.stoppedEarly ? ' (time limit)' : ''}` +
          (result.last ? ` (loss ${result.last.loss.toFixed(4)}, PSNR ${result.last.psnr.toFixed(2)} dB)` : '') +
          `; checkpoint ${result.checkpoint}\n`,
      );
    });
}
