// `tessera train-vae`: trains the video VAE with a progress bar, loss, PSNR and
// throughput, checkpointing as it goes (docs/VAE.md). `tessera decode` / `tessera encode`:
// latents saved as safetensors to and from videos, decoded in streamed chunks
// (docs/VAE.md, "Inference").
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { listMedia, loadImage, loadVideo, mediaKind, probeImage, probeVideo } from '../data/folder.js';
import { loadLatent, saveLatent } from '../latent.js';
import type { NdArray } from '../ops.js';
import { framesToRgb, videoWriter, type VideoWriter } from '../video-writer.js';
import { trainVae, type TrainVaeOptions } from '../vae-train.js';
import { SMALL_VAE_CONFIG, VAE_FILE_DTYPES, Vae, type VaeConfig, type VaeFileDtype, type VaeTileOption } from '../vae.js';
import { intOption } from './options.js';

export interface TrainVaeCliOptions {
  data: TrainVaeOptions['data'];
  steps: number;
  out: string;
  checkpoint?: string;
  checkpointEvery: number;
  resume: boolean;
  config: VaeConfig;
  batchSize: number;
  frames: number;
  sizes: [number, number][];
  crop?: [number, number];
  outDtype: VaeFileDtype;
  lr: number;
  l1Weight: number;
  mseWeight: number;
  klWeight: number;
  seed: number;
  maxMinutes?: number;
  warmup: number;
  cosine: boolean;
  shortcutFitBatches: number;
}


