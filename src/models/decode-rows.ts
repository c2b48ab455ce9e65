// Pieces shared by the decode steps that run one new token a sequence on raw rows
// (./llama-decode.ts, and GPT-2's in ./gpt2.ts): which calls they may take, scratch rows, row
// views for the elementwise kernels, and attention over a preallocated cache, each with the
// arguments the ops they stand in for pass.

import type { FloatArray } from '../tensor/dtype.js';
import type { View } from '../backend/backend.js';
import { backend } from '../backend/index.js';
import { isGradEnabled } from '../tensor/grad-mode.js';
import { markWritten } from '../tensor/version.js';
import type { Tensor } from '../tensor/tensor.js';
import { PreallocatedKVCache } from './kv-cache.js';
import type { DecoderForwardOptions } from './types.js';
import { GEMM_SKINNY_ROWS } from '../backend/native.js';
import { denseFloat } from '../tensor/ops/common.js';
import { LayerNorm, RMSNorm } from '../nn/layers.js';
import type { Module } from '../nn/module.js';

/** A contiguous row of n values as the elementwise kernels take it. */
export const rowView = (data: FloatArray, n: number): View<FloatArray> => ({ data, shape: [n], strides: [1], offset: 0 });

/**
 * Sequences a decode step runs at once at most: up to this many rows a linear with f32 weights
 * streams the weight unpacked (GEMM_SKINNY_ROWS), the call the step makes.
 */
export const MAX_DECODE_ROWS = GEMM_SKINNY_ROWS;

/**
 * The cache of a forward a decode step can take: one new token for each of up to
 * MAX_DECODE_ROWS sequences of the same length (beams, an unpadded batch), nothing recorded, a
 * preallocated cache with room, and none of the options that change what the ops compute (a
 * padding mask, position ids, input embeddings); null otherwise.
 */
export function decodeCache(ids: Tensor, options: DecoderForwardOptions): PreallocatedKVCache | null {
  const cache = options.cache;
  if (isGradEnabled() || !(cache instanceof PreallocatedKVCache) || cache.remaining < 1) return null;
  if (ids.ndim !== 2 || ids.shape[1] !== 1 || ids.dtype !== 'i32' || ids.shape[0] !== cache.batch || cache.batch > MAX_DECODE_ROWS) return null;
  if (options.attentionMask || options.positionIds || options.inputsEmbeds) return null;
  return cache;
}

/** out (rows, cols) = a norm module's forward of x (rows, cols); see normKernel. */
export type NormKernel = (x: Float32Array, rows: number, out: Float32Array) => void;

/**
 * The backend call a plain RMSNorm's or LayerNorm's forward makes for up to MAX_DECODE_ROWS rows,
 * with its arguments (weights of f32 read in place), or null for any other module or dtype.
 */
export function normKernel(norm: Module): NormKernel | null {
  const f32 = (t: Tensor | null) => t === null || (t.dtype === 'f32' && t.ndim === 1 && t.isContiguous);
  const rows = (t: Tensor) => denseFloat(t) as Float32Array;
  const mean = new Float32Array(MAX_DECODE_ROWS);
  const rstd = new Float32Array(MAX_DECODE_ROWS);
  if (Object.getPrototypeOf(norm) === RMSNorm.prototype) {
    const n = norm as RMSNorm;
    if (!f32(n.weight)) return null;
    const w = rows(n.weight);
    return (x, r, out) => backend().rmsNorm(x, w, r, w.length, n.eps, out, rstd);
  }
  if (Object.getPrototypeOf(norm) === LayerNorm.prototype) {
    const n = norm as LayerNorm;
    if (!f32(n.weight) || !f32(n.bias)) return null;
    const w = rows(n.weight);
    const b = n.bias ? rows(n.bias) : null;
    return (x, r, out) => backend().layerNorm(x, w, b, r, w.length, n.eps, out, mean, rstd, null);
  }
  return null;
}

/**
 * The plans a decode step keeps, one per model: built on first use (null when the step does not
 * take the model) and used only while the model still holds the modules it was built from (none
 * replaced or wrapped since, e.g. by LoRA).
 */
export class StepPlans<M extends object, P> {
  private readonly plans = new WeakMap<M, { plan: P | null; modules: readonly Module[] }>();

  constructor(
    /** the modules a plan reads, in a fixed order */
    private readonly modulesOf: (model: M) => Module[],
    private readonly build: (model: M) => P | null,
  ) {}

  get(model: M): P | null {
    const now = this.modulesOf(model);
    let entry = this.plans.get(model);
    if (!entry) this.plans.set(model, (entry = { plan: this.build(model), modules: now }));
    const same = now.length === entry.modules.length && now.every((m, i) => m === entry.modules[i]);
    return same ? entry.plan : null;
  }
}

/** Per-row scratch, one set for each number of rows a model has decoded. */
export class ScratchByRows<K extends string> {
  private readonly sets = new Map<number, Record<K, Float32Array>>();

  constructor(private readonly sizes: Record<K, number>) {}

  /** Rows for `b` sequences: each name's length times b. */
  get(b: number): Record<K, Float32Array> {
    let set = this.sets.get(b);
    if (!set) {
      set = Object.fromEntries(Object.entries<number>(this.sizes).map(([name, n]) => [name, new Float32Array(n * b)])) as Record<K, Float32Array>;
      this.sets.set(b, set);
    }
    return set;
  }
}

/** Rows of a (B, heads × D) operand inside a wider buffer: where row 0 starts and how far apart rows are. */
export interface RowsOf {
  readonly data: Float32Array;
  readonly offset: number;
  readonly stride: number;
}

/** Query heads, key/value heads and head size of one attention. */
export interface HeadShape {
  readonly q: number;
  readonly kv: number;
  readonly d: number;
}

/**
 * The new position's keys and values (heads.kv rows of heads.d for each of the cache's B
 * sequences) written at cache.length of layer `layer` (as KVCache.update writes them), then causal
 * attention of the queries (heads.q rows a sequence) over positions 0..cache.length into out
 * (B, heads.q × D), with no mask, as scaledDotProductAttention runs it for one query a sequence.
 */
export function attendCached(cache: PreallocatedKVCache, layer: number, q: RowsOf, k: RowsOf, v: RowsOf, heads: HeadShape, scale: number, out: Float32Array): void {
  const { keys, values } = cache.storage(layer); // (B, Hkv, maxLength, D)
  const { maxLength, length: past, batch } = cache;
  const D = heads.d;
  const kd = keys.data as Float32Array;
  const vd = values.data as Float32Array;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads.kv; h++) {
      const at = ((b * heads.kv + h) * maxLength + past) * D;
      const ks = k.offset + b * k.stride + h * D;
      const vs = v.offset + b * v.stride + h * D;
      kd.set(k.data.subarray(ks, ks + D), keys.offset + at);
      vd.set(v.data.subarray(vs, vs + D), values.offset + at);
    }
  }
  markWritten(kd);
  markWritten(vd);
  const cached = (data: Float32Array, offset: number) => ({ data, offset, batchStride: heads.kv * maxLength * D, headStride: maxLength * D, rowStride: D });
  backend().attention({
    q: { data: q.data, offset: q.offset, batchStride: q.stride, headStride: D, rowStride: D },
    k: cached(kd, keys.offset),
    v: cached(vd, values.offset),
    mask: null,
    batch,
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
