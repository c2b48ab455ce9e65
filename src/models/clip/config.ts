// config.json of a CLIP checkpoint: the top level (projection size, logit scale) and the configs of
// its two towers, `text_config` and `vision_config` (both required), with transformers' defaults
// for fields absent inside them.
// Older checkpoints also carry `text_config_dict` / `vision_config_dict`, whose fields override
// the tower configs (as transformers merges them).

import { ConfigReader, type JsonObject } from '../../io/config.js';
import { ACTIVATIONS, type Activation } from '../vit.js';
import { type LabelFields, parseLabelFields } from '../heads.js';

/** What the two towers' encoders share. */
export interface CLIPTowerConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  hidden_act: Activation;
  layer_norm_eps: number;
  /** read for completeness; attention runs without dropout */
  attention_dropout: number;
  initializer_range: number;
  /** scales every initialization std (1 in practice) */
  initializer_factor: number;
  /** the projection size when a tower is used alone (CLIPTextModelWithProjection); CLIPModel uses the top-level one */
  projection_dim: number;
}

/** `text_config` of a CLIP config.json. */
export interface CLIPTextConfig extends CLIPTowerConfig {
  model_type: 'clip_text_model';
  vocab_size: number;
  max_position_embeddings: number;
  pad_token_id: number | null;
  bos_token_id: number | null;
  /**
   * Where the text is pooled: the first position holding this id. The value 2 is the legacy rule
   * of old configs (the position of the largest id, which is the eos token in CLIP's vocabulary).
   */
  eos_token_id: number;
}

/** `vision_config` of a CLIP config.json. */
export interface CLIPVisionConfig extends CLIPTowerConfig {
  model_type: 'clip_vision_model';
  num_channels: number;
  image_size: number;
  patch_size: number;
}

/**
 * config.json of a CLIP checkpoint (model_type 'clip'). The label fields are present only when the
 * file names labels (CLIPForImageClassification), so a CLIPModel's config is written back unchanged.
 */
export interface CLIPConfig extends Partial<LabelFields> {
  model_type: 'clip';
  architectures: string[] | null;
  text_config: CLIPTextConfig;
  vision_config: CLIPVisionConfig;
  /** size of the shared embedding space (visual_projection, text_projection) */
  projection_dim: number;
  /** logit_scale of a freshly initialized model: log(1 / 0.07) */
  logit_scale_init_value: number;
  initializer_factor: number;
  /** not written by transformers at the top level; defaults to the vision tower's */
  initializer_range: number;
}

function towerFields(c: ConfigReader, defaults: { hidden: number; intermediate: number; layers: number; heads: number }): CLIPTowerConfig {
  const hidden = c.int('hidden_size', defaults.hidden, { min: 1 });
  const heads = c.int('num_attention_heads', defaults.heads, { min: 1 });
  if (hidden % heads !== 0) c.fail('num_attention_heads', `(${heads}) must divide hidden_size (${hidden})`);
  return {
    hidden_size: hidden,
    intermediate_size: c.int('intermediate_size', defaults.intermediate, { min: 1 }),
    num_hidden_layers: c.int('num_hidden_layers', defaults.layers, { min: 1 }),
    num_attention_heads: heads,
    hidden_act: c.choice('hidden_act', ACTIVATIONS, 'quick_gelu'),
    layer_norm_eps: c.number('layer_norm_eps', 1e-5, { above: 0 }),
    attention_dropout: c.number('attention_dropout', 0, { min: 0, max: 1 }),
    initializer_range: c.number('initializer_range', 0.02, { min: 0 }),
    initializer_factor: c.number('initializer_factor', 1, { min: 0 }),
    projection_dim: c.int('projection_dim', 512, { min: 1 }),
  };
}

/** A tower's fields: `<name>` overridden by the legacy `<name>_dict` when present. */
function towerReader(c: ConfigReader, name: 'text_config' | 'vision_config'): ConfigReader {
  // transformers would fall back to CLIP ViT-B/32's towers; a checkpoint always names its own
  const base = c.object(name)?.raw ?? c.fail(name, 'is required (the configuration of the tower)');
  const legacy = c.object(`${name}_dict`)?.raw ?? {};
  return new ConfigReader({ ...base, ...legacy }, c.file, `${name}.`);
}

export function parseCLIPTextConfig(c: ConfigReader): CLIPTextConfig {
  const tower = towerFields(c, { hidden: 512, intermediate: 2048, layers: 12, heads: 8 });
  const vocab = c.int('vocab_size', 49408, { min: 1 });
  // pad and bos are informational here (CLIP reads neither); eos must be a token the model can see
  const token = (name: string, fallback: number | null, max?: number) => (c.has(name) ? c.int(name, 0, { min: 0, max }) : Object.hasOwn(c.raw, name) ? null : fallback);
  if (Array.isArray(c.raw['eos_token_id'])) c.fail('eos_token_id', 'must be one token id: the text is pooled at its first occurrence');
  const eos = token('eos_token_id', 49407, vocab - 1);
  if (eos === null) c.fail('eos_token_id', 'is required: the text is pooled at the eos token');
  return {
    model_type: 'clip_text_model',
    ...tower,
    vocab_size: vocab,
    max_position_embeddings: c.int('max_position_embeddings', 77, { min: 1 }),
    pad_token_id: token('pad_token_id', 1),
    bos_token_id: token('bos_token_id', 49406),
    eos_token_id: eos,
  };
}

export function parseCLIPVisionConfig(c: ConfigReader): CLIPVisionConfig {
  const tower = towerFields(c, { hidden: 768, intermediate: 3072, layers: 12, heads: 12 });
  if (Array.isArray(c.raw['image_size']) || Array.isArray(c.raw['patch_size'])) c.fail('image_size', 'and patch_size must be single integers (CLIP images are square)');
  const image = c.int('image_size', 224, { min: 1 });
  const patch = c.int('patch_size', 32, { min: 1 });
  if (image % patch !== 0) c.fail('image_size', `(${image}) must be a whole number of patches (patch_size ${patch})`);
  return { model_type: 'clip_vision_model', ...tower, num_channels: c.int('num_channels', 3, { min: 1 }), image_size: image, patch_size: patch };
}

export function parseCLIPConfig(raw: JsonObject, file: string): CLIPConfig {
  const c = new ConfigReader(raw, file);
  const vision = parseCLIPVisionConfig(towerReader(c, 'vision_config'));
  return {
    model_type: 'clip',
    architectures: c.stringArray('architectures'),
    text_config: parseCLIPTextConfig(towerReader(c, 'text_config')),
    vision_config: vision,
    projection_dim: c.int('projection_dim', 512, { min: 1 }),
    logit_scale_init_value: c.number('logit_scale_init_value', 2.6592),
    initializer_factor: c.number('initializer_factor', 1, { min: 0 }),
    initializer_range: c.number('initializer_range', vision.initializer_range, { min: 0 }),
    ...(c.has('id2label') || c.has('num_labels') ? parseLabelFields(c) : {}),
  };
}
