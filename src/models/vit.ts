// ViT, the Vision Transformer: an image cut into patches by a strided convolution, a learned [CLS]
// vector in front, learned position embeddings, pre-LayerNorm encoder blocks with bidirectional
// attention and a GELU MLP, a final LayerNorm, and an optional tanh pooler on [CLS].
// ViTForImageClassification puts a linear classifier on the final [CLS] state. Parameter names are
// Hugging Face's keys (the hub layout transformers still writes), under `vit.` when a head is
// present and without it for a ViTModel saved alone.
//
// Also home to what CLIP's vision tower shares with ViT: the patch embedding and the activations.
//
// Shapes: B batch, Ci image channels, H x W image, P patches (+1 with [CLS] = N tokens),
// C hidden, Hd heads, D head size, F intermediate, L labels.

import { StrataError, fmtShape } from '../errors.js';
import { type LabelFields, parseLabelFields } from './heads.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv2d } from '../tensor/ops/conv.js';
import { gelu, relu, sigmoid, silu, tanh } from '../tensor/ops/elementwise.js';
import { scaledDotProductAttention } from '../tensor/ops/attention.js';
import { cat } from '../tensor/ops/join.js';
import { Module } from '../nn/module.js';
import { Dropout, type LayerNorm, type Linear } from '../nn/layers.js';
import { ConfigReader, type JsonObject } from '../io/config.js';
import { ModuleGroup, ParamSource, Scope } from './weights.js';
import type { EncoderOutput, ModelCard, VisionEncoderModel } from './types.js';

/** Activations named in config.json (`hidden_act`, `pooler_act`) that vision models use. */
export const ACTIVATIONS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'quick_gelu', 'relu', 'silu', 'tanh'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export function applyActivation(x: Tensor, fn: Activation): Tensor {
  switch (fn) {
    case 'gelu':
      return gelu(x);
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return gelu(x, 'tanh');
    case 'quick_gelu':
      // x * sigmoid(1.702 x), the sigmoid approximation of GELU that OpenAI's CLIP was trained with
      return x.mul(sigmoid(x.mul(1.702)));
    case 'relu':
      return relu(x);
    case 'silu':
      return silu(x);
    case 'tanh':
      return tanh(x);
  }
}

/** An image size or patch size as config.json gives it: one number for a square, or [height, width]. */
export type SizeField = number | [number, number];

/** `[height, width]` of a size field. */
export function sizePair(v: SizeField): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Reads a size field (an integer or a list of two) with its default. */
export function readSizeField(c: ConfigReader, name: string, fallback: SizeField): SizeField {
  if (!c.has(name)) return fallback;
  const v = c.raw[name];
  if (typeof v === 'number') return c.int(name, 1, { min: 1 });
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1)) return [v[0] as number, v[1] as number];
  return c.fail(name, `must be a positive integer or a list [height, width] of them, got ${JSON.stringify(v).slice(0, 40)}`);
}

/** Checks that patches tile the image exactly and returns the patch grid (rows, columns). */
export function patchGrid(c: ConfigReader, image: SizeField, patch: SizeField): [number, number] {
  const [h, w] = sizePair(image);
  const [ph, pw] = sizePair(patch);
  if (h % ph !== 0 || w % pw !== 0) c.fail('image_size', `(${h}x${w}) must be a whole number of patches (patch_size ${ph}x${pw})`);
  return [h / ph, w / pw];
}

/**
 * Non-overlapping patches projected to the hidden size: a convolution whose kernel and stride are
 * the patch size (nn.Conv2d in the checkpoint: weight (C, Ci, ph, pw), optional bias).
 */
export class PatchEmbedding extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    s: Scope,
    channels: number,
    hidden: number,
    readonly patch: [number, number],
    bias: boolean,
    /** std of a fresh weight; default the source's initializer range */
    std?: number,
  ) {
    super();
    this.weight = this.param('weight', s.tensor('weight', [hidden, channels, patch[0], patch[1]], std === undefined ? undefined : { std }));
    this.bias = bias ? this.param('bias', s.tensor('bias', [hidden], 'zeros')) : null;
  }

  /** pixels (B, Ci, H, W) -> patch vectors (B, P, C), patches in row-major order */
  forward(pixels: Tensor): Tensor {
    const y = conv2d(pixels, this.weight, this.bias, { stride: this.patch }); // (B, C, H/ph, W/pw)
    return y.flatten(2).transpose(1, 2); // (B, P, C)
  }
}

