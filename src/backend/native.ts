import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ArgReduceOp, AttentionArgs, AttentionOperand, GemmEpilogue, AxisLayout, Backend, BinaryOp, CompareOp, Conv2dGeometry, MatOperand, PackedMatrix, ReduceOp, SampleParams, UnaryOp, View } from './backend.js';
import { StrataError } from '../errors.js';
import { referenceBackend } from './reference.js';
import type { FloatArray, QuantDType, Storage } from '../tensor/dtype.js';
import { GGML_TYPE_OF } from '../tensor/quant.js';

/** [offset, batchStride, headStride, rowStride] of one attention operand, in elements. */
type AttentionLayout = readonly [offset: number, batchStride: number, headStride: number, rowStride: number];

const attentionLayout = (o: AttentionOperand): AttentionLayout => [o.offset, o.batchStride, o.headStride, o.rowStride];

/** The functions the C++ addon exports (native/src/addon.cc, native/src/kernels/bind_kernels.cc). */
export interface NativeAddon {
  gemmF32(
    a: Float32Array,
    aOff: number,
    lda: number,
    transA: boolean,
    b: Float32Array | null,
    bOff: number,
    ldb: number,
    transB: boolean,
    c: Float32Array,
    cOff: number,
    ldc: number,
    m: number,
    n: number,
    k: number,
    batch: number,
    sA: number,
    sB: number,
    sC: number,
    alpha: number,
    beta: number,
    /** 0 none, else 1 + the index in GEMM_EPILOGUES */
    epilogue?: number,
    /** N values every row of C starts from (beta 0) */
    bias?: Float32Array,
    /** op(B) as gemmPackB packed it (b may then be null) */
    packedB?: Float32Array,
  ): void;
  /** op(B) (K x N) in the GEMM's panel layout, gemmPackedLength(K, N) floats */
  gemmPackB(b: Float32Array, bOff: number, ldb: number, transB: boolean, k: number, n: number): Float32Array;
  gemmPackedLength(k: number, n: number): number;
  quantMatmul(type: number, w: Uint8Array, ldw: number, x: Float32Array, m: number, n: number, k: number, out: Float32Array): void;
  dequantizeRows(type: number, w: Uint8Array, ldw: number, k: number, rows: number, ids: Int32Array | null, out: Float32Array): void;
  halfMatmul(bf16: boolean, w: Uint16Array, wOff: number, ldw: number, x: Float32Array, m: number, n: number, k: number, out: Float32Array): void;
  /** 'avx512vnni' | 'avx2' | 'portable': the quant kernels in use */
  quantIsa(): string;
  /** A copy-on-write private mapping of a whole file (native/src/bind_mmap.cc). */
  mmapFile(path: string, offset?: number, length?: number): ArrayBuffer;
  readMappedRows(src: Uint8Array, ld: number, rowBytes: number, ids: Int32Array, out: Uint8Array): boolean;
  setThreads(n: number): void;
  getThreads(): number;
  isa(): string;
  cpuFeatures(): Record<string, boolean>;
  unaryF32(op: number, x: Float32Array, strides: readonly number[], offset: number, shape: readonly number[], scalar: number, out: Float32Array): void;
  binaryF32(
    op: number,
    a: Float32Array,
    aStrides: readonly number[],
    aOffset: number,
    b: Float32Array,
    bStrides: readonly number[],
    bOffset: number,
    shape: readonly number[],
    out: Float32Array,
  ): void;
  whereF32(
    cond: Uint8Array,
    cStrides: readonly number[],
    cOffset: number,
    a: Float32Array,
    aStrides: readonly number[],
    aOffset: number,
    b: Float32Array,
    bStrides: readonly number[],
    bOffset: number,
    shape: readonly number[],
    out: Float32Array,
  ): void;
  compareF32(
    op: number,
    a: Float32Array,
    aStrides: readonly number[],
    aOffset: number,
    b: Float32Array,
    bStrides: readonly number[],
    bOffset: number,
    shape: readonly number[],
    out: Uint8Array,
  ): void;
  argReduceF32(op: number, x: Float32Array, outer: number, n: number, inner: number, out: Int32Array): void;
  sampleF32(logits: Float32Array, temperature: number, topK: number, topP: number, minP: number, uniform: number): number;
  copyStrided(src: Storage, strides: readonly number[], offset: number, shape: readonly number[], out: Storage): void;
  reduceF32(op: number, x: Float32Array, outer: number, n: number, inner: number, out: Float32Array): void;
  softmaxF32(x: Float32Array, rows: number, cols: number, out: Float32Array, log: boolean): void;
  layerNormF32(
    x: Float32Array,
    w: Float32Array | null,
    b: Float32Array | null,
    rows: number,
    cols: number,
    eps: number,
    out: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    /** normalizes x + residual (each sum rounded to f32) */
    residual?: Float32Array | null,
  ): void;
  rmsNormF32(x: Float32Array, w: Float32Array | null, rows: number, cols: number, eps: number, out: Float32Array, rstd: Float32Array): void;
  ropeF32(
    x: Float32Array,
    rows: number,
    t: number,
    d: number,
    cos: Float32Array,
    sin: Float32Array,
    rowsPerTable: number,
    interleaved: boolean,
    inverse: boolean,
    out: Float32Array,
  ): void;
  im2colF32(x: Float32Array, geometry: number[], cols: Float32Array): void;
  col2imF32(cols: Float32Array, geometry: number[], x: Float32Array): void;
  attentionF32(
    q: Float32Array,
    qLayout: AttentionLayout,
    k: Float32Array,
    kLayout: AttentionLayout,
    v: Float32Array,
    vLayout: AttentionLayout,
    mask: Float32Array | null,
    maskLayout: AttentionLayout,
    batch: number,
    headsQ: number,
    headsKV: number,
    tq: number,
    tk: number,
    headDim: number,
    scale: number,
    causal: boolean,
    out: Float32Array,
    outLayout: AttentionLayout,
  ): void;
}

