import { StrataError, fmtShape } from '../../errors.js';
import { type DType, allocStorage, bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, isFloat, isQuantized } from '../dtype.js';
import { type Shape, broadcastShapes, normAxis, numel, shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import { empty } from './common.js';
import { sumToShape } from './elementwise.js';
import { copyBlocks, dequantize, quantize } from './quantized.js';

/** A view sharing `t`'s storage. */
function viewOf(t: Tensor, shape: Shape, strides: readonly number[], offset: number): Tensor {
  return new Tensor(t.data, t.dtype, shape, strides, offset);
}

export function detach(t: Tensor): Tensor {
  return viewOf(t, t.shape, t.strides, t.offset);
}

export function contiguous(t: Tensor): Tensor {
  if (t.isContiguous) return t;
  if (isQuantized(t.dtype)) {
    throw new StrataError('dtype', 'contiguous', `a strided ${t.dtype} view ${fmtShape(t.shape)} cannot be copied block by block; dequantize it with .to('f32')`);
  }
  const out = empty(t.dtype, t.shape);
  backend().copy(t.view(), out.data);
  return record('contiguous', [t], out, (g) => [g]);
}

export function clone(t: Tensor): Tensor {
  if (isQuantized(t.dtype)) return copyBlocks(t, 'clone');
  const out = empty(t.dtype, t.shape);
  backend().copy(t.view(), out.data);
  return record('clone', [t], out, (g) => [g]);
}

/** Strides for viewing `t` as `shape` without a copy, or null when its layout does not allow it. */
function viewStrides(t: Tensor, shape: readonly number[]): number[] | null {
  // group the old dims into runs that are contiguous among themselves, then map the new dims onto the runs
  const oldShape = t.shape.filter((d) => d !== 1);
  const oldStrides = t.strides.filter((_, i) => t.shape[i] !== 1);
  const out = new Array<number>(shape.length);
  let oi = 0;
  let ni = 0;
  while (ni < shape.length && shape[ni] === 1) out[ni++] = 1;
  while (oi < oldShape.length) {
    // one contiguous run of old dims [oi, oj)
    let oj = oi + 1;
    let runSize = oldShape[oi]!;
    while (oj < oldShape.length && oldStrides[oj - 1] === oldStrides[oj]! * oldShape[oj]!) runSize *= oldShape[oj++]!;
    const runInnerStride = oldStrides[oj - 1]!;
    // new dims must exactly tile this run
    let size = 1;
    const start = ni;
    while (ni < shape.length && size < runSize) size *= shape[ni++]!;
    if (size !== runSize) return null;
    let stride = runInnerStride;
    for (let k = ni - 1; k >= start; k--) {
      out[k] = stride;
      stride *= shape[k]!;
    }
    while (ni < shape.length && shape[ni] === 1) out[ni++] = 1;
    oi = oj;
  }
  if (ni !== shape.length) return null;
  return out;
}

export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const n = t.size;
  const sh = [...shape];
  const inferred = sh.indexOf(-1);
  if (inferred !== sh.lastIndexOf(-1)) throw new StrataError('shape', 'reshape', `only one dimension can be -1 in ${fmtShape(sh)}`);
  if (inferred >= 0) {
    const known = sh.reduce((a, d, i) => (i === inferred ? a : a * d), 1);
    if (known === 0 || n % known !== 0) throw new StrataError('shape', 'reshape', `cannot reshape ${fmtShape(t.shape)} into ${fmtShape(shape)}`);
    sh[inferred] = n / known;
  }
  if (sh.some((d) => !Number.isInteger(d) || d < 0) || numel(sh) !== n) {
    throw new StrataError('shape', 'reshape', `cannot reshape ${fmtShape(t.shape)} (${n} elements) into ${fmtShape(shape)}`);
  }
  if (shapesEqual(sh, t.shape)) return t;
  const strides = n === 0 ? sh.map(() => 0) : viewStrides(t, sh);
  const out = strides ? viewOf(t, sh, strides, t.offset) : reshape(contiguous(t), sh);
  if (!strides) return out;
  return record('reshape', [t], out, (g) => [reshape(g, t.shape)]);
}

export function permute(t: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== t.ndim) throw new StrataError('shape', 'permute', `permutation [${dims.join(', ')}] does not match rank ${t.ndim}`);
  const d = dims.map((a) => normAxis(a, t.ndim, 'permute'));
  if (new Set(d).size !== d.length) throw new StrataError('shape', 'permute', `[${dims.join(', ')}] is not a permutation`);
  const out = viewOf(
    t,
    d.map((a) => t.shape[a]!),
    d.map((a) => t.strides[a]!),
    t.offset,
  );
  const inverse = new Array<number>(d.length);
  d.forEach((a, i) => (inverse[a] = i));
  return record('permute', [t], out, (g) => [permute(g, inverse)]);
}

export function transpose(t: Tensor, d0: number, d1: number): Tensor {
  const a = normAxis(d0, t.ndim, 'transpose');
  const b = normAxis(d1, t.ndim, 'transpose');
  const dims = Array.from({ length: t.ndim }, (_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(t, dims);
}

/** Elements start, start+step, ... below end along `dim` (negative start/end count from the end). */
export function slice(t: Tensor, dim: number, start: number, end?: number, step = 1): Tensor {
  const ax = normAxis(dim, t.ndim, 'slice');
  const size = t.shape[ax]!;
  if (!Number.isInteger(step) || step < 1) throw new StrataError('argument', 'slice', `step must be a positive integer, got ${step}`);
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
  if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end))) {
    throw new StrataError('argument', 'slice', `start/end must be integers, got ${start}/${end}`);
  }
  const s = clampIdx(start);
  const e = Math.max(s, clampIdx(end ?? size));
  const len = Math.ceil((e - s) / step);
  const shape = [...t.shape];
  shape[ax] = len;
  const strides = [...t.strides];
  strides[ax] = t.strides[ax]! * step;
  const out = viewOf(t, shape, strides, len === 0 ? t.offset : t.offset + s * t.strides[ax]!);
  return record('slice', [t], out, (g) => [sliceBackward(g, t.shape, ax, s, step)]);
}

