// CLIPForImageClassification as transformers defines it: CLIP's vision tower (`vision_model.*`)
// and a linear `classifier` on the mean of the final patch states, [CLS] left out and taken before
// post_layernorm (the tower's last_hidden_state). config.json is a whole CLIPConfig (text_config
// included, though no text weights are stored) with id2label/label2id at the top level. This is
// how a vision tower pretrained contrastively here becomes an image classifier that transformers
// loads as it is: a ViTForImageClassification cannot hold it, since ViT has no LayerNorm before its
// encoder (CLIP's `pre_layrnorm`).
//
// Shapes: B batch, Ci image channels, H x W image, P patches, N = P + 1 tokens, C hidden, L labels.

import { StrataError } from '../../errors.js';
import type { Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ParamSource, Scope } from '../weights.js';
import type { EncoderOutput, VisionEncoderModel } from '../types.js';
import type { CLIPConfig } from './config.js';
import { CLIP_CARD } from './model.js';
import { CLIPVisionModel } from './vision.js';

/** transformers' default when a config names no labels. */
const DEFAULT_NUM_LABELS = 2;

export class CLIPForImageClassification extends Module implements VisionEncoderModel {
  readonly kind = 'vision-encoder' as const;
  readonly card = CLIP_CARD;
  readonly visionModel: CLIPVisionModel;
  readonly classifier: Linear;
  readonly numLabels: number;
  readonly imageSize: readonly [number, number];
  readonly numChannels: number;
  readonly maxPositions: number;
  readonly vocabSize = 0 as const;

  constructor(
    readonly config: CLIPConfig,
    source: ParamSource = new ParamSource(null, { initializerRange: config.vision_config.initializer_range }),
  ) {
    super();
    const s = new Scope(source);
    const L = config.num_labels ?? DEFAULT_NUM_LABELS;
    if (!Number.isSafeInteger(L) || L < 1) throw new StrataError('argument', 'CLIPForImageClassification', `num_labels must be an integer >= 1, got ${L}`);
    this.visionModel = this.module('vision_model', new CLIPVisionModel(config.vision_config, s.at('vision_model')));
    this.classifier = this.module('classifier', s.linear('classifier', config.vision_config.hidden_size, L, true));
    this.numLabels = L;
    this.imageSize = this.visionModel.imageSize;
    this.numChannels = this.visionModel.numChannels;
    const grid = config.vision_config.image_size / config.vision_config.patch_size;
    this.maxPositions = grid * grid + 1;
  }

  /** pixels (B, Ci, H, W) -> the tower's final states (B, N, C) and pooled post_layernorm([CLS]) (B, C) */
  encodeImage(pixels: Tensor): EncoderOutput {
    const out = this.visionModel.forward(pixels);
    return { lastHiddenState: out.lastHiddenState, pooled: out.pooled };
  }

  /** pixels (B, Ci, H, W) -> what the classifier reads: the mean patch state (B, C) */
  features(pixels: Tensor): Tensor {
    const last = this.visionModel.forward(pixels).lastHiddenState; // (B, N, C)
    return last.slice(1, 1).mean(1); // (B, C)
  }

  /** features (B, C) -> logits (B, L) */
  classify(features: Tensor): Tensor {
    return this.classifier.forward(features);
  }

  /** pixels (B, Ci, H, W) -> logits (B, L) */
  forward(pixels: Tensor): Tensor {
    return this.classify(this.features(pixels));
  }
}
