import { StrataError, fmtShape } from '../../errors.js';
import type { FloatArray } from '../dtype.js';
import { normAxes, normAxis, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import type { ReduceOp } from '../../backend/backend.js';
import { asFloat, denseFloat, empty, expectFloat } from './common.js';
import { div, square, sub } from './elementwise.js';
import { contiguous, expand, permute, reshape } from './views.js';
import { gather } from './indexing.js';

function keptShape(shape: readonly number[], axes: readonly number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** Reduces `x` over sorted `axes` with one backend call (permuting first when the axes are not adjacent). */
function reduceKernel(op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean): Tensor {
  const xf = asFloat(x);
  const outShape = keptShape(xf.shape, axes, keepdim);
  const out = empty(xf.dtype, outShape);
  if (axes.length === 0) {
    backend().copy(xf.view(), out.data);
    return out;
  }
  const adjacent = axes[axes.length - 1]! - axes[0]! === axes.length - 1;
  let src = xf;
  let layout;
  if (adjacent) {
    layout = {
      outer: numel(xf.shape.slice(0, axes[0]!)),
      n: numel(axes.map((a) => xf.shape[a]!)),
      inner: numel(xf.shape.slice(axes[axes.length - 1]! + 1)),
    };
  } else {
    const kept = xf.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    src = permute(xf, [...kept, ...axes]);
    layout = { outer: numel(kept.map((a) => xf.shape[a]!)), n: numel(axes.map((a) => xf.shape[a]!)), inner: 1 };
  }
  if (layout.n === 0 && (op === 'max' || op === 'min')) {
    throw new StrataError('shape', op, `cannot reduce over an empty dimension of ${fmtShape(x.shape)}`);
  }
  backend().reduce(op, denseFloat(contiguous(src)), layout, out.data as FloatArray);
  return out;
}

export function sum(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  const axes = normAxes(dim, x.ndim, 'sum');
  const y = reduceKernel('sum', x, axes, keepdim);
  return record('sum', [x], y, (g) => [expand(reshape(g, keptShape(x.shape, axes, true)), x.shape)]);
}

export function mean(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  const axes = normAxes(dim, x.ndim, 'mean');
  const n = numel(axes.map((a) => x.shape[a]!));
  return div(sum(x, axes, keepdim), n);
}

/** Population variance with Bessel-style `correction` (default 1, as torch.var). */
export function variance(x: Tensor, dim?: number | readonly number[], options: { correction?: number; keepdim?: boolean } = {}): Tensor {
  const axes = normAxes(dim, x.ndim, 'var');
  const n = numel(axes.map((a) => x.shape[a]!));
  const c = options.correction ?? 1;
  const mu = mean(x, axes, true);
  return div(sum(square(sub(x, mu)), axes, options.keepdim ?? false), Math.max(n - c, 0));
}

function argKernel(op: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  expectFloat(x, op);
  if (x.size === 0) throw new StrataError('shape', op, `cannot take ${op} of an empty tensor ${fmtShape(x.shape)}`);
  if (dim === undefined) {
    const flat = reshape(x, [x.size]);
    const r = argKernel(op, flat, 0, false);
    return keepdim ? reshape(r, x.shape.map(() => 1)) : r;
  }
  const ax = normAxis(dim, x.ndim, op);
  const xf = contiguous(asFloat(x));
  const out = empty('i32', keptShape(x.shape, [ax], keepdim));
  backend().argReduce(
    op,
    denseFloat(xf),
    { outer: numel(x.shape.slice(0, ax)), n: x.shape[ax]!, inner: numel(x.shape.slice(ax + 1)) },
    out.data as Int32Array,
  );
  return out;
}

export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argKernel('argmax', x, dim, keepdim);
}

export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argKernel('argmin', x, dim, keepdim);
}

/** Maximum values (the gradient flows to the first maximal element, as an index pick). */
export function max(x: Tensor, dim?: number, keepdim = false): Tensor {
  return pick('argmax', x, dim, keepdim);
}

export function min(x: Tensor, dim?: number, keepdim = false): Tensor {
  return pick('argmin', x, dim, keepdim);
}

function pick(op: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  if (dim === undefined) {
    const r = pick(op, reshape(x, [x.size]), 0, false);
    return keepdim ? reshape(r, x.shape.map(() => 1)) : r;
  }
  const ax = normAxis(dim, x.ndim, op === 'argmax' ? 'max' : 'min');
  const idx = argKernel(op, x, ax, true);
  const vals = gather(x, ax, idx);
  return keepdim ? vals : reshape(vals, keptShape(x.shape, [ax], false));
}

/** log(sum(exp(x))) along `dim`, computed stably. */
export function logsumexp(x: Tensor, dim: number, keepdim = false): Tensor {
  const ax = normAxis(dim, x.ndim, 'logsumexp');
  const m = max(x, ax, true).detach();
  const s = sum(sub(x, m).exp(), ax, true).log().add(m);
  return keepdim ? s : reshape(s, keptShape(x.shape, [ax], false));
}
