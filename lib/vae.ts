// The video compression network from TypeScript: a causal 3D-conv VAE
// (native/models/vae.h, docs/VAE.md). Every call computes off the JS thread and
// returns a Promise; calls on one model run one at a time, in order.
import { native, type NativeTensor } from './native.js';
import type { NdArray } from './ops.js';
import { checkInteger, checkNumber, checkOneOf, invalidParameter, invalidRange } from './validate.js';

/** Architecture (docs/VAE.md). Defaults: the full model, 61.6M parameters. */
export interface VaeConfig {
  inChannels?: number;
  /** Latent channels L (default 8). */
  latentChannels?: number;
  baseChannels?: number;
  /** Channel multiplier per level: log2(spatialDown) + 1 entries (default [1, 2, 4, 4]). */
  channelMult?: number[];
  numResBlocks?: number;
  /** 4, 8 or 16 (default 8). */
  spatialDown?: number;
  /** 1, 2 or 4 (default 4): T frames -> 1 + (T - 1) / temporalDown latent frames. */
  temporalDown?: number;
  normGroups?: number;
  midAttention?: boolean;
  normEps?: number;
  /**
   * The mean shortcut (default false): the first inChannels latent channels carry the mean
   * of each latent cell's block of the video (added to what the encoder computes), and the
   * decoder adds them back, repeated over the block; the network learns the residual.
   * Needs latentChannels >= inChannels.
   */
  meanShortcut?: boolean;
  /**
   * The linear shortcut (default false; excludes meanShortcut): every latent mean carries a
   * fixed linear code of its cell (frame 0's inChannels x s x s pixels, then each group of
   * temporalDown frames), added to what the encoder computes, and the decoder adds the
   * code's reconstruction back. The optimizer never changes it: it starts as the mean
   * shortcut, and `VaeTrainer.fitShortcut` (which `trainVae` runs before the first step) sets
   * it to the principal components of training cells, so the model starts as the best
   * linear code of its latent size and the network learns what is nonlinear.
   */
  linearShortcut?: boolean;
}

/** What `VaeTrainer.fitShortcut` saw and how well the fitted linear code alone reconstructs it. */
export interface VaeShortcutFit {
  /** Cells of frame 0 (one frame each) and of later groups of temporalDown frames. */
  cellsFirst: number;
  cellsRest: number;
  /** Mean squared error per value of the linear code on those cells, and its PSNR (dB, data in [-1, 1]). */
  mse: number;
  psnr: number;
}

/** Loss weights and AdamW settings for training. */
export interface VaeTrainOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  l1Weight?: number;
  mseWeight?: number;
  klWeight?: number;
  /** Global gradient-norm clip (0: none; default 1). */
  maxGradNorm?: number;
  /** Seed of the posterior noise stream. */
  seed?: number;
}

export interface VaeStepStats {
  step: number;
  loss: number;
  l1: number;
  mse: number;
  kl: number;
  gradNorm: number;
  /** PSNR (dB) of this batch's reconstruction, for data in [-1, 1]. */
  psnr: number;
  /** Wall time of the step. */
  ms: number;
}

/** What `onFrames` is told with each chunk of decoded frames. */
export interface VaeFramesInfo {
  /** Index of the chunk's first frame in the whole video. */
  firstFrame: number;
  /** Index of the chunk (0, 1, ...). */
  chunk: number;
}

/**
 * Receives each chunk of decoded frames [N, 3, t, H, W] as soon as it is finished, in order,
 * one call at a time: when it returns a promise, the next call waits for it to settle, and
 * the decoder works at most one chunk ahead meanwhile (a slow consumer, such as a file
 * writer, holds it back instead of letting chunks pile up). Throwing (or rejecting) stops
 * the decode, and decode() rejects with that error. The model is busy until decode()
 * settles: do not await another call on the same model inside the callback (it would wait
 * for this decode, which waits for the callback).
 */
export type VaeFramesCallback = (frames: NdArray, info: VaeFramesInfo) => void | Promise<void>;

