import type { Storage } from './dtype.js';
import type { Tensor } from './tensor.js';

/**
 * Write versions of tensor storages, so that values derived from a tensor and kept beside it
 * (a weight packed for the GEMM, see ops/prepack.ts) can tell that the tensor has changed.
 *
 * Ops never write into an existing tensor: they return new storage. The few paths that do write
 * in place (optimizer steps, loadStateDict, LoRA merge, KV-cache updates, gradcheck's probes,
 * weight copies in train/) call markWritten, and code outside Strata that writes `tensor.data`
 * directly must call markModified afterwards. A cache compares the version it was built at with
 * the current one before every use.
 *
 * Versions belong to the underlying ArrayBuffer, not to a tensor object: views of one storage, and
 * typed arrays made over the same buffer (a memory-mapped checkpoint's tensors), share one counter.
 * A write anywhere in a buffer bumps them all, which can only make a cache rebuild more often.
 */
const versions = new WeakMap<ArrayBufferLike, number>();

/** How many in-place writes `data`'s buffer has seen (0 for one never written in place). */
export function storageVersion(data: Storage): number {
  return versions.get(data.buffer) ?? 0;
}

/** Records an in-place write into `data`'s buffer: every cache derived from it goes stale. */
export function markWritten(data: Storage): void {
  versions.set(data.buffer, (versions.get(data.buffer) ?? 0) + 1);
}

/**
 * Tells Strata that `t`'s values were changed by writing its storage directly (`t.data[i] = v`):
 * whatever was derived from them and cached (packed GEMM weights) is rebuilt on next use.
 * In-place writes through Strata's own APIs do this themselves.
 */
export function markModified(t: Tensor): Tensor {
  markWritten(t.data);
  return t;
}