/**
 * Up to this many rows of op(A) (or columns of op(B)) the addon's GEMM streams B unpacked
 * (kSkinnyRows in native/src/gemm.cc), so packed panels give the same values only above it.
 */
export const GEMM_SKINNY_ROWS = 8;

/** Codes of the native kernels' op enums (native/src/kernels/kernels.h); the order is the contract. */
export const UNARY_OPS: readonly UnaryOp[] = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'abs',
  'sign',
  'tanh',
  'sigmoid',
  'relu',
  'gelu',
  'geluTanh',
  'silu',
  'sin',
  'cos',
  'square',
  'reciprocal',
  'powScalar',
  'addScalar',
  'mulScalar',
  'geluGrad',
  'geluTanhGrad',
  'siluGrad',
  'sigmoidGrad',
  'tanhGrad',
  'step',
];
/** GemmEpilogue codes of the addon's gemmF32 (native/src/gemm.h), less one; the order is the contract. */
const GEMM_EPILOGUES: readonly GemmEpilogue[] = ['gelu', 'geluTanh'];
export const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'];
export const COMPARE_OPS: readonly CompareOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];
const REDUCE_OPS: Partial<Record<ReduceOp, number>> = { sum: 0, max: 1, min: 2 };
const MAX_DIMS = 8;

let addon: NativeAddon | null | undefined;
let loadError = '';
let nativeBackend: Backend | null = null;

/** Where the addon is loaded from: STRATA_ADDON when set, else the node-gyp build output. */
export function addonPath(): string {
  if (process.env.STRATA_ADDON) return path.resolve(process.env.STRATA_ADDON);
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '../../build/Release/strata_native.node');
}

/** The raw addon, or null when it was not built or cannot be loaded. */
export function loadAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  try {
    const require = createRequire(import.meta.url);
    addon = require(addonPath()) as NativeAddon;
  } catch (err) {
    loadError = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    addon = null;
  }
  return addon;
}

export function nativeLoadError(): string {
  return loadError;
}

const f32 = (a: unknown): a is Float32Array => a instanceof Float32Array;
const f32View = (v: View): v is View<Float32Array> => v.data instanceof Float32Array && v.shape.length <= MAX_DIMS;

function geometry(g: Conv2dGeometry): number[] {
  return [g.batch, g.channels, g.height, g.width, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outH, g.outW];
}

/**
 * Rows ids[i] of a table (row r at byte r * ld of src, rowBytes long), one after another, read
 * from the file src is a memory mapping of (native/src/bind_mmap.cc: readMappedRows); null when src
 * is not a mapping, so the caller reads it in place. Reading a few rows of a large table through
 * the mapping leaves the kernel's fault-around window (64 KiB) around each resident; for the token
 * embedding of a 32k vocabulary that was ≈ 6 MB of a 128-token sampled decode's peak.
 */
