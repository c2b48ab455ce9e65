// safetensors: an 8-byte little-endian header length N, N bytes of UTF-8 JSON describing each
// tensor ({dtype, shape, data_offsets: [begin, end]} relative to the byte buffer), then the buffer.
// The reader treats the file as hostile: every inconsistency is a StrataError('io'), never a crash.

import os from 'node:os';
import { StrataError, fmtShape } from '../errors.js';
import { type DType, type QuantDType, type Storage, allocStorage, bytesPerElement, isQuantized } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { type MapOptions, MAX_RANGE_BYTES, MappedFile } from './mmap.js';
import { writeFileAtomic } from './atomic.js';

export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** safetensors dtype names Strata reads, with the dtype each becomes. */
const READ_DTYPES: Record<string, { dtype: DType; itemSize: number }> = {
  F64: { dtype: 'f64', itemSize: 8 },
  F32: { dtype: 'f32', itemSize: 4 },
  F16: { dtype: 'f16', itemSize: 2 },
  BF16: { dtype: 'bf16', itemSize: 2 },
  I32: { dtype: 'i32', itemSize: 4 },
  // integer ids and targets from PyTorch are int64; Strata indexes with i32 (range-checked)
  I64: { dtype: 'i32', itemSize: 8 },
  U8: { dtype: 'u8', itemSize: 1 },
  BOOL: { dtype: 'bool', itemSize: 1 },
};

/** Names in the format that Strata does not read yet (reported as unsupported, not unknown). */
const OTHER_KNOWN_DTYPES = ['I8', 'I16', 'U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2'];

/** safetensors has no block-quantized dtypes: those tensors go to GGUF (or through .to('f32')). */
const WRITE_DTYPES: Record<Exclude<DType, QuantDType>, string> = {
  f64: 'F64',
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
  i32: 'I32',
  u8: 'U8',
  bool: 'BOOL',
};

/** The reference implementation refuses headers above 100 MB; so do we, before decoding anything. */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

function fail(source: string, message: string): never {
  throw new StrataError('io', source, message);
}

/** Sets a key even when it is '__proto__' (names come from the file). */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A short description of an untrusted JSON value (never recursing: it may be nested arbitrarily deep). */
function describe(v: unknown): string {
  if (Array.isArray(v)) {
    const items = v.slice(0, 8).map((x) => (Array.isArray(x) ? '[...]' : typeof x === 'object' && x !== null ? '{...}' : String(x).slice(0, 24)));
    return `[${items.join(', ')}${v.length > 8 ? ', ...' : ''}]`;
  }
  return typeof v === 'object' && v !== null ? '{...}' : String(v).slice(0, 32);
}

/** A tensor name for a message, cut short (names come from the file and may be huge). */
function quote(name: string): string {
  return `'${name.length > 80 ? `${name.slice(0, 80)}...` : name}'`;
}

