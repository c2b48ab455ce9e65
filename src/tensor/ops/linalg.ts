import { StrataError, fmtShape } from '../../errors.js';
import type { FloatArray } from '../dtype.js';
import { broadcastShapes, numel } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { isGradEnabled, record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import type { GemmEpilogue, MatOperand } from '../../backend/backend.js';
import { asFloat, computeDType, denseFloat, emptyOverwritten, expectFloat } from './common.js';
import { sum } from './reduce.js';
import { gelu, sumToShape } from './elementwise.js';
import { contiguous, expand, reshape, slice, squeeze, transpose, unsqueeze } from './views.js';
import { cat } from './join.js';
import { noteStreamed, packedWeights } from './prepack.js';
import { GEMM_SKINNY_ROWS } from '../../backend/native.js';
import { usesWeightKernel, weightKernel, weightMatmul } from './quantized.js';

/**
 * Describes the last two dims of `t` (already broadcast to `batchShape`) as a GEMM operand,
 * reading transposed layouts in place. Returns null when the layout needs a copy first.
 */
function operand(t: Tensor, batchShape: readonly number[]): MatOperand | null {
  const nd = t.ndim;
  const rows = t.shape[nd - 2]!;
  const cols = t.shape[nd - 1]!;
  let rs = t.strides[nd - 2]!;
  let cs = t.strides[nd - 1]!;
  if (rows === 1) rs = cols;
  if (cols === 1) cs = 1;
  let trans: boolean;
  let ld: number;
  if (cs === 1 && rs >= cols) {
    trans = false;
    ld = Math.max(rs, 1);
  } else if (rs === 1 && cs >= rows) {
    trans = true;
    ld = Math.max(cs, 1);
  } else return null;
  // the batch dims must collapse into one stride
  const bs = t.strides.slice(0, nd - 2);
  let batchStride = 0;
  let expectNext: number | null = null;
  for (let i = batchShape.length - 1; i >= 0; i--) {
    const d = batchShape[i]!;
    if (d === 1) continue;
    const s = bs[i]!;
    if (expectNext === null) batchStride = s;
    else if (s !== expectNext) return null;
    expectNext = s * d;
  }
  return { data: t.data as FloatArray, offset: t.offset, ld, trans, batchStride };
}

/** `t` as a GEMM operand, copied once when GEMM cannot read its layout in place. */
function gemmOperand(t: Tensor, batchShape: readonly number[]): MatOperand {
  return operand(t, batchShape) ?? operand(contiguous(t), batchShape)!;
}

/** Matrix product with numpy/torch semantics: 1-D operands, broadcast batch dims, transposed views read in place. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  // quantized and f16/bf16 weights (b = W^T) run on their stored form: see ./quantized.ts
  if (usesWeightKernel(a, b)) return weightMatmul(a, b);
  expectFloat(a, 'matmul');
  expectFloat(b, 'matmul');
  if (a.ndim === 0 || b.ndim === 0) throw new StrataError('shape', 'matmul', `operands must be at least 1-D, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.ndim === 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.ndim === 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  const m = a.shape[a.ndim - 2]!;
  const k = a.shape[a.ndim - 1]!;
  const k2 = b.shape[b.ndim - 2]!;
  const n = b.shape[b.ndim - 1]!;
  if (k !== k2) throw new StrataError('shape', 'matmul', `inner dimensions differ: a ${fmtShape(a.shape)} vs b ${fmtShape(b.shape)}`);
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const dt = computeDType(a, b);
  const ea = expand(asFloat(a, dt), [...batchShape, m, k]);
  const eb = expand(asFloat(b, dt), [...batchShape, k, n]);
  const oa = gemmOperand(ea, batchShape);
  const ob = gemmOperand(eb, batchShape);
  const out = emptyOverwritten(dt, [...batchShape, m, n]); // the GEMM writes all of it (zeros when k = 0)
  const batch = numel(batchShape);
  if (batch > 0 && m > 0 && n > 0) backend().matmul(oa, ob, out.data as FloatArray, m, n, k, batch);
  return record('matmul', [a, b], out, (g) => [
    a.requiresGrad ? sumToShape(matmul(g, transpose(b, -1, -2)), a.shape) : null,
    b.requiresGrad ? sumToShape(matmul(transpose(a, -1, -2), g), b.shape) : null,
  ]);
}

/** y = x @ weight^T + bias, with weight (out, in) as torch.nn.Linear stores it. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return linearWith(x, weight, bias);
}

/**
 * gelu(x @ weight^T + bias): the GEMM applies GELU to each output tile while it is in cache, one
 * pass over the (M, N) output instead of two. The composed gelu(linear(...)) is the definition,
 * and runs whenever gradients are recorded (its backward needs the pre-activation) or the
 * operands do not fit the one-GEMM form.
 */
export function linearGelu(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (recordsGrad(x, weight, bias)) return gelu(linear(x, weight, bias), approximate);
  return linearWith(x, weight, bias, approximate === 'tanh' ? 'geluTanh' : 'gelu');
}

function recordsGrad(x: Tensor, weight: Tensor, bias: Tensor | null | undefined): boolean {
  return isGradEnabled() && (x.requiresGrad || weight.requiresGrad || (bias?.requiresGrad ?? false));
}

/**
 * Several linears of one input, x @ Wᵢᵀ + bᵢ (a layer's query, key and value projections): when
 * nothing records gradients they run as one GEMM over the weights stacked along out, packed once
 * and cached (./prepack.ts), and come back as column views of its (…, ΣNᵢ) output. The values
 * equal the separate linears bit for bit: every output element sums the same products in the
 * same K blocks. The separate linears are the definition, and run otherwise (training, other
 * dtypes, a backend that does not pack, a few rows).
 */
export function linearStack(x: Tensor, layers: readonly { readonly weight: Tensor; readonly bias: Tensor | null }[]): Tensor[] {
  const composed = () => layers.map((l) => linear(x, l.weight, l.bias));
  const k = x.shape[x.ndim - 1]!;
  const lead = x.shape.slice(0, -1);
  const m = numel(lead);
  const withBias = layers[0]?.bias !== null;
  const x2 = x.ndim === 2 ? x : reshape(x, [m, k]);
  // each layer as linear would take it packed, and all with a bias or none
  const fits = layers.every((l) => l.weight.ndim === 2 && l.weight.shape[1] === k && (l.bias === null) === !withBias && prepackable(x2, l.weight, l.bias));
  if (layers.length < 2 || !fits) return composed();
  const packed = packedWeights(layers.map((l) => l.weight));
  if (!packed) return composed();
  const out = emptyOverwritten('f32', [m, packed.n]); // every row starts as the stacked biases
  const bias = withBias ? denseFloat(cat(layers.map((l) => l.bias!), 0)) : undefined;
  backend().matmulPacked(gemmOperand(x2, []), packed, out.data as FloatArray, m, undefined, bias);
  let at = 0;
  return layers.map((l) => {
    const n = l.weight.shape[0]!;
    const cols = slice(out, 1, at, (at += n)); // (M, N) with rows ΣN apart
    return reshape(cols, [...lead, n]);
  });
}

function linearWith(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, epilogue?: GemmEpilogue): Tensor {
  if (weight.ndim !== 2) throw new StrataError('shape', 'linear', `weight must be (out, in), got ${fmtShape(weight.shape)}`);
  if (x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new StrataError('shape', 'linear', `input ${fmtShape(x.shape)} does not end in in_features ${weight.shape[1]} of weight ${fmtShape(weight.shape)}`);
  }
  // fold leading dims into rows so one GEMM covers the whole batch
  const lead = x.shape.slice(0, -1);
  const x2 = x.ndim === 2 ? x : reshape(x, [numel(lead), weight.shape[1]!]);
  let y: Tensor;
  const packed = prepackable(x2, weight, bias) ? packedWeights([weight]) : null;
  if (packed) {
    // inference on a weight packed once (./prepack.ts): the values of the GEMM below, bit for bit
    y = emptyOverwritten('f32', [x2.shape[0]!, packed.n]); // every row starts as the bias
    backend().matmulPacked(gemmOperand(x2, []), packed, y.data as FloatArray, x2.shape[0]!, epilogue, bias ? denseFloat(bias) : undefined);
  } else if (bias && x2.dtype === weight.dtype && bias.dtype === weight.dtype && (weight.dtype === 'f32' || weight.dtype === 'f64') && bias.ndim === 1 && bias.shape[0] === weight.shape[0]) {
    y = biasedGemm(x2, weight, bias, epilogue);
  } else {
    y = matmul(x2, transpose(weight, 0, 1));
    if (bias) y = y.add(bias);
    if (epilogue) y = gelu(y, epilogue === 'geluTanh' ? 'tanh' : 'none');
  }
  return x.ndim === 2 ? y : reshape(y, [...lead, weight.shape[0]!]);
}

/** out (M, N) = linear(x, weight, bias) for M contiguous rows x (M, K) of f32; see linearRowKernel. */
export type LinearRowKernel = (x: Float32Array, m: number, out: Float32Array) => void;

/**
 * The backend calls that linear(x, weight, bias) makes for up to GEMM_SKINNY_ROWS rows of f32
 * activations when nothing records gradients, with linearWith's arguments (so its floats), for
 * code that holds raw rows (a decode step, src/models/llama-decode.ts); null for operands it
 * would treat otherwise. The calls read the weight's and bias's storage when made, so in-place
 * writes are seen. More rows would take a packed weight: callers keep m <= GEMM_SKINNY_ROWS.
 */
export function linearRowKernel(weight: Tensor, bias: Tensor | null): LinearRowKernel | null {
  if (weight.ndim !== 2) return null;
  const [n, k] = weight.shape as [number, number];
  if (bias && (bias.dtype !== 'f32' || bias.ndim !== 1 || bias.shape[0] !== n || !bias.isContiguous)) return null;
  const b = bias ? (denseFloat(bias) as Float32Array) : undefined;
  const weights = weightKernel(weight); // block-quantized or frozen f16/bf16: matmul's weight kernel, then + bias
  if (weights) {
    if (!b) return weights;
    const scratch = new Float32Array(n * GEMM_SKINNY_ROWS);
    return (x, m, out) => {
      weights(x, m, scratch);
      // y.add(bias): the bias broadcast over the rows
      backend().binary('add', { data: scratch, shape: [m, n], strides: [n, 1], offset: 0 }, { data: b, shape: [m, n], strides: [0, 1], offset: 0 }, out);
    };
  }
  if (weight.dtype !== 'f32') return null;
  // a few rows stream the weight (prepackable notes it, so no packed copy is kept): the GEMM on
  // W^T, with the bias as the output's start when there is one (biasedGemm)
  noteStreamed(weight);
  const wt = operand(transpose(weight, 0, 1), []);
  if (!wt) return null;
  return (x, m, out) => {
    const xa: MatOperand = { data: x, offset: 0, ld: k, trans: false, batchStride: 0 };
    if (b) backend().matmul(xa, wt, out, m, n, k, 1, false, undefined, b);
    else backend().matmul(xa, wt, out, m, n, k, 1);
  };
}

/**
 * Whether linear(x2, weight, bias) may read a packed weight: f32 throughout, nothing recorded
 * (a training step would pack weights that change after it), and a shape the GEMM runs blocked
 * (fewer rows stream the weight unpacked, and packing would not pay).
 */
function prepackable(x2: Tensor, weight: Tensor, bias: Tensor | null | undefined): boolean {
  const [m, k] = x2.shape as [number, number];
  const n = weight.shape[0]!;
  if (x2.dtype !== 'f32' || weight.dtype !== 'f32' || k === 0) return false;
  if (m <= GEMM_SKINNY_ROWS) {
    // a decode step reads the weight itself: a packed copy would keep both resident
    noteStreamed(weight);
    return false;
  }
  if (n <= GEMM_SKINNY_ROWS) return false;
  if (bias && (bias.dtype !== 'f32' || bias.ndim !== 1 || bias.shape[0] !== n)) return false;
  return !recordsGrad(x2, weight, bias);
}

/**
 * x (M, K) @ W^T + b in one GEMM: each output row starts as b and the product is added to it.
 * The backend writes b into each output tile just before the tile's first products land on it,
 * rather than over the whole output first (a pass of M x N through memory).
 */
function biasedGemm(x2: Tensor, weight: Tensor, bias: Tensor, epilogue?: GemmEpilogue): Tensor {
  const [m, k] = x2.shape as [number, number];
  const n = weight.shape[0]!;
  const out = emptyOverwritten(weight.dtype, [m, n]); // every row starts as the bias
  const od = out.data as FloatArray;
  if (m > 0 && n > 0) {
    const oa = gemmOperand(x2, []);
    const ob = gemmOperand(transpose(weight, 0, 1), []);
    backend().matmul(oa, ob, od, m, n, k, 1, false, epilogue, denseFloat(bias));
  }
  // an epilogue runs only when nothing is recorded (see linearGelu): out is then not the linear's
  if (epilogue) return out;
  return record('linear', [x2, weight, bias], out, (g) => [
    x2.requiresGrad ? matmul(g, weight) : null,
    weight.requiresGrad ? matmul(transpose(g, 0, 1), x2) : null,
    bias.requiresGrad ? sum(g, 0) : null,
  ]);
}
