// Whisper's audio encoder (model.encoder.*): two convolutions over the log-mel frames (conv1: kernel
// 3, conv2: kernel 3 and stride 2, each followed by exact GELU) turn 2S frames into S positions,
// the position table is added (sinusoidal in every released checkpoint, but read as stored:
// embed_positions.weight is a checkpoint tensor), then pre-LayerNorm layers and a final LayerNorm.
//
// Shapes: B batch, M mel bins, F = 2S frames, S positions, C hidden, Fd MLP width.

import { StrataError, fmtShape } from '../../errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { conv1d } from '../../tensor/ops/conv.js';
import { fromArray } from '../../tensor/ops/creation.js';
import { gelu } from '../../tensor/ops/elementwise.js';
import { Module } from '../../nn/module.js';
import { Dropout, Embedding, type LayerNorm, type Linear } from '../../nn/layers.js';
import { ModuleGroup, type Scope } from '../weights.js';
import { applyActivation } from '../vit.js';
import type { WhisperConfig } from './config.js';
import { WhisperAttention, sinusoids } from './attention.js';

/** nn.Conv1d `<name>`: weight (out, in, k) and bias (out). */
class Conv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    s: Scope,
    inChannels: number,
    outChannels: number,
    readonly kernel: number,
    readonly stride: number,
  ) {
    super();
    this.weight = this.param('weight', s.tensor('weight', [outChannels, inChannels, kernel]));
    this.bias = this.param('bias', s.tensor('bias', [outChannels], 'zeros'));
  }

  /** (B, in, L) -> (B, out, L'), padded by kernel / 2 on each side */
  forward(x: Tensor): Tensor {
    return conv1d(x, this.weight, this.bias, { stride: this.stride, padding: this.kernel >> 1 });
  }
}

/** The MLP half of a layer, shared by encoder and decoder: fc1, activation, fc2. */
export function whisperMlp(x: Tensor, fc1: Linear, fc2: Linear, config: WhisperConfig, activationDropout: Dropout): Tensor {
  return fc2.forward(activationDropout.forward(applyActivation(fc1.forward(x), config.activation_function))); // (B, T, C)
}

class WhisperEncoderLayer extends Module {
  readonly selfAttn: WhisperAttention;
  readonly selfAttnLayerNorm: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly finalLayerNorm: LayerNorm;
  readonly dropout: Dropout;
  readonly activationDropout: Dropout;

  constructor(
    s: Scope,
    private readonly config: WhisperConfig,
  ) {
    super();
    const C = config.d_model;
    this.selfAttn = this.module('self_attn', new WhisperAttention(s.at('self_attn'), C, config.encoder_attention_heads));
    this.selfAttnLayerNorm = this.module('self_attn_layer_norm', s.layerNorm('self_attn_layer_norm', C, 1e-5));
    this.fc1 = this.module('fc1', s.linear('fc1', C, config.encoder_ffn_dim, true));
    this.fc2 = this.module('fc2', s.linear('fc2', config.encoder_ffn_dim, C, true));
    this.finalLayerNorm = this.module('final_layer_norm', s.layerNorm('final_layer_norm', C, 1e-5));
    this.dropout = this.module('dropout', new Dropout(config.dropout));
    this.activationDropout = this.module('activation_dropout', new Dropout(config.activation_dropout));
  }

  forward(x: Tensor): Tensor {
    const h = x.add(this.dropout.forward(this.selfAttn.selfAttend(this.selfAttnLayerNorm.forward(x)))); // (B, S, C)
    return h.add(this.dropout.forward(whisperMlp(this.finalLayerNorm.forward(h), this.fc1, this.fc2, this.config, this.activationDropout))); // (B, S, C)
  }
}

export class WhisperEncoder extends Module {
  readonly conv1: Conv1d;
  readonly conv2: Conv1d;
  readonly embedPositions: Embedding;
  readonly layers: WhisperEncoderLayer[];
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;
  /** mel frames the encoder takes: 2 x max_source_positions */
  readonly inputFrames: number;

  constructor(
    s: Scope,
    readonly config: WhisperConfig,
  ) {
    super();
    const C = config.d_model;
    const S = config.max_source_positions;
    this.conv1 = this.module('conv1', new Conv1d(s.at('conv1'), config.num_mel_bins, C, 3, 1));
    this.conv2 = this.module('conv2', new Conv1d(s.at('conv2'), C, C, 3, 2));
    // a fresh model gets the sinusoids transformers initializes it with
    const table = s.source.checkpoint ? s.at('embed_positions').tensor('weight', [S, C]) : fromArray(sinusoids(S, C), [S, C]); // (S, C)
    this.embedPositions = this.module('embed_positions', new Embedding(S, C, { weight: table }));
    const list = this.module('layers', new ModuleGroup());
    this.layers = Array.from({ length: config.encoder_layers }, (_, i) => list.add(String(i), new WhisperEncoderLayer(s.at(`layers.${i}`), config)));
    this.layerNorm = this.module('layer_norm', s.layerNorm('layer_norm', C, 1e-5));
    this.dropout = this.module('dropout', new Dropout(config.dropout));
    this.inputFrames = 2 * S;
  }

  /** log-mel features (B, M, 2S) -> encoder states (B, S, C) */
  forward(features: Tensor): Tensor {
    const M = this.config.num_mel_bins;
    if (features.ndim !== 3 || (features.dtype !== 'f32' && features.dtype !== 'f64') || features.shape[1] !== M || features.shape[2] !== this.inputFrames) {
      throw new StrataError(
        'shape',
        'WhisperEncoder',
        `input features must be (B, ${M}, ${this.inputFrames}) f32 (${M} mel bins, ${this.inputFrames} frames: pad or trim the audio to the model's window), got ${features.dtype} ${fmtShape(features.shape)}`,
      );
    }
    const h = gelu(this.conv2.forward(gelu(this.conv1.forward(features)))); // (B, C, S)
    let x = this.dropout.forward(h.transpose(1, 2).add(this.embedPositions.weight)); // (B, S, C)
    for (const layer of this.layers) x = layer.forward(x);
    return this.layerNorm.forward(x); // (B, S, C)
  }
}
