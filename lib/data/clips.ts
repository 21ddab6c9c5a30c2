// The training-clip sampler: batches [B, 3, T, H, W] of varied sizes and durations, drawn from
// the procedural world, Fashion-MNIST or a user folder (or a weighted mix), deterministic for a seed.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { NdArray } from '../ops.js';
import { checkInteger, checkNumber, checkOneOf, invalidParameter, invalidRange, isInteger } from '../validate.js';
import { Rng, mixSeed } from '../world/rng.js';
import { DEFAULT_FPS, MAX_FRAMES, MAX_SIDE, MIN_SIDE, generateSample } from '../world/dataset.js';
import { dataError, rgbClip, type Clip, type ClipMeta } from './common.js';
import { fashionMnistClip, loadFashionMnist, type FashionMnistSplit } from './fashion-mnist.js';
import { listMedia, loadImage, loadVideo, probeVideo, type FfmpegOptions, type Fit, type MediaFile } from './folder.js';

/** 'world', 'fashion-mnist', or the path of a folder of images and videos. */
export type SourceName = 'world' | 'fashion-mnist' | (string & {});
export interface WeightedSource {
  source: SourceName;
  /** Relative share of batches (default 1). */
  weight?: number;
  /** [H, W] sizes for this source's batches (default: the sampler's `sizes`). */
  sizes?: [number, number][];
}

export interface ClipSamplerOptions extends FfmpegOptions {
  /** One source, or a weighted mix (each batch comes from one source, picked by weight). */
  source: SourceName | (SourceName | WeightedSource)[];
  /** Frames of a video clip: 1 + 4k (1, 5, 9, 13, 17, ...); image sources always give T = 1. Default 17. */
  frames?: number;
  /** [H, W] sizes to draw from (multiples of 8; world: 16..512). Default [[64, 64], [48, 80], [80, 48], [32, 32]]. */
  sizes?: [number, number][];
  /**
   * [h, w] window (multiples of 8) cut at a random place from each clip after it is drawn at
   * its size: content keeps the scale of the full size at the cost of a small clip (default: no crop).
   * Sizes smaller than the window are an error.
   */
  crop?: [number, number];
  /** Clips per batch (default 8). */
  batchSize?: number;
  /** Share of image batches (T = 1) from video sources, 0..1 (default 0.2). */
  imageFraction?: number;
  /** Seed (uint32, default 0): batch i is the same for the same seed, options and files, in any order. */
  seed?: number;
  /** Number of batches (default: endless). */
  count?: number;
  /** World frame rates to draw from (default [8, 12, 12, 16, 24]). */
  fps?: number[];
  /** Fashion-MNIST split (default 'train') and folder (default /usr/share/datasets/fashion-mnist). */
  split?: FashionMnistSplit;
  root?: string;
  /** Folders: how a file is fitted to [H, W] before the random crop (default 'cover'). */
  fit?: Fit;
  /** Folders: descend into subfolders (default true). */
  recursive?: boolean;
  /** Folders: files decoded at once per batch (default 4). */
  concurrency?: number;
  /** Batches prepared ahead while the consumer works (default 1; 0 = none). */
  prefetch?: number;
}

export interface ClipBatch {
  /** Batch number (0, 1, ...). */
  index: number;
  /** [B, 3, T, H, W] float32 in [-1, 1]. */
  x: NdArray;
  /** [H, W] of every clip in the batch (the crop window when there is one). */
  size: [number, number];
  /** T of every clip in the batch (1 = images). */
  frames: number;
  /** The source of the batch ('world', 'fashion-mnist' or the folder path as given). */
  source: string;
  /** Per clip: where it came from (caption, label, file, first frame, ...). */
  meta: ClipMeta[];
}

/** The options after defaults, as the sampler uses them. */
export interface ResolvedClipSamplerOptions {
  sources: { source: string; kind: 'world' | 'fashion-mnist' | 'folder'; weight: number; sizes?: [number, number][] }[];
  frames: number;
  sizes: [number, number][];
  crop?: [number, number];
  batchSize: number;
  imageFraction: number;
  seed: number;
  count: number;
  fps: number[];
  split: FashionMnistSplit;
  root?: string;
  fit: Fit;
  recursive: boolean;
  concurrency: number;
  prefetch: number;
  ffmpeg?: string;
  ffprobe?: string;
}

export interface ClipSampler extends AsyncGenerator<ClipBatch, void, undefined> {
  /** Batch `index`, computed on its own (random access; the iterator yields batch(0), batch(1), ...). */
  batch(index: number): Promise<ClipBatch>;
  readonly options: Readonly<ResolvedClipSamplerOptions>;
}

export const DEFAULT_CLIP_SIZES: [number, number][] = [[64, 64], [48, 80], [80, 48], [32, 32]];
const MAX_FOLDER_SIDE = 4096;
/** Tries at drawing a folder video long enough for T frames before giving up. */
const VIDEO_TRIES = 64;

