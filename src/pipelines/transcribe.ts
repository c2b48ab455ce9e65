// Speech recognition with Whisper: 16 kHz mono samples in, text (and timed segments) out.
//
// Windows. The encoder takes a fixed window (2 x max_source_positions mel frames: 30 s for every
// released Whisper). Audio up to one window is one zero-padded window. Longer audio is cut into
// windows that overlap by 2 x stride (default stride: window / 6, 5 s for 30 s windows): window k
// starts at k x (window - 2 x stride), and the last one reaches the end. Each window is decoded
// on its own (several at once, `batchSize`), with the same language and task: greedily, sampled,
// or (numBeams > 1) by beam search in each window, scored as transformers' generate(num_beams).
//
// Merging. The windows' outputs are joined where they overlap:
//   - text (no timestamps): the tokens of each window are aligned with the tail of the previous
//     window's tokens. Each overlap length k (1 .. the shorter of the two) is scored by comparing
//     the previous window's last k tokens with the next window's first k, position by position:
//     score = matches - mismatches; the best score wins (ties: the longer overlap). With a score of
//     at least 2 the overlap is cut in its middle: the first half comes from the previous window,
//     the second from the next one (a window is least reliable near its own edges, where words are
//     cut). Otherwise the two are simply concatenated.
//   - timestamps: each window owns the stretch of audio closer to its centre than to its
//     neighbours' (its start + stride .. its end - stride; the first window from 0, the last to
//     the end); a segment is kept by the window that owns its midpoint, with times shifted by the
//     window's start. The text is the kept segments' texts in order (each segment's text trimmed;
//     the whole text joins them with the spaces the tokenizer decoded).
//
// Language: given (a code, a name or a token), or detected once, from the first window, as the
// most likely language token after <|startoftranscript|> (as Whisper does).

import path from 'node:path';
import { existsSync } from 'node:fs';
import { StrataError } from '../errors.js';
import { logMelSpectrogram } from '../audio/mel.js';
import { WHISPER_SAMPLE_RATE } from '../audio/resample.js';
import { ConfigReader, type JsonObject, readJsonObject } from '../io/config.js';
import { loadModel } from '../models/load.js';
import { type WhisperDecodingConfig, type WhisperTask, decoderPrompt, decodingRules, resolveLanguage, timedSegments, whisperDecodingConfig } from '../models/whisper/tokens.js';
import { WhisperForConditionalGeneration } from '../models/whisper/model.js';
import { encodeInputs, generateEncoderDecoder } from '../generation/encoder-decoder.js';
import { beamSearchEncoderDecoder } from '../generation/encoder-decoder-beam.js';
import type { SamplingOptions } from '../generation/sampling.js';
import { type SpeechLanguageModel, loadSpeechLanguageModel, wordDecodingRule } from './speech-lm.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import { stack } from '../tensor/ops/join.js';
import type { Tensor } from '../tensor/tensor.js';
import { loadTokenizer } from '../tokenizers/index.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

/** The STFT of the log-mel front end (preprocessor_config.json of a Whisper checkpoint). */
export interface SpeechFeatureOptions {
  nFft: number;
  hop: number;
}

export const WHISPER_FEATURES: SpeechFeatureOptions = { nFft: 400, hop: 160 };

export interface TranscribeOptions extends Pick<SamplingOptions, 'temperature' | 'topK' | 'topP' | 'seed'> {
  /** a language code, name or token ('en', 'English', '<|en|>'); absent or null: detected */
  language?: string | null;
  /** 'transcribe' (default) or 'translate' (to English) */
  task?: WhisperTask;
  /** timed segments (default false) */
  timestamps?: boolean;
  /** generation_config.json of the checkpoint (token ids, suppressed tokens); null: from the tokenizer and config */
  generationConfig?: JsonObject | null;
  /** the front end's STFT (default Whisper's: n_fft 400, hop 160) */
  features?: SpeechFeatureOptions;
  /** most tokens per window (default: what the decoder's positions leave after the prompt) */
  maxTokens?: number;
  /** seconds each window shares with each neighbour's (default window / 6) */
  strideSeconds?: number;
  /** windows decoded together (default 4) */
  batchSize?: number;
  /** 1 = greedy or sampled (default); more: beam search with that many beams in each window, as generate(num_beams) */
  numBeams?: number;
  /**
   * lexicon and word-LM decoding (speech-lm.ts: a recognizer's `languageModel`): transcripts hold
   * only the LM's words, scored by it; beam search with its numBeams unless numBeams is given.
   * Absent or null: the model's tokens alone.
   */
  languageModel?: SpeechLanguageModel | null;
  signal?: AbortSignal;
}

