// Training a byte-level BPE vocabulary (GPT-2's scheme, as the Hugging Face BpeTrainer does it):
// text is cut into words by GPT-2's pre-tokenizer regex, each word becomes its UTF-8 bytes (as
// GPT-2 table characters), and the most frequent adjacent pair of symbols is merged into a new
// token again and again until the vocabulary is full.
//
// The corpus is held as its distinct words with their counts, never as the text itself. Pair
// counts are kept up to date incrementally: a merge only revisits the words that hold the merged
// pair (found through a pair → words index), and a heap with lazily corrected entries hands out
// the next best pair, so a merge costs in proportion to the words it touches, not to the corpus.

import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { BYTE_TO_CHAR, preTokenizerFor, toByteLevel } from './pretokenize.js';

export interface BpeTrainerOptions {
  /** Total vocabulary size, including the 256 byte tokens and the special tokens. */
  vocabSize: number;
  /** A pair merges only if seen at least this often (default 2). */
  minFrequency?: number;
  /** Default ['<|endoftext|>']; added first (ids 0..k-1), as Hugging Face does. */
  specialTokens?: string[];
  /**
   * Chat template stored in tokenizer_config.json (default: a ChatML template using
   * <|im_start|>/<|im_end|>, which are then added as special tokens too); null for none.
   */
  chatTemplate?: string | null;
  /** tokenizer_config.json's model_max_length (left out when not given). */
  modelMaxLength?: number;
  /** Called now and then with the number of tokens merged so far and the number wanted. */
  onProgress?: (merges: number, target: number) => void;
}

/** The parsed contents of tokenizer.json and tokenizer_config.json. */
export interface TrainedTokenizer {
  tokenizerJson: object;
  tokenizerConfig: object;
}

const OP = 'trainByteLevelBpe';
export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ['<|endoftext|>'];
const CHATML_START = '<|im_start|>';
const CHATML_END = '<|im_end|>';
/** Qwen's ChatML template, minus the tool handling. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Token ids stay below this, so a pair of ids packs into one exact double (and hf.ts accepts them). */
const MAX_VOCAB = 1 << 24;
const PAIR_STRIDE = MAX_VOCAB;

interface CheckedOptions {
  vocabSize: number;
  minFrequency: number;
  specialTokens: string[];
  chatTemplate: string | null;
  modelMaxLength: number | undefined;
  onProgress: ((merges: number, target: number) => void) | undefined;
}

function checkOptions(options: BpeTrainerOptions): CheckedOptions {
  if (typeof options !== 'object' || options === null) throw new StrataError('argument', OP, 'options must be an object with at least vocabSize');
  const chatTemplate = options.chatTemplate === undefined ? CHATML_TEMPLATE : options.chatTemplate;
  if (chatTemplate !== null && typeof chatTemplate !== 'string') throw new StrataError('argument', OP, `chatTemplate must be a string or null, got ${typeof chatTemplate}`);
  const given = options.specialTokens ?? DEFAULT_SPECIAL_TOKENS;
  if (!Array.isArray(given)) throw new StrataError('argument', OP, 'specialTokens must be an array of strings');
  const specialTokens: string[] = [];
  for (const [i, t] of given.entries()) {
    if (typeof t !== 'string' || t.length === 0) throw new StrataError('argument', OP, `specialTokens[${i}] must be a non-empty string`);
    if (specialTokens.includes(t)) throw new StrataError('argument', OP, `special token '${t}' is listed twice`);
    // a special token spelled as one byte symbol would take that byte's place in the vocabulary
    if (BYTE_TO_CHAR.includes(t)) throw new StrataError('argument', OP, `special token '${t}' is one of the 256 byte symbols`);
    specialTokens.push(t);
  }
  if (options.chatTemplate === undefined) {
    for (const t of [CHATML_START, CHATML_END]) if (!specialTokens.includes(t)) specialTokens.push(t);
  }
  const least = 256 + specialTokens.length;
  const { vocabSize } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < least || vocabSize > MAX_VOCAB) {
    throw new StrataError('argument', OP, `vocabSize must be an integer in [${least}, ${MAX_VOCAB}] (256 byte tokens + ${specialTokens.length} special tokens at least), got ${String(vocabSize)}`);
  }
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new StrataError('argument', OP, `minFrequency must be a positive integer, got ${String(minFrequency)}`);
  const { modelMaxLength } = options;
  if (modelMaxLength !== undefined && (!Number.isInteger(modelMaxLength) || modelMaxLength < 1)) {
    throw new StrataError('argument', OP, `modelMaxLength must be a positive integer, got ${String(modelMaxLength)}`);
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new StrataError('argument', OP, 'onProgress must be a function');
  return { vocabSize, minFrequency, specialTokens, chatTemplate, modelMaxLength, onProgress: options.onProgress };
}

