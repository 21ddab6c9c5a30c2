// Fashion-MNIST (Zalando, 28x28 grayscale, 10 classes) from the IDX files Debian's
// dataset-fashion-mnist package installs under /usr/share/datasets/fashion-mnist/.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkInteger, checkOneOf, invalidParameter } from '../validate.js';
import { dataError, resizePlane, U8_TO_UNIT, type Clip } from './common.js';
import { readIdx } from './idx.js';

/** Where Debian's dataset-fashion-mnist package puts the files. */
export const FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export type FashionMnistSplit = 'train' | 'test';

export interface FashionMnistOptions {
  /** 'train' (60000 images, default) or 'test' (10000). */
  split?: FashionMnistSplit;
  /** Folder with the IDX files (default: TESSERA_FASHION_MNIST or /usr/share/datasets/fashion-mnist). */
  root?: string;
}

export interface FashionMnist {
  split: FashionMnistSplit;
  /** count x 28 x 28 pixels, row-major; 0 = background (black), 255 = ink. */
  images: Uint8Array;
  /** count labels 0..9 (FASHION_MNIST_CLASSES). */
  labels: Uint8Array;
  count: number;
  height: 28;
  width: 28;
  /** The files read. */
  imagesPath: string;
  labelsPath: string;
}

const cache = new Map<string, Promise<FashionMnist>>();

function defaultRoot(): string {
  return process.env.TESSERA_FASHION_MNIST || FASHION_MNIST_ROOT;
}

/** The image or label file of a split: NAME.gz, or NAME uncompressed; the .gz name when neither exists. */
function findFile(root: string, name: string): { path: string; exists: boolean } {
  for (const p of [join(root, `${name}.gz`), join(root, name)]) if (existsSync(p)) return { path: p, exists: true };
  return { path: join(root, `${name}.gz`), exists: false };
}

/**
 * Loads a split of Fashion-MNIST (cached per root and split). Missing files are an
 * ERR_TESSERA_DATA_MISSING error that says how to install them; malformed ones an ERR_TESSERA_IDX error.
 */
export function loadFashionMnist(options: FashionMnistOptions = {}): Promise<FashionMnist> {
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object', options);
  const split = checkOneOf('split', options.split ?? 'train', ['train', 'test'] as const);
  if (options.root !== undefined && (typeof options.root !== 'string' || options.root === ''))
    throw invalidParameter('root', 'a folder path (non-empty string)', options.root);
  const root = options.root ?? defaultRoot();
  const key = `${root}\0${split}`;
  let p = cache.get(key);
  if (!p) {
    p = load(root, split);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

async function load(root: string, split: FashionMnistSplit): Promise<FashionMnist> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const img = findFile(root, `${prefix}-images-idx3-ubyte`);
  const lab = findFile(root, `${prefix}-labels-idx1-ubyte`);
  const missing = [img, lab].filter((f) => !f.exists).map((f) => f.path);
  if (missing.length)
    throw dataError(
      'ERR_TESSERA_DATA_MISSING',
      `Fashion-MNIST ${split} split not found: ${missing.join(' and ')} ${missing.length > 1 ? 'do' : 'does'} not exist (nor without .gz). ` +
        `Install it with \`apt-get install dataset-fashion-mnist\` (Debian/Ubuntu; files go to ${FASHION_MNIST_ROOT}), ` +
        `or pass root (or set TESSERA_FASHION_MNIST) to a folder holding ${prefix}-images-idx3-ubyte.gz and ${prefix}-labels-idx1-ubyte.gz.`,
      missing[0],
    );
  const [images, labels] = await Promise.all([
    readIdx(img.path, { type: 'uint8', dims: [undefined, 28, 28], describe: 'count x 28 x 28 images' }),
    readIdx(lab.path, { type: 'uint8', dims: [undefined], describe: 'count labels' }),
  ]);
  const count = images.dims[0];
  if (labels.dims[0] !== count)
    throw dataError('ERR_TESSERA_IDX', `${lab.path}: ${labels.dims[0]} labels, expected ${count} (one per image in ${img.path})`, lab.path);
  const l = labels.data as Uint8Array;
  for (let i = 0; i < count; i++)
    if (l[i] > 9) throw dataError('ERR_TESSERA_IDX', `${lab.path}: label ${l[i]} at index ${i}, expected 0..9`, lab.path);
  return { split, images: images.data as Uint8Array, labels: l, count, height: 28, width: 28, imagesPath: img.path, labelsPath: lab.path };
}

export interface FashionClipOptions {
  /** Output height and width (default 32 x 32: the 28 x 28 image centered with 2 pixels of -1 around it). */
  height?: number;
  width?: number;
}

/**
 * Image `index` of a Fashion-MNIST split as a clip [3, 1, H, W] in [-1, 1]: grayscale replicated to
 * three channels, background -1. At 32 x 32 (default) the 28 x 28 image is padded by 2 on each side with -1.
 * At other sizes the padded 32 x 32 image is resized to min(H, W) square (bilinear, antialiased when
 * shrinking) and centered, the rest filled with -1.
 */
export function fashionMnistClip(ds: FashionMnist, index: number, options: FashionClipOptions = {}): Clip {
  checkInteger('index', index, 0, ds.count - 1);
  const H = checkInteger('height', options.height ?? 32, 1, 4096);
  const W = checkInteger('width', options.width ?? 32, 1, 4096);
  const padded = new Float32Array(32 * 32).fill(-1);
  const src = index * 28 * 28;
  for (let y = 0; y < 28; y++)
    for (let x = 0; x < 28; x++) padded[(y + 2) * 32 + x + 2] = U8_TO_UNIT[ds.images[src + y * 28 + x]];
  const n = Math.min(H, W);
  const square = n === 32 ? padded : resizePlane(padded, 32, 32, n, n);
  const plane = new Float32Array(H * W).fill(-1);
  const oy = (H - n) >> 1, ox = (W - n) >> 1;
  for (let y = 0; y < n; y++) plane.set(square.subarray(y * n, y * n + n), (oy + y) * W + ox);
  for (let i = 0; i < plane.length; i++) plane[i] = Math.min(1, Math.max(-1, plane[i]));
  const data = new Float32Array(3 * H * W);
  data.set(plane, 0);
  data.set(plane, H * W);
  data.set(plane, 2 * H * W);
  const label = ds.labels[index];
  return {
    x: { data, shape: [3, 1, H, W] },
    meta: { source: 'fashion-mnist', label, className: FASHION_MNIST_CLASSES[label], index },
  };
}
