// GGUF block formats in TypeScript: quantize (f32 -> blocks), dequantize (blocks -> f32), and the
// reference quantized matmul that the native kernels (native/src/quant/) are tested against.
//
// Block layouts are exactly ggml's (ggml-common.h), little-endian, f16 scales:
//   q8_0 (34 bytes / 32 values):  d:f16, qs:i8[32]                      x = d*q
//   q4_0 (18 bytes / 32 values):  d:f16, qs:u8[16]  (value j in the low nibble of qs[j],
//                                  value j+16 in the high nibble)          x = d*(q-8)
//   q4_k (144 bytes / 256 values): d:f16, dmin:f16, scales:u8[12] (8 6-bit scales and 8 6-bit
//                                  mins), qs:u8[128]: for each 64 values, 32 bytes hold values
//                                  0..31 in low nibbles and 32..63 in high nibbles.
//                                  x = d*sc[j]*q - dmin*m[j] for sub-block j of 32
//   q6_k (210 bytes / 256 values): ql:u8[128] (low 4 bits), qh:u8[64] (high 2 bits),
//                                  scales:i8[16], d:f16       x = d*sc[g]*(q-32) for group g of 16
//
// Letters: M rows of activations, N rows of the weight (out features), K values per row.

import { StrataError } from '../errors.js';
import { type QuantDType, QUANT_BLOCKS, f16ToF32, f32ToF16 } from './dtype.js';

const f32 = Math.fround;

/** ggml_type numbers of the block formats (as stored in GGUF tensor infos). */
export const GGML_TYPE_OF: Readonly<Record<QuantDType, number>> = { q4_0: 2, q8_0: 8, q4_k: 12, q6_k: 14 };

/** Bytes of one row of `k` values. */
export function rowBytes(dtype: QuantDType, k: number): number {
  const b = QUANT_BLOCKS[dtype];
  if (!Number.isSafeInteger(k) || k < 0 || k % b.values !== 0) {
    throw new StrataError('shape', dtype, `a row of ${k} values is not a whole number of ${b.values}-value blocks`);
  }
  return (k / b.values) * b.bytes;
}

/** Round half to even, as ggml's nearest_int and the SIMD converters do. */
export function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Round half away from zero (C's roundf). */
function roundAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

function readF16(b: Uint8Array, o: number): number {
  return f16ToF32(b[o]! | (b[o + 1]! << 8));
}

function writeF16(b: Uint8Array, o: number, v: number): void {
  const h = f32ToF16(v);
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
}

// ---- q8_0 ----

function quantizeQ8_0(x: Float32Array, xo: number, y: Uint8Array, yo: number): void {
  let amax = 0;
  for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[xo + i]!));
  const d = f32(amax / 127);
  const id = d !== 0 ? f32(1 / d) : 0;
  writeF16(y, yo, d);
  for (let i = 0; i < 32; i++) y[yo + 2 + i] = roundAway(f32(x[xo + i]! * id)) & 0xff;
}

function dequantizeQ8_0(b: Uint8Array, bo: number, out: Float32Array, oo: number): void {
  const d = readF16(b, bo);
  for (let i = 0; i < 32; i++) out[oo + i] = d * ((b[bo + 2 + i]! << 24) >> 24);
}

// ---- q4_0 ----

