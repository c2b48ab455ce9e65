// Whisper's text decoder (model.decoder.*): token embeddings plus learned positions, pre-LayerNorm
// layers of causal self-attention (with a KV cache), cross-attention over the encoder states
// (keys and values computed once per input, see crossAttention) and a GELU MLP, then a final
// LayerNorm.
//
// Shapes: B batch, T new tokens, P cached tokens, S encoder positions, C hidden, V vocab.

import type { Tensor } from '../../tensor/tensor.js';
import { embedding } from '../../tensor/ops/indexing.js';
import { Module } from '../../nn/module.js';
import { Dropout, type Embedding, type LayerNorm, type Linear } from '../../nn/layers.js';
import { ModuleGroup, type Scope } from '../weights.js';
import { decoderMask, decoderStep, positionTensor } from '../decoder.js';
import { CrossAttentionStates } from '../encoder-decoder.js';
import type { DecoderForwardOptions, KVCache } from '../types.js';
import type { WhisperConfig } from './config.js';
import { WhisperAttention } from './attention.js';
import { whisperMlp } from './encoder.js';

class WhisperDecoderLayer extends Module {
  readonly selfAttn: WhisperAttention;
  readonly selfAttnLayerNorm: LayerNorm;
  readonly encoderAttn: WhisperAttention;
  readonly encoderAttnLayerNorm: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly finalLayerNorm: LayerNorm;
  readonly dropout: Dropout;
  readonly activationDropout: Dropout;

  constructor(
    s: Scope,
    private readonly config: WhisperConfig,
    readonly layer: number,
  ) {
    super();
    const C = config.d_model;
    const H = config.decoder_attention_heads;
    this.selfAttn = this.module('self_attn', new WhisperAttention(s.at('self_attn'), C, H));
    this.selfAttnLayerNorm = this.module('self_attn_layer_norm', s.layerNorm('self_attn_layer_norm', C, 1e-5));
    this.encoderAttn = this.module('encoder_attn', new WhisperAttention(s.at('encoder_attn'), C, H));
    this.encoderAttnLayerNorm = this.module('encoder_attn_layer_norm', s.layerNorm('encoder_attn_layer_norm', C, 1e-5));
    this.fc1 = this.module('fc1', s.linear('fc1', C, config.decoder_ffn_dim, true));
    this.fc2 = this.module('fc2', s.linear('fc2', config.decoder_ffn_dim, C, true));
    this.finalLayerNorm = this.module('final_layer_norm', s.layerNorm('final_layer_norm', C, 1e-5));
    this.dropout = this.module('dropout', new Dropout(config.dropout));
    this.activationDropout = this.module('activation_dropout', new Dropout(config.activation_dropout));
  }

  forward(x: Tensor, mask: Tensor | null, cache: KVCache | undefined, cross: { k: Tensor; v: Tensor }): Tensor {
    const self = this.selfAttn.selfAttend(this.selfAttnLayerNorm.forward(x), { causal: true, mask, cache, layer: this.layer }); // (B, T, C)
    let h = x.add(this.dropout.forward(self));
    h = h.add(this.dropout.forward(this.encoderAttn.attend(this.encoderAttnLayerNorm.forward(h), cross.k, cross.v))); // (B, T, C)
    return h.add(this.dropout.forward(whisperMlp(this.finalLayerNorm.forward(h), this.fc1, this.fc2, this.config, this.activationDropout))); // (B, T, C)
  }
}

export class WhisperDecoder extends Module {
  readonly embedTokens: Embedding;
  readonly embedPositions: Embedding;
  readonly layers: WhisperDecoderLayer[];
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;
  readonly maxPositions: number;

  constructor(s: Scope, config: WhisperConfig) {
    super();
    const C = config.d_model;
    this.embedTokens = this.module('embed_tokens', s.embedding('embed_tokens', config.vocab_size, C));
    this.embedPositions = this.module('embed_positions', s.embedding('embed_positions', config.max_target_positions, C));
    const list = this.module('layers', new ModuleGroup());
    this.layers = Array.from({ length: config.decoder_layers }, (_, i) => list.add(String(i), new WhisperDecoderLayer(s.at(`layers.${i}`), config, i)));
    this.layerNorm = this.module('layer_norm', s.layerNorm('layer_norm', C, 1e-5));
    this.dropout = this.module('dropout', new Dropout(config.dropout));
    this.maxPositions = config.max_target_positions;
  }

  /** Every layer's cross-attention keys and values over encoder states (B, S, C): computed once per input. */
  crossAttention(encoderStates: Tensor): CrossAttentionStates {
    const kv = this.layers.map((l) => l.encoderAttn.keyValue(encoderStates)); // (B, H, S, D) each
    return new CrossAttentionStates(
      kv.map((x) => x.k),
      kv.map((x) => x.v),
    );
  }

  /** ids (B, T) -> final-norm hidden states (B, T, C), or (B, 1, C) with lastOnly */
  forward(ids: Tensor, cross: CrossAttentionStates, options: DecoderForwardOptions = {}): Tensor {
    const step = decoderStep(ids, options, this.maxPositions, 'WhisperDecoder');
    const mask = decoderMask(step, null); // (B|1, 1, T, P + T) or null when causal alone says it
    let x = this.dropout.forward(this.embedTokens.forward(ids).add(embedding(this.embedPositions.weight, positionTensor(step)))); // (B, T, C)
    for (const layer of this.layers) x = layer.forward(x, mask, options.cache, cross.layer(layer.layer, step.b, 'WhisperDecoder'));
    options.cache?.advance(step.t);
    if (options.lastOnly) x = x.slice(1, step.t - 1, step.t); // (B, 1, C)
    return this.layerNorm.forward(x);
  }
}