/** Checks pixel values against the image size and channels a model was built for. */
export function checkPixels(pixels: Tensor, channels: number, size: readonly [number, number], op: string): void {
  const [h, w] = size;
  if (pixels.ndim !== 4 || (pixels.dtype !== 'f32' && pixels.dtype !== 'f64')) {
    throw new StrataError('shape', op, `pixel values must be (B, ${channels}, ${h}, ${w}) f32, got ${pixels.dtype} ${fmtShape(pixels.shape)}`);
  }
  const [, ci, ph, pw] = pixels.shape as [number, number, number, number];
  if (ci !== channels) throw new StrataError('shape', op, `pixel values have ${ci} channels but the model takes ${channels}: ${fmtShape(pixels.shape)}`);
  if (ph !== h || pw !== w) throw new StrataError('shape', op, `image size ${ph}x${pw} does not match the model's ${h}x${w} (resize the image first): ${fmtShape(pixels.shape)}`);
}

/** config.json of a ViT checkpoint (names as Hugging Face writes them). */
export interface ViTConfig extends LabelFields {
  model_type: 'vit';
  architectures: string[] | null;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: Activation;
  hidden_dropout_prob: number;
  /** read for completeness; attention runs without dropout */
  attention_probs_dropout_prob: number;
  initializer_range: number;
  layer_norm_eps: number;
  image_size: SizeField;
  patch_size: SizeField;
  num_channels: number;
  qkv_bias: boolean;
  /** used by the masked-image-modeling decoder only */
  encoder_stride: number;
  pooler_output_size: number;
  pooler_act: Activation;
}

export function parseViTConfig(raw: JsonObject, file: string): ViTConfig {
  const c = new ConfigReader(raw, file);
  const hidden = c.requiredInt('hidden_size');
  const heads = c.requiredInt('num_attention_heads');
  if (hidden % heads !== 0) c.fail('num_attention_heads', `(${heads}) must divide hidden_size (${hidden})`);
  const image = readSizeField(c, 'image_size', 224);
  const patch = readSizeField(c, 'patch_size', 16);
  patchGrid(c, image, patch);
  return {
    model_type: 'vit',
    architectures: c.stringArray('architectures'),
    hidden_size: hidden,
    num_hidden_layers: c.requiredInt('num_hidden_layers'),
    num_attention_heads: heads,
    intermediate_size: c.requiredInt('intermediate_size'),
    hidden_act: c.choice('hidden_act', ACTIVATIONS, 'gelu'),
    hidden_dropout_prob: c.number('hidden_dropout_prob', 0, { min: 0, max: 1 }),
    attention_probs_dropout_prob: c.number('attention_probs_dropout_prob', 0, { min: 0, max: 1 }),
    initializer_range: c.number('initializer_range', 0.02, { min: 0 }),
    layer_norm_eps: c.number('layer_norm_eps', 1e-12, { above: 0 }),
    image_size: image,
    patch_size: patch,
    num_channels: c.int('num_channels', 3, { min: 1 }),
    qkv_bias: c.bool('qkv_bias', true),
    encoder_stride: c.int('encoder_stride', 16, { min: 1 }),
    pooler_output_size: c.int('pooler_output_size', hidden, { min: 1 }),
    pooler_act: c.choice('pooler_act', ACTIVATIONS, 'tanh'),
    ...parseLabelFields(c),
  };
}

class ViTEmbeddings extends Module {
  readonly clsToken: Tensor;
  readonly positionEmbeddings: Tensor;
  readonly patchEmbeddings: PatchEmbedding;
  readonly dropout: Dropout;

  constructor(s: Scope, config: ViTConfig) {
    super();
    const C = config.hidden_size;
    const [rows, cols] = sizePair(config.image_size).map((d, i) => d / sizePair(config.patch_size)[i]!) as [number, number];
    const std = { std: config.initializer_range };
    this.clsToken = this.param('cls_token', s.tensor('cls_token', [1, 1, C], std));
    this.positionEmbeddings = this.param('position_embeddings', s.tensor('position_embeddings', [1, rows * cols + 1, C], std));
    const patches = this.module('patch_embeddings', new ModuleGroup());
    this.patchEmbeddings = patches.add('projection', new PatchEmbedding(s.at('patch_embeddings.projection'), config.num_channels, C, sizePair(config.patch_size), true));
    this.dropout = this.module('dropout', new Dropout(config.hidden_dropout_prob));
  }

