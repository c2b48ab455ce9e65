import { type FloatArray, type QuantDType, type Storage, bf16ToF32, f16ToF32 } from '../tensor/dtype.js';
import { dequantizeRows, quantMatmulReference } from '../tensor/quant.js';
import { type Shape, contiguousStrides } from '../tensor/shape.js';
import { StrataError } from '../errors.js';
import * as m from './math.js';
import { sampleReference } from './sample.js';
import type {
  ArgReduceOp,
  AttentionArgs,
  AxisLayout,
  Backend,
  BinaryOp,
  CompareOp,
  Conv2dGeometry,
  GemmEpilogue,
  MatOperand,
  PackedMatrix,
  ReduceOp,
  UnaryOp,
  View,
} from './backend.js';

/**
 * Visits a row-major walk over `shape` for several strided views at once. `row` is called
 * once per innermost row with the running output index and each view's starting offset.
 */
function walkRows(
  shape: Shape,
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
  row: (outIndex: number, offs: number[], len: number, innerStrides: number[]) => void,
): void {
  const nd = shape.length;
  const nv = strides.length;
  if (nd === 0) {
    row(0, [...offsets], 1, new Array<number>(nv).fill(0));
    return;
  }
  for (const d of shape) if (d === 0) return;
  const len = shape[nd - 1]!;
  const inner = strides.map((s) => s[nd - 1]!);
  const idx = new Array<number>(nd - 1).fill(0);
  const offs = [...offsets];
  let out = 0;
  for (;;) {
    row(out, [...offs], len, inner);
    out += len;
    let d = nd - 2;
    for (; d >= 0; d--) {
      idx[d]!++;
      for (let v = 0; v < nv; v++) offs[v]! += strides[v]![d]!;
      if (idx[d]! < shape[d]!) break;
      for (let v = 0; v < nv; v++) offs[v]! -= strides[v]![d]! * shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

type Scalar1 = (x: number, s: number) => number;

const UNARY: Record<UnaryOp, Scalar1> = {
  neg: (x) => -x,
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: (x) => Math.abs(x),
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN),
  tanh: (x) => Math.tanh(x),
  sigmoid: (x) => m.sigmoid(x),
  relu: (x) => (x > 0 ? x : 0),
  gelu: (x) => m.gelu(x),
  geluTanh: (x) => m.geluTanh(x),
  silu: (x) => m.silu(x),
  sin: (x) => Math.sin(x),
  cos: (x) => Math.cos(x),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  powScalar: (x, s) => Math.pow(x, s),
  addScalar: (x, s) => x + s,
  mulScalar: (x, s) => x * s,
  geluGrad: (x) => m.geluGrad(x),
  geluTanhGrad: (x) => m.geluTanhGrad(x),
  siluGrad: (x) => m.siluGrad(x),
  sigmoidGrad: (x) => {
    const s = m.sigmoid(x);
    return s * (1 - s);
  },
  tanhGrad: (x) => {
    const t = Math.tanh(x);
    return 1 - t * t;
  },
  step: (x) => (x > 0 ? 1 : 0),
};

const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(a, b),
  maximum: (a, b) => (a > b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a < b || Number.isNaN(a) ? a : b),
};

const INT_BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  ...BINARY,
  mul: (a, b) => Math.imul(a, b),
  div: (a, b) => (b === 0 ? 0 : Math.trunc(a / b)),
};

const COMPARE: Record<CompareOp, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
};

function checkIndex(i: number, n: number, op: string): void {
  if (!(i >= 0 && i < n)) throw new StrataError('index', op, `index ${i} is out of range for a dimension of size ${n}`);
}

function copy(src: View, out: Storage): void {
  walkRows(src.shape, [src.strides], [src.offset], (o, [off], len, [s]) => {
    const d = src.data;
    for (let i = 0; i < len; i++) out[o + i] = d[off! + i * s!]!;
  });
}

function assign(dst: View, src: View): void {
  // copy through a temporary when both views share storage, so overlapping views are safe
  let s = src;
  if (src.data.buffer === dst.data.buffer) {
    const n = src.shape.reduce((a, b) => a * b, 1);
    const tmp = new (src.data.constructor as new (n: number) => Storage)(n);
    copy(src, tmp);
    s = { data: tmp, shape: src.shape, strides: contiguousStrides(src.shape), offset: 0 };
  }
  // contiguous rows of the same storage type copy as one block (a KV-cache update is a few such rows)
  const sameType = dst.data.constructor === s.data.constructor;
  walkRows(dst.shape, [dst.strides, s.strides], [dst.offset, s.offset], (_o, [od, os], len, [sd, ss]) => {
    if (sameType && sd === 1 && ss === 1 && len > 1) (dst.data as Float32Array).set((s.data as Float32Array).subarray(os!, os! + len), od!);
    else for (let i = 0; i < len; i++) dst.data[od! + i * sd!] = s.data[os! + i * ss!]!;
  });
}

