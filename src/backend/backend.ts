import type { FloatArray, QuantDType, Storage } from '../tensor/dtype.js';
import type { Shape } from '../tensor/shape.js';
import type { SampleParams } from './sample.js';

export type { SampleParams } from './sample.js';

/**
 * A strided window onto a typed array. `shape`, `strides` and `offset` are in elements.
 * The tensor layer validates that every element it addresses lies inside `data`.
 */
export interface View<T extends Storage = Storage> {
  readonly data: T;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
}

export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'abs'
  | 'sign'
  | 'tanh'
  | 'sigmoid'
  | 'relu'
  | 'gelu'
  | 'geluTanh'
  | 'silu'
  | 'sin'
  | 'cos'
  | 'square'
  | 'reciprocal'
  | 'powScalar'
  | 'addScalar'
  | 'mulScalar'
  | 'geluGrad'
  | 'geluTanhGrad'
  | 'siluGrad'
  | 'sigmoidGrad'
  | 'tanhGrad'
  | 'step';

/** Activations a GEMM can apply to its output in place (Backend.matmul's epilogue). */
export type GemmEpilogue = 'gelu' | 'geluTanh';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum';
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export type ReduceOp = 'sum' | 'max' | 'min' | 'prod';
export type ArgReduceOp = 'argmax' | 'argmin';

/** One GEMM operand: row-major matrices at `offset + b * batchStride`, leading dimension `ld`. */
export interface MatOperand {
  readonly data: FloatArray;
  readonly offset: number;
  readonly ld: number;
  readonly trans: boolean;
  readonly batchStride: number;
}

/**
 * op(B) (k, n) in a backend's own GEMM panel layout (Backend.packMatrix), for a weight that many
 * products reuse. Opaque: only the backend that packed it reads `data`.
 */
export interface PackedMatrix {
  readonly k: number;
  readonly n: number;
  readonly data: Float32Array;
}

/** Axis-split description of a contiguous buffer: (outer, n, inner) with the op acting along n. */
export interface AxisLayout {
  readonly outer: number;
  readonly n: number;
  readonly inner: number;
}

export interface Conv2dGeometry {
  readonly batch: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly kernelH: number;
  readonly kernelW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly outH: number;
  readonly outW: number;
}

/**
 * One (B, H, R, C) operand of attention, read (or written) in place: element (b, h, i, c) at
 * data[offset + b * batchStride + h * headStride + i * rowStride + c]. Only the last axis must be
 * contiguous, so head-split views of a (B, T, H, D) projection, slices of a preallocated KV cache
 * and a padding mask broadcast over heads and queries (strides 0) need no copy.
 */
export interface AttentionOperand {
  readonly data: FloatArray;
  readonly offset: number;
  readonly batchStride: number;
  readonly headStride: number;
  readonly rowStride: number;
}

export interface AttentionArgs {
  /** (B, Hq, T, D) */
  readonly q: AttentionOperand;
  /** (B, Hkv, S, D) */
  readonly k: AttentionOperand;
  /** (B, Hkv, S, D) */
  readonly v: AttentionOperand;
  /** additive mask broadcast to (B, Hq, T, S) by its strides, or null */
  readonly mask: AttentionOperand | null;
  readonly batch: number;
  readonly headsQ: number;
  readonly headsKV: number;
  readonly tq: number;
  readonly tk: number;
  readonly headDim: number;
  readonly scale: number;
  /** query i attends to keys j <= i + (tk - tq) */
  readonly causal: boolean;
  /** (B, Hq, T, D), written; rowStride >= headDim, sharing no memory with the inputs */
  readonly out: AttentionOperand;
}

/**
 * The narrow interface every backend implements. Kernels write contiguous outputs
 * and know nothing about autograd. The reference backend implements all of them for
 * f32 and f64; the native backend accelerates f32 and defers the rest to reference.
 */
