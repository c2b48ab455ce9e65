export {
  type Tokenizer,
  type EncodeOptions,
  type DecodeOptions,
  type SpecialTokenIds,
  type ChatMessage,
  type ChatTemplateOptions,
  type DecodeStreamOptions,
  DecodeStream,
} from './tokenizer.js';
export { ChatTemplates, strftime } from './chat-template.js';
export { HfTokenizer, loadHfTokenizer, hfTokenizerFromJson, hfTokenizerFromText, type HfTokenizerFiles } from './hf.js';
export { GgufTokenizer, GgufTokenType, tokenizerFromGguf, type GgufTokenizerOptions } from './gguf-vocab.js';
export { BYTE_TO_CHAR, PRE_TOKENIZERS, toByteLevel } from './pretokenize.js';
export { trainByteLevelBpe, saveTrainedTokenizer, CHATML_TEMPLATE, type BpeTrainerOptions, type TrainedTokenizer } from './bpe-trainer.js';
export { ggufTokenizerMetadata } from './gguf-export.js';

import { loadHfTokenizer, type HfTokenizer } from './hf.js';

/** Loads the tokenizer of a Hugging Face model directory (tokenizer.json + tokenizer_config.json). */
export function loadTokenizer(dir: string): Promise<HfTokenizer> {
  return loadHfTokenizer(dir);
}
