// The one tokenizer interface every model and pipeline uses, whatever the vocabulary came from
// (tokenizer.json through @huggingface/tokenizers, or the vocabulary stored in a GGUF file), and
// the streaming decoder built on top of it.

import { StrataError } from '../errors.js';

export interface EncodeOptions {
  /** Add the special tokens the tokenizer adds around a sequence (BOS, EOS, ...). Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special (control) tokens such as BOS, EOS and chat markers. Default false. */
  skipSpecialTokens?: boolean;
  /**
   * Remove the space before punctuation and contractions (" ." → ".", " 's" → "'s") as
   * transformers' `clean_up_tokenization_spaces` does. Default false: it is lossy, so
   * decode(encode(text)) would no longer give the text back.
   */
  cleanUpTokenizationSpaces?: boolean;
}

/** Ids of the tokens with a role; absent when the vocabulary has none. */
export interface SpecialTokenIds {
  bos?: number;
  eos?: number;
  pad?: number;
  unk?: number;
  sep?: number;
  mask?: number;
  /** end of turn (`<|eot_id|>`, `<|im_end|>`, `<end_of_turn>`, ...) */
  eot?: number;
  /** end of message with a tool call pending (`<|eom_id|>`) */
  eom?: number;
  /** fill-in-the-middle markers (`<|fim_prefix|>`, `<fim_prefix>`, `▁<PRE>`, ...) */
  fimPrefix?: number;
  fimSuffix?: number;
  fimMiddle?: number;
  fimPad?: number;
  fimRepo?: number;
  fimSep?: number;
}

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End the prompt with the header of an assistant turn, so the model answers. Default false. */
  addGenerationPrompt?: boolean;
  /** Tool (function) definitions, passed to the template as `tools`. */
  tools?: unknown[];
  /** A named template when tokenizer_config.json holds several (default: 'default', or 'tool_use' with tools). */
  templateName?: string;
  /** Further variables for the template (e.g. `enable_thinking`, `documents`). */
  extra?: Record<string, unknown>;
  /** The time `strftime_now` reports (default: now); fixed in tests. */
  now?: Date;
}

export interface Tokenizer {
  /** Number of token ids (the largest id + 1), added tokens included. */
  readonly vocabSize: number;
  readonly special: Readonly<SpecialTokenIds>;
  /** Tokens that end generation: EOS, end-of-turn markers and the like. */
  readonly endOfGenerationIds: readonly number[];
  /** Whether encode() with addSpecialTokens puts a BOS token first. */
  readonly addsBos: boolean;
  /** The chat template (Jinja source), when the tokenizer has one. */
  readonly chatTemplate: string | undefined;

  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** The id of a token given its vocabulary string (e.g. 'Ġthe', '▁the', '<|im_end|>'). */
  tokenToId(token: string): number | undefined;
  /** The vocabulary string of an id; StrataError for an id out of range. */
  idToToken(id: number): string;
  /** Whether the id is a special/control token (skipped by skipSpecialTokens). */
  isSpecial(id: number): boolean;
  /** Renders the conversation with the chat template; StrataError('unsupported') when there is none. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
  /** A decoder for generation: feed it ids one at a time, get the new text for each. */
  createDecodeStream(options?: DecodeStreamOptions): DecodeStream;
}

/** Throws StrataError('argument') unless every id is an integer in [0, vocabSize). */
export function checkTokenIds(ids: readonly number[], vocabSize: number, op: string): void {
  if (!Array.isArray(ids)) throw new StrataError('argument', op, `ids must be an array of token ids, got ${typeof ids}`);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= vocabSize) {
      throw new StrataError('argument', op, `token id ${String(id)} at index ${i} is out of range [0, ${vocabSize})`);
    }
  }
}

export interface DecodeStreamOptions {
  skipSpecialTokens?: boolean;
  /**
   * Ids already in the sequence before the streamed ones (the prompt). Only the last few are
   * kept: they decide whether the first streamed token keeps its leading space.
   */
  context?: readonly number[];
}

/** How many previous tokens the stream decodes along with a new one. */
const STREAM_CONTEXT = 6;
const REPLACEMENT = '\uFFFD';

/**
 * Incremental detokenization (the algorithm of Hugging Face's DecodeStream): decode a small window
 * of recent ids with and without the new ones, and hand out the difference once it no longer ends
 * in U+FFFD. A character split over several byte tokens comes out whole with the last of them, and
 * a SentencePiece leading space is kept or dropped exactly as decoding the whole sequence would.
 * Concatenating every push() and the final flush() gives decode(all ids).
 */
