// config.json `model_type` -> model family, and `architectures[0]` -> the class with the right
// head. A typed table: adding a model means adding an entry here, checked by tsc.

import { StrataError } from '../errors.js';
import type { JsonObject } from '../io/config.js';
import { ConfigReader } from '../io/config.js';
import { type GPT2Config, GPT2_CARD, GPT2LMHeadModel, gpt2ForSequenceClassification, parseGPT2Config } from './gpt2.js';
import { type LlamaConfig, type LlamaModelType, LLAMA_CARD, LlamaForCausalLM, llamaForSequenceClassification, parseLlamaConfig } from './llama.js';
import { type BertConfig, type BertModelType, BERT_CARD, BertForMaskedLM, BertForQuestionAnswering, BertForSequenceClassification, BertModel, parseBertConfig } from './bert.js';
import { type ViTConfig, VIT_CARD, ViTForImageClassification, ViTModel, parseViTConfig } from './vit.js';
import { type CLIPConfig, CLIP_CARD, CLIPModel, parseCLIPConfig } from './clip/index.js';
import { CLIPForImageClassification } from './clip/classification.js';
import { type WhisperConfig, WHISPER_CARD, WhisperForConditionalGeneration, parseWhisperConfig } from './whisper/index.js';
import { type VisionEncoderDecoderConfig, VISION_ENCODER_DECODER_CARD, VisionEncoderDecoderModel, parseVisionEncoderDecoderConfig } from './vision-encoder-decoder.js';
import { type LlavaConfig, LLAVA_CARD, LlavaForConditionalGeneration, parseLlavaConfig } from './llava.js';
import type { EncoderDecoderModel } from './encoder-decoder.js';
import { ParamSource, Scope } from './weights.js';
import type { Generator } from '../tensor/random.js';
import type { CausalLM, DualEncoderModel, EncoderModel, ModelCard, VisionEncoderModel } from './types.js';
import type { SequenceClassifier } from './heads.js';

export type ModelType = 'gpt2' | LlamaModelType | BertModelType | 'vit' | 'clip' | 'whisper' | 'vision-encoder-decoder' | 'llava';
export type ModelConfig = GPT2Config | LlamaConfig | BertConfig | ViTConfig | CLIPConfig | WhisperConfig | VisionEncoderDecoderConfig | LlavaConfig;
export type StrataModel = CausalLM | EncoderModel | SequenceClassifier | VisionEncoderModel | DualEncoderModel | EncoderDecoderModel;

interface ConfigOf {
  gpt2: GPT2Config;
  llama: LlamaConfig;
  mistral: LlamaConfig;
  qwen2: LlamaConfig;
  palm: LlamaConfig;
  bert: BertConfig;
  roberta: BertConfig;
  vit: ViTConfig;
  clip: CLIPConfig;
  whisper: WhisperConfig;
  'vision-encoder-decoder': VisionEncoderDecoderConfig;
  llava: LlavaConfig;
}

/** What an architecture puts on its model_type's base network; its card follows from it (cards.ts). */
export type HeadKind = 'none' | 'causal-lm' | 'declared' | 'masked-lm' | 'sequence-classification' | 'image-classification' | 'question-answering';

/** Builds one Hugging Face architecture over a parameter source, and names the head it carries. */
export type ArchitectureFactory<C extends ModelConfig> = ((config: C, source: ParamSource) => StrataModel) & { readonly head: HeadKind };

function withHead<C extends ModelConfig>(head: HeadKind, create: (config: C, source: ParamSource) => StrataModel): ArchitectureFactory<C> {
  return Object.assign(create, { head });
}

export interface ModelEntry<C extends ModelConfig> {
  parseConfig(raw: JsonObject, file: string): C;
  /** the card of this model_type's classes, readable without building one; each architecture's head adapts it */
  card: ModelCard;
  /** the base model's key prefix ('transformer.', 'model.', 'bert.', 'roberta.') */
  basePrefix: string;
  /** used when config.json has no `architectures` */
  defaultArchitecture: string;
  /** Hugging Face architecture name -> constructor over a parameter source */
  architectures: Readonly<Record<string, ArchitectureFactory<C>>>;
  /** checkpoint keys that are not parameters (buffers, tied duplicates), skipped without complaint */
  ignoredKeys(config: C): readonly RegExp[];
}