/**
 * Trains on a stream of texts: pre-tokenizes with GPT-2's byte-level regex, counts words (memory
 * bounded by distinct words), then merges the most frequent pair repeatedly with incremental
 * pair-count updates (a priority queue + pair->words index, not a full recount per merge). Ties go
 * to the pair with the smaller left token id, then the smaller right id, so the result depends on
 * the input and options only.
 */
export function trainByteLevelBpe(texts: Iterable<string>, options: BpeTrainerOptions): TrainedTokenizer {
  const opts = checkOptions(options);
  if (texts === null || typeof texts !== 'object' || typeof (texts as Partial<Iterable<string>>)[Symbol.iterator] !== 'function') {
    throw new StrataError('argument', OP, 'texts must be an iterable of strings');
  }
  const wordCounts = countWords(texts, opts.specialTokens);
  if (wordCounts.size === 0) throw new StrataError('argument', OP, 'no training text: the input is empty');

  // ids: the special tokens, then the 256 byte symbols by code point (GPT-2's and Hugging Face's order)
  const vocab: string[] = [...opts.specialTokens, ...[...BYTE_TO_CHAR].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!)];
  const merges = mergePairs(wordCounts, vocab, opts);
  return {
    tokenizerJson: tokenizerJson(vocab, merges, opts.specialTokens),
    tokenizerConfig: tokenizerConfig(opts),
  };
}

/** Distinct byte-level words of the texts and how often each occurs; special tokens are cut out first. */
function countWords(texts: Iterable<string>, specialTokens: readonly string[]): Map<string, number> {
  const split = preTokenizerFor('gpt-2', OP);
  const specials = specialTokens.length === 0 ? null : new RegExp([...specialTokens].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'u');
  const raw = new Map<string, number>();
  let index = 0;
  for (const text of texts) {
    if (typeof text !== 'string') throw new StrataError('argument', OP, `texts[${index}] must be a string, got ${text === null ? 'null' : typeof text}`);
    index++;
    for (const piece of specials ? text.split(specials) : [text]) {
      if (piece.length === 0) continue;
      for (const word of split(piece)) raw.set(word, (raw.get(word) ?? 0) + 1);
    }
  }
  // converted once per distinct word; lone surrogates become U+FFFD's bytes, so two strings can meet
  const out = new Map<string, number>();
  for (const [word, count] of raw) {
    const bytes = toByteLevel(word);
    out.set(bytes, (out.get(bytes) ?? 0) + count);
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * Max-heap of candidate pairs by count, then by smaller pair key. Entries may be stale (the pair's
 * count has dropped since): the caller checks an entry against the live count when it pops it.
 */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get length(): number {
    return this.counts.length;
  }

  private before(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i]!;
    this.counts[i] = this.counts[j]!;
    this.counts[j] = c;
    const k = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the best entry and returns it as [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0]!, this.keys[0]!];
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    const n = this.counts.length;
    if (n > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const a = 2 * i + 1;
        if (a >= n) break;
        const b = a + 1;
        const child = b < n && this.before(b, a) ? b : a;
        if (!this.before(child, i)) break;
        this.swap(child, i);
        i = child;
      }
    }
    return top;
  }
}