const KNOWN = new Set([
  'source', 'frames', 'sizes', 'crop', 'batchSize', 'imageFraction', 'seed', 'count', 'fps', 'split', 'root',
  'fit', 'recursive', 'concurrency', 'prefetch', 'ffmpeg', 'ffprobe',
]);

function checkOptions(o: ClipSamplerOptions): ResolvedClipSamplerOptions {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalidParameter('options', 'an object with a source', o);
  for (const k of Object.keys(o))
    if (!KNOWN.has(k)) throw invalidParameter(`options.${k}`, `a known option (${[...KNOWN].join(', ')})`, (o as unknown as Record<string, unknown>)[k]);

  // sizes: [H, W] pairs, multiples of 8
  const checkSizes = (sizes: unknown, name: string, world: boolean): [number, number][] => {
    if (!Array.isArray(sizes) || sizes.length === 0) throw invalidParameter(name, 'a non-empty array of [H, W] pairs', sizes);
    const lo = world ? MIN_SIDE : 8, hi = world ? MAX_SIDE : MAX_FOLDER_SIDE;
    const sideRule = `a multiple of 8 between ${lo} and ${hi}${world ? ' (world source)' : ''}`;
    return sizes.map((s, i) => checkPair(s, `${name}[${i}]`, lo, hi, sideRule));
  };
  const checkPair = (s: unknown, name: string, lo: number, hi: number, sideRule: string): [number, number] => {
    if (!Array.isArray(s) || s.length !== 2) throw invalidParameter(name, 'an [H, W] pair of integers', s);
    return s.map((v, j) => {
      const side = `${name}[${j}] (${j === 0 ? 'H' : 'W'})`;
      if (!isInteger(v)) throw invalidParameter(side, sideRule, v);
      if (v < lo || v > hi || v % 8 !== 0) throw invalidRange(side, sideRule, v);
      return v;
    }) as [number, number];
  };

  // sources
  if (o.source === undefined) throw invalidParameter('source', "'world', 'fashion-mnist', a folder path or an array of them", undefined);
  const list = Array.isArray(o.source) ? o.source : [o.source];
  if (list.length === 0) throw invalidRange('source', 'a non-empty array of sources', o.source);
  const sources = list.map((entry, i): ResolvedClipSamplerOptions['sources'][number] => {
    const name = Array.isArray(o.source) ? `source[${i}]` : 'source';
    const obj = typeof entry === 'object' && entry !== null ? (entry as WeightedSource) : undefined;
    const src = obj ? obj.source : entry;
    const weight = obj && obj.weight !== undefined ? checkNumber(`${name}.weight`, obj.weight, 0) : 1;
    if (!(weight > 0) || !Number.isFinite(weight)) throw invalidRange(`${name}.weight`, 'a finite number > 0', weight);
    const srcName = obj ? `${name}.source` : name;
    if (typeof src !== 'string' || src === '')
      throw invalidParameter(srcName, "'world', 'fashion-mnist' or a folder path", src);
    const own = obj && obj.sizes !== undefined ? { sizes: checkSizes(obj.sizes, `${name}.sizes`, src === 'world') } : {};
    if (src === 'world' || src === 'fashion-mnist') return { source: src, kind: src as 'world' | 'fashion-mnist', weight, ...own };
    let isDir = false;
    try {
      isDir = statSync(src).isDirectory();
    } catch {
      throw invalidParameter(srcName, `'world', 'fashion-mnist' or an existing folder (nothing at ${resolve(src)})`, src);
    }
    if (!isDir) throw invalidParameter(srcName, `'world', 'fashion-mnist' or a folder (${resolve(src)} is a file)`, src);
    return { source: src, kind: 'folder', weight, ...own };
  });
  const hasWorld = sources.some((s) => s.kind === 'world');

  // frames: 1 + 4k (the causal VAE keeps frame 0 and compresses the rest 4x in time)
  const frames = o.frames ?? 17;
  if (!isInteger(frames)) throw invalidParameter('frames', 'an integer 1 + 4k (1, 5, 9, 13, 17, ...)', frames);
  if (frames < 1 || (frames - 1) % 4 !== 0) throw invalidRange('frames', '1 + 4k (1, 5, 9, 13, 17, ...)', frames);
  if (hasWorld && frames > MAX_FRAMES) throw invalidRange('frames', `1 + 4k up to ${MAX_FRAMES - 3} (world source)`, frames);

  // the shared sizes are checked against the world's limits when a world source uses them
  const checked = checkSizes(o.sizes ?? DEFAULT_CLIP_SIZES, 'sizes', sources.some((s) => s.kind === 'world' && !s.sizes));

  let crop: [number, number] | undefined;
  if (o.crop !== undefined) {
    crop = checkPair(o.crop, 'crop', 8, MAX_FOLDER_SIDE, `a multiple of 8 between 8 and ${MAX_FOLDER_SIDE}`);
    for (const [k, s] of sources.entries()) {
      const own = Array.isArray(o.source) ? `source[${k}].sizes` : 'source.sizes';
      for (const [i, [h, w]] of (s.sizes ?? checked).entries())
        if (h < crop[0] || w < crop[1])
          throw invalidRange(`${s.sizes ? own : 'sizes'}[${i}]`, `at least the crop ${crop[0]}x${crop[1]}`, [h, w]);
    }
  }

  const fps = o.fps ?? DEFAULT_FPS;
  if (!Array.isArray(fps) || fps.length === 0) throw invalidParameter('fps', 'a non-empty array of frame rates', fps);
  fps.forEach((f, i) => checkNumber(`fps[${i}]`, f, 1, 120));

  const count = o.count ?? Infinity;
  if (count !== Infinity) checkInteger('count', count, 0);
  if (o.root !== undefined && (typeof o.root !== 'string' || o.root === '')) throw invalidParameter('root', 'a folder path', o.root);
  for (const k of ['ffmpeg', 'ffprobe'] as const)
    if (o[k] !== undefined && (typeof o[k] !== 'string' || o[k] === '')) throw invalidParameter(k, 'a path to the binary', o[k]);
  if (o.recursive !== undefined && typeof o.recursive !== 'boolean') throw invalidParameter('recursive', 'a boolean', o.recursive);

  return {
    sources,
    frames,
    sizes: checked,
    ...(crop ? { crop } : {}),
    batchSize: checkInteger('batchSize', o.batchSize ?? 8, 1, 4096),
    imageFraction: checkNumber('imageFraction', o.imageFraction ?? 0.2, 0, 1),
    seed: checkInteger('seed', o.seed ?? 0, 0, 0xffffffff),
    count,
    fps: [...fps],
    split: checkOneOf('split', o.split ?? 'train', ['train', 'test'] as const),
    ...(o.root !== undefined ? { root: o.root } : {}),
    fit: checkOneOf('fit', o.fit ?? 'cover', ['cover', 'fill'] as const),
    recursive: o.recursive ?? true,
    concurrency: checkInteger('concurrency', o.concurrency ?? 4, 1, 64),
    prefetch: checkInteger('prefetch', o.prefetch ?? 1, 0, 16),
    ...(o.ffmpeg !== undefined ? { ffmpeg: o.ffmpeg } : {}),
    ...(o.ffprobe !== undefined ? { ffprobe: o.ffprobe } : {}),
  };
}

