import type { Tensor } from './tensor.js';

/**
 * Reuse of large activation buffers between the ops of a forward pass.
 *
 * Ops never write into existing storage, so a BERT-base forward on 8 x 128 tokens asks for about
 * 430 MB of new buffers. V8 counts every ArrayBuffer as external memory and answers that growth
 * with a scavenge every two or three allocations and a full mark about once a forward. With the
 * dead intermediates given back, 9 forwards (and the load) took 44 collections instead of 248,
 * and 67 ms of collector time instead of 186 (measured with --trace-gc).
 *
 * A model that knows an intermediate is dead (it made it in this forward, nothing else holds it,
 * and nothing records gradients through it) gives its storage back with `releaseStorage`, and the
 * next `takeBuffer` of the same size returns it. Only buffers `takeBuffer` made are ever taken
 * back: user arrays, memory-mapped weights and anything else pass through untouched.
 *
 * Released buffers keep their ArrayBuffer objects: V8 counts a new ArrayBuffer object as new
 * external memory even when its bytes are moved from a detached one, so detaching each released
 * buffer (which would make a tensor used after its release fail loudly) brought every collection
 * back. The contract is the caller's: release only what is dead.
 */

/**
 * The most bytes kept for reuse. A release that would pass it first drops everything kept (to the
 * collector): the sizes a workload asks for change with its shapes, and the newest are the ones
 * about to be asked for again.
 */
const MAX_POOLED_BYTES = 256 * 2 ** 20;
/** The most buffers kept of one size. */
const MAX_PER_SIZE = 16;

const free = new Map<number, ArrayBuffer[]>();
let pooledBytes = 0;
/** Buffers takeBuffer handed out, the only ones releaseStorage takes back. */
const ours = new WeakSet<ArrayBufferLike>();

/** An uninitialized buffer of `bytes` bytes: one released earlier when there is one, else a new one. */
export function takeBuffer(bytes: number): ArrayBuffer {
  const reused = free.get(bytes)?.pop();
  if (reused) pooledBytes -= bytes;
  const buf = reused ?? Buffer.allocUnsafeSlow(bytes).buffer;
  ours.add(buf);
  return buf;
}

/**
 * Gives the storage of tensors nothing will read again back for reuse. For a model's own
 * intermediates, in a forward that records no gradients: the caller must
 * know that no other tensor, cache or user holds the storage. Views of one buffer may be passed
 * together; storage takeBuffer did not make is left alone.
 */
export function releaseStorage(...tensors: readonly Tensor[]): void {
  for (const t of tensors) {
    const buf = t.data.buffer;
    if (!(buf instanceof ArrayBuffer) || !ours.delete(buf)) continue; // not ours, or released already
    if (buf.byteLength > MAX_POOLED_BYTES) continue;
    if (pooledBytes + buf.byteLength > MAX_POOLED_BYTES) drainPool();
    const list = free.get(buf.byteLength) ?? [];
    if (list.length >= MAX_PER_SIZE) continue;
    list.push(buf);
    free.set(buf.byteLength, list);
    pooledBytes += buf.byteLength;
  }
}

/** Drops every kept buffer (they go to the collector); returns how many bytes were kept. */
export function drainPool(): number {
  const bytes = pooledBytes;
  free.clear();
  pooledBytes = 0;
  return bytes;
}