export interface Backend {
  readonly name: 'reference' | 'native';
  /** Strided copy into a contiguous array of the same element type. */
  copy(src: View, out: Storage): void;
  /** Strided copy between two views of the same shape and element type (dst may overlap src). */
  assign(dst: View, src: View): void;
  unary(op: UnaryOp, x: View<FloatArray>, out: FloatArray, scalar: number): void;
  /** `a` and `b` are already broadcast to the output shape (zero strides). */
  binary(op: BinaryOp, a: View<FloatArray | Int32Array>, b: View<FloatArray | Int32Array>, out: FloatArray | Int32Array): void;
  compare(op: CompareOp, a: View, b: View, out: Uint8Array): void;
  where(cond: View<Uint8Array>, a: View<FloatArray>, b: View<FloatArray>, out: FloatArray): void;
  reduce(op: ReduceOp, x: FloatArray, layout: AxisLayout, out: FloatArray): void;
  argReduce(op: ArgReduceOp, x: FloatArray, layout: AxisLayout, out: Int32Array): void;
  /** One token drawn from a row of logits under temperature, top-k, top-p and min-p, given a uniform in [0, 1) (src/backend/sample.ts). */
  sample(logits: Float32Array, o: SampleParams, uniform: number): number;
  /**
   * out[b] = op(A[b]) @ op(B[b]) (or out[b] += … with accumulate); out is contiguous (batch, m, n).
   * With `epilogue`, that unary op is then applied to every element of out, exactly as `unary`
   * would (a native GEMM does it on each tile while the tile is in cache). With `bias` (n values,
   * not with accumulate) every row of out starts as the bias and the product is added to it:
   * the arithmetic of filling out with bias rows and accumulating, without that pass over out.
   */
  matmul(a: MatOperand, b: MatOperand, out: FloatArray, m: number, n: number, k: number, batch: number, accumulate?: boolean, epilogue?: GemmEpilogue, bias?: FloatArray): void;
  /**
   * op(B) (k, n, f32) packed for matmulPacked, or null when this backend gains nothing from
   * packing ahead (the reference backend): then plain matmul it is.
   */
  packMatrix(b: MatOperand, k: number, n: number): PackedMatrix | null;
  /**
   * out (m, b.n) = op(A) (m, b.k) @ the matrix `b` was packed from, with matmul's epilogue and
   * bias; the same values as matmul on that operand when m and n are above the backend's skinny
   * sizes (GEMM_SKINNY_ROWS in native.ts), bit for bit.
   */
  matmulPacked(a: MatOperand, b: PackedMatrix, out: FloatArray, m: number, epilogue?: GemmEpilogue, bias?: FloatArray): void;
  /** Row-wise softmax (or log-softmax) of a contiguous (rows, cols) array. */
  softmax(x: FloatArray, rows: number, cols: number, out: FloatArray, log: boolean): void;
  /**
   * Row-wise layer norm of a contiguous (rows, cols) array; with `residual` (same length), of
   * x + residual, each sum rounded to out's type first, so the values of add then layerNorm.
   */
  layerNorm(
    x: FloatArray,
    weight: FloatArray | null,
    bias: FloatArray | null,
    rows: number,
    cols: number,
    eps: number,
    out: FloatArray,
    mean: FloatArray,
    rstd: FloatArray,
    residual?: FloatArray | null,
  ): void;
  rmsNorm(x: FloatArray, weight: FloatArray | null, rows: number, cols: number, eps: number, out: FloatArray, rstd: FloatArray): void;
  /** torch.gather along n: out(outer, m, inner)[o, i, j] = x[o, index[o, i, j], j]. */
  gather(x: FloatArray, layout: AxisLayout, index: Int32Array, m: number, out: FloatArray): void;
  /** out[o, index[o, i, j], j] += src[o, i, j]; out has `layout`. */
  scatterAdd(out: FloatArray, layout: AxisLayout, index: Int32Array, m: number, src: FloatArray): void;
  /** out(outer, idx.length, inner)[o, i, j] = x[o, idx[i], j]. */
  indexSelect(x: FloatArray, layout: AxisLayout, idx: Int32Array, out: FloatArray): void;
  /** out[o, idx[i], j] += src[o, i, j]. */
  indexAdd(out: FloatArray, layout: AxisLayout, idx: Int32Array, src: FloatArray): void;
  /** (B, C, H, W) -> columns (B, C*kh*kw, outH*outW). */
  im2col(x: FloatArray, g: Conv2dGeometry, out: FloatArray): void;
  /** Adjoint of im2col: accumulates columns back into a zeroed (B, C, H, W) array. */
  col2im(cols: FloatArray, g: Conv2dGeometry, out: FloatArray): void;
  /**
   * Rotary embedding of contiguous x (rows, T, D). cos/sin hold (T, D/2) tables, one per group of
   * `rowsPerTable` consecutive rows (one shared table when rowsPerTable == rows; per-sequence
   * positions when x is (B, H, T, D) and the tables are (B, T, D/2) with rowsPerTable = H).
   * interleaved: pairs (2i, 2i+1); otherwise halves (i, i + D/2). inverse rotates by -angle.
   */
  rope(
    x: FloatArray,
    rows: number,
    t: number,
    d: number,
    cos: FloatArray,
    sin: FloatArray,
    rowsPerTable: number,
    interleaved: boolean,
    inverse: boolean,
    out: FloatArray,
  ): void;
  attention(args: AttentionArgs): void;
  /**
   * out (m, n) = x (m, k) · W^T for W (n, k) in GGUF blocks of `dtype`, row j at byte j*ldw of w.
   * The activations are quantized to 8 bits per block first; src/tensor/quant.ts
   * (quantMatmulReference) defines the exact arithmetic.
   */
  quantMatmul(dtype: QuantDType, w: Uint8Array, ldw: number, x: Float32Array, m: number, n: number, k: number, out: Float32Array): void;
  /** out (count, k) = rows ids[i] of W (rows, k) in blocks (every row when ids is null), dequantized. */
  dequantizeRows(dtype: QuantDType, w: Uint8Array, ldw: number, k: number, rows: number, ids: Int32Array | null, out: Float32Array): void;
  /** out (m, n) = x (m, k) · W^T for W (n, k) of f16/bf16 bit patterns at w[wOffset + j*ldw + p]. */
  halfMatmul(dtype: 'f16' | 'bf16', w: Uint16Array, wOffset: number, ldw: number, x: Float32Array, m: number, n: number, k: number, out: Float32Array): void;
}
