import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_CLASSES, encodeIdx, fashionMnistClip, loadFashionMnist, type FashionMnist } from '../../lib/data/index.js';

const ROOT = '/usr/share/datasets/fashion-mnist';
const haveDebian = existsSync(path.join(ROOT, 'train-images-idx3-ubyte.gz'));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-fmnist-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tiny fake split in `dir`: n images whose pixel (y, x) of image i is (i * 7 + y * 28 + x) % 256. */
function writeFake(dir: string, n: number, prefix = 'train', gz = true): void {
  mkdirSync(dir, { recursive: true });
  const px = Uint8Array.from({ length: n * 784 }, (_, k) => (Math.floor(k / 784) * 7 + (k % 784)) % 256);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  const w = (name: string, bytes: Uint8Array) => writeFileSync(path.join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  w(`${prefix}-images-idx3-ubyte`, encodeIdx(px, [n, 28, 28]));
  w(`${prefix}-labels-idx1-ubyte`, encodeIdx(labels, [n]));
}

function expectClipFrame(ds: FashionMnist, index: number, H: number, W: number) {
  const c = fashionMnistClip(ds, index, { height: H, width: W });
  expect(c.x.shape).toEqual([3, 1, H, W]);
  const plane = H * W;
  for (let i = 0; i < c.x.data.length; i++) {
    const v = c.x.data[i];
    if (!(v >= -1 && v <= 1)) throw new Error(`value ${v} at ${i} outside [-1, 1]`);
  }
  // three identical channels
  expect(c.x.data.subarray(plane, 2 * plane)).toEqual(c.x.data.subarray(0, plane));
  expect(c.x.data.subarray(2 * plane)).toEqual(c.x.data.subarray(0, plane));
  return c;
}

describe('loadFashionMnist', () => {
  it('loads a split from a root folder (gzipped or plain) and makes padded 32 x 32 clips', async () => {
    writeFake(path.join(tmp, 'gz'), 12);
    writeFake(path.join(tmp, 'plain'), 5, 't10k', false);
    const ds = await loadFashionMnist({ root: path.join(tmp, 'gz') });
    expect(ds).toMatchObject({ split: 'train', count: 12, height: 28, width: 28 });
    expect(ds.images.length).toBe(12 * 784);
    expect(Array.from(ds.labels.slice(0, 11))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
    const test = await loadFashionMnist({ root: path.join(tmp, 'plain'), split: 'test' });
    expect(test.count).toBe(5);

    const c = expectClipFrame(ds, 3, 32, 32);
    expect(c.meta).toEqual({ source: 'fashion-mnist', label: 3, className: 'Dress', index: 3 });
    const d = c.x.data;
    // 2-pixel border of -1 (background) around the 28 x 28 image
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        if (y < 2 || y >= 30 || x < 2 || x >= 30) expect(d[y * 32 + x]).toBe(-1);
    // inside: pixel / 127.5 - 1
    for (const [y, x] of [[0, 0], [5, 17], [27, 27]]) {
      const p = (3 * 7 + y * 28 + x) % 256;
      expect(d[(y + 2) * 32 + x + 2]).toBeCloseTo(p / 127.5 - 1, 6);
    }
  });

  it('resizes to other sizes: the padded square scaled to min(H, W), centered, -1 around it', async () => {
    const ds = await loadFashionMnist({ root: path.join(tmp, 'gz') });
    const c = expectClipFrame(ds, 1, 48, 80);
    const d = c.x.data;
    // columns 0..15 and 64..79 are padding
    for (let y = 0; y < 48; y++) {
      expect(d[y * 80 + 15]).toBe(-1);
      expect(d[y * 80 + 64]).toBe(-1);
    }
    expect(d[24 * 80 + 40]).toBeGreaterThan(-1);
    expectClipFrame(ds, 0, 16, 16);
    expectClipFrame(ds, 0, 64, 64);
  });

  it('says how to install the files when they are missing', async () => {
    const root = path.join(tmp, 'empty');
    mkdirSync(root);
    const err = await loadFashionMnist({ root }).catch((e) => e);
    expect(err.code).toBe('ERR_TESSERA_DATA_MISSING');
    expect(err.message).toContain(path.join(root, 'train-images-idx3-ubyte.gz'));
    expect(err.message).toContain('apt-get install dataset-fashion-mnist');
  });

  it('reports truncated or mismatched files with their paths', async () => {
    const root = path.join(tmp, 'bad');
    writeFake(root, 4);
    const img = path.join(root, 'train-images-idx3-ubyte.gz');
    writeFileSync(img, gzipSync(encodeIdx(new Uint8Array(4 * 784), [4, 28, 28]).subarray(0, 1000)));
    await expect(loadFashionMnist({ root })).rejects.toMatchObject({ code: 'ERR_TESSERA_IDX', message: expect.stringContaining(`${img}: truncated IDX file`) });
    writeFileSync(img, gzipSync(encodeIdx(new Uint8Array(4 * 16), [4, 4, 4])));
    await expect(loadFashionMnist({ root })).rejects.toThrow(`${img}: IDX dims 4 x 4 x 4, expected * x 28 x 28 (count x 28 x 28 images)`);
    writeFileSync(img, gzipSync(encodeIdx(new Uint8Array(3 * 784), [3, 28, 28])));
    await expect(loadFashionMnist({ root })).rejects.toThrow(`${path.join(root, 'train-labels-idx1-ubyte.gz')}: 4 labels, expected 3 (one per image`);
  });

  it('checks its options', async () => {
    expect(() => loadFashionMnist({ split: 'val' as 'train' })).toThrow("Expected one of 'train', 'test' for split but received 'val' of type string");
    const ds = await loadFashionMnist({ root: path.join(tmp, 'gz') });
    expect(() => fashionMnistClip(ds, 12)).toThrow('Expected an integer between 0 and 11 for index but received 12 of type number');
  });

  it.skipIf(!haveDebian)('loads the Debian train and test splits', async () => {
    const [train, test] = await Promise.all([loadFashionMnist(), loadFashionMnist({ split: 'test' })]);
    expect(train.count).toBe(60000);
    expect(test.count).toBe(10000);
    expect(train.images.length).toBe(60000 * 28 * 28);
    // balanced: 6000 per class in train, 1000 in test
    const hist = (l: Uint8Array) => Array.from({ length: 10 }, (_, k) => l.filter((v) => v === k).length);
    expect(hist(train.labels)).toEqual(Array(10).fill(6000));
    expect(hist(test.labels)).toEqual(Array(10).fill(1000));
    expect(FASHION_MNIST_CLASSES[train.labels[0]]).toBe('Ankle boot');
    // first image: black background corners, some ink
    const first = train.images.subarray(0, 784);
    expect([first[0], first[27], first[756], first[783]]).toEqual([0, 0, 0, 0]);
    expect(Math.max(...first)).toBe(255);
    const c = expectClipFrame(train, 0, 32, 32);
    expect(c.meta.className).toBe('Ankle boot');
    expect(c.x.data[0]).toBe(-1);
    expect(Math.max(...c.x.data)).toBe(1);
  });
});
