// Whisper's multi-head attention (q_proj, k_proj without bias, v_proj, out_proj), used as encoder
// self-attention, causal decoder self-attention with a KV cache, and decoder cross-attention over
// encoder states whose keys and values are computed once per input.
//
// Shapes: B batch, T queries, S keys, C hidden, H heads, D head size.

import type { Tensor } from '../../tensor/tensor.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { Module } from '../../nn/module.js';
import type { Linear } from '../../nn/layers.js';
import type { Scope } from '../weights.js';
import type { KVCache } from '../types.js';

export class WhisperAttention extends Module {
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly qProj: Linear;
  readonly outProj: Linear;
  readonly headDim: number;

  constructor(
    s: Scope,
    hidden: number,
    readonly heads: number,
  ) {
    super();
    // Whisper's key projection has no bias (a bias on k shifts every score of a query equally)
    this.kProj = this.module('k_proj', s.linear('k_proj', hidden, hidden, false));
    this.vProj = this.module('v_proj', s.linear('v_proj', hidden, hidden, true));
    this.qProj = this.module('q_proj', s.linear('q_proj', hidden, hidden, true));
    this.outProj = this.module('out_proj', s.linear('out_proj', hidden, hidden, true));
    this.headDim = hidden / heads;
  }

  /** (B, T, C) -> (B, H, T, D) */
  private split(x: Tensor): Tensor {
    const [B, T] = x.shape as [number, number];
    return x.reshape(B, T, this.heads, this.headDim).transpose(1, 2);
  }

  /** keys and values of `x` (B, S, C), each (B, H, S, D) */
  keyValue(x: Tensor): { k: Tensor; v: Tensor } {
    return { k: this.split(this.kProj.forward(x)), v: this.split(this.vProj.forward(x)) };
  }

  /** x (B, T, C) attends to k, v (B, H, S, D) -> (B, T, C) */
  attend(x: Tensor, k: Tensor, v: Tensor, options: { causal?: boolean; mask?: Tensor | null } = {}): Tensor {
    const [B, T, C] = x.shape as [number, number, number];
    const q = this.split(this.qProj.forward(x)); // (B, H, T, D)
    const y = scaledDotProductAttention(q, k, v, { causal: options.causal, mask: options.mask }); // (B, H, T, D)
    return this.outProj.forward(y.transpose(1, 2).reshape(B, T, C)); // (B, T, C)
  }

  /** Self-attention of x (B, T, C); with a cache, the new keys/values are appended at layer `layer` first. */
  selfAttend(x: Tensor, options: { causal?: boolean; mask?: Tensor | null; cache?: KVCache; layer?: number } = {}): Tensor {
    const { k, v } = this.keyValue(x); // (B, H, T, D)
    const kv = options.cache ? options.cache.update(options.layer ?? 0, k, v) : { k, v }; // (B, H, S, D)
    return this.attend(x, kv.k, kv.v, options);
  }
}

/**
 * Whisper's sinusoidal position table (length, channels): sin of every position times
 * 10000^(-i/(channels/2 - 1)) in the first half, cos in the second. Rounded at each step as the
 * float32 computation of transformers rounds it, so a fresh model's table equals a checkpoint's.
 */
export function sinusoids(length: number, channels: number): Float32Array {
  const half = channels / 2;
  const increment = Math.fround(Math.log(10000) / (half - 1));
  const inv = Float32Array.from({ length: half }, (_, i) => Math.exp(Math.fround(-increment * i)));
  const out = new Float32Array(length * channels);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(t * inv[i]!);
      out[t * channels + i] = Math.sin(angle);
      out[t * channels + half + i] = Math.cos(angle);
    }
  }
  return out;
}