const llamaEntry = (type: LlamaModelType, arch: string): ModelEntry<LlamaConfig> => ({
  parseConfig: (raw, file) => parseLlamaConfig(raw, file, type),
  card: LLAMA_CARD,
  basePrefix: 'model.',
  defaultArchitecture: arch,
  // any llama-family architecture name loads through the one class
  architectures: {
    [arch]: withHead('causal-lm', (c, s) => new LlamaForCausalLM(c, s)),
    ...(arch === 'LlamaForCausalLM' ? {} : { LlamaForCausalLM: withHead('causal-lm', (c, s) => new LlamaForCausalLM(c, s)) }),
    [arch.replace(/ForCausalLM$/, 'ForSequenceClassification')]: withHead('sequence-classification', (c, s) => llamaForSequenceClassification(c, s)),
  },
  ignoredKeys: (c) => [/\.rotary_emb\.inv_freq$/, ...(c.tie_word_embeddings ? [/^lm_head\.weight$/] : [])],
});

const bertEntry = (type: BertModelType, prefix: 'Bert' | 'Roberta'): ModelEntry<BertConfig> => ({
  parseConfig: (raw, file) => parseBertConfig(raw, file, type),
  card: BERT_CARD,
  basePrefix: `${type}.`,
  defaultArchitecture: `${prefix}ForMaskedLM`,
  architectures: {
    // a base-model checkpoint has no prefix; one saved with a head has it
    [`${prefix}Model`]: withHead('none', (c, s) => new BertModel(c, new Scope(s, [...(s.checkpoint?.tensors.keys() ?? [])].some((k) => k.startsWith(`${type}.`)) ? `${type}.` : ''))),
    [`${prefix}ForMaskedLM`]: withHead('masked-lm', (c, s) => new BertForMaskedLM(c, s)),
    ...(type === 'bert' ? { BertForPreTraining: withHead('masked-lm', (c: BertConfig, s: ParamSource) => new BertForMaskedLM(c, s)) } : {}),
    [`${prefix}ForSequenceClassification`]: withHead('sequence-classification', (c, s) => new BertForSequenceClassification(c, s)),
    [`${prefix}ForQuestionAnswering`]: withHead('question-answering', (c, s) => new BertForQuestionAnswering(c, s)),
  },
  ignoredKeys: () => [/embeddings\.position_ids$/, /^cls\.predictions\.decoder\.(weight|bias)$/, /^lm_head\.decoder\.(weight|bias)$/, /^cls\.seq_relationship\./],
});

