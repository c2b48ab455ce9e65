import { StrataError, fmtShape } from '../../errors.js';
import type { FloatArray } from '../dtype.js';
import type { AttentionOperand } from '../../backend/backend.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { enableGrad, record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import { grad as autogradGrad } from '../../autograd/engine.js';
import { asFloat, computeDType, emptyOverwritten, expectFloat, expectRank } from './common.js';
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

/**
 * Fused scaled-dot-product attention: q (B, Hq, T, D), k/v (B, Hkv, S, D) with Hq a multiple
 * of Hkv (GQA/MQA), optional causal and padding masks. Forward runs one backend kernel that reads
 * q, k, v and the mask in place (head-split views, cache slices, broadcast masks) and never holds
 * all (T, S) scores; backward re-runs the composed graph to get exact gradients.
 *
 * The result is a (B, H, T, D) view of a (B, T, H, D) buffer, so merging the heads back,
 * `y.transpose(1, 2).reshape(B, T, H * D)`, is free.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const dims = checkDims(q, k, v, 'attention');
  const dt = computeDType(q, k, v);
  const scale = options.scale ?? 1 / Math.sqrt(dims.d);
  const m = additiveMask(options.mask, dims, dt, 'attention');
  const buf = emptyOverwritten(dt, [dims.b, dims.t, dims.hq, dims.d]); // (B, T, H, D), every row written
  const out = transpose(buf, 1, 2); // (B, H, T, D)
  if (out.size > 0) {
    backend().attention({
      q: attentionOperand(asFloat(q, dt)),
      k: attentionOperand(asFloat(k, dt)),
      v: attentionOperand(asFloat(v, dt)),
      mask: m ? attentionOperand(expand(m, [dims.b, dims.hq, dims.t, dims.s])) : null,
      batch: dims.b,
      headsQ: dims.hq,
      headsKV: dims.hkv,
      tq: dims.t,
      tk: dims.s,
      headDim: dims.d,
      scale,
      causal: options.causal ?? false,
      out: { data: buf.data as FloatArray, offset: 0, batchStride: dims.t * dims.hq * dims.d, headStride: dims.d, rowStride: dims.hq * dims.d },
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
 * A 4-D float tensor as an attention operand, read in place when its last axis is contiguous
 * (head-split projections, KV-cache slices and broadcast masks are); other layouts are copied.
 */
function attentionOperand(t: Tensor): AttentionOperand {
  const inPlace = (t.shape[3]! <= 1 || t.strides[3] === 1) && t.strides.every((s) => s >= 0);
  const c = inPlace ? t : contiguous(t);
  return { data: c.data as FloatArray, offset: c.offset, batchStride: c.strides[0]!, headStride: c.strides[1]!, rowStride: c.strides[2]! };
}

/** A (B, 1, 1, S) bool mask from per-sequence lengths, for right-padded batches. */
export function paddingMask(lengths: readonly number[], s: number): Tensor {
  const m = full([lengths.length, 1, 1, s], 0, { dtype: 'bool' });
  lengths.forEach((len, b) => m.data.fill(1, b * s, b * s + Math.min(len, s)));
  return m;
}
