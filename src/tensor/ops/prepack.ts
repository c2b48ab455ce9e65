import type { Tensor } from '../tensor.js';
import type { FloatArray } from '../dtype.js';
import { storageVersion } from '../version.js';
import { noGrad } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import type { Backend, PackedMatrix } from '../../backend/backend.js';
import { cat } from './join.js';
import { contiguous } from './views.js';

/**
 * Linear weights packed once for the GEMM, the way inference runtimes pack constant weights at
 * session start: the GEMM otherwise packs Wᵀ into its panel layout again on every call.
 *
 * A packed copy is a cache on the weight tensors, never a second source of truth. It is kept in a
 * WeakMap keyed by the first weight (so it lives exactly as long as the weight object does) and
 * records the storage version (../version.ts) of every weight it was packed from; any in-place
 * write since then (an optimizer step, loadStateDict, a LoRA merge) makes it stale, and the next
 * call packs again. Callers use it only when nothing records gradients, so a training step
 * never packs: its weights change after every step anyway.
 *
 * Memory: a packed copy is as large as its weights (f32, columns padded to the kernel's panel
 * width). A memory-mapped checkpoint's pages are then no longer read by these GEMMs, so the
 * kernel can drop them from memory under pressure; weights read into the heap are held twice.
 * Weights are packed on their second use, so a model run once never holds a packed copy. A
 * weight that a few-row product has read in place (a decoder's generation steps: the GEMM
 * streams the weight itself below 9 rows) is never packed, and loses a copy it had: the
 * original would stay resident beside it, doubling the model's memory for ≈ 2% of its
 * prompt-processing time.
 */
interface PackedEntry {
  readonly weights: readonly Tensor[];
  readonly versions: readonly number[];
  readonly backend: Backend;
  /** null until the second call at these versions (a weight used once is never packed), or when the backend packs nothing */
  packed: PackedMatrix | null;
  /** whether the second call has asked the backend to pack */
  tried: boolean;
}

const packs = new WeakMap<Tensor, PackedEntry[]>();
const streamed = new WeakSet<Tensor>();

/** Records that `weight` was multiplied unpacked by a few rows: it is not packed from now on. */
export function noteStreamed(weight: Tensor): void {
  if (streamed.has(weight)) return;
  streamed.add(weight);
  packs.delete(weight);
}

/** Whether a packed copy of exactly these stacked weights is held now (for tests and diagnostics). */
export function hasPackedCopy(weights: readonly Tensor[]): boolean {
  const be = backend();
  return (packs.get(weights[0]!) ?? []).some((e) => e.packed !== null && fresh(e, weights, be));
}

function fresh(e: PackedEntry, weights: readonly Tensor[], be: Backend): boolean {
  if (e.backend !== be || e.weights.length !== weights.length) return false;
  for (let i = 0; i < weights.length; i++) {
    if (e.weights[i] !== weights[i] || e.versions[i] !== storageVersion(weights[i]!.data)) return false;
  }
  return true;
}

/**
 * Wᵀ of the (out, in) f32 weights stacked along out (one weight, or a layer's query/key/value
 * whose outputs go into one GEMM), packed by the active backend, from the cache when no weight
 * has been written since. Null when the backend packs nothing (the reference backend), the
 * weights do not stack (dtype, in_features), or this is the first call with these weights at
 * their current versions: packing costs about what one product does, so a weight is packed
 * on its second use, and a model run once (or a weight changed between every pair of calls)
 * never pays for a packed copy.
 */
export function packedWeights(weights: readonly Tensor[]): PackedMatrix | null {
  const first = weights[0];
  if (!first) return null;
  const k = first.shape[1]!;
  for (const w of weights) if (w.dtype !== 'f32' || w.ndim !== 2 || w.shape[1] !== k) return null;
  if (weights.some((w) => streamed.has(w))) {
    packs.delete(first); // a stack one of whose weights is now streamed drops its copy too
    return null;
  }
  const be = backend();
  const entries = packs.get(first) ?? [];
  const hit = entries.find((e) => fresh(e, weights, be));
  if (hit?.tried) return hit.packed;
  if (!hit) {
    // one entry per weight list: drop a stale one, keep those of other lists (QKV vs a lone W)
    const others = entries.filter((e) => e.backend === be && !(e.weights.length === weights.length && e.weights.every((w, i) => w === weights[i])));
    packs.set(first, [...others, { weights: [...weights], versions: weights.map((w) => storageVersion(w.data)), backend: be, packed: null, tried: false }]);
    return null;
  }
  const stacked = noGrad(() => contiguous(weights.length === 1 ? first : cat([...weights], 0))); // (ΣN, K): a temporary when stacked
  const n = stacked.shape[0]!;
  // op(B) = stackedᵀ (K, ΣN), read in place: row j of stacked is column j of op(B)
  const packed = be.packMatrix({ data: stacked.data as FloatArray, offset: stacked.offset, ld: k, trans: true, batchStride: 0 }, k, n);
  // the entry's versions were read at the first call and still hold: nothing wrote since
  hit.packed = packed;
  hit.tried = true;
  return packed;
}
