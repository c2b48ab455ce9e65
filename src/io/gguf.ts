// GGUF (v3; v2 reads the same): the file format of llama.cpp. Layout, little-endian:
//
//   "GGUF" magic, u32 version, u64 tensor count, u64 metadata count
//   metadata: (string key, u32 value type, value) * count          (see ./gguf-values.ts)
//   tensor infos: (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset) * count
//   padding to `general.alignment` (default 32), then the data section: each tensor at its
//   offset (a multiple of the alignment), padded to the alignment
//
// ne[0] is the fastest-varying dimension, so a GGUF tensor with ne = [in, out] is the Strata
// tensor of shape (out, in): shapes are ne reversed. Tensor types read and written: F32, F16,
// BF16, Q8_0, Q4_0, Q4_K, Q6_K (the block formats stay quantized: see src/tensor/quant.ts).
//
// The reader treats the file as hostile: truncation, absurd counts and lengths, bad offsets,
// overlapping tensors and unknown types are StrataError('io') naming the file and the problem,
// checked before anything is allocated. Tensors are views on a memory mapping of the file (./mmap.ts).

import { StrataError, fmtShape } from '../errors.js';
import { type DType, QUANT_BLOCKS, isQuantized } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { type MapOptions, MAX_RANGE_BYTES, MappedFile } from './mmap.js';
import {
  ByteWriter,
  Cursor,
  NeedMoreBytes,
  type GgufInput,
  type GgufValue,
  VALUE_TYPE_CODES,
  clip,
  readValue,
  readValueType,
  writeValue,
} from './gguf-values.js';
import { normalizeGgufValue } from './gguf-infer.js';
import { writeFileAtomic } from './atomic.js';

export type { GgufArray, GgufBigType, GgufInput, GgufItemType, GgufNumberType, GgufNumericArray, GgufPlainArray, GgufScalarType, GgufValue } from './gguf-values.js';

export type GgufTensorType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';

interface TensorTypeInfo {
  readonly name: GgufTensorType;
  readonly ggml: number;
  readonly dtype: DType;
  readonly blockValues: number;
  readonly blockBytes: number;
}

const TENSOR_TYPES: readonly TensorTypeInfo[] = [
  { name: 'F32', ggml: 0, dtype: 'f32', blockValues: 1, blockBytes: 4 },
  { name: 'F16', ggml: 1, dtype: 'f16', blockValues: 1, blockBytes: 2 },
  { name: 'BF16', ggml: 30, dtype: 'bf16', blockValues: 1, blockBytes: 2 },
  { name: 'Q8_0', ggml: 8, dtype: 'q8_0', ...blockOf('q8_0') },
  { name: 'Q4_0', ggml: 2, dtype: 'q4_0', ...blockOf('q4_0') },
  { name: 'Q4_K', ggml: 12, dtype: 'q4_k', ...blockOf('q4_k') },
  { name: 'Q6_K', ggml: 14, dtype: 'q6_k', ...blockOf('q6_k') },
];

function blockOf(dtype: 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k'): { blockValues: number; blockBytes: number } {
  return { blockValues: QUANT_BLOCKS[dtype].values, blockBytes: QUANT_BLOCKS[dtype].bytes };
}