function quantizeQ4_0(x: Float32Array, xo: number, y: Uint8Array, yo: number): void {
  // the value of largest magnitude keeps its sign, so it maps exactly onto -8
  let amax = 0;
  let max = 0;
  for (let i = 0; i < 32; i++) {
    const v = x[xo + i]!;
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = f32(max / -8);
  const id = d !== 0 ? f32(1 / d) : 0;
  writeF16(y, yo, d);
  for (let j = 0; j < 16; j++) {
    const lo = Math.min(15, Math.trunc(f32(f32(x[xo + j]! * id) + 8.5)));
    const hi = Math.min(15, Math.trunc(f32(f32(x[xo + 16 + j]! * id) + 8.5)));
    y[yo + 2 + j] = lo | (hi << 4);
  }
}

function dequantizeQ4_0(b: Uint8Array, bo: number, out: Float32Array, oo: number): void {
  const d = readF16(b, bo);
  for (let j = 0; j < 16; j++) {
    const q = b[bo + 2 + j]!;
    out[oo + j] = d * ((q & 0xf) - 8);
    out[oo + 16 + j] = d * ((q >> 4) - 8);
  }
}

// ---- q4_k ----

/** Scale and min of sub-block j (0..7) from the 12 packed scale bytes at `so`. */
export function q4kScaleMin(b: Uint8Array, so: number, j: number): [number, number] {
  if (j < 4) return [b[so + j]! & 63, b[so + j + 4]! & 63];
  return [(b[so + j + 4]! & 0xf) | ((b[so + j - 4]! >> 6) << 4), (b[so + j + 4]! >> 4) | ((b[so + j]! >> 6) << 4)];
}

/**
 * Least-squares fit of x ≈ scale*L + min with L in [0, nmax] and min <= 0, weighted, searching
 * a few candidate scales around (max - min)/nmax (ggml's make_qkx2_quants). Returns [scale, -min].
 */
function fitScaleMin(x: Float32Array, xo: number, n: number, nmax: number, w: Float32Array, L: Uint8Array, aux: Uint8Array): [number, number] {
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = w[0]!;
  let sumX = f32(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const v = x[xo + i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = f32(sumW + w[i]!);
    sumX = f32(sumX + f32(w[i]! * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, 0, n);
    return [0, -min];
  }
  let iscale = f32(nmax / f32(max - min));
  let scale = f32(1 / iscale);
  let bestErr = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, rint(f32(iscale * f32(x[xo + i]! - min)))));
    L[i] = l;
    const diff = f32(f32(f32(scale * l) + min) - x[xo + i]!);
    bestErr = f32(bestErr + f32(w[i]! * f32(diff * diff)));
  }
  for (let step = 0; step <= 20; step++) {
    iscale = f32(f32(f32(-1 + f32(0.1 * step)) + nmax) / f32(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, rint(f32(iscale * f32(x[xo + i]! - min)))));
      aux[i] = l;
      sumL = f32(sumL + f32(w[i]! * l));
      sumL2 = f32(sumL2 + f32(f32(w[i]! * l) * l));
      sumXL = f32(sumXL + f32(f32(w[i]! * l) * x[xo + i]!));
    }
    const D = f32(f32(sumW * sumL2) - f32(sumL * sumL));
    if (D > 0) {
      let thisScale = f32(f32(f32(sumW * sumXL) - f32(sumX * sumL)) / D);
      let thisMin = f32(f32(f32(sumL2 * sumX) - f32(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f32(sumXL / sumL2);
      }
      let err = 0;
      for (let i = 0; i < n; i++) {
        const diff = f32(f32(f32(thisScale * aux[i]!) + thisMin) - x[xo + i]!);
        err = f32(err + f32(w[i]! * f32(diff * diff)));
      }
      if (err < bestErr) {
        L.set(aux.subarray(0, n));
        bestErr = err;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

const q4kW = new Float32Array(32);
const q4kAux = new Uint8Array(32);
const q4kL = new Uint8Array(256);

function quantizeQ4_K(x: Float32Array, xo: number, y: Uint8Array, yo: number): void {
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f32(sumX2 + f32(x[xo + 32 * j + l]! * x[xo + 32 * j + l]!));
    const avX = f32(Math.sqrt(f32(sumX2 / 32)));
    for (let l = 0; l < 32; l++) q4kW[l] = f32(avX + Math.abs(x[xo + 32 * j + l]!));
    const [s, m] = fitScaleMin(x, xo + 32 * j, 32, 15, q4kW, q4kL.subarray(32 * j, 32 * j + 32), q4kAux);
    scales[j] = s;
    mins[j] = m;
    if (s > maxScale) maxScale = s;
    if (m > maxMin) maxMin = m;
  }
  const invScale = maxScale > 0 ? f32(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f32(63 / maxMin) : 0;
  const so = yo + 4;
  y.fill(0, so, so + 12);
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, rint(f32(invScale * scales[j]!)));
    const lm = Math.min(63, rint(f32(invMin * mins[j]!)));
    if (j < 4) {
      y[so + j] = ls;
      y[so + j + 4] = lm;
    } else {
      y[so + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      y[so + j - 4]! |= (ls >> 4) << 6;
      y[so + j]! |= (lm >> 4) << 6;
    }
  }
  writeF16(y, yo, f32(maxScale / 63));
  writeF16(y, yo + 2, f32(maxMin / 63));
  const d = readF16(y, yo);
  const dmin = readF16(y, yo + 2);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = q4kScaleMin(y, so, j);
    const dj = f32(d * sc);
    if (dj === 0) continue;
    const dm = f32(dmin * m);
    for (let i = 0; i < 32; i++) q4kL[32 * j + i] = Math.max(0, Math.min(15, rint(f32(f32(x[xo + 32 * j + i]! + dm) / dj))));
  }
  const qo = yo + 16;
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) y[qo + 32 * c + l] = q4kL[64 * c + l]! | (q4kL[64 * c + 32 + l]! << 4);
  }
}

function dequantizeQ4_K(b: Uint8Array, bo: number, out: Float32Array, oo: number): void {
  const d = readF16(b, bo);
  const dmin = readF16(b, bo + 2);
  const so = bo + 4;
  const qo = bo + 16;
  for (let c = 0; c < 4; c++) {
    const [sc0, m0] = q4kScaleMin(b, so, 2 * c);
    const [sc1, m1] = q4kScaleMin(b, so, 2 * c + 1);
    const d0 = f32(d * sc0);
    const n0 = f32(dmin * m0);
    const d1 = f32(d * sc1);
    const n1 = f32(dmin * m1);
    for (let l = 0; l < 32; l++) {
      const q = b[qo + 32 * c + l]!;
      out[oo + 64 * c + l] = f32(d0 * (q & 0xf)) - n0;
      out[oo + 64 * c + 32 + l] = f32(d1 * (q >> 4)) - n1;
    }
  }
}

// ---- q6_k ----

/**
 * Symmetric fit x ≈ scale*l, l in [-nmax, nmax-1], weighted by x², trying scales around the one
 * that maps the largest value to -nmax (ggml's make_qx_quants with rmse_type 1). Writes l + nmax.
 */
function fitSymmetric(x: Float32Array, xo: number, n: number, nmax: number, L: Uint8Array, lo: number): number {
  let amax = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(x[xo + i]!);
    if (a > amax) {
      amax = a;
      max = x[xo + i]!;
    }
  }
  if (amax < 1e-15) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const quantAt = (iscale: number, i: number) => Math.max(-nmax, Math.min(nmax - 1, rint(f32(iscale * x[xo + i]!))));
  let iscale = f32(-nmax / max);
  let sumLX = 0;
  let sumL2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i]!;
    const l = quantAt(iscale, i);
    L[lo + i] = l + nmax;
    const w = f32(v * v);
    sumLX = f32(sumLX + f32(f32(w * v) * l));
    sumL2 = f32(sumL2 + f32(f32(w * l) * l));
  }
  let scale = sumL2 !== 0 ? f32(sumLX / sumL2) : 0;
  let best = f32(scale * sumLX);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f32(-f32(nmax + f32(0.1 * is)) / max);
    sumLX = 0;
    sumL2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[xo + i]!;
      const l = quantAt(iscale, i);
      const w = f32(v * v);
      sumLX = f32(sumLX + f32(f32(w * v) * l));
      sumL2 = f32(sumL2 + f32(f32(w * l) * l));
    }
    if (sumL2 > 0 && f32(sumLX * sumLX) > f32(best * sumL2)) {
      for (let i = 0; i < n; i++) L[lo + i] = quantAt(iscale, i) + nmax;
      scale = f32(sumLX / sumL2);
      best = f32(scale * sumLX);
    }
  }
  return scale;
}

