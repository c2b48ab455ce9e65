import { StrataError, fmtShape } from '../../errors.js';
import type { FloatArray } from '../dtype.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { enableGrad, noGrad, record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import { grad as autogradGrad } from '../../autograd/engine.js';
import { asFloat, computeDType, denseFloat, empty, expectFloat, expectRank } from './common.js';
import { add, maskedFill, mul, where } from './elementwise.js';
import { matmul } from './linalg.js';
import { softmax } from './nn.js';
import { contiguous, detach, expand, reshape, transpose, unsqueeze } from './views.js';
import { arange, full } from './creation.js';

export interface AttentionOptions {
  /** query i sees keys j <= i + (S - T): the usual causal mask, aligned to the end for KV caches */
  causal?: boolean;
  /**
   * Broadcastable to (B, Hq, T, S). A bool mask keeps `true` positions (as torch's attn_mask);
   * a float mask is added to the scores.
   */
  mask?: Tensor | null;
  /** scale of q·k, default 1/sqrt(D) */
  scale?: number;
}

interface Dims {
  b: number;
  hq: number;
  hkv: number;
  t: number;
  s: number;
  d: number;
}

function checkDims(q: Tensor, k: Tensor, v: Tensor, op: string): Dims {
  expectFloat(q, op);
  expectRank(q, 4, op, 'q');
  expectRank(k, 4, op, 'k');
  expectRank(v, 4, op, 'v');
  const [b, hq, t, d] = q.shape as [number, number, number, number];
  const [bk, hkv, s, dk] = k.shape as [number, number, number, number];
  if (bk !== b || dk !== d || !shapesEqual(k.shape, v.shape)) {
    throw new StrataError('shape', op, `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} must be (B, H, T, D), (B, Hkv, S, D), (B, Hkv, S, D)`);
  }
  if (hkv === 0 || hq % hkv !== 0) throw new StrataError('shape', op, `query heads ${hq} must be a multiple of key/value heads ${hkv}`);
  return { b, hq, hkv, t, s, d };
}

/** The mask as an additive float tensor broadcast over (B|1, H|1, T, S), or null. */
function additiveMask(mask: Tensor | null | undefined, dims: Dims, dt: 'f32' | 'f64', op: string): Tensor | null {
  if (!mask) return null;
  const target = [dims.b, dims.hq, dims.t, dims.s];
  let m4 = mask;
  while (m4.ndim < 4) m4 = unsqueeze(m4, 0);
  const full4 = broadcastShapes(op, m4.shape, target);
  if (!shapesEqual(full4, target)) throw new StrataError('shape', op, `mask ${fmtShape(mask.shape)} does not broadcast to ${fmtShape(target)}`);
  if (mask.dtype === 'bool' || mask.dtype === 'u8') return where(m4, 0, -Infinity).to(dt);
  return asFloat(m4, dt);
}

/** Repeats each key/value head Hq/Hkv times: (B, Hkv, S, D) -> (B, Hq, S, D). */
function repeatKV(x: Tensor, groups: number): Tensor {
  if (groups === 1) return x;
  const [b, h, s, d] = x.shape as [number, number, number, number];
  return reshape(expand(unsqueeze(x, 2), [b, h, groups, s, d]), [b, h * groups, s, d]);
}

/** Scaled dot-product attention from composed primitives: the reference the fused op is held to. */
export function attentionComposed(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const dims = checkDims(q, k, v, 'attentionComposed');
  const dt = computeDType(q, k, v);
  const scale = options.scale ?? 1 / Math.sqrt(dims.d);
  const kr = repeatKV(asFloat(k, dt), dims.hq / dims.hkv);
  const vr = repeatKV(asFloat(v, dt), dims.hq / dims.hkv);
  let scores = mul(matmul(asFloat(q, dt), transpose(kr, -1, -2)), scale); // (B, H, T, S)
  const m = additiveMask(options.mask, dims, dt, 'attentionComposed');
  if (m) scores = add(scores, m);
  if (options.causal) {
    const i = reshape(arange(dims.t), [dims.t, 1]);
    const j = reshape(arange(dims.s), [1, dims.s]);
    scores = maskedFill(scores, j.gt(i.add(dims.s - dims.t)), -Infinity);
  }
  return matmul(softmax(scores, -1), vr); // (B, H, T, D)
}

const GEMM_ATTENTION_MIN_QUERIES = 16;
const GEMM_ATTENTION_MAX_SCORE_BYTES = 64 * 1024 * 1024;

