// What every decoder-only model does the same way around its layers: checking the inputs of a
// forward pass, positions for left-padded batches, the attention mask (padding, causal, sliding
// window) and rotary tables per sequence.
//
// Shapes: B batch, T new tokens, P positions already cached, S = P + T keys, D head size.

import { StrataError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { fromArray } from '../tensor/ops/creation.js';
import { ropeTables } from '../tensor/ops/rope.js';
import type { DecoderForwardOptions } from './types.js';

export interface DecoderStep {
  b: number;
  t: number;
  /** positions already in the cache */
  past: number;
  /** S = past + t */
  s: number;
  /** (B * T) positions of the new tokens, or null for past + [0, T) in every row */
  positions: Int32Array | null;
  /** (B * S) key validity from options.attentionMask, or null when every key is real */
  keyMask: Uint8Array | null;
}

/** Validates ids and options of a decoder forward pass. */
export function decoderStep(ids: Tensor, options: DecoderForwardOptions, maxPositions: number, op: string): DecoderStep {
  if (ids.ndim !== 2 || ids.dtype !== 'i32') throw new StrataError('shape', op, `ids must be (B, T) i32, got ${ids.dtype} ${fmtShape(ids.shape)}`);
  const [b, t] = ids.shape as [number, number];
  if (t === 0 || b === 0) throw new StrataError('shape', op, `ids must hold at least one token per row, got ${fmtShape(ids.shape)}`);
  const cache = options.cache;
  const past = cache?.length ?? 0;
  if (cache) {
    if (cache.batch !== b) throw new StrataError('shape', op, `cache holds ${cache.batch} rows but ids ${fmtShape(ids.shape)} has ${b}`);
    if (past + t > cache.maxLength) throw new StrataError('argument', op, `${t} new tokens after ${past} exceed the cache length ${cache.maxLength}`);
  }
  const s = past + t;
  let positions: Int32Array | null = null;
  if (options.positionIds) {
    const p = options.positionIds;
    if (p.ndim !== 2 || p.shape[0] !== b || p.shape[1] !== t) throw new StrataError('shape', op, `positionIds must be (B, T) = (${b}, ${t}), got ${fmtShape(p.shape)}`);
    positions = Int32Array.from(p.toArray());
    for (const x of positions) {
      if (x < 0 || x >= maxPositions) throw new StrataError('index', op, `position ${x} is outside [0, ${maxPositions})`);
    }
  } else if (s > maxPositions) {
    throw new StrataError('index', op, `positions up to ${s - 1} exceed the ${maxPositions} the model supports`);
  }
  let keyMask: Uint8Array | null = null;
  if (options.attentionMask) {
    const m = options.attentionMask;
    if (m.ndim !== 2 || m.shape[0] !== b || m.shape[1] !== s) {
      throw new StrataError('shape', op, `attentionMask must be (B, S) = (${b}, ${s}) (cached + new positions), got ${fmtShape(m.shape)}`);
    }
    keyMask = Uint8Array.from(m.toArray(), (x) => (x ? 1 : 0));
    if (keyMask.every((x) => x === 1)) keyMask = null;
  }
  return { b, t, past, s, positions, keyMask };
}

/**
 * A (B|1, 1, T, S) bool mask: query i (cache index P + i) sees key j when j <= P + i, the key is
 * real, and, with a sliding window W, P + i - j < W (as Hugging Face's Mistral: W keys including
 * itself). Null when the causal flag alone says it all. A query row whose keys are all hidden (a
 * padding position) attends to nothing and yields zeros.
 */
export function decoderMask(step: DecoderStep, slidingWindow: number | null): Tensor | null {
  const { b, t, past, s, keyMask } = step;
  const windowed = slidingWindow !== null && s > slidingWindow;
  if (!keyMask && !windowed) return null;
  const rows = keyMask ? b : 1;
  const m = new Uint8Array(rows * t * s);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < t; i++) {
      const q = past + i;
      const lo = windowed ? Math.max(0, q - slidingWindow + 1) : 0;
      const base = (r * t + i) * s;
      for (let j = lo; j <= q; j++) m[base + j] = keyMask ? keyMask[r * s + j]! : 1;
    }
  return fromArray(m, [rows, 1, t, s], { dtype: 'bool' });
}

/** Positions (B, T) as an i32 tensor (given, or past + [0, T) broadcast over rows as (1, T)). */
export function positionTensor(step: DecoderStep): Tensor {
  if (step.positions) return fromArray(step.positions, [step.b, step.t], { dtype: 'i32' });
  return fromArray(Int32Array.from({ length: step.t }, (_, i) => step.past + i), [1, step.t], { dtype: 'i32' });
}

export interface RopeSpec {
  headDim: number;
  /** inverse frequencies (D/2) */
  invFreq: Float64Array;
  /** positions are divided by this (rope_scaling linear), 1 otherwise */
  linearScale: number;
}

/** cos/sin tables: (T, D/2) shared by every row, or (B, T, D/2) for per-sequence positions. */
export function rotaryTables(step: DecoderStep, rope: RopeSpec): { cos: Tensor; sin: Tensor } {
  if (!step.positions) return ropeTables(step.t, rope.headDim, { offset: step.past, invFreq: rope.invFreq, linearScale: rope.linearScale });
  const half = rope.headDim / 2;
  const n = step.b * step.t;
  const cos = new Float32Array(n * half);
  const sin = new Float32Array(n * half);
  for (let r = 0; r < n; r++) {
    // the same f32 angle rounding as ropeTables, so padded and unpadded rows agree exactly
    const p = Math.fround(step.positions[r]! / rope.linearScale);
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * Math.fround(rope.invFreq[i]!));
      cos[r * half + i] = Math.cos(angle);
      sin[r * half + i] = Math.sin(angle);
    }
  }
  return { cos: fromArray(cos, [step.b, step.t, half]), sin: fromArray(sin, [step.b, step.t, half]) };
}

/** Inverse frequencies 1 / base^(2i/D), i < D/2. */
export function defaultInvFreq(headDim: number, base: number): Float64Array {
  return Float64Array.from({ length: headDim / 2 }, (_, i) => 1 / Math.pow(base, (2 * i) / headDim));
}