/** ggml types Strata does not read, by number, for messages. */
const OTHER_GGML_TYPES: Readonly<Record<number, string>> = {
  3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 13: 'Q5_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS',
  18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64',
  28: 'F64', 29: 'IQ1_M', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

const BY_GGML = new Map(TENSOR_TYPES.map((t) => [t.ggml, t]));
const BY_DTYPE = new Map(TENSOR_TYPES.map((t) => [t.dtype, t]));

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_NAME_BYTES = 63; // GGML_MAX_NAME - 1: llama.cpp refuses longer tensor names
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface GgufTensorInfo {
  readonly name: string;
  readonly type: GgufTensorType;
  /** the ggml_type number stored in the file */
  readonly ggmlType: number;
  readonly dtype: DType;
  /** Strata shape: ne reversed */
  readonly shape: readonly number[];
  /** GGUF dimensions, fastest first */
  readonly ne: readonly number[];
  /** offset within the data section */
  readonly offset: number;
  /** offset from the start of the file */
  readonly fileOffset: number;
  readonly nbytes: number;
}

export interface GgufFile {
  readonly version: number;
  readonly metadata: Record<string, GgufValue>;
  readonly tensors: Record<string, Tensor>;
  /** in file order */
  readonly tensorInfos: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** where the data section starts in the file */
  readonly dataOffset: number;
}

export interface GgufHeader {
  readonly version: number;
  readonly metadata: Record<string, GgufValue>;
  readonly tensorInfos: readonly GgufTensorInfo[];
  readonly alignment: number;
  readonly dataOffset: number;
}

/** Sets a key even when it is '__proto__' (keys come from the file). */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * Parses the header and tensor infos from the first bytes of a file of `fileSize` bytes (which
 * `head` may be a prefix of), checking every tensor's place in the file.
 */
export function parseGgufHeader(head: Uint8Array, fileSize: number, source: string): GgufHeader {
  const c: Cursor = new Cursor(head, source, fileSize);
  if (fileSize < 4) c.fail(`file is ${fileSize} bytes, too short for the GGUF magic (truncated?)`);
  const magic = c.u32('magic');
  if (magic !== MAGIC) {
    const text = String.fromCharCode(...head.subarray(0, 4)).replace(/[^\x20-\x7e]/g, '?');
    c.fail(`not a GGUF file: magic '${text}' (0x${magic.toString(16).padStart(8, '0')}), expected 'GGUF'`);
  }
  const version = c.u32('version');
  if (version === 1) c.fail('GGUF version 1 is not supported (re-convert the model with a current llama.cpp)');
  if (version !== 2 && version !== 3) {
    const hint = (version & 0xffff) === 0 ? ' (a big-endian file?)' : '';
    c.fail(`unsupported GGUF version ${version}${hint}; versions 2 and 3 are read`);
  }
  // each tensor info takes at least 24 bytes, each key-value pair at least 14
  const tensorCount = c.count('tensor count', 24);
  const kvCount = c.count('metadata count', 14);

  const metadata: Record<string, GgufValue> = {};
  const seen = new Set<string>();
  for (let i = 0; i < kvCount; i++) {
    const at = c.pos;
    const key = c.string(`key ${i}`, true);
    if (key.length === 0) c.fail(`key ${i} at byte ${at} is empty`);
    if (seen.has(key)) c.fail(`duplicate metadata key '${clip(key)}'`);
    seen.add(key);
    const type = readValueType(c, `value type of '${clip(key)}'`);
    setOwn(metadata, key, readValue(c, type, key));
  }

  let alignment = DEFAULT_ALIGNMENT;
  if (seen.has('general.alignment')) {
    const a = metadata['general.alignment']!;
    if (a.type !== 'u32') c.fail(`general.alignment must be a u32, got ${a.type}`);
    if (a.value === 0 || (a.value & (a.value - 1)) !== 0) c.fail(`general.alignment ${a.value} is not a power of two`);
    alignment = a.value;
  }

  const infos: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string(`tensor name ${i}`, true);
    if (names.has(name)) c.fail(`duplicate tensor name '${clip(name)}'`);
    names.add(name);
    const what = `tensor '${clip(name)}'`;
    const nDims = c.u32(`${what} dimension count`);
    if (nDims > MAX_DIMS) c.fail(`${what} has ${nDims} dimensions; GGUF tensors have at most ${MAX_DIMS}`);
    const ne: number[] = [];
    let count = 1;
    for (let d = 0; d < nDims; d++) {
      const n = c.safeU64(`${what} dimension ${d}`);
      ne.push(n);
      count *= n;
    }
    if (!Number.isSafeInteger(count)) c.fail(`${what} has ${ne.join(' x ')} elements, beyond any plausible size`);
    const at = c.pos;
    const code = c.u32(`${what} type`);
    const t = BY_GGML.get(code);
    if (!t) {
      const known = OTHER_GGML_TYPES[code];
      c.fail(
        known
          ? `${what} has tensor type ${known}, which Strata does not read (supported: ${TENSOR_TYPES.map((x) => x.name).join(', ')})`
          : `${what} has unknown tensor type ${code} (at byte ${at})`,
      );
    }
    if (nDims > 0 && ne[0]! % t.blockValues !== 0) c.fail(`${what}: rows of ${ne[0]} values are not whole ${t.name} blocks of ${t.blockValues}`);
    if (nDims === 0 && t.blockValues !== 1) c.fail(`${what}: a ${t.name} tensor needs at least one dimension`);
    const offset = c.safeU64(`${what} offset`);
    if (offset % alignment !== 0) c.fail(`${what}: data offset ${offset} is not a multiple of the alignment ${alignment}`);
    const nbytes = (count / t.blockValues) * t.blockBytes;
    infos.push({ name, type: t.name, ggmlType: t.ggml, dtype: t.dtype, shape: [...ne].reverse(), ne, offset, fileOffset: 0, nbytes });
  }

  const dataOffset = tensorCount > 0 ? alignUp(c.pos, alignment) : c.pos;
  const placed = infos.map((info) => ({ ...info, fileOffset: dataOffset + info.offset }));
  for (const info of placed) {
    if (info.fileOffset + info.nbytes > fileSize) {
      c.fail(
        `tensor '${clip(info.name)}' ${fmtShape(info.shape)} ${info.type}: data [${info.fileOffset}, ${info.fileOffset + info.nbytes}) runs past the end of the ${fileSize}-byte file (truncated?)`,
      );
    }
  }
  const byOffset = placed.filter((t) => t.nbytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.offset < prev.offset + prev.nbytes) {
      c.fail(`tensors '${clip(prev.name)}' and '${clip(cur.name)}' overlap in the data section (offsets ${prev.offset} and ${cur.offset})`);
    }
  }
  return { version, metadata, tensorInfos: placed, alignment, dataOffset };
}