export interface TranscriptSegment {
  /** seconds from the start of the audio */
  start: number;
  end: number;
  text: string;
}

export interface Transcription {
  text: string;
  /** the language code used (given or detected) */
  language: string;
  /** the detected language's probability among the language tokens; null when the language was given */
  languageProbability: number | null;
  /** with timestamps: the timed segments, in order */
  segments?: TranscriptSegment[];
  /** windows the audio was cut into */
  windows: number;
}

/** A Whisper checkpoint directory loaded for transcription. */
export interface SpeechRecognizer {
  model: WhisperForConditionalGeneration;
  tokenizer: Tokenizer;
  generationConfig: JsonObject | null;
  features: SpeechFeatureOptions;
  dir: string;
  /** DIR/language_model/ when the directory has one (speech-lm.ts) */
  languageModel: SpeechLanguageModel | null;
}

/** Reads the STFT settings of preprocessor_config.json and checks them against the model. */
export function parseSpeechFeatures(raw: JsonObject, file: string, model: WhisperForConditionalGeneration): SpeechFeatureOptions {
  const c = new ConfigReader(raw, file);
  const bins = c.int('feature_size', model.numMelBins, { min: 1 });
  if (bins !== model.numMelBins) c.fail('feature_size', `(${bins}) differs from the model's num_mel_bins (${model.numMelBins})`);
  const rate = c.int('sampling_rate', WHISPER_SAMPLE_RATE, { min: 1 });
  if (rate !== WHISPER_SAMPLE_RATE) c.fail('sampling_rate', `must be ${WHISPER_SAMPLE_RATE} (the rate audio is resampled to), got ${rate}`);
  const nFft = c.int('n_fft', WHISPER_FEATURES.nFft, { min: 2, max: 1 << 16 });
  const hop = c.int('hop_length', WHISPER_FEATURES.hop, { min: 1, max: 1 << 16 });
  const frames = c.int('nb_max_frames', model.inputFrames, { min: 1 });
  if (frames !== model.inputFrames) c.fail('nb_max_frames', `(${frames}) differs from the ${model.inputFrames} frames the encoder takes (2 x max_source_positions)`);
  return { nFft, hop };
}

/** Loads a Whisper directory: the model, tokenizer.json, generation_config.json and preprocessor_config.json. */
export async function loadSpeechRecognizer(dir: string): Promise<SpeechRecognizer> {
  const loaded = await loadModel(dir);
  if (!(loaded.model instanceof WhisperForConditionalGeneration)) {
    throw new StrataError('unsupported', dir, `${loaded.architecture} (${loaded.modelType}) is not a speech-recognition model; transcription needs a Whisper checkpoint`);
  }
  if (!existsSync(path.join(dir, 'tokenizer.json'))) throw new StrataError('io', path.join(dir, 'tokenizer.json'), 'not found: transcription needs the tokenizer to turn tokens into text');
  const tokenizer = await loadTokenizer(dir);
  const pre = path.join(dir, 'preprocessor_config.json');
  const features = existsSync(pre) ? parseSpeechFeatures(readJsonObject(pre), pre, loaded.model) : WHISPER_FEATURES;
  return { model: loaded.model, tokenizer, generationConfig: loaded.generationConfig?.raw ?? null, features, dir, languageModel: loadSpeechLanguageModel(dir) };
}

/** Log-mel features of one window: the samples zero-padded to `windowSamples` -> (M, F). */
export function windowFeatures(samples: Float32Array, windowSamples: number, nMels: number, features: SpeechFeatureOptions): Tensor {
  const padded = new Float32Array(windowSamples);
  padded.set(samples.subarray(0, windowSamples));
  return logMelSpectrogram(padded, { nMels, nFft: features.nFft, hop: features.hop, chunkSeconds: null }); // (M, F)
}

/** Start sample of every window over `length` samples. */
export function windowStarts(length: number, windowSamples: number, strideSamples: number): number[] {
  const step = windowSamples - 2 * strideSamples;
  const starts = [0];
  while (starts[starts.length - 1]! + windowSamples < length) starts.push(starts[starts.length - 1]! + step);
  return starts;
}

/**
 * The best overlap of `next`'s head with `prev`'s tail (at most `maxOverlap` tokens), scored as
 * matches - mismatches; ties go to the longer overlap. Returns the length and its score.
 */