function unary(op: UnaryOp, x: View<FloatArray>, out: FloatArray, scalar: number): void {
  const f = UNARY[op];
  walkRows(x.shape, [x.strides], [x.offset], (o, [off], len, [s]) => {
    const d = x.data;
    for (let i = 0; i < len; i++) out[o + i] = f(d[off! + i * s!]!, scalar);
  });
}

function binary(op: BinaryOp, a: View<FloatArray | Int32Array>, b: View<FloatArray | Int32Array>, out: FloatArray | Int32Array): void {
  const f = out instanceof Int32Array ? INT_BINARY[op] : BINARY[op];
  walkRows(a.shape, [a.strides, b.strides], [a.offset, b.offset], (o, [oa, ob], len, [sa, sb]) => {
    const da = a.data;
    const db = b.data;
    for (let i = 0; i < len; i++) out[o + i] = f(da[oa! + i * sa!]!, db[ob! + i * sb!]!);
  });
}

function compare(op: CompareOp, a: View, b: View, out: Uint8Array): void {
  const f = COMPARE[op];
  walkRows(a.shape, [a.strides, b.strides], [a.offset, b.offset], (o, [oa, ob], len, [sa, sb]) => {
    const da = a.data;
    const db = b.data;
    for (let i = 0; i < len; i++) out[o + i] = f(da[oa! + i * sa!]!, db[ob! + i * sb!]!) ? 1 : 0;
  });
}

function where(cond: View<Uint8Array>, a: View<FloatArray>, b: View<FloatArray>, out: FloatArray): void {
  walkRows(cond.shape, [cond.strides, a.strides, b.strides], [cond.offset, a.offset, b.offset], (o, [oc, oa, ob], len, [sc, sa, sb]) => {
    for (let i = 0; i < len; i++) out[o + i] = cond.data[oc! + i * sc!] ? a.data[oa! + i * sa!]! : b.data[ob! + i * sb!]!;
  });
}

function reduce(op: ReduceOp, x: FloatArray, { outer, n, inner }: AxisLayout, out: FloatArray): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      let acc = op === 'sum' ? 0 : op === 'prod' ? 1 : op === 'max' ? -Infinity : Infinity;
      for (let i = 0; i < n; i++) {
        const v = x[base + i * inner]!;
        if (op === 'sum') acc += v;
        else if (op === 'prod') acc *= v;
        else if (Number.isNaN(v)) acc = NaN;
        else if (op === 'max' ? v > acc : v < acc) acc = v;
        if (Number.isNaN(acc) && op !== 'sum' && op !== 'prod') break;
      }
      out[o * inner + j] = acc;
    }
  }
}

function argReduce(op: ArgReduceOp, x: FloatArray, { outer, n, inner }: AxisLayout, out: Int32Array): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      let best = 0;
      let bestV = x[base]!;
      for (let i = 1; i < n && !Number.isNaN(bestV); i++) {
        const v = x[base + i * inner]!;
        if (Number.isNaN(v) || (op === 'argmax' ? v > bestV : v < bestV)) {
          best = i;
          bestV = v;
        }
      }
      out[o * inner + j] = best;
    }
  }
}

function matmul(a: MatOperand, b: MatOperand, out: FloatArray, mm: number, nn: number, kk: number, batch: number, accumulate = false, epilogue?: GemmEpilogue, bias?: FloatArray): void {
  if (bias) for (let r = 0; r < batch * mm; r++) out.set(bias.subarray(0, nn) as Float32Array & Float64Array, r * nn);
  product(a, b, out, mm, nn, kk, batch, accumulate || bias !== undefined);
  if (epilogue) unary(epilogue, { data: out, shape: [batch * mm * nn], strides: [1], offset: 0 }, out, 0);
}

/** The definition multiplies the operands as they are: there is nothing to gain from packing. */
function packMatrix(): PackedMatrix | null {
  return null;
}

function matmulPacked(): void {
  throw new StrataError('backend', 'matmulPacked', 'the reference backend packs no matrices (packMatrix returned null): use matmul');
}

function product(a: MatOperand, b: MatOperand, out: FloatArray, mm: number, nn: number, kk: number, batch: number, accumulate: boolean): void {
  const acc = new Float64Array(nn);
  for (let bt = 0; bt < batch; bt++) {
    const ao = a.offset + bt * a.batchStride;
    const bo = b.offset + bt * b.batchStride;
    const co = bt * mm * nn;
    for (let i = 0; i < mm; i++) {
      acc.fill(0);
      for (let p = 0; p < kk; p++) {
        const av = a.data[a.trans ? ao + p * a.ld + i : ao + i * a.ld + p]!;
        if (av === 0) continue;
        if (b.trans) for (let j = 0; j < nn; j++) acc[j]! += av * b.data[bo + j * b.ld + p]!;
        else {
          const row = bo + p * b.ld;
          for (let j = 0; j < nn; j++) acc[j]! += av * b.data[row + j]!;
        }
      }
      for (let j = 0; j < nn; j++) out[co + i * nn + j] = accumulate ? out[co + i * nn + j]! + acc[j]! : acc[j]!;
    }
  }
}

