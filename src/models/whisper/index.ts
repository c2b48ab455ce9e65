// Whisper: config, the encoder-decoder network (model.ts) and the tokens and rules of its decoding.

export { parseWhisperConfig, type WhisperConfig } from './config.js';
export { WhisperAttention, sinusoids } from './attention.js';
export { WhisperEncoder } from './encoder.js';
export { WhisperDecoder } from './decoder.js';
export { WhisperForConditionalGeneration, WhisperModel, WHISPER_CARD, type WhisperOutput } from './model.js';
export { WHISPER_LANGUAGES, languageCode } from './languages.js';
export {
  TIME_PRECISION,
  SuppressAtBegin,
  SuppressTokens,
  TimestampRules,
  decoderPrompt,
  decodingRules,
  resolveLanguage,
  timedSegments,
  whisperDecodingConfig,
  type PromptOptions,
  type TimedTokens,
  type TokenLookup,
  type TokenRules,
  type WhisperDecodingConfig,
  type WhisperTask,
  type WhisperTokenIds,
} from './tokens.js';