/** Runs the merges; appends the new tokens to `vocab` and returns the merges as [left, right] in rank order. */
function mergePairs(wordCounts: ReadonlyMap<string, number>, vocab: string[], opts: CheckedOptions): Array<[string, string]> {
  const idOf = new Map<string, number>();
  vocab.forEach((token, id) => idOf.set(token, id));
  const words: Int32Array[] = [];
  const counts: number[] = [];
  for (const [word, count] of wordCounts) {
    if (word.length < 2) continue; // no pair to merge
    const symbols = new Int32Array(word.length);
    for (let i = 0; i < word.length; i++) symbols[i] = idOf.get(word[i]!)!;
    words.push(symbols);
    counts.push(count);
  }

  const pairCount = new Map<number, number>();
  /** pair → words that may hold it (a word whose pair has since been merged away stays listed) */
  const wordsWith = new Map<number, number[]>();
  for (let w = 0; w < words.length; w++) {
    const symbols = words[w]!;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = symbols[i]! * PAIR_STRIDE + symbols[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + counts[w]!);
      let list = wordsWith.get(key);
      if (!list) wordsWith.set(key, (list = []));
      if (list[list.length - 1] !== w) list.push(w);
    }
  }
  const heap = new PairHeap();
  for (const [key, count] of pairCount) heap.push(count, key);

  const merges: Array<[string, string]> = [];
  const merged = new Set<number>();
  const target = opts.vocabSize - vocab.length;
  const progressEvery = Math.max(1, Math.floor(target / 200));
  let added = 0;
  const touched = new Set<number>();
  while (vocab.length < opts.vocabSize && heap.length > 0) {
    const [count, key] = heap.pop();
    const live = pairCount.get(key) ?? 0;
    if (live !== count) {
      if (live > 0) heap.push(live, key);
      continue;
    }
    if (count < opts.minFrequency) break;
    const left = Math.floor(key / PAIR_STRIDE);
    const right = key - left * PAIR_STRIDE;
    const token = vocab[left]! + vocab[right]!;
    let newId = idOf.get(token);
    if (newId === undefined) {
      newId = vocab.length;
      vocab.push(token);
      idOf.set(token, newId);
      added++;
      if (opts.onProgress && added % progressEvery === 0) opts.onProgress(added, target);
    }
    // a pair can come back when a later merge rebuilds one of its tokens; it keeps its first rank
    if (!merged.has(key)) {
      merged.add(key);
      merges.push([vocab[left]!, vocab[right]!]);
    }

    touched.clear();
    for (const w of wordsWith.get(key) ?? []) {
      const before = words[w]!;
      const after = mergeInWord(before, left, right, newId);
      if (after === before) continue;
      const n = counts[w]!;
      // take the word's old pairs out and its new ones in; only pairs with the new token can grow
      for (let i = 0; i + 1 < before.length; i++) {
        const k = before[i]! * PAIR_STRIDE + before[i + 1]!;
        const c = pairCount.get(k)! - n;
        if (c > 0) pairCount.set(k, c);
        else pairCount.delete(k);
      }
      for (let i = 0; i + 1 < after.length; i++) {
        const k = after[i]! * PAIR_STRIDE + after[i + 1]!;
        pairCount.set(k, (pairCount.get(k) ?? 0) + n);
        if (after[i] === newId || after[i + 1] === newId) {
          touched.add(k);
          let list = wordsWith.get(k);
          if (!list) wordsWith.set(k, (list = []));
          if (list[list.length - 1] !== w) list.push(w);
        }
      }
      words[w] = after;
    }
    wordsWith.delete(key);
    for (const k of touched) {
      const c = pairCount.get(k);
      if (c !== undefined) heap.push(c, k);
    }
  }
  opts.onProgress?.(added, target);
  return merges;
}