  /** pixels (B, Ci, H, W) -> tokens (B, N, C): [CLS] then the patches, plus positions */
  forward(pixels: Tensor): Tensor {
    const B = pixels.shape[0]!;
    const C = this.clsToken.shape[2]!;
    const patches = this.patchEmbeddings.forward(pixels); // (B, P, C)
    const x = cat([this.clsToken.expand(B, 1, C), patches], 1); // (B, N, C)
    return this.dropout.forward(x.add(this.positionEmbeddings));
  }
}

/** Self-attention (attention.attention.{query,key,value}) and its projection (attention.output.dense). */
class ViTAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly dense: Linear;
  readonly dropout: Dropout;

  constructor(
    s: Scope,
    private readonly config: ViTConfig,
  ) {
    super();
    const C = config.hidden_size;
    const qkv = this.module('attention', new ModuleGroup());
    const sa = s.at('attention');
    this.query = qkv.add('query', sa.linear('query', C, C, config.qkv_bias));
    this.key = qkv.add('key', sa.linear('key', C, C, config.qkv_bias));
    this.value = qkv.add('value', sa.linear('value', C, C, config.qkv_bias));
    this.dense = this.module('output', new ModuleGroup()).add('dense', s.at('output').linear('dense', C, C, true));
    this.dropout = this.module('dropout', new Dropout(config.hidden_dropout_prob));
  }

  forward(x: Tensor): Tensor {
    const [B, N, C] = x.shape as [number, number, number];
    const Hd = this.config.num_attention_heads;
    const heads = (p: Linear) => p.forward(x).reshape(B, N, Hd, C / Hd).transpose(1, 2); // (B, Hd, N, D)
    const y = scaledDotProductAttention(heads(this.query), heads(this.key), heads(this.value)); // (B, Hd, N, D)
    return this.dropout.forward(this.dense.forward(y.transpose(1, 2).reshape(B, N, C))); // (B, N, C)
  }
}

/** Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x)). */
class ViTLayer extends Module {
  readonly layernormBefore: LayerNorm;
  readonly attention: ViTAttention;
  readonly layernormAfter: LayerNorm;
  readonly intermediate: Linear;
  readonly output: Linear;
  readonly dropout: Dropout;

  constructor(
    s: Scope,
    private readonly config: ViTConfig,
  ) {
    super();
    const C = config.hidden_size;
    const F = config.intermediate_size;
    this.layernormBefore = this.module('layernorm_before', s.layerNorm('layernorm_before', C, config.layer_norm_eps));
    this.attention = this.module('attention', new ViTAttention(s.at('attention'), config));
    this.layernormAfter = this.module('layernorm_after', s.layerNorm('layernorm_after', C, config.layer_norm_eps));
    this.intermediate = this.module('intermediate', new ModuleGroup()).add('dense', s.at('intermediate').linear('dense', C, F, true));
    this.output = this.module('output', new ModuleGroup()).add('dense', s.at('output').linear('dense', F, C, true));
    this.dropout = this.module('dropout', new Dropout(config.hidden_dropout_prob));
  }

  forward(x: Tensor): Tensor {
    const a = x.add(this.attention.forward(this.layernormBefore.forward(x))); // (B, N, C)
    const h = applyActivation(this.intermediate.forward(this.layernormAfter.forward(a)), this.config.hidden_act); // (B, N, F)
    return a.add(this.dropout.forward(this.output.forward(h))); // (B, N, C)
  }
}

export const VIT_CARD: ModelCard = {
  families: ['foundation'],
  inputModalities: ['image'],
  outputModalities: ['embedding', 'label'],
  architecture: 'encoder-only vision transformer (patch embedding, [CLS] token, learned positions, pre-LayerNorm, bidirectional attention, GELU MLP)',
  adaptability: ['full-finetune', 'lora', 'task-head', 'linear-probe'],
  applications: ['image classification', 'image embeddings and retrieval', 'vision backbone for captioning and visual question answering'],
  examples: ['google/vit-base-patch16-224', 'google/vit-base-patch16-224-in21k', 'google/vit-large-patch16-224', 'facebook/dino-vitb16'],
  primaryData: 'ImageNet-21k (14M labelled images) then ImageNet-1k; unlabelled ImageNet for self-supervised variants (DINO)',
  purpose: 'pretraining a transformer over image patches as a general visual representation, adapted with a linear head or used as the image encoder of larger systems',
};