/** A tensor over `bytes` (exactly its data): a view when alignment allows, else a copy. */
function tensorOf(info: GgufTensorInfo, bytes: Uint8Array): Tensor {
  const t = BY_DTYPE.get(info.dtype)!;
  if (isQuantized(info.dtype)) return new Tensor(bytes, info.dtype, info.shape);
  const n = info.nbytes / t.blockBytes;
  const aligned = LITTLE_ENDIAN_HOST && bytes.byteOffset % t.blockBytes === 0;
  if (info.dtype === 'f32') {
    if (aligned) return new Tensor(new Float32Array(bytes.buffer, bytes.byteOffset, n), 'f32', info.shape);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    return new Tensor(out, 'f32', info.shape);
  }
  if (aligned) return new Tensor(new Uint16Array(bytes.buffer, bytes.byteOffset, n), info.dtype, info.shape);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, true);
  return new Tensor(out, info.dtype, info.shape);
}

function tensorsOf(header: GgufHeader, range: (start: number, end: number) => Uint8Array): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = {};
  for (const info of header.tensorInfos) setOwn(tensors, info.name, tensorOf(info, range(info.fileOffset, info.fileOffset + info.nbytes)));
  return tensors;
}

/**
 * Parses a GGUF image held in memory. Tensors are views of `bytes` where alignment allows (they
 * share its memory: do not reuse the buffer while they live), otherwise copies.
 */
export function parseGguf(bytes: Uint8Array, source = '<buffer>'): GgufFile {
  if (!(bytes instanceof Uint8Array)) throw new StrataError('io', source, 'expected a Uint8Array');
  const header = parseGgufHeader(bytes, bytes.byteLength, source);
  return { ...header, tensors: tensorsOf(header, (s, e) => bytes.subarray(s, e)) };
}