interface Entry {
  name: string;
  dtypeName: string;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, raw: unknown, bufferLength: number, source: string): Entry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(source, `tensor ${quote(name)}: header entry must be an object`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') fail(source, `tensor ${quote(name)}: dtype must be a string`);
  const info = READ_DTYPES[dtype];
  if (!Object.hasOwn(READ_DTYPES, dtype) || !info) {
    if (OTHER_KNOWN_DTYPES.includes(dtype)) fail(source, `tensor ${quote(name)}: dtype ${dtype} is not supported`);
    fail(source, `tensor ${quote(name)}: unknown dtype '${dtype.slice(0, 32)}'`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(source, `tensor ${quote(name)}: shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    fail(source, `tensor ${quote(name)}: data_offsets must be [begin, end] non-negative integers, got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(source, `tensor ${quote(name)}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > bufferLength) fail(source, `tensor ${quote(name)}: data_offsets [${begin}, ${end}] reach past the end of the ${bufferLength}-byte data buffer (truncated file?)`);
  let n = 1;
  for (const d of shape as number[]) n *= d;
  const expected = n * info.itemSize;
  if (!Number.isSafeInteger(expected) || expected !== end - begin) {
    fail(source, `tensor ${quote(name)}: shape ${fmtShape(shape as number[])} of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, dtypeName: dtype, shape: shape as number[], begin, end };
}

/** Reads little-endian elements at an arbitrary byte position into fresh storage. */
function copyElements(dtype: DType, dtypeName: string, bytes: Uint8Array, start: number, n: number, name: string, source: string): Storage {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + start, bytes.byteLength - start);
  const out = allocStorage(dtype, n);
  if (dtypeName === 'I64') {
    for (let i = 0; i < n; i++) {
      const lo = dv.getUint32(8 * i, true);
      const hi = dv.getInt32(8 * i + 4, true);
      // fits in i32 exactly when the high word is the sign extension of the low word
      if (hi !== (lo | 0) >> 31) {
        const v = dv.getBigInt64(8 * i, true);
        fail(source, `tensor ${quote(name)}: I64 value ${v} at element ${i} does not fit in i32`);
      }
      out[i] = lo | 0;
    }
    return out;
  }
  switch (dtype) {
    case 'f64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    case 'f32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case 'i32':
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
      break;
    case 'f16':
    case 'bf16':
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, true);
      break;
    case 'u8':
      (out as Uint8Array).set(bytes.subarray(start, start + n));
      break;
    case 'bool':
      for (let i = 0; i < n; i++) {
        const b = bytes[start + i]!;
        if (b > 1) fail(source, `tensor ${quote(name)}: BOOL byte ${b} at element ${i} is neither 0 nor 1`);
        out[i] = b;
      }
      break;
  }
  return out;
}

/** Storage for one tensor: a view into `bytes` when alignment and byte order allow, else a copy. */
function storageFor(entry: Entry, bytes: Uint8Array, dataStart: number, source: string): { dtype: DType; data: Storage } {
  const info = READ_DTYPES[entry.dtypeName]!;
  const n = (entry.end - entry.begin) / info.itemSize;
  const start = dataStart + entry.begin;
  const abs = bytes.byteOffset + start;
  const viewable = LITTLE_ENDIAN_HOST && entry.dtypeName !== 'I64' && entry.dtypeName !== 'BOOL' && abs % info.itemSize === 0;
  if (viewable) {
    const buf = bytes.buffer;
    switch (info.dtype) {
      case 'f64':
        return { dtype: 'f64', data: new Float64Array(buf, abs, n) };
      case 'f32':
        return { dtype: 'f32', data: new Float32Array(buf, abs, n) };
      case 'f16':
      case 'bf16':
        return { dtype: info.dtype, data: new Uint16Array(buf, abs, n) };
      case 'i32':
        return { dtype: 'i32', data: new Int32Array(buf, abs, n) };
      case 'u8':
        return { dtype: 'u8', data: new Uint8Array(buf, abs, n) };
      case 'bool':
        break;
    }
  }
  return { dtype: info.dtype, data: copyElements(info.dtype, entry.dtypeName, bytes, start, n, entry.name, source) };
}

/**
 * Parses a safetensors image. Tensors are zero-copy views of `bytes` where alignment allows
 * (so they share memory with it: do not reuse the buffer while they live), otherwise copies.
 * I64 is converted to i32 and BOOL bytes are checked, both by copying.
 */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsContents {
  if (!(bytes instanceof Uint8Array)) fail(source, 'expected a Uint8Array');
  return parseRanges(bytes, bytes.byteLength, (start, end) => bytes.subarray(start, end), source);
}

/**
 * Parses a file of `fileSize` bytes whose first bytes are `head` (at least the header), getting
 * each tensor's bytes from `range`.
 */
function parseRanges(head: Uint8Array, fileSize: number, range: (start: number, end: number) => Uint8Array, source: string): SafetensorsContents {
  const bytes = head;
  if (fileSize < 8) fail(source, `file is ${fileSize} bytes, shorter than the 8-byte header length (truncated?)`);
  const lenView = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const headerLen64 = lenView.getBigUint64(0, true);
  if (headerLen64 > BigInt(fileSize - 8)) {
    fail(source, `header length ${headerLen64} reaches past the end of the file (${fileSize} bytes; truncated or not safetensors?)`);
  }
  const headerLen = Number(headerLen64);
  if (headerLen > MAX_HEADER_BYTES) fail(source, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLen < 2) fail(source, `header length ${headerLen} is too small to hold a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    fail(source, 'header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(source, `header is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(source, 'header must be a JSON object');

  const dataStart = 8 + headerLen;
  const bufferLength = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [key, raw] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(source, '__metadata__ must be an object of strings');
      for (const [mk, mv] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(source, `__metadata__ value for '${mk}' must be a string, got ${typeof mv}`);
        setOwn(metadata, mk, mv);
      }
      continue;
    }
    entries.push(parseEntry(key, raw, bufferLength, source));
  }

  // the tensors must tile the buffer exactly: no gaps, no overlaps, nothing left over
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of byOffset) {
    if (e.begin < at) fail(source, `tensor ${quote(e.name)}: data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ending at ${at})`);
    if (e.begin > at) fail(source, `tensor ${quote(e.name)}: data_offsets [${e.begin}, ${e.end}] leave a gap after byte ${at} of the data buffer`);
    at = e.end;
  }
  if (at !== bufferLength) fail(source, `tensors cover ${at} bytes but the data buffer holds ${bufferLength} (trailing bytes)`);

  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    // storage over the tensor's own bytes: a view of the file (or buffer) where alignment allows
    const { dtype, data } = storageFor(e, range(dataStart + e.begin, dataStart + e.end), -e.begin, source);
    setOwn(tensors, e.name, new Tensor(data, dtype, e.shape));
  }
  return { tensors, metadata };
}