function softmax(x: FloatArray, rows: number, cols: number, out: FloatArray, log: boolean): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let mx = -Infinity;
    for (let c = 0; c < cols; c++) mx = Math.max(mx, x[base + c]!);
    if (mx === -Infinity) {
      // a fully masked row: probability 0 everywhere (torch gives NaN; zeros keep padded batches finite)
      out.fill(log ? -Infinity : 0, base, base + cols);
      continue;
    }
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(x[base + c]! - mx);
    if (log) {
      const lse = Math.log(sum);
      for (let c = 0; c < cols; c++) out[base + c] = x[base + c]! - mx - lse;
    } else {
      for (let c = 0; c < cols; c++) out[base + c] = Math.exp(x[base + c]! - mx) / sum;
    }
  }
}

function layerNorm(
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
): void {
  // with a residual, each row's sums go into out (rounded to its type, as add would) and are
  // normalized there in place
  const src = residual ? out : x;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    if (residual) for (let c = 0; c < cols; c++) out[base + c] = x[base + c]! + residual[base + c]!;
    let s = 0;
    for (let c = 0; c < cols; c++) s += src[base + c]!;
    const mu = s / cols;
    let v = 0;
    for (let c = 0; c < cols; c++) {
      const d = src[base + c]! - mu;
      v += d * d;
    }
    const rs = 1 / Math.sqrt(v / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) {
      let y = (src[base + c]! - mu) * rs;
      if (weight) y *= weight[c]!;
      if (bias) y += bias[c]!;
      out[base + c] = y;
    }
  }
}

function rmsNorm(x: FloatArray, weight: FloatArray | null, rows: number, cols: number, eps: number, out: FloatArray, rstd: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[base + c]! * x[base + c]!;
    const rs = 1 / Math.sqrt(ss / cols + eps);
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) out[base + c] = x[base + c]! * rs * (weight ? weight[c]! : 1);
  }
}

function gather(x: FloatArray, { outer, n, inner }: AxisLayout, index: Int32Array, mm: number, out: FloatArray): void {
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < mm; i++)
      for (let j = 0; j < inner; j++) {
        const p = (o * mm + i) * inner + j;
        const t = index[p]!;
        checkIndex(t, n, 'gather');
        out[p] = x[(o * n + t) * inner + j]!;
      }
}

function scatterAdd(out: FloatArray, { outer, n, inner }: AxisLayout, index: Int32Array, mm: number, src: FloatArray): void {
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < mm; i++)
      for (let j = 0; j < inner; j++) {
        const p = (o * mm + i) * inner + j;
        const t = index[p]!;
        checkIndex(t, n, 'scatterAdd');
        out[(o * n + t) * inner + j]! += src[p]!;
      }
}

function indexSelect(x: FloatArray, { outer, n, inner }: AxisLayout, idx: Int32Array, out: FloatArray): void {
  const mm = idx.length;
  for (const t of idx) checkIndex(t, n, 'indexSelect');
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < mm; i++) {
      const src = (o * n + idx[i]!) * inner;
      out.set(x.subarray(src, src + inner), (o * mm + i) * inner);
    }
}

function indexAdd(out: FloatArray, { outer, n, inner }: AxisLayout, idx: Int32Array, src: FloatArray): void {
  const mm = idx.length;
  for (const t of idx) checkIndex(t, n, 'indexAdd');
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < mm; i++) {
      const dst = (o * n + idx[i]!) * inner;
      const s = (o * mm + i) * inner;
      for (let j = 0; j < inner; j++) out[dst + j]! += src[s + j]!;
    }
}

function im2colWalk(g: Conv2dGeometry, visit: (colIndex: number, imgIndex: number) => void): void {
  const { batch, channels, height, width, kernelH, kernelW, outH, outW } = g;
  const colsPerImage = channels * kernelH * kernelW * outH * outW;
  for (let b = 0; b < batch; b++)
    for (let c = 0; c < channels; c++)
      for (let ki = 0; ki < kernelH; ki++)
        for (let kj = 0; kj < kernelW; kj++) {
          const row = (c * kernelH + ki) * kernelW + kj;
          for (let oy = 0; oy < outH; oy++) {
            const iy = oy * g.strideH - g.padH + ki * g.dilationH;
            for (let ox = 0; ox < outW; ox++) {
              const ix = ox * g.strideW - g.padW + kj * g.dilationW;
              const col = b * colsPerImage + (row * outH + oy) * outW + ox;
              const inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
              visit(col, inside ? ((b * channels + c) * height + iy) * width + ix : -1);
            }
          }
        }
}

