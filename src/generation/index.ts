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
