import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx, parseIdx, readIdx } from '../../lib/data/index.js';

const ROOT = '/usr/share/datasets/fashion-mnist';
const haveDebian = existsSync(path.join(ROOT, 'train-images-idx3-ubyte.gz')) && existsSync(path.join(ROOT, 't10k-labels-idx1-ubyte.gz'));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-idx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A 2 x 3 x 4 uint8 IDX written by hand (not with encodeIdx). */
function handWritten(): Uint8Array {
  const header = [0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4];
  const data = Array.from({ length: 24 }, (_, i) => i * 10);
  return Uint8Array.from([...header, ...data]);
}

describe('parseIdx', () => {
  it('parses a uint8 3-d file written by hand', () => {
    const a = parseIdx(handWritten(), 'hand.idx');
    expect(a.type).toBe('uint8');
    expect(a.dims).toEqual([2, 3, 4]);
    expect(a.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(a.data.slice(0, 4))).toEqual([0, 10, 20, 30]);
    expect(a.data[23]).toBe(230);
  });

  it('reads big-endian int32, int16 and float values', () => {
    const i32 = Uint8Array.from([0, 0, 0x0c, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 0]);
    const a = parseIdx(i32);
    expect(a.type).toBe('int32');
    expect(Array.from(a.data)).toEqual([-2, 256]);
    const i16 = Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 1, 0x80, 0x01]);
    expect(Array.from(parseIdx(i16).data)).toEqual([-32767]);
    const f = parseIdx(encodeIdx([1.5, -2.25, 3], [3], 'float32'));
    expect(f.type).toBe('float32');
    expect(Array.from(f.data)).toEqual([1.5, -2.25, 3]);
    const d = parseIdx(encodeIdx([Math.PI], [1, 1], 'float64'));
    expect(d.data[0]).toBe(Math.PI);
    expect(Array.from(parseIdx(encodeIdx([-5, 7], [2], 'int8')).data)).toEqual([-5, 7]);
  });

  it('round-trips encodeIdx and matches the hand-written bytes', () => {
    const bytes = handWritten();
    const a = parseIdx(bytes);
    expect(encodeIdx(a.data, a.dims, 'uint8')).toEqual(bytes);
  });

  it('rejects truncated data, naming the file and the byte counts', () => {
    const bytes = handWritten().slice(0, 30);
    expect(() => parseIdx(bytes, '/data/x.idx')).toThrow(/\/data\/x\.idx: truncated IDX file: dims 2 x 3 x 4 of uint8 need 24 data bytes after the 16-byte header, found 14/);
    try {
      parseIdx(bytes, '/data/x.idx');
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_TESSERA_IDX');
      expect((e as { path: string }).path).toBe('/data/x.idx');
    }
    expect(() => parseIdx(handWritten().slice(0, 10), 'h.idx')).toThrow(/h\.idx: truncated IDX header: 10 bytes, expected 16/);
    expect(() => parseIdx(Uint8Array.from([0, 0]), 'tiny.idx')).toThrow(/tiny\.idx: not an IDX file: 2 bytes/);
  });

  it('rejects a wrong magic number, type, dims or trailing bytes', () => {
    expect(() => parseIdx(Uint8Array.from([1, 2, 3, 4, 5, 6]), 'bad.idx')).toThrow(/bad\.idx: not an IDX file: magic number 0x01020304, expected 0x0000TTNN/);
    expect(() => parseIdx(gzipSync(handWritten()), 'x.gz')).toThrow(/this is gzip data/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x07, 1, 0, 0, 0, 0]), 'u.idx')).toThrow(/not an IDX file: magic number 0x00000701/);
    expect(() => parseIdx(handWritten(), 'h.idx', { type: 'int32' })).toThrow(/h\.idx: IDX data type uint8 \(0x08\), expected int32 \(0x0c\)/);
    expect(() => parseIdx(handWritten(), 'h.idx', { dims: [undefined, 28, 28], describe: 'count x 28 x 28 images' })).toThrow(
      /h\.idx: IDX dims 2 x 3 x 4, expected \* x 28 x 28 \(count x 28 x 28 images\)/,
    );
    const extra = Uint8Array.from([...handWritten(), 1, 2]);
    expect(() => parseIdx(extra, 'e.idx')).toThrow(/e\.idx: IDX file has 2 bytes past the data/);
  });
});

describe('readIdx', () => {
  it('reads plain and gzipped files', async () => {
    const plain = path.join(tmp, 'a-idx3-ubyte');
    const gz = path.join(tmp, 'a-idx3-ubyte.gz');
    writeFileSync(plain, handWritten());
    writeFileSync(gz, gzipSync(handWritten()));
    expect((await readIdx(plain)).dims).toEqual([2, 3, 4]);
    expect(Array.from((await readIdx(gz)).data)).toEqual(Array.from(handWritten().slice(16)));
  });

  it('reports a truncated gzip file with its path', async () => {
    const gz = gzipSync(handWritten());
    const p = path.join(tmp, 'cut.gz');
    writeFileSync(p, gz.subarray(0, gz.length - 12));
    await expect(readIdx(p)).rejects.toThrow(new RegExp(`${p.replace(/[.]/g, '\\.')}: gzip data is corrupt or truncated`));
  });

  it('reports a gzip file whose IDX data is truncated', async () => {
    const p = path.join(tmp, 'short.gz');
    writeFileSync(p, gzipSync(handWritten().slice(0, 20)));
    await expect(readIdx(p)).rejects.toMatchObject({ code: 'ERR_TESSERA_IDX', path: p, message: expect.stringMatching(/truncated IDX file/) });
  });

  it.skipIf(!haveDebian)('reads the Debian Fashion-MNIST files (60000 train / 10000 test, 28 x 28, labels 0..9)', async () => {
    const [trainLabels, testImages, testLabels] = await Promise.all([
      readIdx(path.join(ROOT, 'train-labels-idx1-ubyte.gz')),
      readIdx(path.join(ROOT, 't10k-images-idx3-ubyte.gz')),
      readIdx(path.join(ROOT, 't10k-labels-idx1-ubyte.gz')),
    ]);
    expect(trainLabels.dims).toEqual([60000]);
    expect(testImages.type).toBe('uint8');
    expect(testImages.dims).toEqual([10000, 28, 28]);
    expect(testLabels.dims).toEqual([10000]);
    expect(Math.max(...testLabels.data)).toBe(9);
    expect(Math.min(...testLabels.data)).toBe(0);
    // the first image of each split is an ankle boot (label 9)
    expect(trainLabels.data[0]).toBe(9);
    expect(testLabels.data[0]).toBe(9);
  });
});
