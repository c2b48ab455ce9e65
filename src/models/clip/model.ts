// CLIPModel: the vision tower and the text tower, each pooled and projected without bias into one
// embedding space (visual_projection, text_projection), and a learned temperature (logit_scale,
// a scalar holding log(1 / temperature)). Image–text logits are the cosine similarities of the
// normalized embeddings times exp(logit_scale). Parameter names are Hugging Face's keys, with no
// base prefix: vision_model.*, text_model.*, visual_projection.weight, text_projection.weight,
// logit_scale.
//
// Shapes: Bi images, Bt texts, Ci image channels, H x W image, T tokens, C hidden (per tower),
// E projection (shared embedding size).

import type { Tensor } from '../../tensor/tensor.js';
import { full } from '../../tensor/ops/creation.js';
import { Module } from '../../nn/module.js';
import type { Linear } from '../../nn/layers.js';
import { ParamSource, Scope } from '../weights.js';
import type { DualEncoderModel, ModelCard, TextTowerOptions } from '../types.js';
import type { CLIPConfig } from './config.js';
import { type CLIPTowerOutput, initLinear } from './encoder.js';
import { CLIPTextModel } from './text.js';
import { CLIPVisionModel } from './vision.js';

export const CLIP_CARD: ModelCard = {
  families: ['multi-modal', 'foundation'],
  inputModalities: ['text', 'image'],
  outputModalities: ['embedding', 'label'],
  architecture:
    'dual-encoder transformer (ViT image tower and causal text tower, pre-LayerNorm, quick-GELU, linear projections into a shared embedding space, learned temperature)',
  adaptability: ['prompting', 'linear-probe', 'full-finetune', 'lora'],
  applications: ['zero-shot image classification', 'image–text retrieval', 'image and text embeddings', 'vision tower of vision-language models'],
  examples: ['openai/clip-vit-base-patch32', 'openai/clip-vit-base-patch16', 'openai/clip-vit-large-patch14', 'laion/CLIP-ViT-H-14-laion2B-s32B-b79K'],
  primaryData: 'image–text pairs from the web (400M in OpenAI’s WIT; LAION-2B for OpenCLIP)',
  purpose: 'contrastive pretraining that aligns images with their captions, so new labels are recognized zero-shot by describing them in text',
};

export interface CLIPInputs {
  /** (Bi, Ci, H, W) pixel values, normalized as the preprocessor says */
  pixelValues: Tensor;
  /** (Bt, T) i32 token ids */
  inputIds: Tensor;
  /** (Bt, T) nonzero on real tokens; omitted = no padding */
  attentionMask?: Tensor;
  /** (Bt, T) i32 positions; default 0..T-1 */
  positionIds?: Tensor;
}

export interface CLIPOutput {
  /** (Bi, Bt): exp(logit_scale) * cosine similarity of each image with each text */
  logitsPerImage: Tensor;
  /** (Bt, Bi): the transpose */
  logitsPerText: Tensor;
  /** (Bi, E) projected and L2-normalized */
  imageEmbeds: Tensor;
  /** (Bt, E) projected and L2-normalized */
  textEmbeds: Tensor;
  /** the vision tower's states; `pooled` is before the projection */
  visionOutput: CLIPTowerOutput;
  /** the text tower's states; `pooled` is before the projection */
  textOutput: CLIPTowerOutput;
}

/** x (B, E) / ||x|| along the last axis. */
export function l2Normalize(x: Tensor): Tensor {
  return x.div(x.square().sum(-1, true).sqrt());
}

/** Hugging Face's CLIPModel. */
export class CLIPModel extends Module implements DualEncoderModel {
  readonly kind = 'dual-encoder' as const;
  readonly card = CLIP_CARD;
  readonly textModel: CLIPTextModel;
  readonly visionModel: CLIPVisionModel;
  readonly visualProjection: Linear;
  readonly textProjection: Linear;
  /** () log of the inverse temperature */
  readonly logitScale: Tensor;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly imageSize: readonly [number, number];
  readonly numChannels: number;

  constructor(
    readonly config: CLIPConfig,
    source: ParamSource = new ParamSource(null, { initializerRange: config.initializer_range }),
  ) {
    super();
    const s = new Scope(source);
    const E = config.projection_dim;
    const f = config.initializer_factor;
    const Ct = config.text_config.hidden_size;
    const Cv = config.vision_config.hidden_size;
    this.textModel = this.module('text_model', new CLIPTextModel(config.text_config, s.at('text_model')));
    this.visionModel = this.module('vision_model', new CLIPVisionModel(config.vision_config, s.at('vision_model')));
    this.visualProjection = this.module('visual_projection', initLinear(s, 'visual_projection', Cv, E, false, Cv ** -0.5 * f));
    this.textProjection = this.module('text_projection', initLinear(s, 'text_projection', Ct, E, false, Ct ** -0.5 * f));
    const scale = s.tensor('logit_scale', [], 'zeros');
    const fresh = !source.checkpoint || source.initializedKeys.includes('logit_scale');
    this.logitScale = this.param('logit_scale', fresh ? full([], config.logit_scale_init_value) : scale);
    this.vocabSize = this.textModel.vocabSize;
    this.maxPositions = this.textModel.maxPositions;
    this.imageSize = this.visionModel.imageSize;
    this.numChannels = this.visionModel.numChannels;
  }

  /** pixels (Bi, Ci, H, W) -> image features (Bi, E), projected, not normalized */
  getImageFeatures(pixelValues: Tensor): Tensor {
    return this.visualProjection.forward(this.visionModel.forward(pixelValues).pooled);
  }

  /** ids (Bt, T) -> text features (Bt, E), projected, not normalized */
  getTextFeatures(ids: Tensor, options: TextTowerOptions = {}): Tensor {
    return this.textProjection.forward(this.textModel.forward(ids, options).pooled);
  }

  /** Logits of every image against every text: (Bi, E) and (Bt, E) normalized embeddings -> (Bi, Bt) */
  similarity(imageEmbeds: Tensor, textEmbeds: Tensor): Tensor {
    return imageEmbeds.matmul(textEmbeds.transpose(0, 1)).mul(this.logitScale.exp()); // (Bi, Bt)
  }

  forward(inputs: CLIPInputs): CLIPOutput {
    const visionOutput = this.visionModel.forward(inputs.pixelValues);
    const textOutput = this.textModel.forward(inputs.inputIds, { attentionMask: inputs.attentionMask, positionIds: inputs.positionIds });
    const imageEmbeds = l2Normalize(this.visualProjection.forward(visionOutput.pooled)); // (Bi, E)
    const textEmbeds = l2Normalize(this.textProjection.forward(textOutput.pooled)); // (Bt, E)
    const logitsPerImage = this.similarity(imageEmbeds, textEmbeds); // (Bi, Bt)
    return { logitsPerImage, logitsPerText: logitsPerImage.transpose(0, 1), imageEmbeds, textEmbeds, visionOutput, textOutput };
  }
}
