import { StrataError, fmtShape } from '../../errors.js';
import { type DType, type FloatArray, allocStorage, isComputeFloat, isQuantized } from '../dtype.js';
import { type Shape, numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { refuseBlocks } from './quantized.js';
import { takeBuffer } from '../pool.js';
import type { View } from '../../backend/backend.js';

/** A fresh contiguous tensor (zero-filled). */
export function empty(dtype: DType, shape: Shape): Tensor {
  return new Tensor(allocStorage(dtype, numel(shape)), dtype, shape);
}

/** From this size on, skipping the zero fill saves a pass over memory worth the slower allocation. */
const OVERWRITTEN_MIN_BYTES = 1 << 16;

/**
 * A fresh contiguous tensor for a kernel that writes every element of it (GEMM, attention): large
 * f32/f64 buffers come uninitialized (a released one of the same size, or a new one from Node's
 * Buffer.allocUnsafeSlow; see ../pool.ts), skipping a zero fill the kernel would overwrite at
 * once. Use `empty` wherever a kernel accumulates or writes only part.
 */
export function emptyOverwritten(dtype: DType, shape: Shape): Tensor {
  const n = numel(shape);
  const width = dtype === 'f32' ? 4 : dtype === 'f64' ? 8 : 0;
  if (width === 0 || n * width < OVERWRITTEN_MIN_BYTES || typeof Buffer === 'undefined') return empty(dtype, shape);
  const bytes = takeBuffer(n * width);
  return new Tensor(width === 4 ? new Float32Array(bytes, 0, n) : new Float64Array(bytes, 0, n), dtype, shape);
}

/** The float dtype an op computes in: f64 stays f64, everything else becomes f32. */
export function computeDType(...ts: Tensor[]): 'f32' | 'f64' {
  return ts.some((t) => t.dtype === 'f64') ? 'f64' : 'f32';
}

/** Upcasts storage formats (f16, bf16) and integers to the compute float dtype. */
export function asFloat(t: Tensor, dtype: 'f32' | 'f64' = computeDType(t)): Tensor {
  // block-quantized weights are never dequantized implicitly (src/tensor/ops/quantized.ts)
  if (isQuantized(t.dtype)) throw refuseBlocks(t);
  return t.dtype === dtype ? t : t.to(dtype);
}

export function floatView(t: Tensor): View<FloatArray> {
  if (!isComputeFloat(t.dtype)) throw new StrataError('dtype', 'kernel', `expected a float tensor, got ${t.dtype}`);
  return t.view() as View<FloatArray>;
}

/** Contiguous float data starting at index 0 (copies only when needed). */
export function denseFloat(t: Tensor): FloatArray {
  const c = t.contiguous();
  const d = c.data as FloatArray;
  if (c.offset === 0 && d.length === c.size) return d;
  return d.subarray(c.offset, c.offset + c.size);
}

export function denseInt(t: Tensor, op: string): Int32Array {
  if (t.dtype !== 'i32') {
    if (t.dtype === 'u8' || t.dtype === 'bool') return denseInt(t.to('i32'), op);
    throw new StrataError('dtype', op, `index tensor must be i32, got ${t.dtype}`);
  }
  const c = t.contiguous();
  const d = c.data as Int32Array;
  return c.offset === 0 && d.length === c.size ? d : d.subarray(c.offset, c.offset + c.size);
}

/** A 0-d tensor holding `v` in `dtype` (never requires grad). */
export function scalar(v: number, dtype: DType): Tensor {
  const t = empty(dtype, []);
  t.data[0] = v;
  return t;
}

export function expectFloat(t: Tensor, op: string): void {
  if (!isComputeFloat(t.dtype) && t.dtype !== 'f16' && t.dtype !== 'bf16') {
    throw new StrataError('dtype', op, `expected a floating-point tensor, got ${t.dtype} ${fmtShape(t.shape)}`);
  }
}

export function expectRank(t: Tensor, ranks: number | readonly number[], op: string, what = 'input'): void {
  const list = typeof ranks === 'number' ? [ranks] : ranks;
  if (!list.includes(t.ndim)) {
    throw new StrataError('shape', op, `${what} must have rank ${list.join(' or ')}, got shape ${fmtShape(t.shape)}`);
  }
}

/** Axis-split layout of a contiguous tensor around `axis`. */
export function axisLayout(shape: Shape, axis: number): { outer: number; n: number; inner: number } {
  return { outer: numel(shape.slice(0, axis)), n: shape[axis]!, inner: numel(shape.slice(axis + 1)) };
}