/** Spatial tiling: 'auto' (default), 0 (none) or the tile side in latent pixels. */
export type VaeTileOption = number | 'auto';

/**
 * Streaming inference (docs/VAE.md, "Inference"). Temporal chunks are exact: any chunkFrames
 * gives the same output, and memory holds one chunk's activations plus each causal conv's
 * 2-frame cache, whatever the length. Spatial tiles are approximate (GroupNorm, attention
 * and conv padding see the tile), blended over the overlap.
 */
export interface VaeDecodeOptions {
  /** Latent frames per chunk, >= 1 (default 2: 1 + 4 frames first, then 8 per chunk at temporalDown 4). */
  chunkFrames?: number;
  /**
   * Tile side in latent pixels: 0 = no tiling; 'auto' (default) = tiles of 32 with overlap 8
   * when the latent is larger than 64 on a side (512 pixels at spatialDown 8), else none.
   */
  tile?: VaeTileOption;
  /** Latent pixels shared by neighbouring tiles, 0 <= overlap < tile (default 8). */
  overlap?: number;
  /** Stream the frames instead of returning the whole video (memory then does not grow with length). */
  onFrames?: VaeFramesCallback;
}

/** What decode() resolves to when the frames went to onFrames. */
export interface VaeDecodeSummary {
  /** Shape of the whole decoded video [N, 3, T, H, W]. */
  shape: number[];
  frames: number;
  chunks: number;
}

export interface VaeEncodeOptions {
  /**
   * Video frames per chunk after the first, which has one more (default 8). Any value gives
   * the same latents; multiples of temporalDown give chunkFrames / temporalDown latent frames per chunk.
   */
  chunkFrames?: number;
  /** Tile side in latent pixels (tile * spatialDown video pixels); as for decode. */
  tile?: VaeTileOption;
  overlap?: number;
}

/** Defaults of the streaming options. */
export const VAE_STREAM_DEFAULTS = Object.freeze({
  decodeChunkFrames: 2,
  encodeChunkFrames: 8,
  /** 'auto' tiles latents larger than this on a side... */
  autoTileAbove: 64,
  /** ...with tiles of this side (latent pixels)... */
  autoTile: 32,
  /** ...sharing this many latent pixels. */
  overlap: 8,
});

export interface VaeInfo {
  config: Required<VaeConfig>;
  numParameters: number;
  steps: number;
  training: boolean;
}

interface NativeVaeModel {
  create(configJson: string, train: VaeTrainOptions | null, seed: number): Promise<void>;
  load(path: string): Promise<void>;
  resume(path: string): Promise<void>;
  step(x: NativeTensor): Promise<VaeStepStats>;
  encode(x: NativeTensor): Promise<{ mean: NdArray; logvar: NdArray }>;
  decode(z: NativeTensor): Promise<NdArray>;
  encodeChunked(x: NativeTensor, options: NativeStreamOptions): Promise<{ mean: NdArray; logvar: NdArray }>;
  decodeChunked(z: NativeTensor, options: NativeStreamOptions, onFrames: null): Promise<NdArray>;
  decodeChunked(
    z: NativeTensor,
    options: NativeStreamOptions,
    onFrames: (frames: NdArray, firstFrame: number) => void | Promise<void>,
  ): Promise<{ frames: number; chunks: number }>;
  saveModel(path: string, dtype: VaeFileDtype): Promise<void>;
  saveCheckpoint(path: string): Promise<void>;
  setLearningRate(lr: number): Promise<void>;
  shortcutAdd(x: NativeTensor, restart: boolean): Promise<void>;
  shortcutFit(): Promise<VaeShortcutFit>;
  info(): Promise<{ config: string; numParameters: number; steps: number; training: boolean }>;
}

interface NativeStreamOptions {
  chunk: number;
  tile: number;
  overlap: number;
}

