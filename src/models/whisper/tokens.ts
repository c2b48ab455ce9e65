// Whisper's special tokens and the rules of its decoding, as transformers' WhisperGenerationMixin
// applies them:
//
//   prompt      <|startoftranscript|> <|lang|> <|transcribe|> or <|translate|> [<|notimestamps|>]
//               (English-only models: <|startoftranscript|> [<|notimestamps|>]);
//   suppress    suppress_tokens never, begin_suppress_tokens not as the first generated token;
//   timestamps  <|notimestamps|> + 1 and every id after it are times, 0.02 s apart. With timestamps
//               on, TimestampRules keeps them in pairs and increasing (see there).
//
// The ids come from generation_config.json (lang_to_id, task_to_id, no_timestamps_token_id,
// decoder_start_token_id, ...) where it has them, else from the tokenizer's vocabulary (the token
// strings), else from config.json. Language detection reads the logits of the language tokens
// after <|startoftranscript|>.

import { StrataError } from '../../errors.js';
import { ConfigReader, type JsonObject } from '../../io/config.js';
import type { WhisperConfig } from './config.js';
import { WHISPER_LANGUAGES, languageCode } from './languages.js';

/** Seconds between timestamp tokens: one encoder position is two 10 ms mel frames. */
export const TIME_PRECISION = 0.02;

export type WhisperTask = 'transcribe' | 'translate';

/** The ids of Whisper's special tokens in one checkpoint's vocabulary; null where it has none. */
export interface WhisperTokenIds {
  endOfText: number;
  startOfTranscript: number;
  transcribe: number | null;
  translate: number | null;
  noTimestamps: number | null;
  /** <|0.00|>, the first timestamp token (noTimestamps + 1); null without timestamp tokens */
  timestampBegin: number | null;
  startOfPrev: number | null;
  noSpeech: number | null;
  /** language code ('en', 'haw') -> token id, in vocabulary order */
  languages: ReadonlyMap<string, number>;
}

/** Everything decoding needs to know about a checkpoint's tokens. */
export interface WhisperDecodingConfig {
  tokens: WhisperTokenIds;
  vocabSize: number;
  /** never generated */
  suppressTokens: readonly number[];
  /** not generated as the first token */
  beginSuppressTokens: readonly number[];
  /** the first timestamp may be at most this many steps in (50 = 1 s in released models); null = no limit */
  maxInitialTimestampIndex: number | null;
  /** false for the English-only checkpoints (no language or task tokens in the prompt) */
  multilingual: boolean;
  /** longest decoder sequence generation_config.json allows (max_length), within max_target_positions */
  maxLength: number;
}

/** The part of a tokenizer the settings read: ids of token strings. */
export interface TokenLookup {
  tokenToId(token: string): number | undefined;
}

/**
 * Reads the decoding settings of a checkpoint from its config, its generation_config.json (the
 * file's JSON, or null) and its tokenizer (or null). Every id is checked against the vocabulary.
 */
export function whisperDecodingConfig(config: WhisperConfig, generation: JsonObject | null, tokenizer: TokenLookup | null, file = 'generation_config.json'): WhisperDecodingConfig {
  const g = new ConfigReader(generation ?? {}, file);
  const V = config.vocab_size;
  const check = (what: string, id: number | null | undefined): number | null => {
    if (id === null || id === undefined) return null;
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new StrataError('io', file, `${what} is token ${id}, outside the model's vocabulary [0, ${V})`);
    return id;
  };
  const fromTokenizer = (...names: string[]): number | null => {
    for (const n of names) {
      const id = tokenizer?.tokenToId(n);
      if (id !== undefined) return id;
    }
    return null;
  };
  const field = (name: string) => (g.has(name) ? g.int(name, 0, { min: 0 }) : null);
  const eosList = g.intOrInts('eos_token_id');
  const endOfText = check('<|endoftext|>', eosList?.[0] ?? fromTokenizer('<|endoftext|>') ?? config.eos_token_id);
  if (endOfText === null) throw new StrataError('io', file, 'has no eos_token_id, and neither the tokenizer nor config.json names <|endoftext|>');
  const startOfTranscript = check('<|startoftranscript|>', field('decoder_start_token_id') ?? fromTokenizer('<|startoftranscript|>') ?? config.decoder_start_token_id)!;
  const tasks = g.object('task_to_id');
  const task = (name: WhisperTask) => check(`the ${name} task`, tasks?.has(name) ? tasks.int(name, 0) : fromTokenizer(`<|${name}|>`));
  const noTimestamps = check('<|notimestamps|>', field('no_timestamps_token_id') ?? fromTokenizer('<|notimestamps|>'));
  const languages = new Map<string, number>();
  const langs = g.object('lang_to_id');
  if (langs) {
    for (const [token, id] of Object.entries(langs.raw)) {
      const code = /^<\|([^|]+)\|>$/.exec(token)?.[1];
      if (!code || typeof id !== 'number') return langs.fail(token, `must map a language token '<|xx|>' to its id, got ${JSON.stringify(id)}`);
      languages.set(code, check(`language token ${token}`, id)!);
    }
  } else if (tokenizer) {
    for (const code of Object.keys(WHISPER_LANGUAGES)) {
      const id = tokenizer.tokenToId(`<|${code}|>`);
      if (id !== undefined) languages.set(code, check(`language token <|${code}|>`, id)!);
    }
  }
  const sorted = new Map([...languages].sort((a, b) => a[1] - b[1]));
  const multilingual = g.has('is_multilingual') ? g.bool('is_multilingual', true) : sorted.size > 0;
  const list = (name: string, legacy: number[] | null): number[] => {
    const ids = g.intOrInts(name) ?? legacy ?? [];
    for (const id of ids) check(`${name} entry`, id);
    return ids;
  };
  const timestampBegin = noTimestamps !== null && noTimestamps + 1 < V ? noTimestamps + 1 : null;
  return {
    tokens: {
      endOfText,
      startOfTranscript,
      transcribe: task('transcribe'),
      translate: task('translate'),
      noTimestamps,
      timestampBegin,
      startOfPrev: check('<|startofprev|>', field('prev_sot_token_id') ?? fromTokenizer('<|startofprev|>')),
      noSpeech: check('<|nospeech|>', fromTokenizer('<|nospeech|>', '<|nocaptions|>')),
      languages: sorted,
    },
    vocabSize: V,
    suppressTokens: list('suppress_tokens', config.suppress_tokens),
    beginSuppressTokens: list('begin_suppress_tokens', config.begin_suppress_tokens),
    maxInitialTimestampIndex: g.has('max_initial_timestamp_index') ? g.int('max_initial_timestamp_index', 0, { min: 0 }) : null,
    multilingual: multilingual && sorted.size > 0,
    maxLength: Math.min(g.has('max_length') ? g.int('max_length', 0, { min: 1 }) : config.max_target_positions, config.max_target_positions),
  };
}

