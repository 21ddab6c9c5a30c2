// IDX files (the MNIST / Fashion-MNIST format), plain or gzipped.
//
// Layout: a 4-byte magic number 0x00 0x00 <type> <rank>, then `rank` big-endian uint32 dims,
// then the data, row-major, big-endian for multi-byte types.
import { readFile } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { dataError } from './common.js';

const gunzipAsync = promisify(gunzip);

export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  type: IdxType;
  dims: number[];
  data: IdxData;
}

/** What the caller expects; a mismatch is an ERR_TESSERA_IDX error naming the file. */
export interface IdxExpectation {
  type?: IdxType;
  /** Expected dims; undefined entries are not checked (e.g. [undefined, 28, 28]). */
  dims?: (number | undefined)[];
  /** Words for the dims in messages, e.g. 'count x rows x cols'. */
  describe?: string;
}

const TYPE_CODES: Record<number, { type: IdxType; size: number }> = {
  0x08: { type: 'uint8', size: 1 },
  0x09: { type: 'int8', size: 1 },
  0x0b: { type: 'int16', size: 2 },
  0x0c: { type: 'int32', size: 4 },
  0x0d: { type: 'float32', size: 4 },
  0x0e: { type: 'float64', size: 8 },
};
const CODE_OF: Record<IdxType, number> = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e };
const hex = (v: number, digits: number) => `0x${v.toString(16).padStart(digits, '0')}`;

/**
 * Parses an (already decompressed) IDX file. `path` is only used in error messages.
 * Errors (code ERR_TESSERA_IDX) name the file and what was expected: bad magic number,
 * unknown type code, a type or dims the caller did not expect, truncated or oversized data.
 */
export function parseIdx(bytes: Uint8Array, path = '<buffer>', expect: IdxExpectation = {}): IdxArray {
  const fail = (what: string) => dataError('ERR_TESSERA_IDX', `${path}: ${what}`, path);
  if (bytes.length < 4) throw fail(`not an IDX file: ${bytes.length} bytes, expected at least a 4-byte magic number (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const code = bytes[2], rank = bytes[3];
  const t = TYPE_CODES[code];
  if (bytes[0] !== 0 || bytes[1] !== 0 || !t) {
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b ? ' (this is gzip data: decompress it first, or use readIdx)' : '';
    throw fail(
      `not an IDX file: magic number ${hex(magic, 8)}, expected 0x0000TTNN with a type code TT of 08 (uint8), 09, 0b, 0c, 0d or 0e and NN dims${gz}`,
    );
  }
  if (rank === 0) throw fail(`IDX magic ${hex(magic, 8)} says 0 dims, expected at least 1`);
  if (expect.type && expect.type !== t.type)
    throw fail(`IDX data type ${t.type} (${hex(code, 2)}), expected ${expect.type} (${hex(CODE_OF[expect.type], 2)})`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes)
    throw fail(`truncated IDX header: ${bytes.length} bytes, expected ${headerBytes} (magic + ${rank} dims)`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  if (expect.dims) {
    const want = expect.dims;
    const ok = want.length === dims.length && want.every((d, i) => d === undefined || d === dims[i]);
    if (!ok) {
      const w = want.map((d) => (d === undefined ? '*' : String(d))).join(' x ');
      throw fail(`IDX dims ${dims.join(' x ')}, expected ${w}${expect.describe ? ` (${expect.describe})` : ''}`);
    }
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const dataBytes = count * t.size;
  const have = bytes.length - headerBytes;
  if (have < dataBytes)
    throw fail(`truncated IDX file: dims ${dims.join(' x ')} of ${t.type} need ${dataBytes} data bytes after the ${headerBytes}-byte header, found ${have}`);
  if (have > dataBytes)
    throw fail(`IDX file has ${have - dataBytes} bytes past the data: dims ${dims.join(' x ')} of ${t.type} need ${dataBytes} data bytes, found ${have}`);
  let data: IdxData;
  switch (t.type) {
    case 'uint8':
      data = bytes.slice(headerBytes, headerBytes + dataBytes);
      break;
    case 'int8':
      data = new Int8Array(bytes.slice(headerBytes, headerBytes + dataBytes).buffer);
      break;
    default: {
      const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[t.type];
      const get = {
        int16: (o: number) => view.getInt16(o),
        int32: (o: number) => view.getInt32(o),
        float32: (o: number) => view.getFloat32(o),
        float64: (o: number) => view.getFloat64(o),
      }[t.type];
      const arr = new Ctor(count);
      for (let i = 0, o = headerBytes; i < count; i++, o += t.size) arr[i] = get(o);
      data = arr;
    }
  }
  return { type: t.type, dims, data };
}

/** Encodes an IDX file (big-endian), the inverse of parseIdx. */
export function encodeIdx(data: ArrayLike<number>, dims: readonly number[], type: IdxType = 'uint8'): Uint8Array {
  const size = TYPE_CODES[CODE_OF[type]].size;
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new RangeError(`encodeIdx: ${data.length} values for dims ${dims.join(' x ')} (${count})`);
  if (dims.length < 1 || dims.length > 255) throw new RangeError(`encodeIdx: ${dims.length} dims, expected 1 to 255`);
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + count * size);
  const view = new DataView(out.buffer);
  out[2] = CODE_OF[type];
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  const set = {
    uint8: (o: number, v: number) => view.setUint8(o, v),
    int8: (o: number, v: number) => view.setInt8(o, v),
    int16: (o: number, v: number) => view.setInt16(o, v),
    int32: (o: number, v: number) => view.setInt32(o, v),
    float32: (o: number, v: number) => view.setFloat32(o, v),
    float64: (o: number, v: number) => view.setFloat64(o, v),
  }[type];
  for (let i = 0, o = header; i < count; i++, o += size) set(o, data[i]);
  return out;
}

/**
 * Reads and parses an IDX file; gzip data (magic 1f 8b) is decompressed first, whatever the name.
 * A corrupt or truncated gzip stream is an ERR_TESSERA_IDX error naming the file.
 */
export async function readIdx(path: string, expect: IdxExpectation = {}): Promise<IdxArray> {
  let bytes: Uint8Array = await readFile(path);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (e) {
      throw dataError(
        'ERR_TESSERA_IDX',
        `${path}: gzip data is corrupt or truncated (${(e as Error).message}); expected a complete gzipped IDX file (reinstall or re-download it)`,
        path,
        e,
      );
    }
  }
  return parseIdx(bytes, path, expect);
}
