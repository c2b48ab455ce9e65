// GGUF metadata values: the typed representation, reading them from untrusted bytes, and
// encoding them (./gguf-infer.ts picks the types of plain JS values).
//
// Value types (u32 codes): 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string,
// 9 array, 10 u64, 11 i64, 12 f64. A string is a u64 byte length and UTF-8 bytes; an array is an
// item type, a u64 count and the items (arrays may nest). Everything is little-endian.

import { StrataError } from '../errors.js';

export type GgufNumberType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64';
export type GgufBigType = 'u64' | 'i64';
export type GgufScalarType = GgufNumberType | GgufBigType | 'bool' | 'string';
export type GgufItemType = GgufScalarType | 'array';

export type GgufNumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array;

/** An array value as read: numbers in the typed array of their type, strings and bools as JS arrays. */
export type GgufArray =
  | { readonly type: 'array'; readonly itemType: GgufNumberType | GgufBigType; readonly value: GgufNumericArray }
  | { readonly type: 'array'; readonly itemType: 'bool'; readonly value: readonly boolean[] }
  | { readonly type: 'array'; readonly itemType: 'string'; readonly value: readonly string[] }
  | { readonly type: 'array'; readonly itemType: 'array'; readonly value: readonly GgufArray[] };

/** A metadata value with its GGUF type (as readGguf returns it, and as writeGguf takes it). */
export type GgufValue =
  | { readonly type: GgufNumberType; readonly value: number }
  | { readonly type: GgufBigType; readonly value: bigint }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }
  | GgufArray;

/**
 * What writeGguf accepts per key: a typed value (u64/i64 may be given as numbers, numeric arrays
 * as number[]), or a plain value whose type is chosen by `inferGgufValue`.
 */
export type GgufInput =
  | GgufValue
  | { readonly type: GgufNumberType | GgufBigType; readonly value: number | bigint }
  | { readonly type: 'array'; readonly itemType: GgufItemType; readonly value: ArrayLike<unknown> }
  | number
  | bigint
  | string
  | boolean
  | GgufPlainArray;

/** Plain arrays for writeGguf, nested to any depth (an array of arrays). */
export type GgufPlainArray = readonly string[] | readonly number[] | readonly boolean[] | readonly bigint[] | GgufNumericArray | readonly GgufPlainArray[];

export const VALUE_TYPE_CODES: Readonly<Record<GgufItemType, number>> = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
};
const TYPE_OF_CODE: readonly GgufItemType[] = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];

export const ITEM_BYTES: Readonly<Record<GgufNumberType | GgufBigType | 'bool', number>> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
};

/** Fewest bytes one item of each type occupies (a string: its length; an array: type + count). */
function minItemBytes(t: GgufItemType): number {
  return t === 'string' ? 8 : t === 'array' ? 12 : ITEM_BYTES[t];
}

export const TYPED_ARRAY: Readonly<Record<GgufNumberType | GgufBigType, { new (buf: ArrayBuffer): GgufNumericArray; new (n: number): GgufNumericArray }>> = {
  u8: Uint8Array,
  i8: Int8Array,
  u16: Uint16Array,
  i16: Int16Array,
  u32: Uint32Array,
  i32: Int32Array,
  f32: Float32Array,
  f64: Float64Array,
  u64: BigUint64Array,
  i64: BigInt64Array,
};

/** Nested arrays deeper than this are refused (each level costs a reader stack frame). */
export const MAX_ARRAY_DEPTH = 32;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** Thrown when a read goes past the bytes at hand but not past the file: read more, parse again. */
export class NeedMoreBytes extends Error {
  readonly needed: number;
  constructor(needed: number) {
    super(`need ${needed} bytes`);
    this.needed = needed;
  }
}

/**
 * Bounds-checked little-endian reads over untrusted bytes; every failure names the source.
 * `bytes` may be a prefix of a file of `fileSize` bytes: sizes are judged against the file, and
 * a read past the prefix throws NeedMoreBytes.
 */
export class Cursor {
  readonly bytes: Uint8Array;
  readonly source: string;
  readonly fileSize: number;
  pos: number;
  private readonly dv: DataView;

