// Latent files: a VAE latent [N, L, t, h, w] saved as safetensors, so a long generation
// is never lost to a failed decode (`tessera decode` turns one into a video later).
//
// Layout (the safetensors format): 8-byte little-endian header length n, n bytes of JSON
// {latent: {dtype: "F32", shape, data_offsets: [0, bytes]}, __metadata__: {format:
// "tessera.latent", ...strings}}, padded with spaces to a multiple of 8, then the data.
// Written to a temporary name in the same folder and renamed, so a crash never leaves a
// half-written file under the real name.
import { promises as fs } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { NdArray } from './ops.js';
import { invalidParameter } from './validate.js';

export const LATENT_FORMAT = 'tessera.latent';

export interface LatentFile {
  /** [N, L, t, h, w], float32. */
  latent: NdArray;
  /** Every metadata string, format included (e.g. fps, source, vae_config as the writer put them). */
  meta: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;
const LITTLE = endianness() === 'LE';

function checkLatent(latent: NdArray): void {
  if (!latent || !(latent.data instanceof Float32Array) || !Array.isArray(latent.shape))
    throw invalidParameter('latent', 'an NdArray { data: Float32Array, shape }', latent);
  if (latent.shape.length !== 5 || !latent.shape.every((d) => Number.isInteger(d) && d >= 1))
    throw invalidParameter('latent.shape', '5 positive integers [N, L, t, h, w]', latent.shape);
  const n = latent.shape.reduce((a, b) => a * b, 1);
  if (latent.data.length !== n)
    throw invalidParameter('latent.data', `${n} elements for shape [${latent.shape.join(', ')}]`, latent.data);
}

/** The bytes of a latent file (see the layout above). Metadata values are stored as strings. */
export function serializeLatent(latent: NdArray, meta: Record<string, string | number | boolean> = {}): Uint8Array {
  checkLatent(latent);
  if (meta === null || typeof meta !== 'object') throw invalidParameter('meta', 'an object of strings, numbers or booleans', meta);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (v === undefined) continue;
    if (!['string', 'number', 'boolean'].includes(typeof v)) throw invalidParameter(`meta.${k}`, 'a string, number or boolean', v);
    metadata[k] = String(v);
  }
  metadata.format = LATENT_FORMAT;
  const bytes = latent.data.length * 4;
  let header = JSON.stringify({
    latent: { dtype: 'F32', shape: latent.shape, data_offsets: [0, bytes] },
    __metadata__: metadata,
  });
  const enc = new TextEncoder();
  let headerBytes = enc.encode(header);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad) headerBytes = enc.encode((header += ' '.repeat(pad)));
  const out = new Uint8Array(8 + headerBytes.length + bytes);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const start = 8 + headerBytes.length;
  if (LITTLE) out.set(new Uint8Array(latent.data.buffer, latent.data.byteOffset, bytes), start);
  else for (let i = 0; i < latent.data.length; i++) view.setFloat32(start + 4 * i, latent.data[i]!, true);
  return out;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Parses a latent file's bytes (F32, F16 or BF16 data); errors name `what` and the problem. */
export function parseLatent(bytes: Uint8Array, what = 'latent file'): LatentFile {
  const fail = (msg: string): never => {
    const e = new Error(`${what}: ${msg}`) as Error & { code: string };
    e.code = 'ERR_TESSERA_FORMAT';
    throw e;
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes is too short for a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER) || n > BigInt(bytes.byteLength - 8))
    fail(`header length ${n} exceeds the file (${bytes.byteLength} bytes)`);
  const headerLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header must be a JSON object');
  const h = header as Record<string, unknown>;
  const meta: Record<string, string> = {};
  const rawMeta = h.__metadata__;
  if (rawMeta !== undefined) {
    if (typeof rawMeta !== 'object' || rawMeta === null) fail('__metadata__ must be an object');
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`__metadata__.${k} must be a string`);
      meta[k] = v as string;
    }
  }
  if (meta.format !== LATENT_FORMAT)
    fail(`not a tessera latent file (metadata format must be "${LATENT_FORMAT}", got ${meta.format === undefined ? 'none' : `"${meta.format}"`})`);
  const entry = h.latent as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | undefined;
  if (!entry || typeof entry !== 'object') fail('no tensor named "latent"');
  const e = entry!;
  const size = e.dtype === 'F32' ? 4 : e.dtype === 'F16' || e.dtype === 'BF16' ? 2 : fail(`tensor latent has dtype ${String(e.dtype)}; F32, F16 or BF16 expected`);
  if (!Array.isArray(e.shape) || e.shape.length !== 5 || !e.shape.every((d) => Number.isInteger(d) && d >= 1))
    fail(`tensor latent must have a shape of 5 positive integers [N, L, t, h, w], got ${JSON.stringify(e.shape)}`);
  const shape = e.shape as number[];
  const offs = e.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0))
    fail(`tensor latent has bad data_offsets ${JSON.stringify(offs)}`);
  const [begin, end] = offs as [number, number];
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  if (end < begin || end > dataLen || end - begin !== count * (size as number))
    fail(`tensor latent data_offsets [${begin}, ${end}] do not fit shape [${shape.join(', ')}] in ${dataLen} data bytes`);
  const data = new Float32Array(count);
  const at = dataStart + begin;
  if (e.dtype === 'F32') {
    if (LITTLE) new Uint8Array(data.buffer).set(bytes.subarray(at, at + count * 4));
    else for (let i = 0; i < count; i++) data[i] = view.getFloat32(at + 4 * i, true);
  } else if (e.dtype === 'F16') {
    for (let i = 0; i < count; i++) data[i] = f16ToF32(view.getUint16(at + 2 * i, true));
  } else {
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < count; i++) {
      u[0] = view.getUint16(at + 2 * i, true) << 16;
      data[i] = f[0]!;
    }
  }
  return { latent: { data, shape }, meta };
}

/**
 * Saves a latent [N, L, t, h, w] as safetensors (tensor "latent", F32) with string metadata
 * (format = "tessera.latent" plus `meta`, e.g. { fps: 12, vae_config: '...' }). Atomic: written
 * to a temporary file in the same folder, then renamed over `path`.
 */
export async function saveLatent(path: string, latent: NdArray, meta: Record<string, string | number | boolean> = {}): Promise<void> {
  if (typeof path !== 'string' || path === '') throw invalidParameter('path', 'a file path (non-empty string)', path);
  const bytes = serializeLatent(latent, meta);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

/** Reads a file written by saveLatent (or any safetensors file with a "latent" tensor and that format). */
export async function loadLatent(path: string): Promise<LatentFile> {
  if (typeof path !== 'string' || path === '') throw invalidParameter('path', 'a file path (non-empty string)', path);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    const err = new Error(`cannot read latent file ${path}: ${(e as Error).message}`, { cause: e }) as Error & { code: string };
    err.code = 'ERR_TESSERA_IO';
    throw err;
  }
  return parseLatent(bytes, path);
}