/** Zeros of `shape` with `g` written into the sliced region. */
function sliceBackward(g: Tensor, shape: Shape, ax: number, start: number, step: number): Tensor {
  const out = empty(g.dtype, shape);
  if (g.size === 0) return out;
  const strides = [...out.strides];
  const offset = start * strides[ax]!;
  strides[ax] = strides[ax]! * step;
  backend().assign({ data: out.data, shape: g.shape, strides, offset }, g.view());
  return out;
}

export function select(t: Tensor, dim: number, index: number): Tensor {
  const ax = normAxis(dim, t.ndim, 'select');
  const size = t.shape[ax]!;
  const i = index < 0 ? index + size : index;
  if (!Number.isInteger(i) || i < 0 || i >= size) {
    throw new StrataError('index', 'select', `index ${index} is out of range for dimension ${ax} of size ${size}`);
  }
  return squeeze(slice(t, ax, i, i + 1), ax);
}

export function expand(t: Tensor, shape: readonly number[]): Tensor {
  const target = shape.map((d, i) => (d === -1 ? t.shape[i - (shape.length - t.ndim)]! : d));
  const full = broadcastShapes('expand', t.shape, target);
  if (!shapesEqual(full, target)) throw new StrataError('shape', 'expand', `cannot expand ${fmtShape(t.shape)} to ${fmtShape(shape)}`);
  if (shapesEqual(target, t.shape)) return t;
  const off = target.length - t.ndim;
  const strides = target.map((d, i) => (i < off ? 0 : t.shape[i - off] === 1 && d !== 1 ? 0 : t.strides[i - off]!));
  const out = viewOf(t, target, strides, t.offset);
  return record('expand', [t], out, (g) => [sumToShape(g, t.shape)]);
}

export function broadcastTo(t: Tensor, shape: readonly number[]): Tensor {
  return expand(t, shape);
}

export function unsqueeze(t: Tensor, dim: number): Tensor {
  const ax = normAxis(dim, t.ndim + 1, 'unsqueeze');
  const shape = [...t.shape];
  const strides = [...t.strides];
  shape.splice(ax, 0, 1);
  strides.splice(ax, 0, ax < t.ndim ? t.strides[ax]! * t.shape[ax]! : 1);
  const out = viewOf(t, shape, strides, t.offset);
  return record('unsqueeze', [t], out, (g) => [squeeze(g, ax)]);
}

export function squeeze(t: Tensor, dim?: number): Tensor {
  let axes: number[];
  if (dim === undefined) axes = t.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  else {
    const ax = normAxis(dim, t.ndim, 'squeeze');
    axes = t.shape[ax] === 1 ? [ax] : [];
  }
  if (axes.length === 0) return t;
  const keep = (_: number, i: number) => !axes.includes(i);
  const out = viewOf(t, t.shape.filter(keep), t.strides.filter(keep), t.offset);
  return record('squeeze', [t], out, (g) => [reshape(g, t.shape)]);
}

export function flatten(t: Tensor, start = 0, end = -1): Tensor {
  if (t.ndim === 0) return reshape(t, [1]);
  const s = normAxis(start, t.ndim, 'flatten');
  const e = normAxis(end, t.ndim, 'flatten');
  if (e < s) throw new StrataError('argument', 'flatten', `end ${end} comes before start ${start}`);
  const shape = [...t.shape.slice(0, s), numel(t.shape.slice(s, e + 1)), ...t.shape.slice(e + 1)];
  return reshape(t, shape);
}

/** Converts dtype (a copy; the gradient flows back through float casts). */
export function cast(t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return t;
  // block formats: quantizing and dequantizing are explicit conversions with no gradient
  if (isQuantized(t.dtype)) return cast(dequantize(t), dtype);
  if (isQuantized(dtype)) return quantize(t, dtype);
  const src = contiguous(detach(t));
  const n = src.size;
  const out = allocStorage(dtype, n);
  const d = src.data;
  const o = src.offset;
  const decode = src.dtype === 'f16' ? f16ToF32 : src.dtype === 'bf16' ? bf16ToF32 : null;
  const encode = dtype === 'f16' ? f32ToF16 : dtype === 'bf16' ? f32ToBf16 : null;
  for (let i = 0; i < n; i++) {
    let v = decode ? decode(d[o + i]!) : d[o + i]!;
    if (dtype === 'i32') v = Number.isFinite(v) ? Math.trunc(v) : 0;
    else if (dtype === 'u8') v = Number.isFinite(v) ? Math.trunc(v) & 0xff : 0;
    else if (dtype === 'bool') v = v !== 0 ? 1 : 0;
    out[i] = encode ? encode(v) : v;
  }
  const res = new Tensor(out, dtype, t.shape);
  if (!isFloat(t.dtype) || !isFloat(dtype)) return res;
  return record('cast', [t], res, (g) => [cast(g, t.dtype)]);
}