/**
 * Reads a .safetensors file. The file is memory-mapped (copy-on-write, see ./mmap.ts) when the
 * addon is built, so tensors are views on the mapping and weights are never copied whole into
 * the JS heap; without the addon it is read into memory.
 */
export function readSafetensors(file: string, options: MapOptions = {}): SafetensorsContents {
  const mf = MappedFile.open(file, options);
  return parseRanges(mf.range(0, Math.min(mf.size, MAX_RANGE_BYTES)), mf.size, (start, end) => mf.range(start, end), file);
}

/** Raw little-endian bytes of a contiguous tensor's elements. */
function tensorBytes(t: Tensor): Uint8Array {
  const c = t.contiguous();
  const item = bytesPerElement(c.dtype);
  const data = c.data;
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset + c.offset * item, c.size * item);
  const out = new Uint8Array(c.size * item);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < c.size; i++) {
    const v = data[c.offset + i]!;
    if (item === 8) dv.setFloat64(8 * i, v, true);
    else if (c.dtype === 'f32') dv.setFloat32(4 * i, v, true);
    else if (c.dtype === 'i32') dv.setInt32(4 * i, v, true);
    else if (item === 2) dv.setUint16(2 * i, v, true);
    else out[i] = v;
  }
  return out;
}

/**
 * Serializes tensors to a safetensors image. Header keys are sorted; the data is laid out by
 * descending item size (then name) so every tensor is aligned to its element size, and the
 * header is padded with spaces to a multiple of 8 bytes, as the reference implementation does.
 */
export function serializeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>, target = '<buffer>'): Uint8Array {
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    if (name === '__metadata__') fail(target, "'__metadata__' is reserved and cannot name a tensor");
    if (!(tensors[name] instanceof Tensor)) fail(target, `'${name}' is not a Tensor`);
    const dt = tensors[name]!.dtype;
    if (isQuantized(dt)) fail(target, `tensor '${name}' is ${dt}: safetensors has no block-quantized dtypes (write GGUF, or convert with .to('f32'))`);
  }
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') fail(target, `metadata value for '${k}' must be a string`);
  }
  const order = [...names].sort((a, b) => bytesPerElement(tensors[b]!.dtype) - bytesPerElement(tensors[a]!.dtype) || (a < b ? -1 : a > b ? 1 : 0));
  const parts = new Map<string, Uint8Array>();
  const offsets = new Map<string, [number, number]>();
  let at = 0;
  for (const name of order) {
    const bytes = tensorBytes(tensors[name]!);
    parts.set(name, bytes);
    offsets.set(name, [at, at + bytes.byteLength]);
    at += bytes.byteLength;
  }
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    const meta: Record<string, string> = {};
    for (const k of Object.keys(metadata).sort()) setOwn(meta, k, metadata[k]!);
    header.__metadata__ = meta;
  }
  for (const name of names) {
    const t = tensors[name]!;
    setOwn(header, name, { dtype: WRITE_DTYPES[t.dtype as Exclude<DType, QuantDType>], shape: [...t.shape], data_offsets: offsets.get(name) });
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + padded);
  const dataStart = 8 + padded;
  for (const name of order) out.set(parts.get(name)!, dataStart + offsets.get(name)![0]);
  return out;
}

/**
 * Writes a .safetensors file atomically: a temporary file in the same directory is written,
 * fsynced and renamed over `file`, so readers never see a half-written checkpoint.
 */
export function writeSafetensors(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(file, [serializeSafetensors(tensors, metadata, file)]);
}