/** The code of the language `words` name ('en', 'English', '<|en|>') among the model's languages. */
export function resolveLanguage(settings: WhisperDecodingConfig, words: string): string {
  const langs = settings.tokens.languages;
  const direct = words.trim().toLowerCase();
  const code = langs.has(direct) ? direct : languageCode(words);
  if (!settings.multilingual) {
    if (code === 'en') return 'en';
    throw new StrataError('argument', 'whisper', `this is an English-only model; it cannot take language '${words.slice(0, 40)}'`);
  }
  if (code === null || !langs.has(code)) {
    const known = [...langs.keys()];
    const shown = known.slice(0, 12).join(', ') + (known.length > 12 ? `, … (${known.length} in all)` : '');
    throw new StrataError('argument', 'whisper', `language '${words.slice(0, 40)}' is not one this model knows (${shown})`);
  }
  return code;
}

export interface PromptOptions {
  /** a language code the model knows (resolveLanguage); required by multilingual models */
  language?: string | null;
  task?: WhisperTask;
  timestamps?: boolean;
}

/** The decoder prompt: <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>]. */
export function decoderPrompt(settings: WhisperDecodingConfig, options: PromptOptions = {}): number[] {
  const t = settings.tokens;
  const task = options.task ?? 'transcribe';
  const prompt = [t.startOfTranscript];
  if (settings.multilingual) {
    const language = options.language;
    if (!language) throw new StrataError('argument', 'whisper', 'a multilingual model needs the language for its prompt (given, or detected first)');
    const id = t.languages.get(language);
    if (id === undefined) throw new StrataError('argument', 'whisper', `language '${language.slice(0, 40)}' is not one this model knows`);
    const taskId = t[task];
    if (taskId === null) throw new StrataError('unsupported', 'whisper', `the vocabulary has no <|${task}|> token`);
    prompt.push(id, taskId);
  } else {
    if (task === 'translate') throw new StrataError('argument', 'whisper', 'an English-only model cannot translate (it has no <|translate|> token)');
    if (options.language && options.language !== 'en') throw new StrataError('argument', 'whisper', `this is an English-only model; it cannot take language '${options.language.slice(0, 40)}'`);
  }
  if (options.timestamps) {
    if (t.timestampBegin === null) throw new StrataError('unsupported', 'whisper', 'the vocabulary has no timestamp tokens (no <|notimestamps|> followed by <|0.00|>)');
  } else if (t.noTimestamps !== null) prompt.push(t.noTimestamps);
  return prompt;
}

/** Rules that change one row of next-token logits in place (the shape every logits processor has). */
export interface TokenRules {
  /** `tokens` are the row's decoder ids so far, prompt included; generation began at `promptLength` */
  process(logits: Float32Array, tokens: readonly number[], promptLength: number): void;
}

/** suppress_tokens: these ids are never generated. */
export class SuppressTokens implements TokenRules {
  constructor(readonly ids: readonly number[]) {}

  process(logits: Float32Array): void {
    for (const id of this.ids) if (id < logits.length) logits[id] = -Infinity;
  }
}

