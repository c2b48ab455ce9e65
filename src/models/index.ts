export type * from './types.js';
export { GPT2LMHeadModel, GPT2Model, GPT2_CARD, parseGPT2Config, type GPT2Config, type GPT2Activation } from './gpt2.js';
export { LlamaForCausalLM, LlamaModel, LLAMA_CARD, llamaRope, parseLlamaConfig, type LlamaConfig, type LlamaModelType, type LlamaActivation, type RopeScaling } from './llama.js';
export { LlavaForConditionalGeneration, LLAVA_CARD, parseLlavaConfig, type LlavaConfig } from './llava.js';
export {
  BertModel,
  BertForMaskedLM,
  BertForSequenceClassification,
  BertForQuestionAnswering,
  BERT_CARD,
  parseBertConfig,
  type BertConfig,
  type BertModelType,
  type BertActivation,
  type BertModelOptions,
} from './bert.js';
export {
  ViTModel,
  ViTForImageClassification,
  VIT_CARD,
  PatchEmbedding,
  parseViTConfig,
  applyActivation,
  ACTIVATIONS,
  type ViTConfig,
  type ViTModelOptions,
  type Activation,
  type SizeField,
} from './vit.js';
export {
  CLIPModel,
  CLIPForImageClassification,
  CLIPTextModel,
  CLIPVisionModel,
  CLIPEncoder,
  CLIP_CARD,
  l2Normalize,
  parseCLIPConfig,
  parseCLIPTextConfig,
  parseCLIPVisionConfig,
  type CLIPConfig,
  type CLIPTextConfig,
  type CLIPVisionConfig,
  type CLIPTowerConfig,
  type CLIPTowerOutput,
  type CLIPInputs,
  type CLIPOutput,
} from './clip/index.js';
export {
  WhisperForConditionalGeneration,
  WhisperModel,
  WhisperEncoder,
  WhisperDecoder,
  WHISPER_CARD,
  WHISPER_LANGUAGES,
  parseWhisperConfig,
  whisperDecodingConfig,
  decoderPrompt,
  decodingRules,
  resolveLanguage,
  languageCode,
  timedSegments,
  SuppressTokens,
  SuppressAtBegin,
  TimestampRules,
  TIME_PRECISION,
  type WhisperConfig,
  type WhisperOutput,
  type WhisperDecodingConfig,
  type WhisperTokenIds,
  type WhisperTask,
  type PromptOptions,
  type TimedTokens,
  type TokenRules,
} from './whisper/index.js';
export { CrossAttentionStates, type EncoderDecoderModel } from './encoder-decoder.js';
export { PreallocatedKVCache } from './kv-cache.js';
export { ParamSource, Scope, ModuleGroup, type Init, type ParamSourceOptions } from './weights.js';
export {
  MODELS,
  MODEL_TYPES,
  createModel,
  parseModelConfig,
  resolveArchitecture,
  type ModelType,
  type ModelConfig,
  type ModelEntry,
  type StrataModel,
  type HeadKind,
  type ArchitectureFactory,
} from './registry.js';
export {
  registeredArchitectures,
  architectureCard,
  headCard,
  cardJson,
  familyComparison,
  familyRowJson,
  comparisonCells,
  FAMILY_TITLES,
  MODEL_FAMILIES,
  COMPARISON_ATTRIBUTES,
  type RegisteredArchitecture,
  type CardJson,
  type FamilyRow,
  type ComparisonAttribute,
} from './cards.js';
export { loadModel, saveModel, isCausalLM, type LoadOptions, type LoadedModel } from './load.js';
export { VisionEncoderDecoderModel, VISION_ENCODER_DECODER_CARD, parseVisionEncoderDecoderConfig, type VisionEncoderDecoderConfig, type VisionEncoderDecoderOutput } from './vision-encoder-decoder.js';
