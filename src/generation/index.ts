export * from './sampling.js';
export { StopStrings } from './stopping.js';
export {
  Decoding,
  generate,
  generateBatch,
  streamGenerate,
  type GenerateOptions,
  type GenerationChunk,
  type GenerationResult,
  type GenerationTimings,
  type FinishReason,
  type TokenLogprob,
  type TextDecoder,
} from './generate.js';
export { beamSearch, type BeamSearchOptions, type BeamHypothesis } from './beam.js';
export {
  type TokenConstraint,
  type ByteLanguage,
  type TokenVocabulary,
  type ConstraintTokenizer,
  type CharDfa,
  LanguageConstraint,
  BYTE_VOCABULARY,
  tokenVocabulary,
  compileRegex,
  dfaNext,
} from './constraint.js';
export { JsonGrammar, jsonSchemaConstraint, type JsonSchemaOptions, type JsonState } from './json-schema.js';
export { encodeInputs, generateEncoderDecoder, type EncoderDecoderGenerateOptions, type EncoderDecoderResult, type LogitsRule } from './encoder-decoder.js';
export { beamSearchEncoderDecoder, type EncoderDecoderBeamOptions, type EncoderDecoderHypothesis } from './encoder-decoder-beam.js';
export { BeamScorer, type BeamScorerOptions, type EarlyStopping, type ScoredHypothesis } from './beam-scorer.js';