function im2col(x: FloatArray, g: Conv2dGeometry, out: FloatArray): void {
  im2colWalk(g, (col, img) => {
    out[col] = img < 0 ? 0 : x[img]!;
  });
}

function col2im(cols: FloatArray, g: Conv2dGeometry, out: FloatArray): void {
  im2colWalk(g, (col, img) => {
    if (img >= 0) out[img]! += cols[col]!;
  });
}

function rope(
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
): void {
  const half = d / 2;
  for (let r = 0; r < rows; r++)
    for (let p = 0; p < t; p++) {
      const base = (r * t + p) * d;
      const tab = (Math.floor(r / rowsPerTable) * t + p) * half;
      for (let i = 0; i < half; i++) {
        const c = cos[tab + i]!;
        const s = inverse ? -sin[tab + i]! : sin[tab + i]!;
        const i0 = interleaved ? base + 2 * i : base + i;
        const i1 = interleaved ? i0 + 1 : i0 + half;
        const x0 = x[i0]!;
        const x1 = x[i1]!;
        out[i0] = x0 * c - x1 * s;
        out[i1] = x1 * c + x0 * s;
      }
    }
}

function attention(a: AttentionArgs): void {
  const { batch, headsQ, headsKV, tq, tk, headDim: dd, scale, q, k, v, mask, out } = a;
  const group = headsQ / headsKV;
  const scores = new Float64Array(tk);
  const acc = new Float64Array(dd);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < headsQ; h++) {
      const kvh = Math.floor(h / group);
      const qBase = q.offset + b * q.batchStride + h * q.headStride;
      const kBase = k.offset + b * k.batchStride + kvh * k.headStride;
      const vBase = v.offset + b * v.batchStride + kvh * v.headStride;
      const mBase = mask ? mask.offset + b * mask.batchStride + h * mask.headStride : 0;
      const oBase = out.offset + b * out.batchStride + h * out.headStride;
      for (let i = 0; i < tq; i++) {
        let mx = -Infinity;
        for (let j = 0; j < tk; j++) {
          let s = -Infinity;
          if (!a.causal || j <= i + tk - tq) {
            s = 0;
            for (let p = 0; p < dd; p++) s += q.data[qBase + i * q.rowStride + p]! * k.data[kBase + j * k.rowStride + p]!;
            s *= scale;
            if (mask) s += mask.data[mBase + i * mask.rowStride + j]!;
          }
          scores[j] = s;
          if (s > mx) mx = s;
        }
        acc.fill(0);
        let sum = 0;
        if (mx !== -Infinity) {
          for (let j = 0; j < tk; j++) {
            const w = Math.exp(scores[j]! - mx);
            sum += w;
            if (w === 0) continue;
            for (let p = 0; p < dd; p++) acc[p]! += w * v.data[vBase + j * v.rowStride + p]!;
          }
        }
        // a row with every key masked yields zeros rather than NaN
        const o = oBase + i * out.rowStride;
        for (let p = 0; p < dd; p++) out.data[o + p] = sum > 0 ? acc[p]! / sum : 0;
      }
    }
}

function quantMatmul(dtype: QuantDType, w: Uint8Array, ldw: number, x: Float32Array, mm: number, nn: number, kk: number, out: Float32Array): void {
  quantMatmulReference(dtype, w, ldw, x, mm, nn, kk, out);
}

function halfMatmul(dtype: 'f16' | 'bf16', w: Uint16Array, wOffset: number, ldw: number, x: Float32Array, mm: number, nn: number, kk: number, out: Float32Array): void {
  const conv = dtype === 'f16' ? f16ToF32 : bf16ToF32;
  const row = new Float64Array(kk);
  for (let j = 0; j < nn; j++) {
    for (let p = 0; p < kk; p++) row[p] = conv(w[wOffset + j * ldw + p]!);
    for (let i = 0; i < mm; i++) {
      let acc = 0;
      for (let p = 0; p < kk; p++) acc += x[i * kk + p]! * row[p]!;
      out[i * nn + j] = acc;
    }
  }
}

export const referenceBackend: Backend = {
  name: 'reference',
  copy,
  assign,
  unary,
  binary,
  compare,
  where,
  reduce,
  argReduce,
  sample: sampleReference,
  matmul,
  packMatrix,
  matmulPacked,
  softmax,
  layerNorm,
  rmsNorm,
  gather,
  scatterAdd,
  indexSelect,
  indexAdd,
  im2col,
  col2im,
  rope,
  attention,
  quantMatmul,
  dequantizeRows,
  halfMatmul,
};