function positiveNumber(name: string, raw: unknown): number {
  const v = Number(String(raw).trim());
  if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${name} must be a number >= 0, got ${String(raw)}`);
  return v;
}

// The reconstruction loss l1 * mean|recon - x| + mse * mean (recon - x)^2 needs one of them.
function lossWeights(raw: Record<string, unknown>): { l1Weight: number; mseWeight: number } {
  const l1Weight = positiveNumber('--l1-weight', raw.l1Weight ?? 1);
  const mseWeight = positiveNumber('--mse-weight', raw.mseWeight ?? 1);
  if (l1Weight + mseWeight <= 0)
    throw new RangeError(`--l1-weight + --mse-weight must be > 0 (some reconstruction loss), got ${l1Weight} + ${mseWeight}`);
  return { l1Weight, mseWeight };
}

function parseSizes(name: string, text: string, sep: string): [number, number][] {
  return text.split(sep).map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new RangeError(`${name} entries must be HxW (e.g. 64x64), got ${s}`);
    return [Number(m[1]), Number(m[2])] as [number, number];
  });
}

function outDtype(raw: unknown): VaeFileDtype {
  const v = String(raw ?? 'f32');
  if (!(VAE_FILE_DTYPES as readonly string[]).includes(v)) throw new RangeError(`--out-dtype must be one of ${VAE_FILE_DTYPES.join(', ')}, got ${v}`);
  return v as VaeFileDtype;
}

function parseCrop(text: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(text.trim());
  if (!m) throw new RangeError(`--crop must be one HxW window (e.g. 32x32), got ${text}`);
  return [Number(m[1]), Number(m[2])];
}

/**
 * --data: comma-separated sources, each `source[:weight][@HxW+HxW...]` — e.g.
 * `world:3,fashion-mnist@32x32` draws 3 world batches per Fashion-MNIST one, the
 * Fashion-MNIST ones at 32x32 (the others at --sizes).
 */
export function parseDataOption(text: string): TrainVaeOptions['data'] {
  const items = text.split(',').map((item) => {
    let rest = item.trim();
    let sizes: [number, number][] | undefined;
    const at = rest.lastIndexOf('@');
    if (at >= 0 && /^\d+x\d+(\+\d+x\d+)*$/.test(rest.slice(at + 1))) {
      sizes = parseSizes(`--data sizes (${item.trim()})`, rest.slice(at + 1), '+');
      rest = rest.slice(0, at);
    }
    let weight: number | undefined;
    const w = /:(\d+(?:\.\d+)?)$/.exec(rest);
    if (w) {
      weight = Number(w[1]);
      if (!(weight > 0)) throw new RangeError(`--data weights must be numbers > 0, got ${w[1]} in ${item.trim()}`);
      rest = rest.slice(0, w.index);
    }
    if (rest === '') throw new RangeError(`--data entries must be source[:weight][@HxW+...], got '${item.trim()}'`);
    return { source: rest, ...(weight !== undefined ? { weight } : {}), ...(sizes ? { sizes } : {}) };
  });
  if (items.length === 1 && items[0]!.weight === undefined && !items[0]!.sizes) return items[0]!.source;
  return items;
}

/** Validates raw option values; errors name the option, the rule and the value. */
export function parseTrainVaeOptions(raw: Record<string, unknown>): TrainVaeCliOptions {
  const rawData = raw.data;
  if (typeof rawData !== 'string' || rawData.trim() === '')
    throw new RangeError(`--data must be world, fashion-mnist or a folder path, got ${String(rawData)}`);
  const data = parseDataOption(rawData);
  const out = raw.out;
  if (typeof out !== 'string' || out.trim() === '') throw new RangeError(`--out must be a file path, got ${String(out)}`);
  const sizes = parseSizes('--sizes', String(raw.sizes ?? '64x64,48x80,80x48,32x32'), ',');
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
  if (raw.latentChannels !== undefined)
    config.latentChannels = intOption('--latent-channels', raw.latentChannels, 'an integer between 1 and 1024', (x) => x >= 1 && x <= 1024);
  if (raw.shortcut !== undefined) {
    const v = String(raw.shortcut);
    if (!['none', 'mean', 'linear'].includes(v)) throw new RangeError(`--shortcut must be none, mean or linear, got ${v}`);
    config.meanShortcut = v === 'mean';
    config.linearShortcut = v === 'linear';
  }
  return {
    data,
    steps: intOption('--steps', raw.steps, 'an integer >= 1', (x) => x >= 1),
    out,
    checkpoint: typeof raw.checkpoint === 'string' ? raw.checkpoint : undefined,
    checkpointEvery: intOption('--checkpoint-every', raw.checkpointEvery ?? 100, 'an integer >= 1', (x) => x >= 1),
    resume: raw.resume === true,
    config,
    batchSize: intOption('--batch-size', raw.batchSize ?? 4, 'an integer between 1 and 1024', (x) => x >= 1 && x <= 1024),
    frames: intOption('--frames', raw.frames ?? 9, 'an integer 1 + 4k (1, 5, 9, 13, 17, ...)', (x) => x >= 1 && (x - 1) % 4 === 0),
    sizes,
    crop: raw.crop === undefined ? undefined : parseCrop(String(raw.crop)),
    outDtype: outDtype(raw.outDtype),
    lr: positiveNumber('--lr', raw.lr ?? 2e-4),
    ...lossWeights(raw),
    klWeight: positiveNumber('--kl-weight', raw.klWeight ?? 1e-6),
    seed: intOption('--seed', raw.seed ?? 0, 'an integer between 0 and 4294967295', (x) => x >= 0 && x <= 4294967295),
    maxMinutes: raw.maxMinutes === undefined ? undefined : positiveNumber('--max-minutes', raw.maxMinutes),
    warmup: intOption('--warmup', raw.warmup ?? 0, 'an integer >= 0', (x) => x >= 0),
    cosine: raw.cosine === true,
    shortcutFitBatches: intOption('--shortcut-fit-batches', raw.shortcutFitBatches ?? 200, 'an integer >= 0', (x) => x >= 0),
  };
}

// ---- decode / encode ---------------------------------------------------------------

function fileArg(name: string, raw: unknown, what: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new RangeError(`${name} must be ${what}, got ${String(raw)}`);
  return raw;
}

function tileArg(raw: unknown): VaeTileOption {
  if (raw === undefined || String(raw).trim() === 'auto') return 'auto';
  return intOption('--tile', raw, "'auto', 0 (no tiling) or an integer >= 1 (latent pixels)", (x) => x >= 0);
}

export interface DecodeCliOptions {
  model: string;
  latent: string;
  out: string;
  fps?: number;
  index: number;
  chunkFrames?: number;
  tile: VaeTileOption;
  overlap?: number;
}

/** Validates `tessera decode` options; errors name the option, the rule and the value. */
export function parseDecodeOptions(raw: Record<string, unknown>): DecodeCliOptions {
  const out = fileArg('--out', raw.out, 'a .gif or .rgb file path');
  const ext = extname(out).toLowerCase();
  if (ext !== '.gif' && ext !== '.rgb')
    throw new RangeError(`--out must end in .gif (animated GIF) or .rgb (raw rgb24 frames), got ${out}`);
  const fps = raw.fps === undefined ? undefined : Number(String(raw.fps).trim());
  if (fps !== undefined && !(Number.isFinite(fps) && fps > 0 && fps <= 100))
    throw new RangeError(`--fps must be a number between 0 and 100 (exclusive of 0), got ${String(raw.fps)}`);
  return {
    model: fileArg('--model', raw.model, 'a VAE model file (.safetensors)'),
    latent: fileArg('--latent', raw.latent, 'a latent file (.safetensors, written by tessera encode or saveLatent)'),
    out,
    fps,
    index: intOption('--index', raw.index ?? 0, 'an integer >= 0', (x) => x >= 0),
    chunkFrames: raw.chunkFrames === undefined ? undefined : intOption('--chunk-frames', raw.chunkFrames, 'an integer >= 1', (x) => x >= 1),
    tile: tileArg(raw.tile),
    overlap: raw.overlap === undefined ? undefined : intOption('--overlap', raw.overlap, 'an integer >= 0', (x) => x >= 0),
  };
}

export interface DecodeCliResult {
  out: string;
  frames: number;
  chunks: number;
  width: number;
  height: number;
  fps: number;
  seconds: number;
}

/**
 * Decodes a latent file to a video, streaming: each chunk's frames are written to the file
 * as soon as they are decoded (a temporary file, renamed when complete).
 */
export async function decodeLatentFile(o: DecodeCliOptions, onChunk?: (framesSoFar: number) => void): Promise<DecodeCliResult> {
  const t0 = Date.now();
  const { latent, meta } = await loadLatent(o.latent);
  const vae = await Vae.load(o.model);
  const cfg = (await vae.info()).config;
  const [N, L, , h, w] = latent.shape as [number, number, number, number, number];
  if (L !== cfg.latentChannels)
    throw new RangeError(`${o.latent} has ${L} latent channels but the model ${o.model} takes latentChannels = ${cfg.latentChannels}`);
  if (o.index >= N) throw new RangeError(`--index must be an integer between 0 and ${N - 1} (the latent holds ${N} videos), got ${o.index}`);
  const metaFps = Number(meta.fps);
  const fps = o.fps ?? (Number.isFinite(metaFps) && metaFps > 0 ? metaFps : 12);
  const width = w * cfg.spatialDown, height = h * cfg.spatialDown;
  const writer: VideoWriter = videoWriter(o.out, width, height, fps);
  try {
    const r = await vae.decode(latent, {
      chunkFrames: o.chunkFrames,
      tile: o.tile,
      overlap: o.overlap,
      onFrames: async (frames: NdArray) => {
        await writer.write(framesToRgb(frames, o.index), frames.shape[2]!);
        onChunk?.(writer.frames);
      },
    });
    await writer.close();
    return { out: o.out, frames: r.frames, chunks: r.chunks, width, height, fps, seconds: (Date.now() - t0) / 1000 };
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

export interface EncodeCliOptions {
  model: string;
  video: string;
  out: string;
  frames?: number;
  size?: [number, number];
  chunkFrames?: number;
  tile: VaeTileOption;
  overlap?: number;
}

export function parseEncodeOptions(raw: Record<string, unknown>): EncodeCliOptions {
  let size: [number, number] | undefined;
  if (raw.size !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(String(raw.size).trim());
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new RangeError(`--size must be HxW (e.g. 256x256), got ${String(raw.size)}`);
    size = [Number(m[1]), Number(m[2])];
  }
  return {
    model: fileArg('--model', raw.model, 'a VAE model file (.safetensors)'),
    video: fileArg('--video', raw.video, 'a video or image file, or a folder of images (the frames, in name order)'),
    out: fileArg('--out', raw.out, 'a latent file path (.safetensors)'),
    frames: raw.frames === undefined ? undefined : intOption('--frames', raw.frames, 'an integer >= 1', (x) => x >= 1),
    size,
    chunkFrames: raw.chunkFrames === undefined ? undefined : intOption('--chunk-frames', raw.chunkFrames, 'an integer >= 1', (x) => x >= 1),
    tile: tileArg(raw.tile),
    overlap: raw.overlap === undefined ? undefined : intOption('--overlap', raw.overlap, 'an integer >= 0', (x) => x >= 0),
  };
}

/** A video file, an image, or a folder of images (frames in name order) as [1, 3, T, H, W]. */
async function loadSource(
  path: string,
  size: [number, number] | undefined,
  frames: number | undefined,
  sd: number,
  td: number,
): Promise<{ x: NdArray; fps?: number; note?: string }> {
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new RangeError(`--video: nothing at ${path}`);
  const round = (v: number) => Math.max(sd, Math.floor(v / sd) * sd);
  // T must be 1 + td k: the largest such count <= the frames there are (or exactly --frames).
  const count = (available: number): number => {
    if (frames !== undefined) {
      if ((frames - 1) % td !== 0) throw new RangeError(`--frames must be 1 + ${td}k for this model (temporalDown ${td}), got ${frames}`);
      if (frames > available) throw new RangeError(`--frames ${frames} is more than the ${available} frames of ${path}`);
      return frames;
    }
    return 1 + Math.floor((available - 1) / td) * td;
  };
  if (st.isDirectory()) {
    const images = (await listMedia(path, { recursive: false })).filter((f) => f.kind === 'image');
    if (images.length === 0) throw new RangeError(`--video: the folder ${path} has no images (png, jpg, jpeg, webp)`);
    const first = await probeImage(images[0]!.path);
    const [H, W] = size ?? [round(first.height), round(first.width)];
    const T = count(images.length);
    const data = new Float32Array(3 * T * H * W);
    const plane = H * W;
    for (let t = 0; t < T; t++) {
      const img = (await loadImage(images[t]!.path, { height: H, width: W })).x.data;
      for (let c = 0; c < 3; c++) data.set(img.subarray(c * plane, (c + 1) * plane), (c * T + t) * plane);
    }
    const note = T < images.length ? `used the first ${T} of ${images.length} images (T = 1 + ${td}k)` : undefined;
    return { x: { data, shape: [1, 3, T, H, W] }, note };
  }
  const kind = mediaKind(path);
  if (kind === 'image') {
    const info = await probeImage(path);
    const [H, W] = size ?? [round(info.height), round(info.width)];
    const clip = await loadImage(path, { height: H, width: W });
    return { x: { data: clip.x.data, shape: [1, ...clip.x.shape] } };
  }
  if (kind === 'video') {
    const info = await probeVideo(path);
    const [H, W] = size ?? [round(info.height), round(info.width)];
    const T = count(info.frames);
    const clip = await loadVideo(path, { height: H, width: W, frames: T });
    const note = T < info.frames ? `used the first ${T} of ${info.frames} frames (T = 1 + ${td}k)` : undefined;
    return { x: { data: clip.x.data, shape: [1, ...clip.x.shape] }, fps: info.fps, note };
  }
  throw new RangeError(`--video must be a video (mp4, webm, mov, gif, ...), an image or a folder of images, got ${path}`);
}

export async function encodeVideoFile(o: EncodeCliOptions): Promise<{ out: string; shape: number[]; frames: number; note?: string }> {
  const vae = await Vae.load(o.model);
  const cfg = (await vae.info()).config;
  if (o.size && (o.size[0] % cfg.spatialDown || o.size[1] % cfg.spatialDown))
    throw new RangeError(`--size must be multiples of spatialDown = ${cfg.spatialDown}, got ${o.size[0]}x${o.size[1]}`);
  const src = await loadSource(o.video, o.size, o.frames, cfg.spatialDown, cfg.temporalDown);
  const { mean } = await vae.encode(src.x, { chunkFrames: o.chunkFrames, tile: o.tile, overlap: o.overlap });
  await saveLatent(o.out, mean, {
    source: o.video,
    frames: src.x.shape[2]!,
    height: src.x.shape[3]!,
    width: src.x.shape[4]!,
    ...(src.fps ? { fps: src.fps } : {}),
    vae_config: JSON.stringify(cfg),
  });
  return { out: o.out, shape: mean.shape, frames: src.x.shape[2]!, note: src.note };
}

export function registerVaeCommands(program: Command): void {
  registerTrainVae(program);
  program
    .command('decode')
    .description('decode a latent file (safetensors) to a video, streaming frames to the file as chunks finish')
    .requiredOption('--model <file>', 'VAE model file (safetensors)')
    .requiredOption('--latent <file>', 'latent file (safetensors, from tessera encode or saveLatent)')
    .requiredOption('--out <file>', 'video to write: .gif (animated GIF) or .rgb (raw rgb24 frames)')
    .option('--fps <n>', 'frame rate (default: the latent file\'s fps, else 12)')
    .option('--index <i>', 'which video of the batch', '0')
    .option('--chunk-frames <n>', 'latent frames per chunk (default 2)')
    .option('--tile <n|auto>', 'spatial tile side in latent pixels, 0 = none', 'auto')
    .option('--overlap <n>', 'latent pixels shared by neighbouring tiles (default 8)')
    .action(async (raw: Record<string, unknown>) => {
      const o = parseDecodeOptions(raw);
      // On a terminal the count updates in place; piped or logged, one line per chunk.
      const tty = process.stderr.isTTY === true;
      const r = await decodeLatentFile(o, (n) => process.stderr.write(tty ? `\rdecoded ${n} frames` : `decoded ${n} frames\n`));
      if (tty) process.stderr.write('\n');
      process.stdout.write(
        `wrote ${r.out}: ${r.frames} frames of ${r.width}x${r.height} at ${r.fps} fps (${r.chunks} chunks, ${r.seconds.toFixed(1)} s)\n`,
      );
    });
  program
    .command('encode')
    .description('encode a video, an image or a folder of images (frames) to a latent file (safetensors)')
    .requiredOption('--model <file>', 'VAE model file (safetensors)')
    .requiredOption('--video <path>', 'video file (needs ffmpeg), image, or folder of images taken as frames in name order')
    .requiredOption('--out <file>', 'latent file to write (safetensors)')
    .option('--frames <n>', 'frames to encode, 1 + temporalDown k (default: as many as there are, rounded down to that rule)')
    .option('--size <HxW>', 'resize (cover + center crop) to HxW, multiples of spatialDown (default: the source size rounded down)')
    .option('--chunk-frames <n>', 'video frames per chunk after the first (default 8)')
    .option('--tile <n|auto>', 'spatial tile side in latent pixels, 0 = none', 'auto')
    .option('--overlap <n>', 'latent pixels shared by neighbouring tiles (default 8)')
    .action(async (raw: Record<string, unknown>) => {
      const o = parseEncodeOptions(raw);
      const r = await encodeVideoFile(o);
      if (r.note) process.stderr.write(`note: ${r.note}\n`);
      process.stdout.write(`wrote ${r.out}: latent [${r.shape.join(', ')}] from ${r.frames} frames\n`);
    });
}

function registerTrainVae(program: Command): void {
  program
    .command('train-vae')
    .description('train the video VAE (causal 3D-conv) on world videos, Fashion-MNIST or a folder of images and videos')
    .requiredOption('--data <source>', 'world, fashion-mnist, a folder of images/videos, or a comma-separated mix, each source[:weight][@HxW+HxW]')
    .requiredOption('--steps <n>', 'optimizer steps')
    .requiredOption('--out <file>', 'model file to write (safetensors)')
    .option('--out-dtype <f32|f16|bf16>', "number format of the model file's weights (the checkpoint stays f32)", 'f32')
    .option('--checkpoint <file>', 'checkpoint file (default: <out>.ckpt)')
    .option('--checkpoint-every <n>', 'steps between checkpoints', '100')
    .option('--resume', 'continue from the checkpoint if it exists', false)
    .option('--config <small|default|file.json>', 'architecture: small (trains on a CPU), default (61.6M params) or a JSON file', 'small')
    .option('--latent-channels <n>', "latent channels (overrides the --config's)")
    .option('--shortcut <none|mean|linear>', "the --config's shortcut replaced: none, the mean shortcut or the linear shortcut (fitted to data before step 1)")
    .option('--batch-size <n>', 'clips per batch', '4')
    .option('--frames <n>', 'frames per video clip (1 + 4k)', '9')
    .option('--sizes <HxW,...>', 'clip sizes to draw from (multiples of 8)', '64x64,48x80,80x48,32x32')
    .option('--crop <HxW>', 'train on a random HxW window of each clip (drawn at its size)')
    .option('--lr <x>', 'AdamW learning rate', '2e-4')
    .option('--l1-weight <x>', 'weight of the L1 reconstruction term', '1')
    .option('--mse-weight <x>', 'weight of the MSE reconstruction term', '1')
    .option('--kl-weight <x>', 'weight of the KL term', '1e-6')
    .option('--seed <n>', 'seed for initialization, data and noise', '0')
    .option('--max-minutes <m>', 'stop after this much wall time (checkpoint and model are written)')
    .option('--warmup <n>', 'linear learning-rate warm-up steps', '0')
    .option('--cosine', 'cosine learning-rate decay to 10% at --steps', false)
    .option('--shortcut-fit-batches <n>', 'batches the linear shortcut (config linearShortcut) is fitted to before step 1', '200')
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
        data: o.data,
        steps: o.steps,
        out: o.out,
        outDtype: o.outDtype,
        checkpoint: o.checkpoint,
        checkpointEvery: o.checkpointEvery,
        resume: o.resume,
        config: o.config,
        train: { lr: o.lr, l1Weight: o.l1Weight, mseWeight: o.mseWeight, klWeight: o.klWeight },
        sampler: { batchSize: o.batchSize, frames: o.frames, sizes: o.sizes, ...(o.crop ? { crop: o.crop } : {}) },
        seed: o.seed,
        maxSeconds: o.maxMinutes === undefined ? undefined : o.maxMinutes * 60,
        warmupSteps: o.warmup,
        cosine: o.cosine,
        shortcutFitBatches: o.shortcutFitBatches,
        onShortcutFit: (f) =>
          process.stdout.write(
            `linear shortcut fitted to ${f.cellsFirst} + ${f.cellsRest} cells: the linear code alone gives PSNR ${f.psnr.toFixed(2)} dB on them\n`,
          ),
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
