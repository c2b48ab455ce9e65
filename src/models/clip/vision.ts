// CLIP's vision tower (Hugging Face's CLIPVisionModel, `vision_model.` inside CLIPModel): a ViT
// with a bias-free patch convolution, a learned class embedding, position embeddings held as an
// nn.Embedding, a LayerNorm before the encoder (spelled `pre_layrnorm` in the checkpoints), and a
// LayerNorm on the class token after it (`post_layernorm`). The final hidden states are the
// encoder's output without that last norm, as transformers returns them.
//
// Shapes: B batch, Ci image channels, P patches, N = P + 1 tokens, C hidden.

import type { Tensor } from '../../tensor/tensor.js';
import { cat } from '../../tensor/ops/join.js';
import { Module } from '../../nn/module.js';
import { Embedding, type LayerNorm } from '../../nn/layers.js';
import type { Scope } from '../weights.js';
import { PatchEmbedding, checkPixels } from '../vit.js';
import type { CLIPVisionConfig } from './config.js';
import { CLIPEncoder, type CLIPTowerOutput } from './encoder.js';

class CLIPVisionEmbeddings extends Module {
  readonly classEmbedding: Tensor;
  readonly patchEmbedding: PatchEmbedding;
  readonly positionEmbedding: Embedding;

  constructor(s: Scope, config: CLIPVisionConfig) {
    super();
    const C = config.hidden_size;
    const f = config.initializer_factor;
    const grid = config.image_size / config.patch_size;
    this.classEmbedding = this.param('class_embedding', s.tensor('class_embedding', [C], { std: C ** -0.5 * f }));
    const patch: [number, number] = [config.patch_size, config.patch_size];
    this.patchEmbedding = this.module('patch_embedding', new PatchEmbedding(s.at('patch_embedding'), config.num_channels, C, patch, false, config.initializer_range * f));
    const positions = grid * grid + 1;
    this.positionEmbedding = this.module('position_embedding', new Embedding(positions, C, { weight: s.at('position_embedding').tensor('weight', [positions, C], { std: config.initializer_range * f }) }));
  }

  /** pixels (B, Ci, H, W) -> tokens (B, N, C): the class embedding, then the patches, plus positions */
  forward(pixels: Tensor): Tensor {
    const B = pixels.shape[0]!;
    const C = this.classEmbedding.shape[0]!;
    const patches = this.patchEmbedding.forward(pixels); // (B, P, C)
    const x = cat([this.classEmbedding.reshape(1, 1, C).expand(B, 1, C), patches], 1); // (B, N, C)
    return x.add(this.positionEmbedding.weight); // (B, N, C)
  }
}

/** CLIPVisionModel: embeddings, pre_layrnorm, encoder, post_layernorm on the class token. */
export class CLIPVisionModel extends Module {
  readonly embeddings: CLIPVisionEmbeddings;
  readonly preLayrnorm: LayerNorm;
  readonly encoder: CLIPEncoder;
  readonly postLayernorm: LayerNorm;
  readonly imageSize: readonly [number, number];
  readonly numChannels: number;

  constructor(
    readonly config: CLIPVisionConfig,
    s: Scope,
  ) {
    super();
    const C = config.hidden_size;
    this.embeddings = this.module('embeddings', new CLIPVisionEmbeddings(s.at('embeddings'), config));
    this.preLayrnorm = this.module('pre_layrnorm', s.layerNorm('pre_layrnorm', C, config.layer_norm_eps));
    this.encoder = this.module('encoder', new CLIPEncoder(s.at('encoder'), config));
    this.postLayernorm = this.module('post_layernorm', s.layerNorm('post_layernorm', C, config.layer_norm_eps));
    this.imageSize = [config.image_size, config.image_size];
    this.numChannels = config.num_channels;
  }

  /** pixels (B, Ci, H, W) -> last hidden state (B, N, C), pooled (B, C) and every layer's states */
  forward(pixels: Tensor): CLIPTowerOutput {
    checkPixels(pixels, this.numChannels, this.imageSize, 'CLIPVisionModel');
    const x = this.preLayrnorm.forward(this.embeddings.forward(pixels)); // (B, N, C)
    const layerStates = this.encoder.forward(x, null);
    const last = layerStates[layerStates.length - 1]!; // (B, N, C)
    return { lastHiddenState: last, pooled: this.postLayernorm.forward(last.select(1, 0)), layerStates }; // pooled (B, C)
  }
}
