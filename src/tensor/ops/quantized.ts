// Ops on weights stored in GGUF block formats (q8_0, q4_0, q4_k, q6_k) and in f16/bf16: the
// matmul that runs on the stored weights, embedding lookups that convert only the rows asked
// for, and the explicit conversions (.to('q8_0'), .to('f32')). A quantized tensor supports these
// and views that keep its blocks whole; every other op rejects its dtype.
//
// Letters: M rows of activations, N out features (rows of W), K in features, V vocabulary, C
// channels, B values per block.

import { StrataError, fmtShape } from '../../errors.js';
import { type QuantDType, QUANT_BLOCKS, bf16ToF32, byteSize, f16ToF32, isQuantized } from '../dtype.js';
import { numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import { readMappedRows } from '../../backend/native.js';
import { quantizeRows } from '../quant.js';
import { asFloat, denseFloat, denseInt, empty, expectFloat } from './common.js';
import { matmul } from './linalg.js';
import { reshape, squeeze, transpose, unsqueeze } from './views.js';

/** Helpers between an op and the point where a block-quantized input is refused. */
const HELPERS = new Set(['asFloat', 'view', 'floatView', 'denseFloat', 'reduceKernel', 'argKernel', 'unaryKernel', 'unaryOp', 'binaryKernel', 'binaryOp', 'compareOp', 'toTensor', 'blockedOp', 'refuseBlocks']);

/** The public op that is running (read from the stack: this runs only on the error path). */
function blockedOp(): string {
  for (const line of (new Error().stack ?? '').split('\n').slice(1)) {
    const m = /at (?:Tensor\.|Object\.|Module\.)?([A-Za-z_$][\w$]*) \(.*[\\/]tensor[\\/](?:ops[\\/])?\w+\.[jt]s:/.exec(line);
    if (m && !HELPERS.has(m[1]!)) return m[1]!;
  }
  return 'op';
}

/** The StrataError for a block-quantized tensor reaching an op that cannot take one. */
export function refuseBlocks(t: Tensor): StrataError {
  return new StrataError(
    'dtype',
    blockedOp(),
    `${t.dtype} ${fmtShape(t.shape)} is a block-quantized weight: only linear / matmul(x, w.T), embedding, views and .to() take it; dequantize with .to('f32') first`,
  );
}

/** W (N, K) seen through b = W^T (K, N): where its rows start and how far apart they are (elements). */
interface WeightRows {
  readonly n: number;
  readonly k: number;
  readonly offset: number;
  readonly ld: number;
}

/** The rows of W when b is a transposed row-major (N, K) matrix (as linear's weight.T is), else null. */
function weightRows(b: Tensor): WeightRows | null {
  if (b.ndim !== 2) return null;
  const k = b.shape[0]!;
  const n = b.shape[1]!;
  if (k > 1 && b.strides[0] !== 1) return null;
  const ld = n > 1 ? b.strides[1]! : k;
  if (n > 1 && ld < k) return null;
  return { n, k, offset: b.offset, ld };
}

const isHalf = (t: Tensor) => t.dtype === 'f16' || t.dtype === 'bf16';

/**
 * Whether matmul(a, b) runs on the stored weight: b a block-quantized weight, or an f16/bf16
 * weight (not being trained) seen as W^T, against f32/f16/bf16 activations. A quantized a is
 * routed here too, to be refused with a clear message.
 */
export function usesWeightKernel(a: Tensor, b: Tensor): boolean {
  if (isQuantized(a.dtype) || isQuantized(b.dtype)) return true;
  return isHalf(b) && !b.requiresGrad && a.dtype !== 'f64' && weightRows(b) !== null;
}

/** The bytes of a block view from its first block on, and the byte distance between its rows. */
function blockBytes(t: Tensor, rowStride: number): { bytes: Uint8Array; ld: number } {
  const { values, bytes } = QUANT_BLOCKS[t.dtype as QuantDType];
  return { bytes: (t.data as Uint8Array).subarray((t.offset / values) * bytes), ld: (rowStride / values) * bytes };
}

/** out (M, N) = x (M, K) · W^T for a weight kernel's W (N, K); see weightKernel. */
export type WeightKernel = (x: Float32Array, m: number, out: Float32Array) => void;

/**
 * The backend call that linear(x, weight) makes for a block-quantized or frozen f16/bf16 weight
 * (N, K), with weightMatmul's arguments, for code that holds raw rows (a decode step,
 * src/models/llama-decode.ts); null for a weight linear runs otherwise. It reads the weight's
 * storage when called, so in-place writes to it are seen.
 */
export function weightKernel(weight: Tensor): WeightKernel | null {
  if (weight.ndim !== 2) return null;
  const b = weight.transpose(0, 1); // W^T, as linear passes it to matmul
  // usesWeightKernel for f32 activations (b records nothing when built, as in a forward without gradients)
  if (!isQuantized(b.dtype) && !(isHalf(b) && !b.requiresGrad)) return null;
  const rows = weightRows(b);
  return rows ? kernelOf(b, rows) : null;
}

/** The backend call for W^T = b (block-quantized or f16/bf16) with these rows. */
function kernelOf(b: Tensor, rows: WeightRows): WeightKernel {
  const { n, k } = rows;
  if (isQuantized(b.dtype)) {
    const dtype = b.dtype as QuantDType;
    const w = blockBytes(b, rows.ld);
    return (x, m, out) => backend().quantMatmul(dtype, w.bytes, w.ld, x, m, n, k, out);
  }
  const dtype = b.dtype as 'f16' | 'bf16';
  const data = b.data as Uint16Array;
  return (x, m, out) => backend().halfMatmul(dtype, data, rows.offset, rows.ld, x, m, n, k, out);
}

/** y (..., N) = x (..., K) · W^T where b = W^T (K, N) is a block-quantized or f16/bf16 weight view. */
export function weightMatmul(a: Tensor, b: Tensor): Tensor {
  if (isQuantized(a.dtype)) {
    throw new StrataError('dtype', 'matmul', `a ${a.dtype} tensor can only be the weight: use linear(x, w) or x.matmul(w.T) with w (out, in)`);
  }
  expectFloat(a, 'matmul');
  const rows = weightRows(b);
  if (!rows) {
    throw new StrataError(
      'dtype',
      'matmul',
      `a ${b.dtype} operand ${fmtShape(b.shape)} must be the transpose of a row-major (out, in) weight, as in x.matmul(w.T) or linear(x, w)`,
    );
  }
  if (a.ndim === 0) throw new StrataError('shape', 'matmul', `operands must be at least 1-D, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.ndim === 1) return squeeze(weightMatmul(unsqueeze(a, 0), b), -2);
  const { n, k } = rows;
  if (a.shape[a.ndim - 1] !== k) throw new StrataError('shape', 'matmul', `inner dimensions differ: a ${fmtShape(a.shape)} vs b ${fmtShape(b.shape)}`);
  const lead = a.shape.slice(0, -1);
  const m = numel(lead);
  const x = denseFloat(asFloat(a, 'f32')) as Float32Array; // (M, K)
  const out = empty('f32', [...lead, n]); // (..., N)
  if (m > 0 && n > 0) kernelOf(b, rows)(x, m, out.data as Float32Array);
  // only x gets a gradient: dx = g · W, with W converted to f32 for the backward pass
  return record('matmul', [a], out, (g) => [matmul(g, transpose(b.to('f32'), -1, -2))]);
}

/** The stored rows of a (V, C) weight, as embedding reads them. */
function embeddingRows(weight: Tensor): { ld: number } {
  const c = weight.shape[1]!;
  if (c > 1 && weight.strides[1] !== 1) {
    throw new StrataError('dtype', 'embedding', `a ${weight.dtype} weight ${fmtShape(weight.shape)} must have its rows contiguous (got strides [${weight.strides.join(', ')}])`);
  }
  return { ld: weight.shape[0]! > 1 ? weight.strides[0]! : c };
}

function checkIds(idx: Int32Array, v: number): void {
  for (let i = 0; i < idx.length; i++) {
    const id = idx[i]!;
    if (id < 0 || id >= v) throw new StrataError('index', 'embedding', `index ${id} is out of range for a dimension of size ${v}`);
  }
}

/**
 * Embedding lookup on a quantized or (frozen) f16/bf16 weight (V, C): only the rows of `ids` are
 * converted, into f32 (..., C). Returns null for weights the generic path handles.
 */
export function storedEmbedding(weight: Tensor, ids: Tensor): Tensor | null {
  if (!isQuantized(weight.dtype) && !(isHalf(weight) && !weight.requiresGrad)) return null;
  const [v, c] = weight.shape as [number, number];
  const idx = denseInt(reshape(ids, [numel(ids.shape)]), 'embedding');
  checkIds(idx, v);
  const out = empty('f32', [idx.length, c]); // (T, C)
  const y = out.data as Float32Array;
  const { ld } = embeddingRows(weight);
  if (idx.length > 0 && c > 0) {
    // the rows are read from the file when the weight is a mapping of it (backend/native.ts: readMappedRows)
    if (isQuantized(weight.dtype)) {
      const w = blockBytes(weight, ld);
      const rowBytes = byteSize(weight.dtype, c);
      const rows = readMappedRows(w.bytes, w.ld, rowBytes, idx);
      if (rows) backend().dequantizeRows(weight.dtype, rows, rowBytes, c, idx.length, null, y);
      else backend().dequantizeRows(weight.dtype, w.bytes, w.ld, c, v, idx, y);
    } else {
      const d = weight.data as Uint16Array;
      const conv = weight.dtype === 'f16' ? f16ToF32 : bf16ToF32;
      const rows = readMappedRows(new Uint8Array(d.buffer, d.byteOffset + weight.offset * 2, d.byteLength - weight.offset * 2), ld * 2, c * 2, idx);
      const from = rows ? new Uint16Array(rows.buffer, 0, idx.length * c) : d;
      for (let i = 0; i < idx.length; i++) {
        const base = rows ? i * c : weight.offset + idx[i]! * ld;
        for (let j = 0; j < c; j++) y[i * c + j] = conv(from[base + j]!);
      }
    }
  }
  return reshape(out, [...ids.shape, c]);
}

/** Quantizes a float tensor into `dtype` blocks along its last dim (`.to('q8_0')`). No gradient. */
export function quantize(t: Tensor, dtype: QuantDType): Tensor {
  const { values } = QUANT_BLOCKS[dtype];
  if (!['f32', 'f64', 'f16', 'bf16'].includes(t.dtype)) throw new StrataError('dtype', 'to', `cannot quantize a ${t.dtype} tensor to ${dtype}; start from a float tensor`);
  const last = t.ndim === 0 ? 1 : t.shape[t.ndim - 1]!;
  if (last % values !== 0) {
    throw new StrataError('shape', 'to', `${dtype} needs the last dim to be a multiple of ${values}, got shape ${fmtShape(t.shape)}`);
  }
  const x = denseFloat(asFloat(t.detach(), 'f32')) as Float32Array;
  return new Tensor(quantizeRows(dtype, x, last), dtype, t.shape);
}

/** Dequantizes any block view into a contiguous f32 tensor of its shape (`.to('f32')`). */
export function dequantize(t: Tensor): Tensor {
  const dtype = t.dtype as QuantDType;
  const { values, bytes } = QUANT_BLOCKS[dtype];
  if (t.size === 0) return empty('f32', t.shape);
  // the blocks the view spans, dequantized as rows of one block each, then read through the view
  let last = t.offset;
  for (let i = 0; i < t.ndim; i++) last += (t.shape[i]! - 1) * t.strides[i]!;
  const first = t.offset / values;
  const count = Math.floor(last / values) + 1 - first;
  const flat = new Float32Array(count * values);
  const src = (t.data as Uint8Array).subarray(first * bytes, (first + count) * bytes);
  backend().dequantizeRows(dtype, src, bytes, values, count, null, flat);
  return new Tensor(flat, 'f32', t.shape, t.strides, t.offset - first * values).contiguous();
}

/** A copy of a contiguous block tensor (clone). */
export function copyBlocks(t: Tensor, op: string): Tensor {
  if (!t.isContiguous) {
    throw new StrataError('dtype', op, `a strided ${t.dtype} view ${fmtShape(t.shape)} cannot be copied block by block; dequantize it with .to('f32')`);
  }
  const { values, bytes } = QUANT_BLOCKS[t.dtype as QuantDType];
  const start = (t.offset / values) * bytes;
  return new Tensor((t.data as Uint8Array).slice(start, start + (t.size / values) * bytes), t.dtype, t.shape);
}
