// Lexicon and word language-model decoding for encoder-decoder models (speech recognition): the
// classic ASR decoder (Kaldi's lexicon + n-gram, wav2vec2 + KenLM) as a LogitsRule, so greedy
// search and beam search (encoder-decoder-beam.ts) both run it.
//
// The transcript is read as space-separated words. At each step, for a candidate token:
//   - every word the token completes (it adds a space after letters, or it is the stop token)
//     must be in the lexicon, and its score gains alpha * ln P_lm(word | previous words) + beta;
//   - the stop token also gains alpha * ln P_lm(</s> | words);
//   - the unfinished word the token leaves must be the start of some lexicon word;
// tokens that break a rule get -Infinity. The additions land on the log-probabilities beam search
// ranks (rules run after the log-softmax there, as transformers' processors do); for greedy
// search on logits they change the argmax exactly as on log-probabilities (a row's log-softmax is
// its logits minus one constant). So alpha weighs the LM against the acoustic model and beta is a
// per-word bonus that offsets the LM's cost of every extra word.
//
// Which tokens are text: a token whose decoded text is non-empty and the stop token; any other
// token (the prompt's special tokens, timestamps) is left alone. Words are matched as written
// (case and punctuation included): the rule suits models trained on normalised transcripts, as
// `strata train-asr` trains them. Only the `candidates` best-scoring tokens of a row are examined
// (the rest get -Infinity): beam search keeps 2 x beams per row, so 64 leaves room, and a
// 51,865-token Whisper vocabulary costs 64 string checks a row, not 51,865. If none of them may
// follow, the whole vocabulary is examined.

import { StrataError } from '../errors.js';
import type { WordLanguageModel } from '../text/ngram.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { LogitsRule } from './encoder-decoder.js';

export interface WordDecodingOptions {
  /** the words transcripts may hold (default: the language model's vocabulary) */
  lexicon?: Iterable<string>;
  /** scores completed words; null: the lexicon alone constrains */
  languageModel: WordLanguageModel | null;
  /** weight of the LM's natural-log probabilities (default 0.5) */
  alpha?: number;
  /** bonus per completed word (default 1) */
  beta?: number;
  /** tokens examined per row and step (default 64) */
  candidates?: number;
}

export const WORD_DECODING_DEFAULTS = { alpha: 0.5, beta: 1, candidates: 64 } as const;

/** The lexicon rule over a tokenizer's vocabulary; `stopToken` ends a transcript. */
export class WordDecodingRule implements LogitsRule {
  private readonly words: ReadonlySet<string>;
  private readonly prefixes = new Set<string>();
  private readonly text: (string | null)[];
  private readonly alpha: number;
  private readonly beta: number;
  private readonly candidates: number;
  private readonly lm: WordLanguageModel | null;

  constructor(tokenizer: Tokenizer, vocabSize: number, readonly stopToken: number, options: WordDecodingOptions) {
    const op = 'WordDecodingRule';
    this.lm = options.languageModel;
    this.alpha = options.alpha ?? WORD_DECODING_DEFAULTS.alpha;
    this.beta = options.beta ?? WORD_DECODING_DEFAULTS.beta;
    this.candidates = options.candidates ?? WORD_DECODING_DEFAULTS.candidates;
    if (!Number.isFinite(this.alpha) || this.alpha < 0) throw new StrataError('argument', op, `alpha must be a number >= 0, got ${this.alpha}`);
    if (!Number.isFinite(this.beta)) throw new StrataError('argument', op, `beta must be a finite number, got ${this.beta}`);
    if (!Number.isInteger(this.candidates) || this.candidates < 1) throw new StrataError('argument', op, `candidates must be an integer >= 1, got ${this.candidates}`);
    const words = new Set(options.lexicon ?? this.lm?.words ?? []);
    for (const w of words) {
      if (!w || /\s/.test(w)) throw new StrataError('argument', op, `lexicon words must be non-empty and hold no spaces, got ${JSON.stringify(w)}`);
      for (let i = 0; i <= w.length; i++) this.prefixes.add(w.slice(0, i));
    }
    if (words.size === 0) throw new StrataError('argument', op, 'the lexicon is empty (give lexicon words or a language model with a vocabulary)');
    this.words = words;
    // each token's text once: a 51,865-token vocabulary decodes in milliseconds
    this.text = Array.from({ length: vocabSize }, (_, id) => {
      if (id === stopToken) return null;
      const t = tokenizer.decode([id], { skipSpecialTokens: true });
      return t.length > 0 ? t : null;
    });
  }