/**
 * Fused scaled-dot-product attention: q (B, Hq, T, D), k/v (B, Hkv, S, D) with Hq a multiple
 * of Hkv (GQA/MQA), optional causal and padding masks. Forward runs one kernel without
 * materializing (T, S) scores; backward re-runs the composed graph to get exact gradients.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const dims = checkDims(q, k, v, 'attention');
  const dt = computeDType(q, k, v);
  const scale = options.scale ?? 1 / Math.sqrt(dims.d);
  const m = additiveMask(options.mask, dims, dt, 'attention');
  let maskData: FloatArray | null = null;
  let maskBatchStride = 0;
  let maskHeadStride = 0;
  if (m) {
    // keep broadcast batch/head dims unexpanded; materialize (T, S)
    const mb = m.shape[0] === 1 ? 1 : dims.b;
    const mh = m.shape[1] === 1 ? 1 : dims.hq;
    const mc = contiguous(expand(m, [mb, mh, dims.t, dims.s]));
    maskData = denseFloat(mc);
    maskHeadStride = mh === 1 ? 0 : dims.t * dims.s;
    maskBatchStride = mb === 1 ? 0 : mh * dims.t * dims.s;
  }
  // many queries at once: batched GEMMs beat the row-at-a-time kernel, as long as the (T, S)
  // score matrices stay small; both compute the same function (the tests hold them equal)
  const scoreBytes = dims.b * dims.hq * dims.t * dims.s * (dt === 'f64' ? 8 : 4);
  const viaGemm = dims.t >= GEMM_ATTENTION_MIN_QUERIES && scoreBytes <= GEMM_ATTENTION_MAX_SCORE_BYTES;
  const out = viaGemm ? noGrad(() => attentionComposed(detach(q), detach(k), detach(v), { ...options, scale })) : empty(dt, [dims.b, dims.hq, dims.t, dims.d]);
  if (out.size > 0 && !viaGemm) {
    const kl = kvLayout(asFloat(k, dt));
    const vl = kvLayout(asFloat(v, dt));
    backend().attention({
      q: denseFloat(contiguous(asFloat(q, dt))),
      k: kl.data,
      kOffset: kl.offset,
      kBatchStride: kl.batchStride,
      kHeadStride: kl.headStride,
      v: vl.data,
      vOffset: vl.offset,
      vBatchStride: vl.batchStride,
      vHeadStride: vl.headStride,
      mask: maskData,
      maskBatchStride,
      maskHeadStride,
      batch: dims.b,
      headsQ: dims.hq,
      headsKV: dims.hkv,
      tq: dims.t,
      tk: dims.s,
      headDim: dims.d,
      scale,
      causal: options.causal ?? false,
      out: out.data as FloatArray,
    });
  }
  return record('attention', [q, k, v], out, (g) =>
    enableGrad(() => {
      const inputs = [q, k, v].map((t) => detach(t).requiresGrad_(t.requiresGrad));
      const y = attentionComposed(inputs[0]!, inputs[1]!, inputs[2]!, { ...options, scale });
      const wanted = inputs.filter((t) => t.requiresGrad);
      const grads = autogradGrad(y, wanted, g);
      return inputs.map((t) => (t.requiresGrad ? grads[wanted.indexOf(t)]! : null));
    }),
  );
}

/**
 * Reads a (B, H, S, D) key or value tensor in place when its rows of D are contiguous (a slice
 * of a preallocated KV cache is), copying only other layouts.
 */
function kvLayout(t: Tensor): { data: FloatArray; offset: number; batchStride: number; headStride: number } {
  const [, , s, d] = t.shape as [number, number, number, number];
  const rowsContiguous = (d <= 1 || t.strides[3] === 1) && (s <= 1 || t.strides[2] === d);
  const c = rowsContiguous ? t : contiguous(t);
  return { data: c.data as FloatArray, offset: c.offset, batchStride: c.strides[0]!, headStride: c.strides[1]! };
}

/** A (B, 1, 1, S) bool mask from per-sequence lengths, for right-padded batches. */
export function paddingMask(lengths: readonly number[], s: number): Tensor {
  const m = full([lengths.length, 1, 1, s], 0, { dtype: 'bool' });
  lengths.forEach((len, b) => m.data.fill(1, b * s, b * s + Math.min(len, s)));
  return m;
}
