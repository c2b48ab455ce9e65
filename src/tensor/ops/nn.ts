import { StrataError, fmtShape } from '../../errors.js';
import type { FloatArray } from '../dtype.js';
import { normAxis, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { isGradEnabled, record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import { Generator, defaultGenerator } from '../random.js';
import { asFloat, computeDType, denseFloat, empty, emptyOverwritten, expectFloat } from './common.js';
import { add, exp, mul, sub } from './elementwise.js';
import { mean, sum } from './reduce.js';
import { contiguous, reshape, transpose } from './views.js';
import { rand } from './creation.js';

function lastDimKernel(x: Tensor, log: boolean): Tensor {
  const xf = contiguous(asFloat(x));
  const cols = x.shape[x.ndim - 1] ?? 1;
  const out = empty(xf.dtype, x.shape);
  backend().softmax(denseFloat(xf), cols === 0 ? 0 : xf.size / cols, cols, out.data as FloatArray, log);
  return out;
}

function softmaxLast(x: Tensor): Tensor {
  const y = lastDimKernel(x, false);
  // dx = y * (g - sum(g * y))
  return record('softmax', [x], y, (g) => [mul(y, sub(g, sum(mul(g, y), -1, true)))]);
}

function logSoftmaxLast(x: Tensor): Tensor {
  const y = lastDimKernel(x, true);
  // dx = g - softmax * sum(g)
  return record('logSoftmax', [x], y, (g) => [sub(g, mul(exp(y), sum(g, -1, true)))]);
}

function alongLast(x: Tensor, dim: number, op: string, f: (t: Tensor) => Tensor): Tensor {
  expectFloat(x, op);
  if (x.ndim === 0) throw new StrataError('shape', op, 'input must be at least 1-D');
  const ax = normAxis(dim, x.ndim, op);
  if (ax === x.ndim - 1) return f(x);
  return transpose(f(transpose(x, ax, -1)), ax, -1);
}

export function softmax(x: Tensor, dim = -1): Tensor {
  return alongLast(x, dim, 'softmax', softmaxLast);
}

export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return alongLast(x, dim, 'logSoftmax', logSoftmaxLast);
}

function checkNormParam(p: Tensor | null | undefined, cols: number, op: string, what: string): void {
  if (p && (p.ndim !== 1 || p.shape[0] !== cols)) {
    throw new StrataError('shape', op, `${what} must be (${cols},), got ${fmtShape(p.shape)}`);
  }
}

/** Layer normalization over the last dimension, with optional affine weight and bias. */
export function layerNorm(x: Tensor, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return normalize(x, null, weight, bias, eps);
}

/**
 * layerNorm(x + residual): a post-norm transformer block's residual connection and norm (BERT).
 * When nothing records gradients and the shapes match, one pass adds each row and normalizes it
 * while it is in cache (ONNX Runtime's SkipLayerNormalization), with the same values as the two
 * ops; otherwise it is the two ops.
 */
export function addLayerNorm(x: Tensor, residual: Tensor, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  expectFloat(x, 'addLayerNorm');
  expectFloat(residual, 'addLayerNorm');
  const tracked = isGradEnabled() && [x, residual, weight, bias].some((t) => t?.requiresGrad);
  const fusable = !tracked && shapesEqual(x.shape, residual.shape) && computeDType(x) === computeDType(residual);
  return fusable ? normalize(x, residual, weight, bias, eps) : layerNorm(add(x, residual), weight, bias, eps);
}

function normalize(x: Tensor, residual: Tensor | null, weight: Tensor | null | undefined, bias: Tensor | null | undefined, eps: number): Tensor {
  const op = residual ? 'addLayerNorm' : 'layerNorm';
  expectFloat(x, op);
  const cols = x.shape[x.ndim - 1]!;
  checkNormParam(weight, cols, op, 'weight');
  checkNormParam(bias, cols, op, 'bias');
  const dt = computeDType(x);
  const xf = contiguous(asFloat(x, dt));
  const rows = cols === 0 ? 0 : xf.size / cols;
  const out = emptyOverwritten(dt, x.shape); // every row normalized into it
  const mu = empty(dt, [rows, 1]);
  const rstd = empty(dt, [rows, 1]);
  const w = weight ? denseFloat(asFloat(weight, dt)) : null;
  const b = bias ? denseFloat(asFloat(bias, dt)) : null;
  const r = residual ? denseFloat(asFloat(residual, dt)) : null;
  backend().layerNorm(denseFloat(xf), w, b, rows, cols, eps, out.data as FloatArray, mu.data as FloatArray, rstd.data as FloatArray, r);
  if (residual) return out; // only reached when nothing records gradients
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record('layerNorm', inputs, out, (g) => {
    const g2 = reshape(g, [rows, cols]);
    const xhat = mul(sub(reshape(xf, [rows, cols]), mu), rstd);
    const gxhat = weight ? mul(g2, weight) : g2;
    // dx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat))
    const dx = mul(rstd, sub(sub(gxhat, mean(gxhat, -1, true)), mul(xhat, mean(mul(gxhat, xhat), -1, true))));
    const grads: (Tensor | null)[] = [x.requiresGrad ? reshape(dx, x.shape) : null];
    if (weight) grads.push(weight.requiresGrad ? sum(mul(g2, xhat), 0) : null);
    if (bias) grads.push(bias.requiresGrad ? sum(g2, 0) : null);
    return grads;
  });
}

/** RMS normalization over the last dimension (LLaMA): x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: Tensor, weight?: Tensor | null, eps = 1e-6): Tensor {
  expectFloat(x, 'rmsNorm');
  const cols = x.shape[x.ndim - 1]!;
  checkNormParam(weight, cols, 'rmsNorm', 'weight');
  const dt = computeDType(x);
  const xf = contiguous(asFloat(x, dt));
  const rows = cols === 0 ? 0 : xf.size / cols;
  const out = empty(dt, x.shape);
  const rstd = empty(dt, [rows, 1]);
  const w = weight ? denseFloat(asFloat(weight, dt)) : null;
  backend().rmsNorm(denseFloat(xf), w, rows, cols, eps, out.data as FloatArray, rstd.data as FloatArray);
  const inputs = weight ? [x, weight] : [x];
  return record('rmsNorm', inputs, out, (g) => {
    const g2 = reshape(g, [rows, cols]);
    const xhat = mul(reshape(xf, [rows, cols]), rstd);
    const gxhat = weight ? mul(g2, weight) : g2;
    const dx = mul(rstd, sub(gxhat, mul(xhat, mean(mul(gxhat, xhat), -1, true))));
    const grads: (Tensor | null)[] = [x.requiresGrad ? reshape(dx, x.shape) : null];
    if (weight) grads.push(weight.requiresGrad ? sum(mul(g2, xhat), 0) : null);
    return grads;
  });
}

/** Inverted dropout: zeroes elements with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p: number, training = true, generator: Generator = defaultGenerator): Tensor {
  if (!(p >= 0 && p < 1)) {
    if (p === 1 && training) return mul(x, 0);
    if (!(p >= 0 && p <= 1)) throw new StrataError('argument', 'dropout', `probability must be in [0, 1], got ${p}`);
  }
  if (!training || p === 0) return x;
  const keep = rand(x.shape, { generator, dtype: computeDType(x) });
  const kd = keep.data as FloatArray;
  const scale = 1 / (1 - p);
  for (let i = 0; i < kd.length; i++) kd[i] = kd[i]! >= p ? scale : 0;
  return mul(x, keep);
}

