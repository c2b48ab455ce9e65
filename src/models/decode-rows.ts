// Pieces shared by the decode steps that run one token of one sequence on raw rows
// (./llama-decode.ts, ./gpt2-decode.ts): scratch rows, row views for the elementwise kernels, and
// attention over a preallocated cache, each with the arguments the ops they stand in for pass.

import type { FloatArray } from '../tensor/dtype.js';
import type { View } from '../backend/backend.js';
import { backend } from '../backend/index.js';
import { isGradEnabled } from '../tensor/grad-mode.js';
import { markWritten } from '../tensor/version.js';
import type { Tensor } from '../tensor/tensor.js';
import { PreallocatedKVCache } from './kv-cache.js';
import type { DecoderForwardOptions } from './types.js';

/** A contiguous row of n values as the elementwise kernels take it. */
export const rowView = (data: FloatArray, n: number): View<FloatArray> => ({ data, shape: [n], strides: [1], offset: 0 });

/** One zeroed row per name, of the given lengths. */
export function scratchRows<K extends string>(sizes: Record<K, number>): Record<K, Float32Array> {
  return Object.fromEntries(Object.entries<number>(sizes).map(([name, n]) => [name, new Float32Array(n)])) as Record<K, Float32Array>;
}

/**
 * The cache of a forward a decode step can take: one token of one sequence, nothing recorded, a
 * preallocated cache with room, and none of the options that change what the ops compute (a
 * padding mask, position ids, input embeddings); null otherwise.
 */
export function decodeCache(ids: Tensor, options: DecoderForwardOptions): PreallocatedKVCache | null {
  const cache = options.cache;
  if (isGradEnabled() || !(cache instanceof PreallocatedKVCache) || cache.batch !== 1 || cache.remaining < 1) return null;
  if (ids.ndim !== 2 || ids.shape[0] !== 1 || ids.shape[1] !== 1 || ids.dtype !== 'i32') return null;
  if (options.attentionMask || options.positionIds || options.inputsEmbeds) return null;
  return cache;
}

/** Query heads, key/value heads and head size of one attention. */
export interface HeadShape {
  readonly q: number;
  readonly kv: number;
  readonly d: number;
}

/**
 * The new position's keys and values (heads.kv rows of heads.d each) written at cache.length of
 * layer `layer` (as KVCache.update writes them), then causal attention of the query rows over
 * positions 0..cache.length into out (heads.q rows), with no mask, as scaledDotProductAttention
 * runs it for one query.
 */
export function attendCached(
  cache: PreallocatedKVCache,
  layer: number,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  heads: HeadShape,
  scale: number,
  out: Float32Array,
): void {
  const { keys, values } = cache.storage(layer); // (1, Hkv, maxLength, D)
  const { maxLength, length: past } = cache;
  const D = heads.d;
  const kd = keys.data as Float32Array;
  const vd = values.data as Float32Array;
  for (let h = 0; h < heads.kv; h++) {
    kd.set(k.subarray(h * D, (h + 1) * D), keys.offset + (h * maxLength + past) * D);
    vd.set(v.subarray(h * D, (h + 1) * D), values.offset + (h * maxLength + past) * D);
  }
  markWritten(kd);
  markWritten(vd);
  const cached = (data: Float32Array, offset: number) => ({ data, offset, batchStride: heads.kv * maxLength * D, headStride: maxLength * D, rowStride: D });
  backend().attention({
    q: { data: q, offset: 0, batchStride: heads.q * D, headStride: D, rowStride: D },
    k: cached(kd, keys.offset),
    v: cached(vd, values.offset),
    mask: null,
    batch: 1,
    headsQ: heads.q,
    headsKV: heads.kv,
    tq: 1,
    tk: past + 1,
    headDim: D,
    scale,
    causal: true,
    out: { data: out, offset: 0, batchStride: heads.q * D, headStride: D, rowStride: heads.q * D },
  });
}