  constructor(bytes: Uint8Array, source: string, fileSize = bytes.byteLength) {
    this.bytes = bytes;
    this.source = source;
    this.fileSize = Math.max(fileSize, bytes.byteLength);
    this.pos = 0;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes of the file after the cursor. */
  get remaining(): number {
    return this.fileSize - this.pos;
  }

  fail(message: string): never {
    throw new StrataError('io', this.source, message);
  }

  need(n: number, what: string): void {
    if (n > this.remaining) {
      this.fail(`${what} at byte ${this.pos} needs ${n} bytes but the file ends ${this.remaining} bytes later (truncated?)`);
    }
    if (this.pos + n > this.bytes.byteLength) throw new NeedMoreBytes(this.pos + n);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++]!;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A u64 that must be a safe integer (sizes, offsets, dimensions). */
  safeU64(what: string): number {
    const at = this.pos;
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} at byte ${at} is ${v}, beyond any plausible size`);
    return Number(v);
  }

  /** A u64 count of items that must fit in the bytes left, each at least `itemBytes` long. */
  count(what: string, itemBytes: number): number {
    const at = this.pos;
    const v = this.u64(what);
    if (v * BigInt(itemBytes) > BigInt(this.remaining)) {
      this.fail(`${what} at byte ${at} is ${v}, but ${this.remaining} bytes remain (at least ${itemBytes} per item; corrupt or truncated)`);
    }
    return Number(v);
  }

  /** A GGUF string; `strict` refuses invalid UTF-8 (keys, names), else it is replaced with U+FFFD. */
  string(what: string, strict: boolean): string {
    const at = this.pos;
    const len = this.u64(`${what} length`);
    if (len > BigInt(this.remaining)) this.fail(`${what} at byte ${at} claims ${len} bytes, but ${this.remaining} remain (corrupt or truncated)`);
    const n = Number(len);
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    return decodeUtf8(this.bytes, start, n, strict, () => this.fail(`${what} at byte ${at} is not valid UTF-8`));
  }

  /** `n` items of a fixed-size numeric type into a fresh typed array. */
  numbers(type: GgufNumberType | GgufBigType, n: number, what: string): GgufNumericArray {
    const size = ITEM_BYTES[type];
    this.need(n * size, what);
    const start = this.pos;
    this.pos += n * size;
    if (LITTLE_ENDIAN_HOST) return new TYPED_ARRAY[type](this.bytes.slice(start, start + n * size).buffer);
    const out = new TYPED_ARRAY[type](n);
    for (let i = 0; i < n; i++) out[i] = readNumber(this.dv, type, start + i * size) as never;
    return out;
  }
}

function decodeUtf8(bytes: Uint8Array, start: number, n: number, strict: boolean, onError: () => never): string {
  if (n <= 64) {
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (bytes[start + i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode(...bytes.subarray(start, start + n));
  }
  if (!strict) return lenientUtf8.decode(bytes.subarray(start, start + n));
  try {
    return strictUtf8.decode(bytes.subarray(start, start + n));
  } catch {
    return onError();
  }
}

function readNumber(dv: DataView, type: GgufNumberType | GgufBigType, at: number): number | bigint {
  switch (type) {
    case 'u8':
      return dv.getUint8(at);
    case 'i8':
      return dv.getInt8(at);
    case 'u16':
      return dv.getUint16(at, true);
    case 'i16':
      return dv.getInt16(at, true);
    case 'u32':
      return dv.getUint32(at, true);
    case 'i32':
      return dv.getInt32(at, true);
    case 'f32':
      return dv.getFloat32(at, true);
    case 'f64':
      return dv.getFloat64(at, true);
    case 'u64':
      return dv.getBigUint64(at, true);
    case 'i64':
      return dv.getBigInt64(at, true);
  }
}

/** A value type code read from the file. */
export function readValueType(c: Cursor, what: string): GgufItemType {
  const at = c.pos;
  const code = c.u32(what);
  const t = TYPE_OF_CODE[code];
  if (t === undefined) c.fail(`${what} at byte ${at} is ${code}, not a GGUF value type (0..12)`);
  return t;
}

/** Reads one value of type `type` for key `key`. */
export function readValue(c: Cursor, type: GgufItemType, key: string, depth = 0): GgufValue {
  const what = `value of '${clip(key)}'`;
  switch (type) {
    case 'string':
      return { type, value: c.string(what, false) };
    case 'bool':
      return { type, value: c.u8(what) !== 0 };
    case 'u64':
    case 'i64': {
      c.need(8, what);
      const v = readNumber(new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength), type, c.pos) as bigint;
      c.pos += 8;
      return { type, value: v };
    }
    case 'array': {
      if (depth >= MAX_ARRAY_DEPTH) c.fail(`${what} nests arrays more than ${MAX_ARRAY_DEPTH} deep`);
      const itemType = readValueType(c, `array item type of '${clip(key)}'`);
      const n = c.count(`array length of '${clip(key)}'`, minItemBytes(itemType));
      switch (itemType) {
        case 'string': {
          const out = new Array<string>(n);
          for (let i = 0; i < n; i++) out[i] = c.string(what, false);
          return { type: 'array', itemType, value: out };
        }
        case 'bool': {
          c.need(n, what);
          const out = new Array<boolean>(n);
          for (let i = 0; i < n; i++) out[i] = c.bytes[c.pos + i] !== 0;
          c.pos += n;
          return { type: 'array', itemType, value: out };
        }
        case 'array': {
          const out = new Array<GgufArray>(n);
          for (let i = 0; i < n; i++) out[i] = readValue(c, 'array', key, depth + 1) as GgufArray;
          return { type: 'array', itemType, value: out };
        }
        default:
          return { type: 'array', itemType, value: c.numbers(itemType, n, what) } as GgufArray;
      }
    }
    default: {
      c.need(ITEM_BYTES[type], what);
      const v = readNumber(new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength), type, c.pos) as number;
      c.pos += ITEM_BYTES[type];
      return { type, value: v };
    }
  }
}

export function clip(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

// ---- encoding ----

/** A growable little-endian byte buffer. */
export class ByteWriter {
  private buf = new Uint8Array(1024);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }
  u32(v: number): void {
    this.reserve(4);
    this.dv.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.dv.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  string(s: string): void {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  number(type: GgufNumberType | GgufBigType, v: number | bigint): void {
    const size = ITEM_BYTES[type];
    this.reserve(size);
    const at = this.length;
    switch (type) {
      case 'u8':
        this.dv.setUint8(at, v as number);
        break;
      case 'i8':
        this.dv.setInt8(at, v as number);
        break;
      case 'u16':
        this.dv.setUint16(at, v as number, true);
        break;
      case 'i16':
        this.dv.setInt16(at, v as number, true);
        break;
      case 'u32':
        this.dv.setUint32(at, v as number, true);
        break;
      case 'i32':
        this.dv.setInt32(at, v as number, true);
        break;
      case 'f32':
        this.dv.setFloat32(at, v as number, true);
        break;
      case 'f64':
        this.dv.setFloat64(at, v as number, true);
        break;
      case 'u64':
        this.dv.setBigUint64(at, v as bigint, true);
        break;
      case 'i64':
        this.dv.setBigInt64(at, v as bigint, true);
        break;
    }
    this.length += size;
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const utf8 = new TextEncoder();

/** Writes a value's payload (its type code is written by the caller). */
export function writeValue(w: ByteWriter, v: GgufValue): void {
  switch (v.type) {
    case 'string':
      w.string(v.value);
      return;
    case 'bool':
      w.u8(v.value ? 1 : 0);
      return;
    case 'array': {
      w.u32(VALUE_TYPE_CODES[v.itemType]);
      w.u64(v.value.length);
      if (v.itemType === 'string') for (const s of v.value) w.string(s);
      else if (v.itemType === 'bool') for (const b of v.value) w.u8(b ? 1 : 0);
      else if (v.itemType === 'array') for (const a of v.value) writeValue(w, a);
      else if (LITTLE_ENDIAN_HOST) w.bytes(new Uint8Array(v.value.buffer, v.value.byteOffset, v.value.byteLength));
      else for (const x of v.value) w.number(v.itemType, x);
      return;
    }
    default:
      w.number(v.type, v.value);
  }
}