export class DecodeStream {
  private ids: number[];
  private prefixOffset = 0;
  private readOffset: number;
  private readonly decodeOptions: DecodeOptions;

  constructor(
    private readonly tokenizer: Pick<Tokenizer, 'decode' | 'vocabSize'>,
    options: DecodeStreamOptions = {},
  ) {
    const context = options.context ?? [];
    checkTokenIds(context, tokenizer.vocabSize, 'DecodeStream');
    this.ids = context.slice(Math.max(0, context.length - STREAM_CONTEXT));
    this.readOffset = this.ids.length;
    this.decodeOptions = { skipSpecialTokens: options.skipSpecialTokens ?? false };
  }

  /** Adds one id; returns the text it completes ('' while a character is still incomplete). */
  push(id: number): string {
    checkTokenIds([id], this.tokenizer.vocabSize, 'DecodeStream.push');
    this.ids.push(id);
    return this.emit(false);
  }

  /** Returns whatever is still held back (an incomplete character comes out as U+FFFD). */
  flush(): string {
    return this.emit(true);
  }

  private emit(force: boolean): string {
    if (this.readOffset >= this.ids.length) return '';
    const window = this.ids.slice(this.prefixOffset);
    let prefixText = this.tokenizer.decode(window.slice(0, this.readOffset - this.prefixOffset), this.decodeOptions);
    const newText = this.tokenizer.decode(window, this.decodeOptions);
    // a context that ended inside a character was never emitted; neither are its U+FFFD
    while (prefixText.endsWith(REPLACEMENT)) prefixText = prefixText.slice(0, -1);
    if (!force && (newText.length <= prefixText.length || newText.endsWith(REPLACEMENT))) return '';
    let common = 0;
    if (newText.startsWith(prefixText)) common = prefixText.length;
    else while (common < prefixText.length && common < newText.length && prefixText[common] === newText[common]) common++;
    const delta = newText.slice(common);
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    if (this.prefixOffset > 2 * STREAM_CONTEXT) {
      // keep the buffer small on long generations
      this.ids = this.ids.slice(this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
    return delta;
  }
}

// Token strings that mark a role, after llama.cpp's list (llama-vocab.cpp): checked when the
// vocabulary does not name the token itself.
export const EOT_TOKENS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '<｜end▁of▁sentence｜>'];
export const EOG_TOKENS = [...EOT_TOKENS, '<|eom_id|>', '<|return|>', '<|call|>', '<end_of_utterance>', '<eos>'];
export const FIM_TOKENS: Record<'fimPrefix' | 'fimSuffix' | 'fimMiddle' | 'fimPad' | 'fimRepo' | 'fimSep', readonly string[]> = {
  fimPrefix: ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>'],
  fimSuffix: ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>'],
  fimMiddle: ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>'],
  fimPad: ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>'],
  fimRepo: ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'],
  fimSep: ['<|file_sep|>'],
};

/**
 * Fills in the roles the vocabulary did not state from the token strings (eot, eom, FIM markers)
 * and lists the end-of-generation ids.
 */
export function completeSpecialTokens(
  special: SpecialTokenIds,
  lookup: (token: string) => number | undefined,
): { special: SpecialTokenIds; endOfGenerationIds: number[] } {
  const out: SpecialTokenIds = { ...special };
  const first = (names: readonly string[]): number | undefined => {
    for (const name of names) {
      const id = lookup(name);
      if (id !== undefined) return id;
    }
    return undefined;
  };
  out.eot ??= first(EOT_TOKENS);
  out.eom ??= first(['<|eom_id|>']);
  for (const key of Object.keys(FIM_TOKENS) as (keyof typeof FIM_TOKENS)[]) out[key] ??= first(FIM_TOKENS[key]);
  for (const key of Object.keys(out) as (keyof SpecialTokenIds)[]) if (out[key] === undefined) delete out[key];
  const eog = new Set<number>();
  for (const name of EOG_TOKENS) {
    const id = lookup(name);
    if (id !== undefined) eog.add(id);
  }
  for (const id of [out.eos, out.eot, out.eom]) if (id !== undefined) eog.add(id);
  return { special: out, endOfGenerationIds: [...eog].sort((a, b) => a - b) };
}

/** transformers' clean_up_tokenization: drop the space the tokenizer put before punctuation. */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
