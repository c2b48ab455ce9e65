import { StrataError } from '../errors.js';

/**
 * Storage dtypes. f64 exists for the gradient checker and the reference backend;
 * models compute in f32 (f16/bf16 are storage formats, upcast on use). The quantized dtypes
 * hold GGUF blocks (raw bytes in a Uint8Array) for weights: see src/tensor/quant.ts.
 */
export type DType = 'f32' | 'f64' | 'f16' | 'bf16' | 'i32' | 'u8' | 'bool' | QuantDType;
export type FloatDType = 'f32' | 'f64';
/** GGUF block formats: q8_0 and q4_0 in blocks of 32 values, q4_k and q6_k in super-blocks of 256. */
export type QuantDType = 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k';

export type FloatArray = Float32Array | Float64Array;
export type Storage = Float32Array | Float64Array | Uint16Array | Int32Array | Uint8Array;

export const QUANT_DTYPES: readonly QuantDType[] = ['q8_0', 'q4_0', 'q4_k', 'q6_k'];
export const DTYPES: readonly DType[] = ['f32', 'f64', 'f16', 'bf16', 'i32', 'u8', 'bool', ...QUANT_DTYPES];

/** Values per block and bytes per block of each block format (ggml's QK and sizeof(block)). */
export const QUANT_BLOCKS: Readonly<Record<QuantDType, { readonly values: number; readonly bytes: number }>> = {
  q8_0: { values: 32, bytes: 34 },
  q4_0: { values: 32, bytes: 18 },
  q4_k: { values: 256, bytes: 144 },
  q6_k: { values: 256, bytes: 210 },
};

export function isQuantized(dtype: DType): dtype is QuantDType {
  return Object.hasOwn(QUANT_BLOCKS, dtype);
}

/** Bytes that `n` values of `dtype` occupy (n a multiple of the block size for block formats). */
export function byteSize(dtype: DType, n: number): number {
  if (isQuantized(dtype)) {
    const b = QUANT_BLOCKS[dtype];
    if (n % b.values !== 0) throw new StrataError('dtype', dtype, `${n} values do not fill whole blocks of ${b.values}`);
    return (n / b.values) * b.bytes;
  }
  return n * bytesPerElement(dtype);
}

/** Bytes per element of a plain dtype; block formats have none (use byteSize). */
export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'q8_0':
    case 'q4_0':
    case 'q4_k':
    case 'q6_k':
      throw new StrataError('dtype', 'bytesPerElement', `${dtype} stores blocks of values, not single elements`);
    case 'f64':
      return 8;
    case 'f32':
    case 'i32':
      return 4;
    case 'f16':
    case 'bf16':
      return 2;
    case 'u8':
    case 'bool':
      return 1;
  }
}

export function allocStorage(dtype: DType, n: number): Storage {
  switch (dtype) {
    case 'f32':
      return new Float32Array(n);
    case 'f64':
      return new Float64Array(n);
    case 'f16':
    case 'bf16':
      return new Uint16Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'u8':
    case 'bool':
      return new Uint8Array(n);
    case 'q8_0':
    case 'q4_0':
    case 'q4_k':
    case 'q6_k':
      throw new StrataError('dtype', dtype, `no op creates ${dtype} tensors except quantizing a float tensor with .to('${dtype}'); dequantize inputs with .to('f32') first`);
  }
}

/** Checks that a typed array can back a tensor of this dtype. */
export function storageMatches(dtype: DType, data: Storage): boolean {
  switch (dtype) {
    case 'f32':
      return data instanceof Float32Array;
    case 'f64':
      return data instanceof Float64Array;
    case 'f16':
    case 'bf16':
      return data instanceof Uint16Array;
    case 'i32':
      return data instanceof Int32Array;
    case 'u8':
    case 'bool':
    case 'q8_0':
    case 'q4_0':
    case 'q4_k':
    case 'q6_k':
      return data instanceof Uint8Array;
  }
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f64' || dtype === 'f16' || dtype === 'bf16';
}

export function isComputeFloat(dtype: DType): dtype is FloatDType {
  return dtype === 'f32' || dtype === 'f64';
}

export function parseDType(name: string, op = 'dtype'): DType {
  if ((DTYPES as readonly string[]).includes(name)) return name as DType;
  throw new StrataError('dtype', op, `unknown dtype '${name}' (expected one of ${DTYPES.join(', ')})`);
}

// ---- half-precision conversions (round-to-nearest-even) ----

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

export function f32ToBf16(x: number): number {
  f32buf[0] = x;
  const bits = u32buf[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return (bits >>> 16) | 0x40; // quiet NaN
  const rounding = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + rounding) >>> 16) & 0xffff;
}

export function bf16ToF32(h: number): number {
  u32buf[0] = h << 16;
  return f32buf[0]!;
}

export function f32ToF16(x: number): number {
  f32buf[0] = x;
  const bits = u32buf[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++;
  // a carry out of the mantissa correctly bumps the exponent (and may give inf)
  return sign | half;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
