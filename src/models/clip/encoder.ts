// The transformer both CLIP towers run: pre-LayerNorm blocks of multi-head self-attention
// (q_proj, k_proj, v_proj, out_proj, all with biases) and a two-layer MLP (fc1, fc2), under
// `encoder.layers.<i>`. The text tower passes a causal + padding mask; the vision tower none.
//
// Fresh parameters are drawn with the standard deviations transformers gives CLIP (scaled by the
// width and depth), which matters for contrastive training from scratch.
//
// Shapes: B batch, N tokens, C hidden, H heads, D head size, F intermediate.

import type { Tensor } from '../../tensor/tensor.js';
import { scaledDotProductAttention } from '../../tensor/ops/attention.js';
import { Module } from '../../nn/module.js';
import { type LayerNorm, Linear } from '../../nn/layers.js';
import { ModuleGroup, type Scope } from '../weights.js';
import { applyActivation } from '../vit.js';
import type { EncoderOutput } from '../types.js';
import type { CLIPTowerConfig } from './config.js';

export interface CLIPTowerOutput extends EncoderOutput {
  /** (B, C): the class token after post_layernorm (vision) or the eos token's state (text) */
  pooled: Tensor;
  /** the output of every encoder layer, first to last (B, N, C) each; the embeddings' states are not included */
  layerStates: Tensor[];
}

/** nn.Linear `<name>` whose fresh weight is drawn with `std` (biases start at zero). */
export function initLinear(s: Scope, name: string, inFeatures: number, outFeatures: number, bias: boolean, std: number): Linear {
  const w = s.at(name);
  return new Linear(inFeatures, outFeatures, { weight: w.tensor('weight', [outFeatures, inFeatures], { std }), bias: bias ? w.tensor('bias', [outFeatures], 'zeros') : false });
}

class CLIPAttention extends Module {
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly outProj: Linear;

  constructor(
    s: Scope,
    private readonly config: CLIPTowerConfig,
  ) {
    super();
    const C = config.hidden_size;
    const f = config.initializer_factor;
    const inStd = C ** -0.5 * (2 * config.num_hidden_layers) ** -0.5 * f;
    this.kProj = this.module('k_proj', initLinear(s, 'k_proj', C, C, true, inStd));
    this.vProj = this.module('v_proj', initLinear(s, 'v_proj', C, C, true, inStd));
    this.qProj = this.module('q_proj', initLinear(s, 'q_proj', C, C, true, inStd));
    this.outProj = this.module('out_proj', initLinear(s, 'out_proj', C, C, true, C ** -0.5 * f));
  }

  /** x (B, N, C), additive mask broadcastable to (B, H, N, N) or null -> (B, N, C) */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [B, N, C] = x.shape as [number, number, number];
    const H = this.config.num_attention_heads;
    const heads = (p: Linear) => p.forward(x).reshape(B, N, H, C / H).transpose(1, 2); // (B, H, N, D)
    const y = scaledDotProductAttention(heads(this.qProj), heads(this.kProj), heads(this.vProj), { mask }); // (B, H, N, D)
    return this.outProj.forward(y.transpose(1, 2).reshape(B, N, C)); // (B, N, C)
  }
}

class CLIPEncoderLayer extends Module {
  readonly selfAttn: CLIPAttention;
  readonly layerNorm1: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly layerNorm2: LayerNorm;

  constructor(
    s: Scope,
    private readonly config: CLIPTowerConfig,
  ) {
    super();
    const C = config.hidden_size;
    const F = config.intermediate_size;
    const f = config.initializer_factor;
    this.selfAttn = this.module('self_attn', new CLIPAttention(s.at('self_attn'), config));
    this.layerNorm1 = this.module('layer_norm1', s.layerNorm('layer_norm1', C, config.layer_norm_eps));
    const mlp = this.module('mlp', new ModuleGroup());
    this.fc1 = mlp.add('fc1', initLinear(s.at('mlp'), 'fc1', C, F, true, (2 * C) ** -0.5 * f));
    this.fc2 = mlp.add('fc2', initLinear(s.at('mlp'), 'fc2', F, C, true, C ** -0.5 * (2 * config.num_hidden_layers) ** -0.5 * f));
    this.layerNorm2 = this.module('layer_norm2', s.layerNorm('layer_norm2', C, config.layer_norm_eps));
  }

  forward(x: Tensor, mask: Tensor | null): Tensor {
    const a = x.add(this.selfAttn.forward(this.layerNorm1.forward(x), mask)); // (B, N, C)
    const h = applyActivation(this.fc1.forward(this.layerNorm2.forward(a)), this.config.hidden_act); // (B, N, F)
    return a.add(this.fc2.forward(h)); // (B, N, C)
  }
}

/** `encoder.layers.<i>` of one tower. */
export class CLIPEncoder extends Module {
  readonly layers: CLIPEncoderLayer[];

  constructor(s: Scope, config: CLIPTowerConfig) {
    super();
    const list = this.module('layers', new ModuleGroup());
    this.layers = Array.from({ length: config.num_hidden_layers }, (_, i) => list.add(String(i), new CLIPEncoderLayer(s.at(`layers.${i}`), config)));
  }

  /**
   * x (B, N, C) -> the output of every layer, in order (the last is the encoder's output). Vision-
   * language models read an inner layer's states, so all are returned.
   */
  forward(x: Tensor, mask: Tensor | null): Tensor[] {
    const states: Tensor[] = [];
    for (const layer of this.layers) states.push((x = layer.forward(x, mask)));
    return states;
  }
}
