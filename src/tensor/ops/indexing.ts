import { StrataError, fmtShape } from '../../errors.js';
import type { FloatArray } from '../dtype.js';
import { normAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import { asFloat, axisLayout, denseFloat, denseInt, empty, expectFloat } from './common.js';
import { contiguous, reshape, slice } from './views.js';
import { storedEmbedding } from './quantized.js';

function checkIndexRange(idx: Int32Array, n: number, op: string): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (v < 0 || v >= n) throw new StrataError('index', op, `index ${v} is out of range for a dimension of size ${n}`);
  }
}

/**
 * torch.gather: out[..., i, ...] = x[..., index[..., i, ...], ...] along `dim`. `index` has x's
 * rank and at most x's size on every other dim.
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  expectFloat(x, 'gather');
  const ax = normAxis(dim, x.ndim, 'gather');
  if (index.ndim !== x.ndim) throw new StrataError('shape', 'gather', `index ${fmtShape(index.shape)} must have the rank of input ${fmtShape(x.shape)}`);
  let src = x;
  for (let d = 0; d < x.ndim; d++) {
    if (d === ax) continue;
    if (index.shape[d]! > x.shape[d]!) {
      throw new StrataError('shape', 'gather', `index ${fmtShape(index.shape)} is larger than input ${fmtShape(x.shape)} on dim ${d}`);
    }
    if (index.shape[d]! < x.shape[d]!) src = slice(src, d, 0, index.shape[d]!);
  }
  const idx = denseInt(index, 'gather');
  checkIndexRange(idx, x.shape[ax]!, 'gather');
  const xf = contiguous(asFloat(src));
  const out = empty(xf.dtype, index.shape);
  const layout = axisLayout(xf.shape, ax);
  backend().gather(denseFloat(xf), layout, idx, index.shape[ax]!, out.data as FloatArray);
  return record('gather', [src], out, (g) => [scatterAdd(empty(g.dtype, src.shape), ax, index, g)]);
}

/** out = x with src added at index positions along `dim` (torch.scatter_add). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  expectFloat(x, 'scatterAdd');
  const ax = normAxis(dim, x.ndim, 'scatterAdd');
  if (index.ndim !== x.ndim || src.ndim !== x.ndim || index.shape.some((d, i) => d !== src.shape[i])) {
    throw new StrataError('shape', 'scatterAdd', `input ${fmtShape(x.shape)}, index ${fmtShape(index.shape)} and src ${fmtShape(src.shape)} must share rank, and index must match src`);
  }
  for (let d = 0; d < x.ndim; d++) {
    if (d !== ax && index.shape[d] !== x.shape[d]) {
      throw new StrataError('shape', 'scatterAdd', `index ${fmtShape(index.shape)} must match input ${fmtShape(x.shape)} except on dim ${ax}`);
    }
  }
  const idx = denseInt(index, 'scatterAdd');
  checkIndexRange(idx, x.shape[ax]!, 'scatterAdd');
  const out = empty(x.dtype === 'f64' ? 'f64' : 'f32', x.shape);
  backend().copy(asFloat(x, out.dtype as 'f32' | 'f64').view(), out.data);
  backend().scatterAdd(out.data as FloatArray, axisLayout(x.shape, ax), idx, index.shape[ax]!, denseFloat(contiguous(asFloat(src, out.dtype as 'f32' | 'f64'))));
  return record('scatterAdd', [x, src], out, (g) => [g, src.requiresGrad ? gather(g, ax, index) : null]);
}

/** Rows (or slices) of `x` picked by a 1-D index along `dim`. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  expectFloat(x, 'indexSelect');
  const ax = normAxis(dim, x.ndim, 'indexSelect');
  if (index.ndim > 1) throw new StrataError('shape', 'indexSelect', `index must be 1-D, got ${fmtShape(index.shape)}`);
  const idx = denseInt(index, 'indexSelect');
  checkIndexRange(idx, x.shape[ax]!, 'indexSelect');
  const xf = contiguous(asFloat(x));
  const shape = [...x.shape];
  shape[ax] = idx.length;
  const out = empty(xf.dtype, shape);
  backend().indexSelect(denseFloat(xf), axisLayout(x.shape, ax), idx, out.data as FloatArray);
  return record('indexSelect', [x], out, (g) => [indexAdd(empty(g.dtype, x.shape), ax, index, g)]);
}

/** out = x with src slices added at idx along `dim` (torch.index_add). */
export function indexAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const ax = normAxis(dim, x.ndim, 'indexAdd');
  const idx = denseInt(index, 'indexAdd');
  const expected = [...x.shape];
  expected[ax] = idx.length;
  if (src.ndim !== x.ndim || src.shape.some((d, i) => d !== expected[i])) {
    throw new StrataError('shape', 'indexAdd', `src ${fmtShape(src.shape)} must be ${fmtShape(expected)}`);
  }
  checkIndexRange(idx, x.shape[ax]!, 'indexAdd');
  const dt = x.dtype === 'f64' ? 'f64' : 'f32';
  const out = empty(dt, x.shape);
  backend().copy(asFloat(x, dt).view(), out.data);
  backend().indexAdd(out.data as FloatArray, axisLayout(x.shape, ax), idx, denseFloat(contiguous(asFloat(src, dt))));
  return record('indexAdd', [x, src], out, (g) => [g, src.requiresGrad ? indexSelect(g, ax, index) : null]);
}

/** Embedding lookup: weight (V, C) and integer ids (...) -> (..., C). */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.ndim !== 2) throw new StrataError('shape', 'embedding', `weight must be (V, C), got ${fmtShape(weight.shape)}`);
  // quantized and frozen f16/bf16 tables convert only the rows looked up
  const stored = storedEmbedding(weight, ids);
  if (stored) return stored;
  const flat = reshape(ids, [numel(ids.shape)]);
  const rows = indexSelect(weight, 0, flat);
  return reshape(rows, [...ids.shape, weight.shape[1]!]);
}
