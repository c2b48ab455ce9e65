// LLaVA (Hugging Face's LlavaForConditionalGeneration): a CLIP vision tower, a two-layer MLP
// projector, and a llama-family decoder. The prompt holds one image token per image feature (the
// processor expands each <image> to image_seq_length copies); their token embeddings are replaced,
// in order, by the projected patch features of the images before the decoder runs.
//
// Checkpoint layouts (all read; the model's own parameter names are the first, which is what
// transformers 5 writes with save_pretrained):
//   vision_tower.*                  or vision_tower.vision_model.* (transformers 4), model.vision_tower.*
//   multi_modal_projector.*         or model.multi_modal_projector.*
//   language_model.model.*          or model.language_model.* (transformers 5 in memory)
//   language_model.lm_head.weight   or lm_head.weight; absent when the embeddings are tied
//
// Image features: the vision tower's hidden states are the embeddings after pre_layrnorm (index 0)
// and each encoder layer's output (1..L), indexed as Python indexes them (-2: the second last).
// vision_feature_layer may list several; their states are concatenated along channels. Strategy
// 'default' drops the class token, 'full' keeps it.
//
// Shapes: B batch, T tokens, N images, P patches per image, P' image tokens per image (P or P + 1),
// Cv vision hidden, C text hidden, V vocab.

import { StrataError, fmtShape } from '../errors.js';
import { ConfigReader, type JsonObject } from '../io/config.js';
import type { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { fromArray } from '../tensor/ops/creation.js';
import { indexSelect } from '../tensor/ops/indexing.js';
import { cat } from '../tensor/ops/join.js';
import { linear } from '../tensor/ops/linalg.js';
import type { Tensor } from '../tensor/tensor.js';
import { type CLIPVisionConfig, parseCLIPVisionConfig } from './clip/config.js';
import { CLIPVisionModel } from './clip/vision.js';
import { PreallocatedKVCache } from './kv-cache.js';
import { type LlamaConfig, type LlamaModelType, LlamaModel, parseLlamaConfig } from './llama.js';
import type { CausalLM, DecoderForwardOptions, KVCache, ModelCard } from './types.js';
import { ACTIVATIONS, type Activation, applyActivation, checkPixels } from './vit.js';
import { ModuleGroup, ParamSource, Scope } from './weights.js';

const TEXT_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;

/** config.json of a LLaVA checkpoint (model_type 'llava'). */
export interface LlavaConfig {
  model_type: 'llava';
  architectures: string[] | null;
  vision_config: CLIPVisionConfig;
  text_config: LlamaConfig;
  /** the token standing for one image feature (older configs: image_token_index, newer: image_token_id) */
  image_token_index: number;
  /** image tokens per image, as the processor expands <image>; must equal the features per image */
  image_seq_length: number;
  projector_hidden_act: Activation;
  /** hidden-state index (Python-style, negative from the end), or several concatenated */
  vision_feature_layer: number | number[];
  vision_feature_select_strategy: 'default' | 'full';
  multimodal_projector_bias: boolean;
  /** lm_head shares language_model.model.embed_tokens (top level, or text_config's) */
  tie_word_embeddings: boolean;
  initializer_range: number;
}

function featureLayers(c: ConfigReader, layers: number): number | number[] {
  const v = c.raw['vision_feature_layer'] ?? -2;
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || list.some((x) => !Number.isInteger(x) || (x as number) < -(layers + 1) || (x as number) > layers)) {
    c.fail('vision_feature_layer', `must be an integer or a non-empty list of integers in [${-(layers + 1)}, ${layers}] (the vision tower has ${layers} layers), got ${JSON.stringify(v)}`);
  }
  return Array.isArray(v) ? (v as number[]) : (v as number);
}

/**
 * What transformers fills in for fields a sub-config leaves out: hub checkpoints (llava-hf/llava-1.5-*)
 * write only what differs from these. The vision tower defaults to LLaVA-1.5's CLIP ViT-L/14 at
 * 336 pixels (LlavaConfig's own default), the text model to LlamaConfig's defaults.
 */
const VISION_DEFAULTS = { hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_attention_heads: 16, patch_size: 14, image_size: 336, projection_dim: 768 };
const LLAMA_DEFAULTS = { vocab_size: 32000, hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32 };