const CONFIG_KEYS: Record<keyof VaeConfig, string> = {
  inChannels: 'in_channels',
  latentChannels: 'latent_channels',
  baseChannels: 'base_channels',
  channelMult: 'channel_mult',
  numResBlocks: 'num_res_blocks',
  spatialDown: 'spatial_down',
  temporalDown: 'temporal_down',
  normGroups: 'norm_groups',
  midAttention: 'mid_attention',
  normEps: 'norm_eps',
  meanShortcut: 'mean_shortcut',
  linearShortcut: 'linear_shortcut',
};

/** Number formats of a model file's weights. */
export const VAE_FILE_DTYPES = ['f32', 'f16', 'bf16'] as const;
export type VaeFileDtype = (typeof VAE_FILE_DTYPES)[number];

/**
 * A small model (0.77M parameters) that trains on a CPU in minutes; the committed weights
 * use it. Base 16 and channel_mult [1, 1, 2, 2]: on 2 cores it takes about 5x the steps of
 * base 32 / [1, 2, 2, 4] (8.7M) in the same time and reconstructs better within an hour
 * (benchmarks/RESULTS.md).
 */
export const SMALL_VAE_CONFIG: Readonly<VaeConfig> = Object.freeze({
  latentChannels: 8,
  baseChannels: 16,
  channelMult: [1, 1, 2, 2],
  numResBlocks: 1,
  spatialDown: 8,
  temporalDown: 4,
  normGroups: 8,
  midAttention: true,
  meanShortcut: true,
});

function configJson(config: VaeConfig): string {
  if (config === null || typeof config !== 'object') throw invalidParameter('config', 'an object', config);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined) continue;
    const key = CONFIG_KEYS[k as keyof VaeConfig];
    if (!key) throw invalidParameter(`config.${k}`, `one of ${Object.keys(CONFIG_KEYS).join(', ')}`, k);
    out[key] = v;
  }
  return JSON.stringify(out);
}

function configFromJson(json: string): Required<VaeConfig> {
  const raw = JSON.parse(json) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [camel, snake] of Object.entries(CONFIG_KEYS)) out[camel] = raw[snake];
  return out as unknown as Required<VaeConfig>;
}

function checkTrain(train: VaeTrainOptions): VaeTrainOptions {
  for (const [k, v] of Object.entries(train)) if (v !== undefined) checkNumber(`train.${k}`, v);
  return train;
}

function checkVideo(name: string, x: NdArray): NativeTensor {
  if (!x || !(x.data instanceof Float32Array) || !Array.isArray(x.shape))
    throw invalidParameter(name, 'an NdArray { data: Float32Array, shape }', x);
  if (x.shape.length !== 5) throw invalidParameter(`${name}.shape`, '5-d [N, C, T, H, W]', `[${x.shape.join(', ')}]`);
  return x as NativeTensor;
}

function checkOptionsObject(name: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalidParameter(name, 'an object', options);
  return options as Record<string, unknown>;
}

/**
 * Resolves chunk / tile / overlap. `h`, `w`: the latent's spatial size (for 'auto').
 * Errors name the option, the rule and the value.
 */
function streamOptions(
  o: Record<string, unknown>,
  allowed: readonly string[],
  defaultChunk: number,
  h: number,
  w: number,
): NativeStreamOptions {
  for (const k of Object.keys(o))
    if (!allowed.includes(k) && o[k] !== undefined) throw invalidParameter(`options.${k}`, `one of ${allowed.join(', ')}`, k);
  const chunk = o.chunkFrames === undefined ? defaultChunk : checkInteger('chunkFrames', o.chunkFrames, 1);
  const D = VAE_STREAM_DEFAULTS;
  let tile: number;
  if (o.tile === undefined || o.tile === 'auto') tile = Math.max(h, w) > D.autoTileAbove ? D.autoTile : 0;
  else if (typeof o.tile === 'number') tile = checkInteger('tile', o.tile, 0);
  else throw invalidParameter('tile', "'auto', 0 (no tiling) or an integer >= 1 (latent pixels)", o.tile);
  let overlap: number = D.overlap;
  if (o.overlap !== undefined) overlap = checkInteger('overlap', o.overlap, 0);
  if (tile > 0 && overlap >= tile) {
    if (o.overlap === undefined) overlap = Math.floor(tile / 4);
    else throw invalidRange('overlap', `an integer between 0 and ${tile - 1} (less than tile = ${tile})`, overlap);
  }
  return { chunk, tile, overlap };
}