/** begin_suppress_tokens: these ids are not the first generated token (a bare space, <|endoftext|>). */
export class SuppressAtBegin implements TokenRules {
  constructor(readonly ids: readonly number[]) {}

  process(logits: Float32Array, tokens: readonly number[], promptLength: number): void {
    if (tokens.length !== promptLength) return;
    for (const id of this.ids) if (id < logits.length) logits[id] = -Infinity;
  }
}

/**
 * Whisper's timestamp grammar, with ids at or past `timestampBegin` being times:
 *   - <|notimestamps|> is never generated;
 *   - the first token is a timestamp, at most maxInitialTimestampIndex steps in;
 *   - timestamps come in pairs: after text and one timestamp (a segment's end) comes another
 *     timestamp (the next start) or <|endoftext|>, never text; after two timestamps comes text;
 *   - times never decrease: a segment's end may equal the next start, every other timestamp is
 *     later than the last one;
 *   - when the timestamps together are more likely than the most likely text token, a timestamp
 *     is generated (text is masked).
 */
export class TimestampRules implements TokenRules {
  constructor(
    readonly timestampBegin: number,
    readonly noTimestamps: number,
    readonly endOfText: number,
    readonly maxInitialTimestampIndex: number | null,
  ) {}

  process(logits: Float32Array, tokens: readonly number[], promptLength: number): void {
    const tb = this.timestampBegin;
    const V = logits.length;
    const mask = (from: number, to: number) => logits.fill(-Infinity, Math.max(0, from), Math.min(V, to));
    logits[this.noTimestamps] = -Infinity;
    const n = tokens.length - promptLength;
    const lastIsTime = n >= 1 && tokens[tokens.length - 1]! >= tb;
    const beforeLastIsTime = n < 2 || tokens[tokens.length - 2]! >= tb;
    if (lastIsTime) {
      if (beforeLastIsTime) mask(tb, V); // a pair is complete: text next
      else mask(0, this.endOfText); // a segment ended: its partner timestamp or the end
    }
    let lastTime = -1;
    for (let i = tokens.length - 1; i >= promptLength; i--) {
      if (tokens[i]! >= tb) {
        lastTime = tokens[i]!;
        break;
      }
    }
    // an end timestamp may repeat as the next start; anything else moves forward
    if (lastTime >= 0) mask(tb, lastIsTime && !beforeLastIsTime ? lastTime : lastTime + 1);
    if (n === 0) {
      mask(0, tb);
      if (this.maxInitialTimestampIndex !== null) mask(tb + this.maxInitialTimestampIndex + 1, V);
    }
    // log-probability mass of all timestamps against the best text token
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[i]! > max) max = logits[i]!;
    if (max === -Infinity) return;
    let timeMass = 0;
    let bestText = -Infinity;
    for (let i = 0; i < V; i++) {
      const v = logits[i]!;
      if (i >= tb) timeMass += Math.exp(v - max);
      else if (v > bestText) bestText = v;
    }
    if (timeMass > 0 && Math.log(timeMass) + max > bestText) mask(0, tb);
  }
}

/** The rules transformers applies for these settings, in its order. */
export function decodingRules(settings: WhisperDecodingConfig, timestamps: boolean): TokenRules[] {
  const rules: TokenRules[] = [];
  if (settings.beginSuppressTokens.length) rules.push(new SuppressAtBegin(settings.beginSuppressTokens));
  if (settings.suppressTokens.length) rules.push(new SuppressTokens(settings.suppressTokens));
  const t = settings.tokens;
  if (timestamps && t.timestampBegin !== null && t.noTimestamps !== null) rules.push(new TimestampRules(t.timestampBegin, t.noTimestamps, t.endOfText, settings.maxInitialTimestampIndex));
  return rules;
}

/** One timed piece of a window's output: text tokens between a start and an end timestamp. */
export interface TimedTokens {
  /** seconds from the start of the window */
  start: number;
  end: number;
  /** the text tokens (no timestamps) */
  tokens: number[];
}

/**
 * Splits generated tokens (prompt excluded) at their timestamps: <|t0|> text <|t1|> is one segment
 * from t0 to t1; a pair <|t1|><|t2|> ends one and starts the next. Text before any timestamp
 * starts at the previous end (0 at first); text left open at the end (the output stopped before
 * its closing timestamp) ends at `windowSeconds`. Segments without text are dropped.
 */
export function timedSegments(tokens: readonly number[], timestampBegin: number, windowSeconds: number, endOfText?: number): TimedTokens[] {
  const out: TimedTokens[] = [];
  let start = 0;
  let open: number[] = [];
  let lastTime = 0;
  for (const id of tokens) {
    if (id === endOfText) break;
    if (id >= timestampBegin) {
      const time = (id - timestampBegin) * TIME_PRECISION;
      if (open.length) out.push({ start, end: time, tokens: open });
      open = [];
      start = time;
      lastTime = time;
    } else open.push(id);
  }
  if (open.length) out.push({ start, end: Math.max(windowSeconds, lastTime), tokens: open });
  return out;
}