/** One source, as the sampler sees it. */
interface Source {
  /** Whether it has videos (else every batch from it is T = 1). */
  hasVideo(): Promise<boolean>;
  /** One clip [3, T, H, W] from an item seed. */
  sample(seed: number, T: number, H: number, W: number): Promise<Clip> | Clip;
  /** Files decoded at once (1 for in-memory sources). */
  parallel: boolean;
}

function worldSource(opts: ResolvedClipSamplerOptions): Source {
  return {
    parallel: false,
    hasVideo: async () => true,
    sample(seed, T, H, W) {
      const fps = new Rng(mixSeed(seed, 0xf95)).pick(opts.fps);
      const s = generateSample({ seed, width: W, height: H, numFrames: T, fps });
      return { x: rgbClip(s.frames, T, H, W), meta: { source: 'world', caption: s.caption, shortCaption: s.shortCaption, seed, fps } };
    },
  };
}

function fashionSource(opts: ResolvedClipSamplerOptions): Source {
  const ds = () => loadFashionMnist({ split: opts.split, ...(opts.root !== undefined ? { root: opts.root } : {}) });
  return {
    parallel: false,
    hasVideo: async () => false,
    async sample(seed, _T, H, W) {
      const d = await ds();
      return fashionMnistClip(d, new Rng(seed).int(0, d.count - 1), { height: H, width: W });
    },
  };
}