/**
 * Reads a .gguf file. The file is memory-mapped (copy-on-write, see ./mmap.ts) and tensors are
 * views on the mapping, so weights are paged in on use and never copied into the JS heap; block
 * formats stay quantized.
 */
export function readGguf(file: string, options: MapOptions = {}): GgufFile {
  const mf = MappedFile.open(file, options);
  const header = headerOf(mf);
  return { ...header, tensors: tensorsOf(header, (s, e) => mf.range(s, e)) };
}

/** Metadata and tensor infos only (no tensors), e.g. to inspect a model or read its vocabulary. */
export function readGgufHeader(file: string, options: MapOptions = {}): GgufHeader {
  return headerOf(MappedFile.open(file, options));
}

/** Parses the header from a growing prefix of the file (the header's size is not known up front). */
function headerOf(mf: MappedFile): GgufHeader {
  let prefix = Math.min(mf.size, mf.mapped ? MAX_RANGE_BYTES : 1 << 20);
  for (;;) {
    try {
      return parseGgufHeader(mf.range(0, prefix), mf.size, mf.file);
    } catch (err) {
      if (!(err instanceof NeedMoreBytes) || prefix >= Math.min(mf.size, MAX_RANGE_BYTES)) {
        if (err instanceof NeedMoreBytes) throw new StrataError('io', mf.file, `the header is larger than ${prefix} bytes`);
        throw err;
      }
      prefix = Math.min(mf.size, MAX_RANGE_BYTES, Math.max(prefix * 2, err.needed + (1 << 20)));
    }
  }
}

// ---- writing ----

export interface GgufWriteInput {
  /** metadata by key, typed ({ type: 'u32', value: 5 }) or plain (see normalizeGgufValue) */
  readonly metadata?: Record<string, GgufInput>;
  /** tensors in file order: f32, f16, bf16, q8_0, q4_0, q4_k or q6_k, at most 4-D */
  readonly tensors?: Record<string, Tensor>;
  /** data alignment (a power of two, multiple of 8); written as general.alignment unless 32 */
  readonly alignment?: number;
}

interface Planned {
  readonly name: string;
  readonly type: TensorTypeInfo;
  readonly ne: readonly number[];
  readonly data: Uint8Array;
  readonly offset: number;
}

function fail(target: string, message: string): never {
  throw new StrataError('io', target, message);
}

/** The little-endian bytes of a contiguous tensor in its stored form. */
function dataBytes(t: Tensor, name: string, target: string): Uint8Array {
  if (!t.isContiguous) {
    if (isQuantized(t.dtype)) fail(target, `tensor '${clip(name)}': a strided ${t.dtype} view cannot be written; dequantize or write the whole tensor`);
    t = t.contiguous();
  }
  if (isQuantized(t.dtype)) {
    const { values, bytes } = QUANT_BLOCKS[t.dtype];
    const start = (t.offset / values) * bytes;
    return (t.data as Uint8Array).subarray(start, start + (t.size / values) * bytes);
  }
  const item = t.dtype === 'f32' ? 4 : 2;
  const d = t.data as Float32Array | Uint16Array;
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(d.buffer, d.byteOffset + t.offset * item, t.size * item);
  const out = new Uint8Array(t.size * item);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < t.size; i++) {
    if (item === 4) dv.setFloat32(4 * i, d[t.offset + i]!, true);
    else dv.setUint16(2 * i, d[t.offset + i]!, true);
  }
  return out;
}

