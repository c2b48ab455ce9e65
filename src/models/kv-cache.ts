// A preallocated key/value cache: per layer, K and V buffers of shape (B, Hkv, maxLength, D) in f32.
// New keys/values are copied into place with one strided assign per tensor; attention then reads
// slice views of the buffers (rows of D stay contiguous), so decoding never concatenates.

import { StrataError, fmtShape } from '../errors.js';
import { backend } from '../backend/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { zeros } from '../tensor/ops/creation.js';
import type { KVCache } from './types.js';
import { markWritten } from '../tensor/version.js';

/** Copies `src` into `dst` at positions [start, start + T) of dim 2 (both (B, H, *, D)). */
function writeAt(dst: Tensor, src: Tensor, start: number): void {
  const region = dst.slice(2, start, start + src.shape[2]!);
  const values = src.dtype === dst.dtype ? src : src.to(dst.dtype);
  backend().assign(region.view(), values.view());
  markWritten(dst.data);
}

export class PreallocatedKVCache implements KVCache {
  length = 0;
  private keys: Tensor[];
  private values: Tensor[];
  private rows: number;
  /** The buffers a reorder moved away from, reused by the next reorder to the same row count. */
  private spare: { rows: number; keys: Tensor[]; values: Tensor[] } | null = null;

  constructor(
    readonly layers: number,
    batch: number,
    readonly headsKV: number,
    readonly maxLength: number,
    readonly headDim: number,
  ) {
    for (const [name, v] of [['layers', layers], ['batch', batch], ['headsKV', headsKV], ['maxLength', maxLength], ['headDim', headDim]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new StrataError('argument', 'KVCache', `${name} must be a positive integer, got ${v}`);
    }
    this.rows = batch;
    this.keys = this.allocate(batch);
    this.values = this.allocate(batch);
  }

  get batch(): number {
    return this.rows;
  }

  private allocate(batch: number): Tensor[] {
    return Array.from({ length: this.layers }, () => zeros([batch, this.headsKV, this.maxLength, this.headDim])); // (B, Hkv, maxLength, D)
  }

  /** Positions still free. */
  get remaining(): number {
    return this.maxLength - this.length;
  }

  update(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.layers) throw new StrataError('index', 'KVCache.update', `layer ${layer} is out of range [0, ${this.layers})`);
    const want = [this.rows, this.headsKV, k.shape[2] ?? 0, this.headDim];
    for (const [name, t] of [['k', k], ['v', v]] as const) {
      if (t.ndim !== 4 || t.shape.some((d, i) => d !== want[i])) {
        throw new StrataError('shape', 'KVCache.update', `${name} must be (B=${this.rows}, Hkv=${this.headsKV}, T, D=${this.headDim}), got ${fmtShape(t.shape)}`);
      }
    }
    const t = k.shape[2]!;
    if (v.shape[2] !== t) throw new StrataError('shape', 'KVCache.update', `k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} differ`);
    const end = this.length + t;
    if (end > this.maxLength) {
      throw new StrataError('argument', 'KVCache.update', `${t} new positions after ${this.length} exceed the cache length ${this.maxLength}`);
    }
    writeAt(this.keys[layer]!, k, this.length);
    writeAt(this.values[layer]!, v, this.length);
    return { k: this.keys[layer]!.slice(2, 0, end), v: this.values[layer]!.slice(2, 0, end) }; // (B, Hkv, length + T, D)
  }

  /**
   * Layer `layer`'s key and value storage, (B, Hkv, maxLength, D) f32, for a decode step that
   * writes its position itself (marking the storage written) and then calls advance
   * (src/models/llama-decode.ts).
   */
  storage(layer: number): { keys: Tensor; values: Tensor } {
    return { keys: this.keys[layer]!, values: this.values[layer]! };
  }

  advance(t: number): void {
    if (!Number.isInteger(t) || t < 0 || this.length + t > this.maxLength) {
      throw new StrataError('argument', 'KVCache.advance', `cannot advance ${t} positions from ${this.length} in a cache of ${this.maxLength}`);
    }
    this.length += t;
  }

  reorder(rows: readonly number[]): void {
    if (rows.length === 0) throw new StrataError('argument', 'KVCache.reorder', 'needs at least one row');
    for (const r of rows) {
      if (!Number.isInteger(r) || r < 0 || r >= this.rows) throw new StrataError('index', 'KVCache.reorder', `row ${r} is out of range [0, ${this.rows})`);
    }
    // Beam search reorders every step: the previous buffers of the same row count are reused (only
    // positions [0, length) are copied and ever read), and each head's used positions of a row
    // are one contiguous block. A view an update returned before a reorder may therefore show
    // other rows later; attention reads those views at once.
    const n = rows.length;
    const target = this.spare && this.spare.rows === n ? this.spare : { rows: n, keys: this.allocate(n), values: this.allocate(n) };
    const head = this.maxLength * this.headDim;
    const row = this.headsKV * head;
    const used = this.length * this.headDim;
    if (used > 0) {
      for (let l = 0; l < this.layers; l++) {
        for (const [from, to] of [
          [this.keys[l]!, target.keys[l]!],
          [this.values[l]!, target.values[l]!],
        ] as const) {
          const src = from.data as Float32Array;
          const dst = to.data as Float32Array;
          rows.forEach((r, i) => {
            for (let h = 0; h < this.headsKV; h++) dst.set(src.subarray(r * row + h * head, r * row + h * head + used), i * row + h * head);
          });
          markWritten(dst);
        }
      }
    }
    this.spare = { rows: this.rows, keys: this.keys, values: this.values };
    this.keys = target.keys;
    this.values = target.values;
    this.rows = n;
  }

  reset(): void {
    this.length = 0;
  }
}