const q6kL = new Uint8Array(256);

function quantizeQ6_K(x: Float32Array, xo: number, y: Uint8Array, yo: number): void {
  const scales = new Float32Array(16);
  let maxScale = 0;
  let maxAbsScale = 0;
  for (let g = 0; g < 16; g++) {
    const s = fitSymmetric(x, xo + 16 * g, 16, 32, q6kL, 16 * g);
    scales[g] = s;
    if (Math.abs(s) > maxAbsScale) {
      maxAbsScale = Math.abs(s);
      maxScale = s;
    }
  }
  y.fill(0, yo, yo + 210);
  if (maxAbsScale < 1e-15) return;
  const iscale = f32(-128 / maxScale);
  writeF16(y, yo + 208, f32(1 / iscale));
  const d = readF16(y, yo + 208);
  const sco = yo + 192;
  for (let g = 0; g < 16; g++) y[sco + g] = Math.min(127, rint(f32(iscale * scales[g]!))) & 0xff;
  for (let g = 0; g < 16; g++) {
    const dg = f32(d * ((y[sco + g]! << 24) >> 24));
    if (dg === 0) continue;
    for (let i = 0; i < 16; i++) q6kL[16 * g + i] = Math.max(-32, Math.min(31, rint(f32(x[xo + 16 * g + i]! / dg)))) + 32;
  }
  for (let h = 0; h < 2; h++) {
    const ql = yo + 64 * h;
    const qh = yo + 128 + 32 * h;
    const L = 128 * h;
    for (let l = 0; l < 32; l++) {
      const a = q6kL[L + l]!;
      const b = q6kL[L + l + 32]!;
      const c = q6kL[L + l + 64]!;
      const e = q6kL[L + l + 96]!;
      y[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
      y[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
      y[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
    }
  }
}

/** The 6-bit value (0..63) of element i (0..255) of the q6_k block at bo. */
function q6kValue(b: Uint8Array, bo: number, i: number): number {
  const h = i >> 7;
  const r = i & 127;
  const quarter = r >> 5;
  const l = r & 31;
  const qlByte = b[bo + 64 * h + l + (quarter & 1) * 32]!;
  const low = quarter < 2 ? qlByte & 0xf : qlByte >> 4;
  const high = (b[bo + 128 + 32 * h + l]! >> (2 * quarter)) & 3;
  return low | (high << 4);
}

function dequantizeQ6_K(b: Uint8Array, bo: number, out: Float32Array, oo: number): void {
  const d = readF16(b, bo + 208);
  for (let g = 0; g < 16; g++) {
    const dg = f32(d * ((b[bo + 192 + g]! << 24) >> 24));
    for (let i = 0; i < 16; i++) out[oo + 16 * g + i] = dg * (q6kValue(b, bo, 16 * g + i) - 32);
  }
}

// ---- rows ----

type BlockQuantizer = (x: Float32Array, xo: number, y: Uint8Array, yo: number) => void;
type BlockDequantizer = (b: Uint8Array, bo: number, out: Float32Array, oo: number) => void;

const QUANTIZE: Record<QuantDType, BlockQuantizer> = { q8_0: quantizeQ8_0, q4_0: quantizeQ4_0, q4_k: quantizeQ4_K, q6_k: quantizeQ6_K };
const DEQUANTIZE: Record<QuantDType, BlockDequantizer> = { q8_0: dequantizeQ8_0, q4_0: dequantizeQ4_0, q4_k: dequantizeQ4_K, q6_k: dequantizeQ6_K };

/** Quantizes contiguous rows of `k` values (x.length a multiple of k) into blocks. */
export function quantizeRows(dtype: QuantDType, x: Float32Array, k: number): Uint8Array {
  const rb = rowBytes(dtype, k);
  const rows = k === 0 ? 0 : x.length / k;
  if (!Number.isInteger(rows)) throw new StrataError('shape', dtype, `${x.length} values are not whole rows of ${k}`);
  const { values, bytes } = QUANT_BLOCKS[dtype];
  const out = new Uint8Array(rows * rb);
  const q = QUANTIZE[dtype];
  for (let b = 0, n = x.length / values; b < n; b++) q(x, b * values, out, b * bytes);
  return out;
}

/**
 * Dequantizes rows of W (rows, k) stored at `w` with `ldw` bytes between rows: the rows listed in
 * `ids` (or every row when ids is null, `rows` of them) go to consecutive rows of `out`.
 */
export function dequantizeRows(dtype: QuantDType, w: Uint8Array, ldw: number, k: number, rows: number, ids: Int32Array | null, out: Float32Array): void {
  const { values, bytes } = QUANT_BLOCKS[dtype];
  const dq = DEQUANTIZE[dtype];
  const nb = k / values;
  const count = ids ? ids.length : rows;
  for (let r = 0; r < count; r++) {
    const src = ids ? ids[r]! : r;
    for (let b = 0; b < nb; b++) dq(w, src * ldw + b * bytes, out, r * k + b * values);
  }
}

// ---- activations and the reference quantized matmul ----

/**
 * Activations quantized row by row to 8 bits, in blocks of 32 (for q8_0 / q4_0 weights) or 256
 * (q4_k / q6_k, ggml's Q8_K), with an f32 scale per block: d = amax/127, q = rint(x * (127/amax)).
 * `sums16` holds the sum of each 16 consecutive quants (used by the k-quants' min and offset terms).
 */
export interface QuantizedActivations {
  readonly block: 32 | 256;
  readonly qs: Int8Array; // (M, K)
  readonly d: Float32Array; // (M, K / block)
  readonly sums16: Int32Array; // (M, K / 16)
}

export function activationBlock(dtype: QuantDType): 32 | 256 {
  return QUANT_BLOCKS[dtype].values === 32 ? 32 : 256;
}

/**
 * Quantizes x (M, K) as the native kernels do, bit for bit: the scale and its inverse are f32
 * divisions, the product is an f32 multiply and rounding is half to even. A block holding a
 * non-finite value gets scale NaN (and zero quants), so the rows it feeds come out NaN.
 */
export function quantizeActivations(x: Float32Array, m: number, k: number, block: 32 | 256, halfScale = false): QuantizedActivations {
  const qs = new Int8Array(m * k);
  const nb = k / block;
  const d = new Float32Array(m * nb);
  const sums16 = new Int32Array((m * k) / 16);
  for (let b = 0; b < m * nb; b++) {
    const o = b * block;
    let amax = 0;
    let finite = true;
    for (let i = 0; i < block; i++) {
      const v = x[o + i]!;
      if (!Number.isFinite(v)) finite = false;
      else amax = Math.max(amax, Math.abs(v));
    }
    if (!finite) {
      d[b] = NaN;
      continue;
    }
    // for q8_0 weights llama.cpp keeps the activation scale in f16 (block_q8_0); so do we
    d[b] = halfScale ? f16ToF32(f32ToF16(amax / 127)) : amax / 127;
    const id = amax > 0 ? f32(127 / amax) : 0;
    for (let i = 0; i < block; i++) qs[o + i] = rint(f32(x[o + i]! * id));
  }
  for (let g = 0; g < sums16.length; g++) {
    let s = 0;
    for (let i = 0; i < 16; i++) s += qs[16 * g + i]!;
    sums16[g] = s;
  }
  return { block, qs, d, sums16 };
}

/**
 * The terms of one output y[m, n]: per weight block, (weight scales) x (activation scale) x
 * (exact integer dot product). `visit` sees each term and a bound on the magnitude of any partial
 * sum of it (the same scales times the sum of |products|), which is what f32 rounding in a
 * kernel that splits the integer sums across vector lanes is proportional to.
 */
function dotTerms(dtype: QuantDType, w: Uint8Array, wo: number, a: QuantizedActivations, ao: number, k: number, visit: (t: number, abs: number) => void): void {
  const { qs, d: ad, sums16 } = a;
  const { bytes } = QUANT_BLOCKS[dtype];
  switch (dtype) {
    case 'q8_0':
    case 'q4_0':
      for (let b = 0; b < k / 32; b++) {
        const bo = wo + b * bytes;
        const qo = ao + 32 * b;
        let s = 0;
        let sa = 0;
        const add = (wq: number, aq: number) => {
          s += wq * aq;
          sa += Math.abs(wq * aq) + (dtype === 'q4_0' ? 8 * Math.abs(aq) : 128 * Math.abs(aq));
        };
        if (dtype === 'q8_0') {
          for (let i = 0; i < 32; i++) add((w[bo + 2 + i]! << 24) >> 24, qs[qo + i]!);
        } else {
          for (let j = 0; j < 16; j++) {
            const q = w[bo + 2 + j]!;
            add((q & 0xf) - 8, qs[qo + j]!);
            add((q >> 4) - 8, qs[qo + 16 + j]!);
          }
        }
        const scale = readF16(w, bo) * ad[ao / 32 + b]!;
        visit(scale * s, Math.abs(scale) * sa);
      }
      return;
    case 'q4_k':
      for (let b = 0; b < k / 256; b++) {
        const bo = wo + b * bytes;
        const qo = ao + 256 * b;
        const da = ad[ao / 256 + b]!;
        let sumi = 0;
        let suma = 0;
        let summ = 0;
        let summa = 0;
        for (let j = 0; j < 8; j++) {
          const [sc, m] = q4kScaleMin(w, bo + 4, j);
          const c = j >> 1;
          const shift = (j & 1) * 4;
          let s = 0;
          let sa = 0;
          for (let l = 0; l < 32; l++) {
            const p = ((w[bo + 16 + 32 * c + l]! >> shift) & 0xf) * qs[qo + 32 * j + l]!;
            s += p;
            sa += Math.abs(p);
          }
          sumi += sc * s;
          suma += sc * sa;
          const bs = sums16[(qo + 32 * j) / 16]! + sums16[(qo + 32 * j) / 16 + 1]!;
          summ += m * bs;
          summa += m * Math.abs(bs);
        }
        const sd = readF16(w, bo) * da;
        const sm = readF16(w, bo + 2) * da;
        visit(sd * sumi, Math.abs(sd) * suma);
        visit(-sm * summ, Math.abs(sm) * summa);
      }
      return;
    case 'q6_k':
      for (let b = 0; b < k / 256; b++) {
        const bo = wo + b * bytes;
        const qo = ao + 256 * b;
        let sumi = 0;
        let suma = 0;
        for (let g = 0; g < 16; g++) {
          const sc = (w[bo + 192 + g]! << 24) >> 24;
          let s = 0;
          let sa = 0;
          for (let i = 0; i < 16; i++) {
            const p = q6kValue(w, bo, 16 * g + i) * qs[qo + 16 * g + i]!;
            s += p;
            sa += Math.abs(p);
          }
          const bs = sums16[(qo + 16 * g) / 16]!;
          sumi += sc * (s - 32 * bs);
          suma += Math.abs(sc) * (sa + 32 * Math.abs(bs));
        }
        const scale = readF16(w, bo + 208) * ad[ao / 256 + b]!;
        visit(scale * sumi, Math.abs(scale) * suma);
      }
      return;
  }
}

/**
 * y (M, N) = x (M, K) · W^T with W (N, K) in blocks, rows `ldw` bytes apart: activations quantized
 * by quantizeActivations, exact integer block dot products, scales applied in f64. This is the
 * reference backend's quantized matmul and the definition the native kernel is tested against.
 * With `magnitude`, also writes per output the bound on partial sums from dotTerms, summed: the
 * scale of the rounding differences a vectorized f32 implementation may show.
 */
export function quantMatmulReference(
  dtype: QuantDType,
  w: Uint8Array,
  ldw: number,
  x: Float32Array,
  m: number,
  n: number,
  k: number,
  out: Float32Array,
  magnitude?: Float64Array,
): void {
  rowBytes(dtype, k);
  const a = quantizeActivations(x, m, k, activationBlock(dtype), dtype === 'q8_0' || dtype === 'q4_0');
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      let mag = 0;
      dotTerms(dtype, w, j * ldw, a, i * k, k, (t, abs) => {
        sum += t;
        mag += abs;
      });
      out[i * n + j] = sum;
      if (magnitude) magnitude[i * n + j] = mag;
    }
  }
}