/** Inference: encode videos to latents and decode latents to videos. */
export class Vae {
  protected constructor(protected readonly handle: NativeVaeModel) {}
  private configCache?: Promise<Required<VaeConfig>>;

  /** The architecture (fetched once). */
  protected config(): Promise<Required<VaeConfig>> {
    this.configCache ??= this.info().then((i) => i.config);
    return this.configCache;
  }

  protected static handle(): NativeVaeModel {
    const ctor = (native() as unknown as { VaeModel: new () => NativeVaeModel }).VaeModel;
    return new ctor();
  }

  /** A freshly initialized model (deterministic for `seed`). */
  static async create(config: VaeConfig = {}, options: { seed?: number } = {}): Promise<Vae> {
    const h = Vae.handle();
    await h.create(configJson(config), null, checkInteger('seed', options.seed ?? 0, 0));
    return new Vae(h);
  }

  /**
   * A model file written by save() / saveModel() (safetensors, format tessera.vae), or the
   * weights of a training checkpoint (saveCheckpoint(), format tessera.vae.checkpoint).
   */
  static async load(path: string): Promise<Vae> {
    if (typeof path !== 'string') throw invalidParameter('path', 'a string', path);
    const h = Vae.handle();
    await h.load(path);
    return new Vae(h);
  }

  /**
   * video [N, 3, T, H, W] in [-1, 1] -> the posterior's mean and log-variance [N, L, t, h, w],
   * encoded in temporal chunks (exact) and, for large frames, spatial tiles (VaeEncodeOptions).
   */
  async encode(video: NdArray, options?: VaeEncodeOptions): Promise<{ mean: NdArray; logvar: NdArray }> {
    const x = checkVideo('video', video);
    const o = checkOptionsObject('options', options);
    const sd = (await this.config()).spatialDown;
    const s = streamOptions(o, ['chunkFrames', 'tile', 'overlap'], VAE_STREAM_DEFAULTS.encodeChunkFrames,
      Math.floor(x.shape[3]! / sd), Math.floor(x.shape[4]! / sd));
    return this.handle.encodeChunked(x, s);
  }

  /**
   * latent [N, L, t, h, w] -> video [N, 3, 1 + temporalDown (t - 1), h * spatialDown, w * spatialDown],
   * decoded in temporal chunks (exact) and, for large frames, spatial tiles. With onFrames the
   * frames are streamed chunk by chunk and decode() resolves to a summary.
   */
  decode(latent: NdArray, options?: VaeDecodeOptions & { onFrames?: undefined }): Promise<NdArray>;
  decode(latent: NdArray, options: VaeDecodeOptions & { onFrames: VaeFramesCallback }): Promise<VaeDecodeSummary>;
  decode(latent: NdArray, options?: VaeDecodeOptions): Promise<NdArray | VaeDecodeSummary>;
  async decode(latent: NdArray, options?: VaeDecodeOptions): Promise<NdArray | VaeDecodeSummary> {
    const z = checkVideo('latent', latent);
    const o = checkOptionsObject('options', options);
    const s = streamOptions(o, ['chunkFrames', 'tile', 'overlap', 'onFrames'], VAE_STREAM_DEFAULTS.decodeChunkFrames,
      z.shape[3]!, z.shape[4]!);
    const onFrames = o.onFrames;
    if (onFrames === undefined) return this.handle.decodeChunked(z, s, null);
    if (typeof onFrames !== 'function') throw invalidParameter('onFrames', 'a function (frames, info) => void | Promise<void>', onFrames);
    // One call at a time: the next chunk's call waits for the previous one's promise (the
    // native side queues at most two chunks, so the decoder runs at most one chunk ahead).
    const cb = onFrames as VaeFramesCallback;
    let chunk = 0;
    let tail: Promise<void> = Promise.resolve();
    let failed = false;
    const serial = (frames: NdArray, firstFrame: number): Promise<void> => {
      const info = { firstFrame, chunk: chunk++ };
      const p = tail.then(async () => {
        if (failed) return; // an earlier call failed: the decode is stopping
        try {
          await cb(frames, info);
        } catch (e) {
          failed = true;
          throw e;
        }
      });
      tail = p.catch(() => {});
      return p;
    };
    const r = await this.handle.decodeChunked(z, s, serial);
    const c = await this.config();
    const [N, , t, h, w] = z.shape as [number, number, number, number, number];
    return { shape: [N, c.inChannels, 1 + c.temporalDown * (t - 1), h * c.spatialDown, w * c.spatialDown], ...r };
  }

