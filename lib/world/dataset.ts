import { Rng, mixSeed } from './rng.js';
import { sampleScene, type SceneConstraints } from './scene.js';
import { simulate } from './physics.js';
import { renderFrames } from './render.js';
import { detailedCaption, shortCaption } from './caption.js';
import type { WorldState } from './types.js';

export interface WorldSample {
  /** Packed RGB, numFrames x height x width x 3. */
  frames: Uint8Array;
  width: number;
  height: number;
  numFrames: number;
  fps: number;
  caption: string;
  shortCaption: string;
  state: WorldState;
  seed: number;
}

export interface SampleOptions {
  seed: number;
  width?: number;
  height?: number;
  /** 1 = an image. */
  numFrames?: number;
  fps?: number;
  constraints?: SceneConstraints;
  /** Skip rendering (frames is empty): state and captions only. */
  render?: boolean;
}

export const MIN_SIDE = 16;
export const MAX_SIDE = 512;
export const MAX_FRAMES = 1024;

/** Throws a RangeError naming the parameter, its value and the rule. */
export function checkSide(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_SIDE || v > MAX_SIDE || v % 8 !== 0) {
    throw new RangeError(`${name} must be a multiple of 8 between ${MIN_SIDE} and ${MAX_SIDE}, got ${String(v)}`);
  }
  return v;
}
export function checkFrames(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_FRAMES) {
    throw new RangeError(`${name} must be an integer between 1 and ${MAX_FRAMES}, got ${String(v)}`);
  }
  return v;
}
export function checkFps(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || v > 120) throw new RangeError(`${name} must be a number between 1 and 120, got ${String(v)}`);
  return v;
}

/** Generate one sample, deterministic from its seed and options. */
export function generateSample(opts: SampleOptions): WorldSample {
  const width = checkSide('width', opts.width ?? 64);
  const height = checkSide('height', opts.height ?? 64);
  const numFrames = checkFrames('numFrames', opts.numFrames ?? 16);
  const fps = checkFps('fps', opts.fps ?? 12);
  const rng = new Rng(opts.seed);
  const scene = sampleScene(rng, width / height, opts.constraints);
  const state = simulate(scene, { numFrames, fps, width, height, seed: opts.seed });
  const frames = opts.render === false ? new Uint8Array(0) : renderFrames(state);
  return { frames, width, height, numFrames, fps, caption: detailedCaption(state, rng), shortCaption: shortCaption(state), state, seed: opts.seed };
}

export interface DatasetOptions {
  seed?: number;
  /** Number of samples (default: endless). */
  count?: number;
  /** Fixed size; otherwise sampled from `sizes`. */
  width?: number;
  height?: number;
  /** Fixed frame count; otherwise images (1 frame) with probability imageFraction and videos of `frameChoices`. */
  numFrames?: number;
  fps?: number;
  /** [width, height] pairs to draw from (native sizes and aspect ratios). */
  sizes?: [number, number][];
  frameChoices?: number[];
  fpsChoices?: number[];
  imageFraction?: number;
  constraints?: SceneConstraints;
}

export const DEFAULT_SIZES: [number, number][] = [
  [64, 64], [64, 64], [32, 32], [48, 48], [96, 96], [128, 128],
  [96, 64], [64, 96], [128, 72], [72, 128], [128, 96], [64, 32], [32, 64], [160, 96],
];
export const DEFAULT_FRAMES = [8, 12, 16, 16, 24, 32];
export const DEFAULT_FPS = [8, 12, 12, 16, 24];

/** Options of the i-th sample of a dataset (sizes, duration and seed), without generating it. */
export function sampleOptionsAt(opts: DatasetOptions, index: number): SampleOptions {
  const seed = mixSeed(opts.seed ?? 0, index);
  const rng = new Rng(mixSeed(seed, 0x5eed));
  const size = opts.width && opts.height ? [opts.width, opts.height] : rng.pick(opts.sizes ?? DEFAULT_SIZES);
  const width = opts.width ?? size[0];
  const height = opts.height ?? size[1];
  const numFrames = opts.numFrames ?? (rng.bool(opts.imageFraction ?? 0.2) ? 1 : rng.pick(opts.frameChoices ?? DEFAULT_FRAMES));
  const fps = opts.fps ?? rng.pick(opts.fpsChoices ?? DEFAULT_FPS);
  return { seed, width, height, numFrames, fps, constraints: opts.constraints };
}

/** An endless (or `count`-long) async iterator of samples: a mix of images and videos of varied sizes and durations. */
export async function* worldDataset(opts: DatasetOptions = {}): AsyncGenerator<WorldSample> {
  const count = opts.count ?? Infinity;
  for (let i = 0; i < count; i++) {
    yield generateSample(sampleOptionsAt(opts, i));
    // Let other work run between samples.
    if ((i & 15) === 15) await new Promise<void>((r) => setImmediate(r));
  }
}

/** Synchronous variant, for benchmarks and tools. */
export function* worldDatasetSync(opts: DatasetOptions = {}): Generator<WorldSample> {
  const count = opts.count ?? Infinity;
  for (let i = 0; i < count; i++) yield generateSample(sampleOptionsAt(opts, i));
}
