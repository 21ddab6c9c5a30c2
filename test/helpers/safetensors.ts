// A minimal safetensors reader for the op fixtures (F32 only).
//
// Layout: 8-byte little-endian header length n, then n bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {string: string}},
// then the data block; offsets are relative to the start of the data block.
import { readFileSync } from 'node:fs';
import type { NdArray } from '../../lib/index.js';

export interface SafetensorsFile {
  tensors: Map<string, NdArray>;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

export function parseSafetensors(bytes: Uint8Array, what = 'safetensors'): SafetensorsFile {
  if (bytes.byteLength < 8) throw new Error(`${what}: ${bytes.byteLength} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER) || n > BigInt(bytes.byteLength - 8))
    throw new Error(`${what}: header length ${n} exceeds the file (${bytes.byteLength} bytes) or ${MAX_HEADER}`);
  const headerLen = Number(n);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new Error(`${what}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error(`${what}: header must be a JSON object`);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, NdArray>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new Error(`${what}: __metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e.dtype !== 'F32') throw new Error(`${what}: tensor ${name} has dtype ${String(e.dtype)}, only F32 is supported`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new Error(`${what}: tensor ${name} has a bad shape ${JSON.stringify(e.shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0))
      throw new Error(`${what}: tensor ${name} has bad data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLen || end - begin !== count * 4)
      throw new Error(`${what}: tensor ${name} data_offsets [${begin}, ${end}] do not fit shape [${e.shape}] in ${dataLen} data bytes`);
    // Copy into a fresh, aligned buffer (the file offset need not be 4-aligned).
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { data, shape: e.shape as number[] });
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readFileSync(path), path);
}
