// The video compression network from TypeScript: a causal 3D-conv VAE
// (native/models/vae.h, docs/VAE.md). Every call computes off the JS thread and
// returns a Promise; calls on one model run one at a time, in order.
import { native, type NativeTensor } from './native.js';
import type { NdArray } from './ops.js';
import { checkInteger, checkNumber, invalidParameter } from './validate.js';

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
  saveModel(path: string): Promise<void>;
  saveCheckpoint(path: string): Promise<void>;
  setLearningRate(lr: number): Promise<void>;
  info(): Promise<{ config: string; numParameters: number; steps: number; training: boolean }>;
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
};

/** A small model that trains on a CPU in minutes (the committed weights use it). */
export const SMALL_VAE_CONFIG: Readonly<VaeConfig> = Object.freeze({
  latentChannels: 8,
  baseChannels: 32,
  channelMult: [1, 2, 2, 4],
  numResBlocks: 1,
  spatialDown: 8,
  temporalDown: 4,
  normGroups: 8,
  midAttention: true,
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

/** Inference: encode videos to latents and decode latents to videos. */
export class Vae {
  protected constructor(protected readonly handle: NativeVaeModel) {}

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

  /** A model file written by save() / saveModel() (safetensors, format tessera.vae). */
  static async load(path: string): Promise<Vae> {
    if (typeof path !== 'string') throw invalidParameter('path', 'a string', path);
    const h = Vae.handle();
    await h.load(path);
    return new Vae(h);
  }

  /** video [N, 3, T, H, W] in [-1, 1] -> the posterior's mean and log-variance [N, L, t, h, w]. */
  encode(video: NdArray): Promise<{ mean: NdArray; logvar: NdArray }> {
    return this.handle.encode(checkVideo('video', video));
  }

  /** latent [N, L, t, h, w] -> video [N, 3, 1 + temporalDown (t - 1), h * spatialDown, w * spatialDown]. */
  decode(latent: NdArray): Promise<NdArray> {
    return this.handle.decode(checkVideo('latent', latent));
  }

  /** Writes the parameters and config (temporary file + rename). */
  save(path: string): Promise<void> {
    return this.handle.saveModel(path);
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
}