export interface ViTModelOptions {
  /** include the pooler (pooler.dense); default: when the checkpoint has it, and true without a checkpoint */
  pooler?: boolean;
}

function freshSource(config: ViTConfig): ParamSource {
  return new ParamSource(null, { initializerRange: config.initializer_range });
}

/** The encoder (Hugging Face's ViTModel): embeddings, layers, final LayerNorm, optional pooler. */
export class ViTModel extends Module implements VisionEncoderModel {
  readonly kind = 'vision-encoder' as const;
  readonly card = VIT_CARD;
  readonly embeddings: ViTEmbeddings;
  readonly layers: ViTLayer[];
  readonly layernorm: LayerNorm;
  /** pooler.dense, followed by pooler_act */
  readonly pooler: Linear | null;
  readonly imageSize: readonly [number, number];
  readonly numChannels: number;
  readonly maxPositions: number;
  readonly vocabSize = 0 as const;

  constructor(
    readonly config: ViTConfig,
    s: Scope = new Scope(freshSource(config)),
    options: ViTModelOptions = {},
  ) {
    super();
    const C = config.hidden_size;
    this.embeddings = this.module('embeddings', new ViTEmbeddings(s.at('embeddings'), config));
    const layerList = this.module('encoder', new ModuleGroup()).add('layer', new ModuleGroup());
    this.layers = Array.from({ length: config.num_hidden_layers }, (_, i) => layerList.add(String(i), new ViTLayer(s.at(`encoder.layer.${i}`), config)));
    this.layernorm = this.module('layernorm', s.layerNorm('layernorm', C, config.layer_norm_eps));
    const withPooler = options.pooler ?? (s.source.checkpoint ? s.has('pooler.dense.weight') : true);
    this.pooler = withPooler ? this.module('pooler', new ModuleGroup()).add('dense', s.at('pooler').linear('dense', C, config.pooler_output_size, true)) : null;
    this.imageSize = sizePair(config.image_size);
    this.numChannels = config.num_channels;
    this.maxPositions = this.embeddings.positionEmbeddings.shape[1]!;
  }

  /** pixels (B, Ci, H, W) -> final hidden states (B, N, C) and, with a pooler, pooled (B, C) */
  encodeImage(pixels: Tensor): EncoderOutput {
    checkPixels(pixels, this.numChannels, this.imageSize, 'ViTModel');
    let x = this.embeddings.forward(pixels); // (B, N, C)
    for (const layer of this.layers) x = layer.forward(x);
    x = this.layernorm.forward(x);
    if (!this.pooler) return { lastHiddenState: x };
    return { lastHiddenState: x, pooled: applyActivation(this.pooler.forward(x.select(1, 0)), this.config.pooler_act) }; // (B, C)
  }

  forward(pixels: Tensor): EncoderOutput {
    return this.encodeImage(pixels);
  }
}

/** ViT under `vit.` with a linear classifier on the final [CLS] state. */
export class ViTForImageClassification extends Module implements VisionEncoderModel {
  readonly kind = 'vision-encoder' as const;
  readonly card = VIT_CARD;
  readonly vit: ViTModel;
  readonly classifier: Linear;
  readonly numLabels: number;
  readonly imageSize: readonly [number, number];
  readonly numChannels: number;
  readonly maxPositions: number;
  readonly vocabSize = 0 as const;

  constructor(
    readonly config: ViTConfig,
    source: ParamSource = freshSource(config),
  ) {
    super();
    this.vit = this.module('vit', new ViTModel(config, new Scope(source, 'vit.'), { pooler: false }));
    this.classifier = this.module('classifier', new Scope(source).linear('classifier', config.hidden_size, config.num_labels, true));
    this.numLabels = config.num_labels;
    this.imageSize = this.vit.imageSize;
    this.numChannels = this.vit.numChannels;
    this.maxPositions = this.vit.maxPositions;
  }

  encodeImage(pixels: Tensor): EncoderOutput {
    return this.vit.encodeImage(pixels);
  }

  /** pixels (B, Ci, H, W) -> logits (B, L) */
  forward(pixels: Tensor): Tensor {
    return this.classifier.forward(this.encodeImage(pixels).lastHiddenState.select(1, 0)); // (B, L)
  }
}