export function alignOverlap(prev: readonly number[], next: readonly number[], maxOverlap = prev.length): { overlap: number; score: number } {
  let best = { overlap: 0, score: 0 };
  const limit = Math.min(maxOverlap, prev.length, next.length);
  for (let k = 1; k <= limit; k++) {
    let matches = 0;
    for (let i = 0; i < k; i++) if (prev[prev.length - k + i] === next[i]) matches++;
    const score = 2 * matches - k;
    if (score >= best.score) best = { overlap: k, score };
  }
  return best;
}

/** Joins the tokens of consecutive overlapping windows by the rule in this file's header. */
export function mergeWindowTokens(windows: readonly (readonly number[])[]): number[] {
  if (windows.length === 0) return [];
  let merged = [...windows[0]!];
  let prev: readonly number[] = windows[0]!;
  // how many of merged's last tokens are prev's last tokens (what the next window may overlap)
  let tail = prev.length;
  for (const next of windows.slice(1)) {
    const { overlap, score } = alignOverlap(prev, next, tail);
    if (score >= 2) {
      const half = overlap >> 1;
      merged = merged.slice(0, merged.length - overlap + half).concat(next.slice(half));
      tail = next.length - half;
    } else {
      merged = merged.concat(next);
      tail = next.length;
    }
    prev = next;
  }
  return merged;
}

export interface LanguageDetection {
  /** the most likely language's code, per row */
  languages: string[];
  /** per row, every language code with its probability (softmax over the language tokens only) */
  probabilities: Map<string, number>[];
}

/** Whisper's language identification: the language tokens' logits after <|startoftranscript|>. */
export function detectLanguage(model: WhisperForConditionalGeneration, settings: WhisperDecodingConfig, encoderStates: Tensor): LanguageDetection {
  const langs = [...settings.tokens.languages];
  if (!settings.multilingual || langs.length === 0) throw new StrataError('unsupported', 'detectLanguage', 'the model has no language tokens (an English-only model)');
  const B = encoderStates.shape[0]!;
  const ids = fromArray(new Int32Array(B).fill(settings.tokens.startOfTranscript), [B, 1], { dtype: 'i32' });
  const logits = noGrad(() => model.decode(ids, model.crossAttention(encoderStates), { lastOnly: true })).toFloat32Array(); // (B, 1, V)
  const V = model.vocabSize;
  const languages: string[] = [];
  const probabilities: Map<string, number>[] = [];
  for (let b = 0; b < B; b++) {
    const row = langs.map(([, id]) => logits[b * V + id]!);
    const max = Math.max(...row);
    const exps = row.map((v) => Math.exp(v - max));
    const total = exps.reduce((a, x) => a + x, 0);
    // the first of equal maxima, as argmax picks it
    const best = row.indexOf(max);
    languages.push(langs[best]![0]);
    probabilities.push(new Map(langs.map(([code], i) => [code, exps[i]! / total])));
  }
  return { languages, probabilities };
}

