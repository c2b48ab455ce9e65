import { StrataError, fmtShape } from '../../errors.js';
import type { FloatArray } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import { record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import type { Conv2dGeometry } from '../../backend/backend.js';
import { asFloat, computeDType, denseFloat, empty, expectFloat, expectRank } from './common.js';
import { matmul } from './linalg.js';
import { contiguous, reshape, squeeze, unsqueeze } from './views.js';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
}

function pair(v: Pair | undefined, dflt: number, what: string, op: string, min: number): [number, number] {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((x) => Number.isInteger(x) && x >= min)) throw new StrataError('argument', op, `${what} must be integers >= ${min}, got ${p.join(', ')}`);
  return p;
}

function geometry(shape: readonly number[], kh: number, kw: number, o: Conv2dOptions, op: string): Conv2dGeometry {
  const [strideH, strideW] = pair(o.stride, 1, 'stride', op, 1);
  const [padH, padW] = pair(o.padding, 0, 'padding', op, 0);
  const [dilationH, dilationW] = pair(o.dilation, 1, 'dilation', op, 1);
  const [batch, channels, height, width] = shape as [number, number, number, number];
  const outH = Math.floor((height + 2 * padH - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((width + 2 * padW - dilationW * (kw - 1) - 1) / strideW) + 1;
  if (outH <= 0 || outW <= 0) {
    throw new StrataError('shape', op, `kernel ${kh}x${kw} does not fit input ${fmtShape(shape)} with padding ${padH},${padW} and dilation ${dilationH},${dilationW}`);
  }
  return { batch, channels, height, width, kernelH: kh, kernelW: kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW };
}

/** im2col: (B, C, H, W) -> (B, C*kh*kw, outH*outW). */
function unfoldWith(x: Tensor, g: Conv2dGeometry): Tensor {
  const xf = contiguous(asFloat(x));
  const out = empty(xf.dtype, [g.batch, g.channels * g.kernelH * g.kernelW, g.outH * g.outW]);
  backend().im2col(denseFloat(xf), g, out.data as FloatArray);
  return record('unfold', [x], out, (grad) => [foldWith(grad, g)]);
}

/** col2im, the adjoint of unfold: (B, C*kh*kw, L) -> (B, C, H, W), summing overlaps. */
function foldWith(cols: Tensor, g: Conv2dGeometry): Tensor {
  const cf = contiguous(asFloat(cols));
  const out = empty(cf.dtype, [g.batch, g.channels, g.height, g.width]);
  backend().col2im(denseFloat(cf), g, out.data as FloatArray);
  return record('fold', [cols], out, (grad) => [unfoldWith(grad, g)]);
}

/** Sliding local blocks of a (B, C, H, W) input, as torch.nn.functional.unfold. */
export function unfold(x: Tensor, kernel: Pair, options: Omit<Conv2dOptions, 'groups'> = {}): Tensor {
  expectRank(x, 4, 'unfold');
  const [kh, kw] = pair(kernel, 1, 'kernel', 'unfold', 1);
  return unfoldWith(x, geometry(x.shape, kh, kw, options, 'unfold'));
}

/**
 * 2-D convolution (cross-correlation, as torch): x (B, C, H, W), weight (O, C/groups, kh, kw),
 * bias (O). Runs as im2col + one batched GEMM per group.
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  expectFloat(x, 'conv2d');
  expectRank(x, 4, 'conv2d');
  expectRank(weight, 4, 'conv2d', 'weight');
  const groups = options.groups ?? 1;
  const [, c] = x.shape as [number, number];
  const [o, cg, kh, kw] = weight.shape as [number, number, number, number];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0 || o % groups !== 0) {
    throw new StrataError('argument', 'conv2d', `groups ${groups} must divide input channels ${c} and output channels ${o}`);
  }
  if (cg !== c / groups) {
    throw new StrataError('shape', 'conv2d', `weight ${fmtShape(weight.shape)} expects ${cg * groups} input channels, input ${fmtShape(x.shape)} has ${c}`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== o)) throw new StrataError('shape', 'conv2d', `bias must be (${o},), got ${fmtShape(bias.shape)}`);
  const g = geometry(x.shape, kh, kw, options, 'conv2d');
  const dt = computeDType(x, weight);
  const cols = unfoldWith(asFloat(x, dt), g); // (B, C*kh*kw, L)
  const L = g.outH * g.outW;
  const colsG = reshape(cols, [g.batch, groups, cg * kh * kw, L]);
  const w = reshape(asFloat(weight, dt), [groups, o / groups, cg * kh * kw]);
  let y = matmul(w, colsG); // (B, G, O/G, L)
  y = reshape(y, [g.batch, o, g.outH, g.outW]);
  if (bias) y = y.add(reshape(asFloat(bias, dt), [1, o, 1, 1]));
  return y;
}

/** 1-D convolution: x (B, C, L), weight (O, C/groups, k), bias (O). */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv1dOptions = {}): Tensor {
  expectRank(x, 3, 'conv1d');
  expectRank(weight, 3, 'conv1d', 'weight');
  const y = conv2d(unsqueeze(x, 2), unsqueeze(weight, 2), bias, {
    stride: [1, options.stride ?? 1],
    padding: [0, options.padding ?? 0],
    dilation: [1, options.dilation ?? 1],
    groups: options.groups ?? 1,
  });
  return squeeze(y, 2);
}