  /** ln P(word | words) scaled and offset, or -Infinity when the word is not in the lexicon. */
  private wordScore(context: readonly string[], word: string): number {
    if (!this.words.has(word)) return -Infinity;
    return (this.lm ? this.alpha * this.lm.logProb(context, word) : 0) + this.beta;
  }

  /** What a token adds to the row's score given its words so far and unfinished word (-Infinity: not allowed). */
  private tokenScore(id: number, done: string[], partial: string, started: boolean): number {
    if (id === this.stopToken) {
      if (!started) return 0; // an empty transcript: Whisper's own rules decide
      if (partial === '') return this.lm ? this.alpha * this.lm.logProb(done, '</s>') : 0;
      const s = this.wordScore(done, partial);
      return s === -Infinity ? s : s + (this.lm ? this.alpha * this.lm.logProb([...done, partial], '</s>') : 0);
    }
    const t = this.text[id]!;
    let bonus = 0;
    let current = partial;
    let context = done; // copied before a word is added to it
    for (const ch of t) {
      if (ch === ' ') {
        if (current === '') {
          // a space with no word before it: only the transcript's leading space
          if (started || context !== done) return -Infinity;
          continue;
        }
        const s = this.wordScore(context, current);
        if (s === -Infinity) return s;
        bonus += s;
        if (context === done) context = [...done];
        context.push(current);
        current = '';
      } else {
        current += ch;
      }
    }
    return this.prefixes.has(current) ? bonus : -Infinity;
  }

  process(scores: Float32Array, tokens: readonly number[], promptLength: number): void {
    let text = '';
    for (let i = promptLength; i < tokens.length; i++) text += this.text[tokens[i]!] ?? '';
    const started = text.length > 0;
    const parts = text.split(' ');
    const partial = parts.pop()!;
    const done = ['<s>', ...parts.filter(Boolean)]; // the LM's context: the first word follows the sentence start
    const n = Math.min(this.text.length, scores.length);
    const isText = (id: number) => this.text[id] !== null || id === this.stopToken;
    const apply = (ids: readonly number[]) => {
      let allowed = 0;
      const add = new Float64Array(ids.length);
      ids.forEach((id, i) => {
        add[i] = this.tokenScore(id, done, partial, started);
        if (add[i]! > -Infinity) allowed++;
      });
      return { allowed, add };
    };
    let examined = topTokens(scores, n, this.candidates, isText);
    const first = apply(examined);
    let add = first.add;
    if (first.allowed === 0 && examined.length === this.candidates) {
      examined = topTokens(scores, n, n, isText);
      add = apply(examined).add;
    }
    // the examined tokens keep their scores plus what the rule adds (-Infinity: not allowed); every other text token is ruled out
    const kept = examined.map((id, i) => scores[id]! + add[i]!);
    for (let id = 0; id < n; id++) if (isText(id)) scores[id] = -Infinity;
    examined.forEach((id, i) => (scores[id] = kept[i]!));
  }
}

/** The ids of the k highest finite scores among ids [0, n) that pass `include`, best first. */
function topTokens(scores: Float32Array, n: number, k: number, include: (id: number) => boolean): number[] {
  if (k >= n) {
    const all: number[] = [];
    for (let id = 0; id < n; id++) if (scores[id]! > -Infinity && include(id)) all.push(id);
    return all.sort((a, b) => scores[b]! - scores[a]!);
  }
  const top: number[] = [];
  let floor = -Infinity; // the lowest score in `top` once it holds k
  for (let id = 0; id < n; id++) {
    const v = scores[id]!;
    if (v === -Infinity || Number.isNaN(v) || (top.length === k && v <= floor) || !include(id)) continue;
    // insertion into a short sorted list: k is small (64)
    let i = top.length === k ? k - 1 : top.length;
    if (top.length < k) top.push(id);
    while (i > 0 && scores[top[i - 1]!]! < v) {
      top[i] = top[i - 1]!;
      i--;
    }
    top[i] = id;
    if (top.length === k) floor = scores[top[k - 1]!]!;
  }
  return top;
}
