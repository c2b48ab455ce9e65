// WhisperForConditionalGeneration: the audio encoder and the text decoder under `model.`, and the
// output projection proj_out, which shares model.decoder.embed_tokens.weight unless the config
// unties them (then proj_out.weight is a checkpoint tensor of its own). Parameter names are Hugging
// Face's keys.
//
// Shapes: B batch, M mel bins, F frames, S encoder positions, T decoder tokens, C hidden, V vocab.

import type { Tensor } from '../../tensor/tensor.js';
import { linear } from '../../tensor/ops/linalg.js';
import { Module } from '../../nn/module.js';
import { ParamSource, Scope } from '../weights.js';
import { PreallocatedKVCache } from '../kv-cache.js';
import type { CrossAttentionStates, EncoderDecoderModel } from '../encoder-decoder.js';
import type { DecoderForwardOptions, KVCache, ModelCard } from '../types.js';
import type { WhisperConfig } from './config.js';
import { WhisperEncoder } from './encoder.js';
import { WhisperDecoder } from './decoder.js';

export const WHISPER_CARD: ModelCard = {
  families: ['multi-modal', 'foundation'],
  inputModalities: ['audio'],
  outputModalities: ['text'],
  architecture:
    'encoder-decoder transformer (log-mel front end of two 1-D convolutions, sinusoidal encoder positions, learned decoder positions, pre-LayerNorm, GELU MLP, cross-attention, output projection tied to the token embeddings)',
  adaptability: ['full-finetune', 'lora', 'prompting'],
  applications: ['speech recognition', 'speech translation to English', 'spoken language identification', 'timestamped transcripts (subtitles)'],
  examples: ['openai/whisper-tiny', 'openai/whisper-base', 'openai/whisper-small', 'openai/whisper-medium', 'openai/whisper-large-v3', 'distil-whisper/distil-large-v3'],
  primaryData: 'speech paired with its transcripts from the web: 680,000 hours in 97 languages (v1, v2), 5 million hours weakly labelled (large-v3)',
  purpose: 'weakly supervised multitask pretraining (transcribe, translate to English, identify the language, time the segments) for speech recognition that works zero-shot across languages and domains',
};

/** Hugging Face's WhisperModel: `encoder` and `decoder`. */
export class WhisperModel extends Module {
  readonly encoder: WhisperEncoder;
  readonly decoder: WhisperDecoder;

  constructor(s: Scope, config: WhisperConfig) {
    super();
    this.encoder = this.module('encoder', new WhisperEncoder(s.at('encoder'), config));
    this.decoder = this.module('decoder', new WhisperDecoder(s.at('decoder'), config));
  }
}

export interface WhisperOutput {
  /** (B, T, V) */
  logits: Tensor;
  /** (B, S, C) */
  encoderLastHiddenState: Tensor;
}

export class WhisperForConditionalGeneration extends Module implements EncoderDecoderModel {
  readonly kind = 'encoder-decoder' as const;
  readonly card = WHISPER_CARD;
  readonly model: WhisperModel;
  /** (V, C) when the config unties it from the token embeddings; null when tied */
  readonly projOut: Tensor | null;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly decoderStartTokenId: number;
  /** mel bins of the input features */
  readonly numMelBins: number;
  /** mel frames per input: 2 x max_source_positions (3000 = 30 s for every released Whisper) */
  readonly inputFrames: number;

  constructor(
    readonly config: WhisperConfig,
    source: ParamSource = new ParamSource(null, { initializerRange: config.initializer_range }),
  ) {
    super();
    this.model = this.module('model', new WhisperModel(new Scope(source, 'model.'), config));
    if (config.tie_word_embeddings) this.projOut = null;
    else {
      const w = new Scope(source).at('proj_out').tensor('weight', [config.vocab_size, config.d_model]);
      this.projOut = this.module('proj_out', new ProjOut(w)).weight;
    }
    this.vocabSize = config.vocab_size;
    this.maxPositions = config.max_target_positions;
    this.decoderStartTokenId = config.decoder_start_token_id;
    this.numMelBins = config.num_mel_bins;
    this.inputFrames = 2 * config.max_source_positions;
  }

  /** log-mel features (B, M, 2S) -> encoder states (B, S, C) */
  encode(features: Tensor): Tensor {
    return this.model.encoder.forward(features);
  }

  crossAttention(encoderStates: Tensor): CrossAttentionStates {
    return this.model.decoder.crossAttention(encoderStates);
  }

  /** ids (B, T) -> logits (B, T, V), or (B, 1, V) with lastOnly */
  decode(ids: Tensor, cross: CrossAttentionStates, options: DecoderForwardOptions = {}): Tensor {
    const h = this.model.decoder.forward(ids, cross, options); // (B, T, C)
    return linear(h, this.projOut ?? this.model.decoder.embedTokens.weight); // (B, T, V)
  }

  /** Teacher-forced pass (training, parity): features (B, M, 2S) and decoder ids (B, T) -> logits (B, T, V). */
  forward(features: Tensor, decoderIds: Tensor): WhisperOutput {
    const encoderLastHiddenState = this.encode(features);
    return { logits: this.decode(decoderIds, this.crossAttention(encoderLastHiddenState)), encoderLastHiddenState };
  }

  createCache(batch: number, maxLength: number): KVCache {
    const c = this.config;
    return new PreallocatedKVCache(c.decoder_layers, batch, c.decoder_attention_heads, maxLength, c.d_model / c.decoder_attention_heads);
  }
}

/** An untied proj_out (nn.Linear without bias). */
class ProjOut extends Module {
  readonly weight: Tensor;

  constructor(weight: Tensor) {
    super();
    this.weight = this.param('weight', weight);
  }
}