export function readMappedRows(src: Uint8Array, ld: number, rowBytes: number, ids: Int32Array): Uint8Array | null {
  const lib = loadAddon();
  if (!lib?.readMappedRows || ids.length === 0) return null;
  const out = new Uint8Array(ids.length * rowBytes);
  return lib.readMappedRows(src, ld, rowBytes, ids, out) ? out : null;
}

/**
 * The native backend: the addon's f32 kernels, with the reference backend for every other
 * dtype (f64 for gradient checks, integers) and for the ops the addon does not accelerate.
 */
export function loadNativeBackend(): Backend | null {
  if (nativeBackend) return nativeBackend;
  const lib = loadAddon();
  if (!lib) return null;
  const ref = referenceBackend;
  nativeBackend = {
    ...ref,
    name: 'native',
    copy(src: View, out: Storage): void {
      if (src.shape.length > MAX_DIMS || src.data.constructor !== out.constructor) return ref.copy(src, out);
      lib.copyStrided(src.data, src.strides, src.offset, src.shape, out);
    },
    unary(op: UnaryOp, x: View<FloatArray>, out: FloatArray, scalar: number): void {
      if (!f32View(x) || !f32(out)) return ref.unary(op, x, out, scalar);
      lib.unaryF32(UNARY_OPS.indexOf(op), x.data, x.strides, x.offset, x.shape, scalar, out);
    },
    binary(op: BinaryOp, a: View<FloatArray | Int32Array>, b: View<FloatArray | Int32Array>, out: FloatArray | Int32Array): void {
      if (!f32View(a) || !f32View(b) || !f32(out)) return ref.binary(op, a, b, out);
      lib.binaryF32(BINARY_OPS.indexOf(op), a.data, a.strides, a.offset, b.data, b.strides, b.offset, a.shape, out);
    },
    compare(op: CompareOp, a: View, b: View, out: Uint8Array): void {
      if (!f32View(a) || !f32View(b)) return ref.compare(op, a, b, out);
      lib.compareF32(COMPARE_OPS.indexOf(op), a.data, a.strides, a.offset, b.data, b.strides, b.offset, a.shape, out);
    },
    argReduce(op: ArgReduceOp, x: FloatArray, layout: AxisLayout, out: Int32Array): void {
      if (!f32(x) || layout.n === 0) return ref.argReduce(op, x, layout, out);
      lib.argReduceF32(op === 'argmax' ? 0 : 1, x, layout.outer, layout.n, layout.inner, out);
    },
    sample(logits: Float32Array, o: SampleParams, uniform: number): number {
      if (logits.length === 0) return ref.sample(logits, o, uniform);
      return lib.sampleF32(logits, o.temperature, o.topK, o.topP, o.minP, uniform);
    },
    where(cond: View<Uint8Array>, a: View<FloatArray>, b: View<FloatArray>, out: FloatArray): void {
      if (!f32View(a) || !f32View(b) || !f32(out) || cond.shape.length > MAX_DIMS) return ref.where(cond, a, b, out);
      lib.whereF32(cond.data, cond.strides, cond.offset, a.data, a.strides, a.offset, b.data, b.strides, b.offset, a.shape, out);
    },
    reduce(op: ReduceOp, x: FloatArray, layout: AxisLayout, out: FloatArray): void {
      const code = REDUCE_OPS[op];
      if (code === undefined || !f32(x) || !f32(out)) return ref.reduce(op, x, layout, out);
      lib.reduceF32(code, x, layout.outer, layout.n, layout.inner, out);
    },
    matmul(a: MatOperand, b: MatOperand, out: FloatArray, m: number, n: number, k: number, batch: number, accumulate = false, epilogue?: GemmEpilogue, bias?: FloatArray): void {
      if (!f32(a.data) || !f32(b.data) || !f32(out) || (bias !== undefined && (!f32(bias) || accumulate))) return ref.matmul(a, b, out, m, n, k, batch, accumulate, epilogue, bias);
      const code = epilogue ? GEMM_EPILOGUES.indexOf(epilogue) + 1 : 0;
      lib.gemmF32(a.data, a.offset, a.ld, a.trans, b.data, b.offset, b.ld, b.trans, out, 0, n, m, n, k, batch, a.batchStride, b.batchStride, m * n, 1, accumulate ? 1 : 0, code, bias as Float32Array | undefined);
    },
    packMatrix(b: MatOperand, k: number, n: number): PackedMatrix | null {
      if (!f32(b.data) || k === 0 || n === 0) return null;
      return { k, n, data: lib.gemmPackB(b.data, b.offset, b.ld, b.trans, k, n) };
    },
    matmulPacked(a: MatOperand, b: PackedMatrix, out: FloatArray, m: number, epilogue?: GemmEpilogue, bias?: FloatArray): void {
      if (!f32(a.data) || !f32(out) || (bias !== undefined && !f32(bias))) {
        throw new StrataError('dtype', 'matmulPacked', 'a packed matrix multiplies f32 operands only');
      }
      const code = epilogue ? GEMM_EPILOGUES.indexOf(epilogue) + 1 : 0;
      lib.gemmF32(a.data, a.offset, a.ld, a.trans, null, 0, b.n, false, out, 0, b.n, m, b.n, b.k, 1, 0, 0, 0, 1, 0, code, bias as Float32Array | undefined, b.data);
    },
    softmax(x: FloatArray, rows: number, cols: number, out: FloatArray, log: boolean): void {
      if (!f32(x) || !f32(out)) return ref.softmax(x, rows, cols, out, log);
      lib.softmaxF32(x, rows, cols, out, log);
    },
    layerNorm(x, weight, bias, rows, cols, eps, out, mean, rstd, residual): void {
      if (!f32(x) || !f32(out) || !f32(mean) || !f32(rstd) || (weight && !f32(weight)) || (bias && !f32(bias)) || (residual && !f32(residual)) || cols === 0) {
        return ref.layerNorm(x, weight, bias, rows, cols, eps, out, mean, rstd, residual);
      }
      lib.layerNormF32(x, weight as Float32Array | null, bias as Float32Array | null, rows, cols, eps, out, mean, rstd, (residual ?? null) as Float32Array | null);
    },
    rmsNorm(x, weight, rows, cols, eps, out, rstd): void {
      if (!f32(x) || !f32(out) || !f32(rstd) || (weight && !f32(weight)) || cols === 0) return ref.rmsNorm(x, weight, rows, cols, eps, out, rstd);
      lib.rmsNormF32(x, weight as Float32Array | null, rows, cols, eps, out, rstd);
    },
    im2col(x: FloatArray, g: Conv2dGeometry, out: FloatArray): void {
      if (!f32(x) || !f32(out)) return ref.im2col(x, g, out);
      lib.im2colF32(x, geometry(g), out);
    },
    col2im(cols: FloatArray, g: Conv2dGeometry, out: FloatArray): void {
      if (!f32(cols) || !f32(out)) return ref.col2im(cols, g, out);
      lib.col2imF32(cols, geometry(g), out);
    },
    rope(x, rows, t, d, cos, sin, rowsPerTable, interleaved, inverse, out): void {
      if (!f32(x) || !f32(cos) || !f32(sin) || !f32(out)) return ref.rope(x, rows, t, d, cos, sin, rowsPerTable, interleaved, inverse, out);
      lib.ropeF32(x, rows, t, d, cos, sin, rowsPerTable, interleaved, inverse, out);
    },
    quantMatmul(dtype: QuantDType, w: Uint8Array, ldw: number, x: Float32Array, m: number, n: number, k: number, out: Float32Array): void {
      lib.quantMatmul(GGML_TYPE_OF[dtype], w, ldw, x, m, n, k, out);
    },
    dequantizeRows(dtype: QuantDType, w: Uint8Array, ldw: number, k: number, rows: number, ids: Int32Array | null, out: Float32Array): void {
      lib.dequantizeRows(GGML_TYPE_OF[dtype], w, ldw, k, rows, ids, out);
    },
    halfMatmul(dtype: 'f16' | 'bf16', w: Uint16Array, wOffset: number, ldw: number, x: Float32Array, m: number, n: number, k: number, out: Float32Array): void {
      lib.halfMatmul(dtype === 'bf16', w, wOffset, ldw, x, m, n, k, out);
    },
    attention(a: AttentionArgs): void {
      if (!f32(a.q.data) || !f32(a.k.data) || !f32(a.v.data) || !f32(a.out.data) || (a.mask && !f32(a.mask.data))) return ref.attention(a);
      lib.attentionF32(
        a.q.data,
        attentionLayout(a.q),
        a.k.data,
        attentionLayout(a.k),
        a.v.data,
        attentionLayout(a.v),
        a.mask ? (a.mask.data as Float32Array) : null,
        a.mask ? attentionLayout(a.mask) : [0, 0, 0, 0],
        a.batch,
        a.headsQ,
        a.headsKV,
        a.tq,
        a.tk,
        a.headDim,
        a.scale,
        a.causal,
        a.out.data,
      attentionLayout(a.out),
      );
    },
  };
  return nativeBackend;
}