function decodeText(tokenizer: Tokenizer, ids: readonly number[], timestampBegin: number | null): string {
  const text = timestampBegin === null ? ids : ids.filter((id) => id < timestampBegin);
  return tokenizer.decode(text, { skipSpecialTokens: true });
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Transcribes (or translates to English) 16 kHz mono audio with a Whisper model. */
export function transcribe(model: WhisperForConditionalGeneration, tokenizer: Tokenizer, samples16k: Float32Array, options: TranscribeOptions = {}): Transcription {
  const op = 'transcribe';
  if (samples16k.length === 0) throw new StrataError('argument', op, 'the audio is empty (zero samples)');
  const settings = whisperDecodingConfig(model.config, options.generationConfig ?? null, tokenizer);
  const features = options.features ?? WHISPER_FEATURES;
  const windowSamples = model.inputFrames * features.hop;
  const windowSeconds = windowSamples / WHISPER_SAMPLE_RATE;
  const strideSeconds = options.strideSeconds ?? windowSeconds / 6;
  const strideSamples = Math.round(strideSeconds * WHISPER_SAMPLE_RATE);
  if (!(strideSamples >= 0) || 2 * strideSamples >= windowSamples) {
    throw new StrataError('argument', op, `strideSeconds must be >= 0 and less than half the ${windowSeconds} s window, got ${strideSeconds}`);
  }
  const batchSize = options.batchSize ?? 4;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new StrataError('argument', op, `batchSize must be a positive integer, got ${batchSize}`);
  const lm = options.languageModel ?? null;
  const numBeams = options.numBeams ?? lm?.numBeams ?? 1;
  if (lm && (options.temperature ?? 0) > 0) throw new StrataError('argument', op, `decoding with a language model is greedy or beam search; it takes no temperature (got ${options.temperature})`);
  if (!Number.isInteger(numBeams) || numBeams < 1 || numBeams > 64) throw new StrataError('argument', op, `numBeams must be an integer in [1, 64], got ${numBeams}`);
  if (numBeams > 1 && (options.temperature ?? 0) > 0) throw new StrataError('argument', op, `beam search (numBeams ${numBeams}) is deterministic; it takes no temperature (got ${options.temperature})`);
  const timestamps = options.timestamps ?? false;
  const starts = windowStarts(samples16k.length, windowSamples, strideSamples);

  let language = options.language ? resolveLanguage(settings, options.language) : settings.multilingual ? null : 'en';
  let languageProbability: number | null = null;
  const perWindow: number[][] = [];
  for (let w = 0; w < starts.length; w += batchSize) {
    const group = starts.slice(w, w + batchSize);
    const feats = stack(group.map((s) => windowFeatures(samples16k.subarray(s, s + windowSamples), windowSamples, model.numMelBins, features))); // (B, M, F)
    const states = encodeInputs(model, feats); // (B, S, C)
    if (language === null) {
      const first = states.slice(0, 0, 1);
      const detected = detectLanguage(model, settings, first);
      language = detected.languages[0]!;
      languageProbability = detected.probabilities[0]!.get(language)!;
    }
    const prompt = decoderPrompt(settings, { language, task: options.task, timestamps });
    const room = Math.min(settings.maxLength, model.maxPositions) - prompt.length;
    const maxTokens = options.maxTokens ?? room;
    if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > room) throw new StrataError('argument', op, `maxTokens must be an integer in [1, ${room}] (the decoder's positions after a ${prompt.length}-token prompt), got ${maxTokens}`);
    const prompts = group.map(() => prompt);
    const stopTokens = [settings.tokens.endOfText];
    const rules = lm ? [...decodingRules(settings, timestamps), wordDecodingRule(tokenizer, model.vocabSize, settings.tokens.endOfText, lm)] : decodingRules(settings, timestamps);
    const results =
      numBeams > 1
        ? beamSearchEncoderDecoder(model, states, prompts, { numBeams, maxTokens, stopTokens, rules, signal: options.signal }).map((h) => h[0]!)
        : generateEncoderDecoder(model, states, prompts, {
            maxTokens,
            stopTokens,
            rules,
            temperature: options.temperature ?? 0,
            topK: options.topK,
            topP: options.topP,
            seed: options.seed,
            signal: options.signal,
          });
    if (results.some((r) => r.finishReason === 'abort')) throw new StrataError('argument', op, 'aborted');
    perWindow.push(...results.map((r) => r.tokens));
  }
  const lang = language!;
  const tb = settings.tokens.timestampBegin;
  if (!timestamps || tb === null) {
    const textOnly = perWindow.map((t) => (tb === null ? t : t.filter((id) => id < tb)));
    return { text: decodeText(tokenizer, mergeWindowTokens(textOnly), tb).trim(), language: lang, languageProbability, windows: starts.length };
  }
  const total = samples16k.length / WHISPER_SAMPLE_RATE;
  const segments: TranscriptSegment[] = [];
  // the decoded texts keep their leading spaces, so joining them spaces words as the tokenizer does
  const pieces: string[] = [];
  perWindow.forEach((tokens, w) => {
    const offset = starts[w]! / WHISPER_SAMPLE_RATE;
    const ownFrom = w === 0 ? -Infinity : offset + strideSamples / WHISPER_SAMPLE_RATE;
    const ownTo = w === starts.length - 1 ? Infinity : offset + (windowSamples - strideSamples) / WHISPER_SAMPLE_RATE;
    const windowEnd = Math.min(windowSeconds, total - offset);
    for (const seg of timedSegments(tokens, tb, windowEnd)) {
      const start = offset + seg.start;
      const end = offset + Math.max(seg.start, seg.end);
      const mid = (start + end) / 2;
      if (mid < ownFrom || mid >= ownTo) continue;
      const text = decodeText(tokenizer, seg.tokens, tb);
      if (!text.trim()) continue;
      pieces.push(text);
      segments.push({ start: round2(start), end: round2(end), text: text.trim() });
    }
  });
  return { text: pieces.join('').trim(), language: lang, languageProbability, segments, windows: starts.length };
}