/** The word with every (left, right) replaced by `id`, left to right; the same array when there is none. */
function mergeInWord(symbols: Int32Array, left: number, right: number, id: number): Int32Array {
  let out: Int32Array | null = null;
  let n = 0;
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
      if (!out) {
        out = new Int32Array(symbols.length - 1);
        out.set(symbols.subarray(0, i));
        n = i;
      }
      out[n++] = id;
      i++;
    } else if (out) out[n++] = symbols[i]!;
  }
  return out ? out.slice(0, n) : symbols;
}

const BYTE_LEVEL = { add_prefix_space: false, trim_offsets: true, use_regex: true };

function tokenizerJson(vocab: readonly string[], merges: ReadonlyArray<[string, string]>, specialTokens: readonly string[]): object {
  const vocabObject: Record<string, number> = {};
  vocab.forEach((token, id) => (vocabObject[token] = id));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...BYTE_LEVEL },
    post_processor: null,
    decoder: { type: 'ByteLevel', ...BYTE_LEVEL },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: vocabObject,
      // 'left right' strings: byte-level symbols never hold a space, and every reader takes this form
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

function tokenizerConfig(opts: CheckedOptions): object {
  const [first] = opts.specialTokens;
  const addedTokensDecoder: Record<string, object> = {};
  opts.specialTokens.forEach((content, id) => {
    addedTokensDecoder[String(id)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  });
  const config: Record<string, unknown> = {
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: opts.specialTokens.slice(1),
    bos_token: first ?? null,
    eos_token: first ?? null,
    pad_token: first ?? null,
    unk_token: first ?? null,
  };
  if (opts.chatTemplate !== null) config.chat_template = opts.chatTemplate;
  // decode must give the text back: no removing of spaces before punctuation
  config.clean_up_tokenization_spaces = false;
  config.errors = 'replace';
  if (opts.modelMaxLength !== undefined) config.model_max_length = opts.modelMaxLength;
  config.tokenizer_class = 'PreTrainedTokenizerFast';
  return config;
}

/**
 * Writes tokenizer.json and tokenizer_config.json (bos/eos/pad/unk tokens named, chat_template,
 * model_max_length if given) atomically into dir, creating it if needed.
 */
export function saveTrainedTokenizer(dir: string, trained: TrainedTokenizer): void {
  if (typeof dir !== 'string' || dir.length === 0) throw new StrataError('argument', 'saveTrainedTokenizer', 'dir must be a non-empty path');
  if (typeof trained !== 'object' || trained === null || typeof trained.tokenizerJson !== 'object' || typeof trained.tokenizerConfig !== 'object') {
    throw new StrataError('argument', 'saveTrainedTokenizer', 'trained must be { tokenizerJson, tokenizerConfig } as trainByteLevelBpe returns it');
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StrataError('io', dir, `cannot create the directory (${(err as Error).message})`);
  }
  const utf8 = new TextEncoder();
  writeFileAtomic(path.join(dir, 'tokenizer.json'), [utf8.encode(`${stringifyTokenizerJson(trained.tokenizerJson)}\n`)]);
  writeFileAtomic(path.join(dir, 'tokenizer_config.json'), [utf8.encode(`${JSON.stringify(trained.tokenizerConfig, null, 2)}\n`)]);
}

/**
 * JSON with the vocabulary in id order: a plain object would list integer-like tokens ('0', '12')
 * first, whatever their ids.
 */
function stringifyTokenizerJson(json: object): string {
  const model = (json as { model?: { vocab?: unknown } }).model;
  const vocab = model?.vocab;
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) return JSON.stringify(json, null, 2);
  // the vocab is written by hand in id order; a marker string holds its place in the rest
  const vocabSlot = '\u0000vocab\u0000';
  const text = JSON.stringify({ ...json, model: { ...model, vocab: vocabSlot } }, null, 2);
  const entries = Object.entries(vocab as Record<string, number>).sort((a, b) => a[1] - b[1]);
  const body = entries.map(([token, id]) => `      ${JSON.stringify(token)}: ${id}`).join(',\n');
  return text.replace(JSON.stringify(vocabSlot), () => (entries.length === 0 ? '{}' : `{\n${body}\n    }`));
}