/** Header bytes plus the planned tensor data, with offsets, alignment and padding. */
function plan(input: GgufWriteInput, target: string): { header: Uint8Array; tensors: Planned[]; alignment: number } {
  const meta = new Map<string, GgufValue>();
  for (const [key, v] of Object.entries(input.metadata ?? {})) {
    if (key.length === 0) fail(target, 'metadata keys must not be empty');
    try {
      meta.set(key, normalizeGgufValue(key, v));
    } catch (err) {
      if (err instanceof StrataError) fail(target, err.message.replace(/^writeGguf: /, ''));
      throw err;
    }
  }
  const given = meta.get('general.alignment');
  const alignment = input.alignment ?? (given?.type === 'u32' ? given.value : DEFAULT_ALIGNMENT);
  if (given && (given.type !== 'u32' || (input.alignment !== undefined && given.value !== input.alignment))) {
    fail(target, `general.alignment must be a u32${input.alignment !== undefined ? ` equal to the alignment option ${input.alignment}` : ''}`);
  }
  if (!Number.isInteger(alignment) || alignment < 8 || alignment > 2 ** 20 || (alignment & (alignment - 1)) !== 0) {
    fail(target, `alignment ${alignment} must be a power of two from 8 to 2^20`);
  }
  if (alignment !== DEFAULT_ALIGNMENT && !given) meta.set('general.alignment', { type: 'u32', value: alignment });

  const planned: Planned[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(input.tensors ?? {})) {
    if (!(t instanceof Tensor)) fail(target, `'${clip(name)}' is not a Tensor`);
    const nameBytes = new TextEncoder().encode(name).length;
    if (nameBytes === 0 || nameBytes > MAX_NAME_BYTES) fail(target, `tensor name '${clip(name)}' must be 1 to ${MAX_NAME_BYTES} bytes (llama.cpp's limit), got ${nameBytes}`);
    const type = BY_DTYPE.get(t.dtype);
    if (!type) fail(target, `tensor '${clip(name)}' is ${t.dtype}, which GGUF files here do not hold; convert it with .to('f32')`);
    if (t.ndim > MAX_DIMS) fail(target, `tensor '${clip(name)}' ${fmtShape(t.shape)} has more than ${MAX_DIMS} dimensions`);
    const data = dataBytes(t, name, target);
    planned.push({ name, type, ne: [...t.shape].reverse(), data, offset });
    offset += alignUp(data.byteLength, alignment);
  }

  const w = new ByteWriter();
  w.u32(MAGIC);
  w.u32(3);
  w.u64(planned.length);
  w.u64(meta.size);
  for (const [key, v] of meta) {
    w.string(key);
    w.u32(VALUE_TYPE_CODES[v.type]);
    writeValue(w, v);
  }
  for (const p of planned) {
    w.string(p.name);
    w.u32(p.ne.length);
    for (const n of p.ne) w.u64(n);
    w.u32(p.type.ggml);
    w.u64(p.offset);
  }
  if (planned.length > 0) w.zeros(alignUp(w.length, alignment) - w.length);
  return { header: w.result(), tensors: planned, alignment };
}

/** The chunks of a GGUF image in order: header, then each tensor's data and padding. */
function* chunks(input: GgufWriteInput, target: string): Generator<Uint8Array> {
  const { header, tensors, alignment } = plan(input, target);
  yield header;
  for (const t of tensors) {
    yield t.data;
    const pad = alignUp(t.data.byteLength, alignment) - t.data.byteLength;
    if (pad > 0) yield new Uint8Array(pad);
  }
}

/** Serializes to a GGUF v3 image in memory. */
export function serializeGguf(input: GgufWriteInput, target = '<buffer>'): Uint8Array {
  const parts = [...chunks(input, target)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Writes a GGUF v3 file atomically: a temporary file in the same directory is written chunk by
 * chunk (tensor data straight from the tensors' storage), fsynced and renamed over `file`.
 * Tensors are laid out in the given order, each at an aligned offset right after the previous
 * one (padded), as llama.cpp requires.
 */
export function writeGguf(file: string, input: GgufWriteInput): void {
  writeFileAtomic(file, chunks(input, file));
}
