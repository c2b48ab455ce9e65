import { StrataError, fmtShape } from '../../errors.js';
import { normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import { asFloat, computeDType, empty } from './common.js';
import { slice, unsqueeze } from './views.js';

/** Joins tensors along an existing dimension. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new StrataError('argument', 'cat', 'needs at least one tensor');
  const first = tensors[0]!;
  const ax = normAxis(dim, first.ndim, 'cat');
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new StrataError('shape', 'cat', `shapes ${tensors.map((x) => fmtShape(x.shape)).join(', ')} differ outside dim ${ax}`);
    }
  }
  const sameType = tensors.every((t) => t.dtype === first.dtype);
  const dt = sameType ? first.dtype : computeDType(...tensors);
  const parts = sameType ? [...tensors] : tensors.map((t) => asFloat(t, dt as 'f32' | 'f64'));
  const shape = [...first.shape];
  shape[ax] = parts.reduce((s, t) => s + t.shape[ax]!, 0);
  const out = empty(dt, shape);
  let at = 0;
  for (const t of parts) {
    const strides = out.strides;
    backend().assign({ data: out.data, shape: t.shape, strides, offset: at * strides[ax]! }, t.view());
    at += t.shape[ax]!;
  }
  return record('cat', parts, out, (g) => {
    let start = 0;
    return parts.map((t) => {
      const s = slice(g, ax, start, start + t.shape[ax]!);
      start += t.shape[ax]!;
      return t.requiresGrad ? s : null;
    });
  });
}

/** Joins same-shaped tensors along a new dimension. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new StrataError('argument', 'stack', 'needs at least one tensor');
  const ax = normAxis(dim, tensors[0]!.ndim + 1, 'stack');
  for (const t of tensors) {
    if (t.ndim !== tensors[0]!.ndim || t.shape.some((d, i) => d !== tensors[0]!.shape[i])) {
      throw new StrataError('shape', 'stack', `shapes ${tensors.map((x) => fmtShape(x.shape)).join(', ')} differ`);
    }
  }
  return cat(
    tensors.map((t) => unsqueeze(t, ax)),
    ax,
  );
}

/** Views of consecutive pieces along `dim`: a piece size, or an explicit list of sizes. */
export function split(t: Tensor, sizes: number | readonly number[], dim = 0): Tensor[] {
  const ax = normAxis(dim, t.ndim, 'split');
  const total = t.shape[ax]!;
  let list: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0) throw new StrataError('argument', 'split', `piece size must be a positive integer, got ${sizes}`);
    list = [];
    for (let s = 0; s < total; s += sizes) list.push(Math.min(sizes, total - s));
  } else {
    list = [...sizes];
    if (list.some((s) => !Number.isInteger(s) || s < 0) || list.reduce((a, b) => a + b, 0) !== total) {
      throw new StrataError('shape', 'split', `sizes [${list.join(', ')}] do not add up to ${total} (dim ${ax} of ${fmtShape(t.shape)})`);
    }
  }
  let start = 0;
  return list.map((s) => {
    const piece = slice(t, ax, start, start + s);
    start += s;
    return piece;
  });
}

/** Splits into `chunks` nearly equal views along `dim`. */
export function chunk(t: Tensor, chunks: number, dim = 0): Tensor[] {
  const ax = normAxis(dim, t.ndim, 'chunk');
  return split(t, Math.max(1, Math.ceil(t.shape[ax]! / chunks)), ax);
}