export function parseLlavaConfig(raw: JsonObject, file: string): LlavaConfig {
  const c = new ConfigReader(raw, file);
  const visionRaw: JsonObject = c.object('vision_config')?.raw ?? VISION_DEFAULTS;
  const textRaw: JsonObject = { ...LLAMA_DEFAULTS, ...c.object('text_config')?.raw };
  const visionType = visionRaw['model_type'] ?? 'clip_vision_model';
  if (visionType !== 'clip_vision_model') c.fail('vision_config.model_type', `'${String(visionType).slice(0, 40)}' is not supported (supported: 'clip_vision_model')`);
  const vision = parseCLIPVisionConfig(new ConfigReader(visionRaw, file, 'vision_config.'));
  const textType = textRaw['model_type'] ?? 'llama';
  if (!(TEXT_MODEL_TYPES as readonly unknown[]).includes(textType)) c.fail('text_config.model_type', `'${String(textType).slice(0, 40)}' is not supported (supported: ${TEXT_MODEL_TYPES.join(', ')})`);
  const text = parseLlamaConfig(textRaw, `${file} (text_config)`, textType as LlamaModelType);
  const tokenKey = c.has('image_token_index') ? 'image_token_index' : 'image_token_id';
  const imageToken = c.int(tokenKey, 32000, { min: 0 });
  if (imageToken >= text.vocab_size) c.fail(tokenKey, `(${imageToken}) must be a token of the language model's vocabulary (vocab_size ${text.vocab_size})`);
  const strategy = c.choice('vision_feature_select_strategy', ['default', 'full'] as const, 'default');
  const grid = vision.image_size / vision.patch_size;
  const tokens = grid * grid + (strategy === 'full' ? 1 : 0);
  const seq = c.int('image_seq_length', tokens, { min: 1 });
  if (seq !== tokens) c.fail('image_seq_length', `(${seq}) must equal the image features the vision tower gives: ${tokens} (${grid}x${grid} patches${strategy === 'full' ? ' + the class token' : ''})`);
  return {
    model_type: 'llava',
    architectures: c.stringArray('architectures'),
    vision_config: vision,
    text_config: text,
    image_token_index: imageToken,
    image_seq_length: seq,
    projector_hidden_act: c.choice('projector_hidden_act', ACTIVATIONS, 'gelu'),
    vision_feature_layer: featureLayers(c, vision.num_hidden_layers),
    vision_feature_select_strategy: strategy,
    multimodal_projector_bias: c.bool('multimodal_projector_bias', true),
    tie_word_embeddings: c.bool('tie_word_embeddings', false) || text.tie_word_embeddings,
    initializer_range: c.number('initializer_range', text.initializer_range, { min: 0 }),
  };
}

export const LLAVA_CARD: ModelCard = {
  families: ['multi-modal', 'foundation'],
  inputModalities: ['text', 'image'],
  outputModalities: ['text'],
  architecture: 'vision-language decoder (CLIP ViT image tower, MLP projector into the token space, LLaMA-family decoder reading image patches as tokens)',
  adaptability: ['full-finetune', 'lora', 'prompting', 'instruction-tuning'],
  applications: ['visual chat', 'visual question answering', 'image description', 'text chat and generation without an image'],
  examples: ['llava-hf/llava-1.5-7b-hf', 'llava-hf/llava-1.5-13b-hf', 'llava-hf/bakLlava-v1-hf', 'GPT-4 with vision (the closed model of this row)'],
  primaryData: 'image–caption pairs for aligning the projector, then visual instruction-following conversations',
  purpose: 'chat about images: a pretrained language model taught to read a vision encoder’s patch features as tokens',
};

/** The first prefix under which the checkpoint holds `probe` (the first prefix without a checkpoint). */
function layoutPrefix(source: ParamSource, prefixes: readonly string[], probe: string): string {
  return prefixes.find((p) => source.has(p + probe)) ?? prefixes[0]!;
}

class LlavaMultiModalProjector extends Module {
  readonly linear1: Linear;
  readonly linear2: Linear;

  constructor(
    s: Scope,
    config: LlavaConfig,
    private readonly act: Activation,
  ) {
    super();
    const layers = Array.isArray(config.vision_feature_layer) ? config.vision_feature_layer.length : 1;
    const C = config.text_config.hidden_size;
    this.linear1 = this.module('linear_1', s.linear('linear_1', config.vision_config.hidden_size * layers, C, config.multimodal_projector_bias));
    this.linear2 = this.module('linear_2', s.linear('linear_2', C, C, config.multimodal_projector_bias));
  }

