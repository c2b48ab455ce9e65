// What an encoder-decoder model (Whisper; later text-to-text models) offers the generation glue in
// src/generation/encoder-decoder.ts: encode the input once, turn the encoder states into every
// decoder layer's cross-attention keys and values once, then decode token by token against them
// with a self-attention KV cache.
//
// Shapes: B batch, S encoder positions, C hidden, H heads, D head size, T decoder tokens, V vocab.

import { StrataError, fmtShape } from '../errors.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { DecoderForwardOptions, KVCache, ModelCard } from './types.js';

/** Cross-attention keys and values of each decoder layer over one batch of encoder states. */
export class CrossAttentionStates {
  constructor(
    /** per decoder layer, (B, H, S, D) */
    readonly keys: readonly Tensor[],
    /** per decoder layer, (B, H, S, D) */
    readonly values: readonly Tensor[],
  ) {
    if (keys.length !== values.length || keys.length === 0) throw new StrataError('argument', 'CrossAttentionStates', `needs keys and values for the same layers, got ${keys.length} and ${values.length}`);
  }

  get batch(): number {
    return this.keys[0]!.shape[0]!;
  }

  /** encoder positions S */
  get length(): number {
    return this.keys[0]!.shape[2]!;
  }

  /** The states of layer `layer`, checked against a decoder batch of `batch` rows. */
  layer(layer: number, batch: number, op: string): { k: Tensor; v: Tensor } {
    const k = this.keys[layer];
    const v = this.values[layer];
    if (!k || !v) throw new StrataError('index', op, `no cross-attention states for decoder layer ${layer} (have ${this.keys.length})`);
    if (k.shape[0] !== batch) throw new StrataError('shape', op, `the decoder has ${batch} rows but the encoder states ${fmtShape(k.shape)} have ${k.shape[0]}`);
    return { k, v };
  }
}

/** A model that encodes an input (audio features, text) and generates text conditioned on it. */
export interface EncoderDecoderModel extends Module {
  readonly kind: 'encoder-decoder';
  readonly card: ModelCard;
  readonly vocabSize: number;
  /** longest decoder sequence (prompt + generated tokens) */
  readonly maxPositions: number;
  /** the first decoder token (decoder_start_token_id) */
  readonly decoderStartTokenId: number;
  /** the encoder's input (e.g. log-mel features (B, M, F)) -> encoder states (B, S, C) */
  encode(inputs: Tensor): Tensor;
  /** encoder states (B, S, C) -> every decoder layer's cross-attention keys and values */
  crossAttention(encoderStates: Tensor): CrossAttentionStates;
  /** ids (B, T) i32 -> logits (B, T, V), or (B, 1, V) with lastOnly */
  decode(ids: Tensor, cross: CrossAttentionStates, options?: DecoderForwardOptions): Tensor;
  /** a self-attention cache for `batch` decoder rows of up to `maxLength` tokens */
  createCache(batch: number, maxLength: number): KVCache;
}