function folderSource(dir: string, opts: ResolvedClipSamplerOptions): Source {
  let files: Promise<{ all: MediaFile[]; videos: MediaFile[] }> | undefined;
  const list = () =>
    (files ??= listMedia(dir, { recursive: opts.recursive }).then((all) => {
      if (all.length === 0)
        throw dataError('ERR_TESSERA_NO_DATA', `folder ${dir} has no images (.png, .jpg, .jpeg, .webp) or videos (.mp4, .webm, .mov, .gif, .mkv, .avi, .m4v)`, dir);
      return { all, videos: all.filter((f) => f.kind === 'video') };
    }));
  const ff: FfmpegOptions = { ...(opts.ffmpeg ? { ffmpeg: opts.ffmpeg } : {}), ...(opts.ffprobe ? { ffprobe: opts.ffprobe } : {}) };
  return {
    parallel: true,
    hasVideo: async () => (await list()).videos.length > 0,
    async sample(seed, T, H, W) {
      const { all, videos } = await list();
      const rng = new Rng(seed);
      const crop = { height: H, width: W, fit: opts.fit, cropX: rng.next(), cropY: rng.next() };
      if (T === 1) {
        // an image, or one frame of a video
        const f = rng.pick(all);
        if (f.kind === 'image') return loadImage(f.path, crop);
        const info = await probeVideo(f.path, ff);
        return loadVideo(f.path, { ...crop, ...ff, start: rng.int(0, info.frames - 1), frames: 1 });
      }
      for (let i = 0; i < VIDEO_TRIES; i++) {
        const f = rng.pick(videos);
        const info = await probeVideo(f.path, ff);
        if (info.frames < T) continue;
        return loadVideo(f.path, { ...crop, ...ff, start: rng.int(0, info.frames - T), frames: T });
      }
      throw dataError(
        'ERR_TESSERA_NO_DATA',
        `folder ${dir}: no video with at least ${T} frames found in ${VIDEO_TRIES} draws among its ${videos.length} videos; ` +
          `lower frames, add longer videos, or set imageFraction to 1`,
        dir,
      );
    },
  };
}

/** Runs fn over items with at most `limit` at once, keeping order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R> | R): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * A sampler of training batches. Each batch: one source (by weight), one size from its `sizes` (or `sizes`), one T
 * (`frames`, or 1 with probability imageFraction for video sources, always 1 for image sources),
 * batchSize clips [3, T, H, W] stacked into x [B, 3, T, H, W] in [-1, 1]. Options are checked here,
 * before anything runs (TypeError / RangeError naming the option, the value and the rule).
 */
export function clipSampler(options: ClipSamplerOptions): ClipSampler {
  const opts = checkOptions(options);
  const impls = opts.sources.map((s) =>
    s.kind === 'world' ? worldSource(opts) : s.kind === 'fashion-mnist' ? fashionSource(opts) : folderSource(s.source, opts),
  );
  const weights = opts.sources.map((s) => s.weight);
  const names = opts.sources.map((s) => s.source);
  const indices = names.map((_, i) => i);

  async function batch(index: number): Promise<ClipBatch> {
    checkInteger('index', index, 0);
    const bseed = mixSeed(opts.seed, index);
    const rng = new Rng(bseed);
    const k = rng.weighted(indices, weights);
    const [H, W] = rng.pick(opts.sources[k]!.sizes ?? opts.sizes);
    const asImage = rng.bool(opts.imageFraction);
    const src = impls[k];
    const T = opts.frames > 1 && !asImage && (await src.hasVideo()) ? opts.frames : 1;
    const B = opts.batchSize;
    const [h, w] = opts.crop ?? [H, W];
    const per = 3 * T * h * w;
    const data = new Float32Array(B * per);
    const seeds = Array.from({ length: B }, (_, j) => mixSeed(bseed, j + 1));
    const meta = await mapLimit(seeds, src.parallel ? opts.concurrency : 1, async (seed, j) => {
      const clip = await src.sample(seed, T, H, W);
      const s = clip.x.shape;
      if (s[0] !== 3 || s[1] !== T || s[2] !== H || s[3] !== W)
        throw new Error(`clipSampler: source ${names[k]} gave a clip [${s.join(', ')}], expected [3, ${T}, ${H}, ${W}]`);
      if (h === H && w === W) data.set(clip.x.data, j * per);
      else {
        // the window's place comes from the clip's seed, so batch i stays the same
        const r = new Rng(mixSeed(seed, 0xc7));
        const y0 = r.int(0, H - h), x0 = r.int(0, W - w);
        for (let c = 0; c < 3 * T; c++)
          for (let y = 0; y < h; y++) {
            const from = (c * H + y0 + y) * W + x0;
            data.set(clip.x.data.subarray(from, from + w), j * per + (c * h + y) * w);
          }
      }
      return clip.meta;
    });
    return { index, x: { data, shape: [B, 3, T, h, w] }, size: [h, w], frames: T, source: names[k], meta };
  }

  async function* iterate(): AsyncGenerator<ClipBatch, void, undefined> {
    const pending: Promise<ClipBatch>[] = [];
    let next = 0;
    for (;;) {
      while (pending.length <= opts.prefetch && next < opts.count) {
        const p = batch(next++);
        p.catch(() => {}); // a prefetched batch that is never awaited must not be an unhandled rejection
        pending.push(p);
      }
      const p = pending.shift();
      if (!p) return;
      yield await p;
    }
  }

  return Object.assign(iterate(), { batch, options: opts });
}