  /** (N, P', Cv * layers) -> (N, P', C) */
  forward(x: Tensor): Tensor {
    return this.linear2.forward(applyActivation(this.linear1.forward(x), this.act));
  }
}

/** Hugging Face's LlavaForConditionalGeneration; without images it is its language model. */
export class LlavaForConditionalGeneration extends Module implements CausalLM {
  readonly kind = 'decoder-only' as const;
  readonly card = LLAVA_CARD;
  readonly visionTower: CLIPVisionModel;
  readonly multiModalProjector: LlavaMultiModalProjector;
  readonly languageModel: LlamaModel;
  /** null when tied to the embeddings */
  readonly lmHead: Linear | null;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly imageSize: readonly [number, number];
  readonly imageTokenId: number;
  /** image tokens (and features) per image */
  readonly imageSeqLength: number;
  /** hidden-state indices the features read, counted from 0 (the embeddings) */
  private readonly featureIndices: number[];

  constructor(
    readonly config: LlavaConfig,
    source: ParamSource = new ParamSource(null, { initializerRange: config.initializer_range }),
  ) {
    super();
    const vision = layoutPrefix(source, ['vision_tower.', 'vision_tower.vision_model.', 'model.vision_tower.', 'model.vision_tower.vision_model.'], 'embeddings.class_embedding');
    const projector = layoutPrefix(source, ['multi_modal_projector.', 'model.multi_modal_projector.'], 'linear_1.weight');
    const text = layoutPrefix(source, ['language_model.model.', 'model.language_model.'], 'embed_tokens.weight');
    const head = text === 'language_model.model.' ? 'language_model.' : '';
    this.visionTower = this.module('vision_tower', new CLIPVisionModel(config.vision_config, new Scope(source, vision)));
    this.multiModalProjector = this.module('multi_modal_projector', new LlavaMultiModalProjector(new Scope(source, projector), config, config.projector_hidden_act));
    const lm = this.module('language_model', new ModuleGroup());
    this.languageModel = lm.add('model', new LlamaModel(new Scope(source, text), config.text_config));
    this.lmHead = config.tie_word_embeddings ? null : lm.add('lm_head', new Scope(source, head).linear('lm_head', config.text_config.hidden_size, config.text_config.vocab_size, false));
    this.vocabSize = config.text_config.vocab_size;
    this.maxPositions = config.text_config.max_position_embeddings;
    this.imageSize = this.visionTower.imageSize;
    this.imageTokenId = config.image_token_index;
    this.imageSeqLength = config.image_seq_length;
    const L = config.vision_config.num_hidden_layers;
    const layers = Array.isArray(config.vision_feature_layer) ? config.vision_feature_layer : [config.vision_feature_layer];
    this.featureIndices = layers.map((i) => (i < 0 ? L + 1 + i : i));
  }

  /** pixels (N, 3, H, W) -> projected image features (N, P', C), one row per image token */
  getImageFeatures(pixelValues: Tensor): Tensor {
    const vt = this.visionTower;
    checkPixels(pixelValues, vt.numChannels, vt.imageSize, 'LlavaForConditionalGeneration');
    let x = vt.preLayrnorm.forward(vt.embeddings.forward(pixelValues)); // (N, 1 + P, Cv)
    const states = [x];
    // layers past the deepest one read are never run
    const deepest = Math.max(...this.featureIndices);
    for (const layer of vt.encoder.layers.slice(0, deepest)) states.push((x = layer.forward(x, null)));
    const tokens = x.shape[1]!;
    const picked = this.featureIndices.map((i) => (this.config.vision_feature_select_strategy === 'default' ? states[i]!.slice(1, 1, tokens) : states[i]!)); // (N, P', Cv) each
    return this.multiModalProjector.forward(picked.length === 1 ? picked[0]! : cat(picked, -1)); // (N, P', C)
  }

