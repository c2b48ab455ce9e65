import { StrataError } from '../errors.js';
import type { GenerationResult } from '../generation/generate.js';
import type { TextGenerationOptions, TextGenerationPipeline } from './text-generation.js';

/**
 * The prompt ids for fill-in-the-middle in prefix-suffix-middle order:
 * <prefix-marker> prefix <suffix-marker> suffix <middle-marker>, the model then writes the middle.
 */
export function fimPromptIds(pipe: TextGenerationPipeline, prefix: string, suffix: string): number[] {
  const s = pipe.tokenizer.special;
  if (s.fimPrefix === undefined || s.fimSuffix === undefined || s.fimMiddle === undefined) {
    throw new StrataError('unsupported', 'completeCode', 'this tokenizer has no fill-in-the-middle tokens (prefix/suffix/middle)');
  }
  const enc = (t: string) => (t ? pipe.tokenizer.encode(t, { addSpecialTokens: false }) : []);
  const bos = pipe.tokenizer.addsBos && s.bos !== undefined ? [s.bos] : [];
  return [...bos, s.fimPrefix, ...enc(prefix), s.fimSuffix, ...enc(suffix), s.fimMiddle];
}

/**
 * Code completion: with a suffix and a model that knows FIM tokens, fills the gap between prefix
 * and suffix; otherwise continues the prefix. Stops at the end of the middle (or a FIM/EOS token).
 */
export function completeCode(pipe: TextGenerationPipeline, prefix: string, suffix = '', options: TextGenerationOptions = {}): GenerationResult {
  const r = codeCompletionRequest(pipe, prefix, suffix, options);
  return pipe.generate(r.ids, r.options);
}

/**
 * The prompt ids and options completeCode generates from (`fim`: whether it fills a gap), so a
 * caller can stream the same completion.
 */
export function codeCompletionRequest(pipe: TextGenerationPipeline, prefix: string, suffix = '', options: TextGenerationOptions = {}): { ids: number[]; options: TextGenerationOptions; fim: boolean } {
  const s = pipe.tokenizer.special;
  const stopTokens = [s.fimPrefix, s.fimSuffix, s.fimMiddle, s.fimPad, s.fimSep].filter((t): t is number => t !== undefined);
  const o: TextGenerationOptions = { temperature: 0, ...options, stopTokens: [...(options.stopTokens ?? []), ...stopTokens] };
  const fim = suffix !== '' && s.fimMiddle !== undefined;
  return { ids: fim ? fimPromptIds(pipe, prefix, suffix) : pipe.encode(prefix), options: o, fim };
}