  /**
   * Writes the parameters and config (temporary file + rename). `dtype` 'f16' or 'bf16'
   * halves the file (weights rounded to nearest); `Vae.load` reads any of them as float32.
   */
  save(path: string, options: { dtype?: VaeFileDtype } = {}): Promise<void> {
    if (typeof path !== 'string' || path === '') throw invalidParameter('path', 'a file path', path);
    return this.handle.saveModel(path, checkOneOf('dtype', options.dtype ?? 'f32', VAE_FILE_DTYPES));
  }

  async info(): Promise<VaeInfo> {
    const i = await this.handle.info();
    return { ...i, config: configFromJson(i.config) };
  }
}

/** Training: one AdamW step per batch, checkpoints that resume exactly. */
export class VaeTrainer extends Vae {
  static override async create(
    config: VaeConfig = {},
    options: { seed?: number; train?: VaeTrainOptions } = {},
  ): Promise<VaeTrainer> {
    const h = Vae.handle();
    await h.create(configJson(config), checkTrain(options.train ?? {}), checkInteger('seed', options.seed ?? 0, 0));
    return new VaeTrainer(h);
  }

  /** Model, optimizer state, step and training options from a checkpoint. */
  static async resume(path: string): Promise<VaeTrainer> {
    if (typeof path !== 'string') throw invalidParameter('path', 'a string', path);
    const h = Vae.handle();
    await h.resume(path);
    return new VaeTrainer(h);
  }

  /** One step on x [N, 3, T, H, W] in [-1, 1]. */
  step(x: NdArray): Promise<VaeStepStats> {
    return this.handle.step(checkVideo('x', x));
  }

  saveCheckpoint(path: string): Promise<void> {
    return this.handle.saveCheckpoint(path);
  }

  setLearningRate(lr: number): Promise<void> {
    return this.handle.setLearningRate(checkNumber('lr', lr));
  }

  /**
   * Fits the linear shortcut (`linearShortcut: true`) to clips [N, 3, T, H, W] in [-1, 1]
   * (batches of any sizes the model accepts): the principal components of their latent
   * cells become the shortcut, each latent channel scaled to variance 1 over those cells,
   * and the network's output layers start at zero, so the model starts as that linear code
   * (docs/VAE.md, "The linear shortcut's fit").
   */
  async fitShortcut(clips: Iterable<NdArray> | AsyncIterable<NdArray>): Promise<VaeShortcutFit> {
    const { config } = await this.info();
    if (!config.linearShortcut) throw invalidParameter('config.linearShortcut', 'true for fitShortcut', config.linearShortcut);
    let n = 0;
    for await (const x of clips) {
      await this.handle.shortcutAdd(checkVideo(`clips[${n}]`, x), n === 0); // the first batch drops a failed fit's statistics
      n++;
    }
    if (n === 0) throw invalidParameter('clips', 'at least one batch', 'none');
    return this.handle.shortcutFit();
  }
}