export const MODELS: { readonly [K in ModelType]: ModelEntry<ConfigOf[K]> } = {
  gpt2: {
    parseConfig: parseGPT2Config,
    card: GPT2_CARD,
    basePrefix: 'transformer.',
    defaultArchitecture: 'GPT2LMHeadModel',
    architectures: {
      GPT2LMHeadModel: withHead('causal-lm', (c, s) => new GPT2LMHeadModel(c, s)),
      GPT2ForSequenceClassification: withHead('sequence-classification', (c, s) => gpt2ForSequenceClassification(c, s)),
    },
    ignoredKeys: () => [/(^|\.)h\.\d+\.attn\.(bias|masked_bias)$/, /^lm_head\.weight$/],
  },
  llama: llamaEntry('llama', 'LlamaForCausalLM'),
  mistral: llamaEntry('mistral', 'MistralForCausalLM'),
  qwen2: llamaEntry('qwen2', 'Qwen2ForCausalLM'),
  palm: llamaEntry('palm', 'PalmForCausalLM'),
  bert: bertEntry('bert', 'Bert'),
  roberta: bertEntry('roberta', 'Roberta'),
  vit: {
    parseConfig: parseViTConfig,
    card: VIT_CARD,
    basePrefix: 'vit.',
    defaultArchitecture: 'ViTModel',
    architectures: {
      // a ViTModel saved alone has no `vit.` prefix; the source then drops it
      ViTModel: withHead('none', (c, s) => new ViTModel(c, new Scope(s, 'vit.'))),
      ViTForImageClassification: withHead('image-classification', (c, s) => new ViTForImageClassification(c, s)),
    },
    // a classifier checkpoint may carry the pooler it does not use, as transformers skips it
    ignoredKeys: () => [/^vit\.pooler\.dense\.(weight|bias)$/],
  },
  clip: {
    parseConfig: parseCLIPConfig,
    card: CLIP_CARD,
    basePrefix: '',
    defaultArchitecture: 'CLIPModel',
    architectures: {
      CLIPModel: withHead('declared', (c, s) => new CLIPModel(c, s)),
      CLIPForImageClassification: withHead('image-classification', (c, s) => new CLIPForImageClassification(c, s)),
    },
    ignoredKeys: () => [/\.embeddings\.position_ids$/],
  },
  whisper: {
    parseConfig: parseWhisperConfig,
    card: WHISPER_CARD,
    basePrefix: 'model.',
    defaultArchitecture: 'WhisperForConditionalGeneration',
    architectures: { WhisperForConditionalGeneration: withHead('declared', (c, s) => new WhisperForConditionalGeneration(c, s)) },
    // a tied proj_out saved anyway duplicates model.decoder.embed_tokens.weight
    ignoredKeys: (c) => (c.tie_word_embeddings ? [/^proj_out\.weight$/] : []),
  },
  'vision-encoder-decoder': {
    parseConfig: parseVisionEncoderDecoderConfig,
    card: VISION_ENCODER_DECODER_CARD,
    basePrefix: '',
    defaultArchitecture: 'VisionEncoderDecoderModel',
    architectures: { VisionEncoderDecoderModel: withHead('declared', (c, s) => new VisionEncoderDecoderModel(c, s)) },
    // the LM head is tied to decoder.transformer.wte; old GPT-2 checkpoints carry attention-mask buffers
    ignoredKeys: () => [/^decoder\.lm_head\.weight$/, /^decoder\.transformer\.h\.\d+\.(attn|crossattention)\.(bias|masked_bias)$/],
  },
  llava: {
    parseConfig: parseLlavaConfig,
    card: LLAVA_CARD,
    // the layouts of transformers 4 and 5 differ; the model picks its prefixes (llava.ts)
    basePrefix: '',
    defaultArchitecture: 'LlavaForConditionalGeneration',
    architectures: { LlavaForConditionalGeneration: withHead('declared', (c, s) => new LlavaForConditionalGeneration(c, s)) },
    ignoredKeys: (c) => [/\.embeddings\.position_ids$/, /\.rotary_emb\.inv_freq$/, ...(c.tie_word_embeddings ? [/(^|\.)lm_head\.weight$/] : [])],
  },
};

export const MODEL_TYPES = Object.keys(MODELS) as ModelType[];

function isModelType(name: string): name is ModelType {
  return Object.hasOwn(MODELS, name);
}

/** Validates config.json into the typed config of its model_type. */
export function parseModelConfig(raw: JsonObject, file: string): { modelType: ModelType; config: ModelConfig; entry: ModelEntry<ModelConfig> } {
  const type = new ConfigReader(raw, file).requiredString('model_type');
  if (!isModelType(type)) {
    throw new StrataError('io', file, `model_type '${type.slice(0, 60)}' is not supported (supported: ${MODEL_TYPES.join(', ')})`);
  }
  const entry = MODELS[type] as ModelEntry<ModelConfig>;
  return { modelType: type, config: entry.parseConfig(raw, file), entry };
}

/** The architecture a config selects (or `wanted`), checked against those its model_type offers. */
export function resolveArchitecture(entry: ModelEntry<ModelConfig>, config: ModelConfig, file: string, wanted?: string): string {
  const arch = wanted ?? config.architectures?.[0] ?? entry.defaultArchitecture;
  if (!Object.hasOwn(entry.architectures, arch)) {
    const where = wanted ? 'the requested architecture' : `field 'architectures'`;
    throw new StrataError('io', file, `${where} '${arch.slice(0, 60)}' is not supported for model_type '${config.model_type}' (supported: ${Object.keys(entry.architectures).join(', ')})`);
  }
  return arch;
}

/** A fresh, randomly initialized model for a config (for training from scratch and tests). */
export function createModel(config: ModelConfig, options: { architecture?: string; generator?: Generator } = {}): StrataModel {
  const entry = MODELS[config.model_type] as ModelEntry<ModelConfig>;
  const arch = resolveArchitecture(entry, config, 'config', options.architecture);
  return entry.architectures[arch]!(config, new ParamSource(null, { initializerRange: config.initializer_range, generator: options.generator }));
}