  /**
   * Token embeddings of ids (B, T) with the image tokens' rows replaced, in reading order (row by
   * row), by the rows of imageFeatures (N, P', C): one per image token, as transformers'
   * masked_scatter places them.
   */
  embedWithImages(ids: Tensor, imageFeatures: Tensor): Tensor {
    if (ids.ndim !== 2 || ids.dtype !== 'i32') throw new StrataError('shape', 'LlavaForConditionalGeneration', `ids must be (B, T) i32, got ${ids.dtype} ${fmtShape(ids.shape)}`);
    const C = this.config.text_config.hidden_size;
    if (imageFeatures.ndim !== 3 || imageFeatures.shape[2] !== C) throw new StrataError('shape', 'LlavaForConditionalGeneration', `image features must be (N, P', ${C}), got ${fmtShape(imageFeatures.shape)}`);
    const [B, T] = ids.shape as [number, number];
    const flat = ids.toArray() as number[];
    const features = imageFeatures.shape[0]! * imageFeatures.shape[1]!;
    const slots = flat.filter((t) => t === this.imageTokenId).length;
    if (slots !== features) {
      throw new StrataError('argument', 'LlavaForConditionalGeneration', `the prompt has ${slots} image tokens but the images give ${features} features (${imageFeatures.shape[0]} images x ${imageFeatures.shape[1]}); expand each <image> to ${this.imageSeqLength} tokens`);
    }
    const text = this.languageModel.embedTokens.forward(ids).reshape(B * T, C); // (B*T, C)
    if (features === 0) return text.reshape(B, T, C);
    // rows 0..B*T-1 of the table are the token embeddings, the rest the image features
    const table = cat([text, imageFeatures.reshape(features, C)], 0); // (B*T + N*P', C)
    let next = B * T;
    const pick = Int32Array.from(flat, (t, i) => (t === this.imageTokenId ? next++ : i));
    return indexSelect(table, 0, fromArray(pick, [B * T], { dtype: 'i32' })).reshape(B, T, C); // (B, T, C)
  }

  /** ids (B, T) -> logits (B, T, V); image tokens without images are embedded as ordinary tokens */
  forward(ids: Tensor, options: DecoderForwardOptions = {}): Tensor {
    const h = this.languageModel.forward(ids, options); // (B, T, C)
    return this.lmHead ? this.lmHead.forward(h) : linear(h, this.languageModel.embedTokens.weight); // (B, T, V)
  }

  /** The forward pass with images: ids (B, T) holding one image token per feature, pixels (N, 3, H, W) -> logits (B, T, V) */
  forwardWithImages(ids: Tensor, pixelValues: Tensor, options: DecoderForwardOptions = {}): Tensor {
    return this.forward(ids, { ...options, inputsEmbeds: this.embedWithImages(ids, this.getImageFeatures(pixelValues)) });
  }

  /**
   * This model as a CausalLM whose first forward pass (the prefill of generate/Decoding) sees the
   * images: their features replace the image tokens. A batch of several rows holding the same
   * prompt (n samples of one request) gets the same images in each row. Later passes (decoding)
   * embed tokens as usual, as transformers does once the cache holds the prompt.
   */
  withImages(pixelValues: Tensor): CausalLM {
    return new LlavaPrompted(this, this.getImageFeatures(pixelValues));
  }

  createCache(batch: number, maxLength: number): KVCache {
    const c = this.config.text_config;
    return new PreallocatedKVCache(c.num_hidden_layers, batch, c.num_key_value_heads, maxLength, c.head_dim);
  }
}

/** A LLaVA bound to the image features of one prompt (see LlavaForConditionalGeneration.withImages). */
class LlavaPrompted extends Module implements CausalLM {
  readonly kind = 'decoder-only' as const;
  readonly card: ModelCard;
  readonly vocabSize: number;
  readonly maxPositions: number;
  private pending = true;

  constructor(
    readonly llava: LlavaForConditionalGeneration,
    /** (N, P', C) */
    readonly features: Tensor,
  ) {
    super();
    this.card = llava.card;
    this.vocabSize = llava.vocabSize;
    this.maxPositions = llava.maxPositions;
  }

  forward(ids: Tensor, options: DecoderForwardOptions = {}): Tensor {
    if (!this.pending) return this.llava.forward(ids, options);
    this.pending = false;
    const B = ids.shape[0]!;
    const perRow = this.features.shape[0]! * this.features.shape[1]!;
    const slots = (ids.toArray() as number[]).filter((t) => t === this.llava.imageTokenId).length;
    // every row of a batch of one prompt holds its images: repeat them per row
    const features = B > 1 && slots === B * perRow ? cat(Array.from({ length: B }, () => this.features), 0) : this.features;
    return this.llava.forward(ids, { ...options, inputsEmbeds: this.llava.embedWithImages(ids, features) });
  }

  createCache(batch: number, maxLength: number): KVCache {
    return this.llava.createCache(batch, maxLength);
  }
}
