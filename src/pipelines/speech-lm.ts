// The word language model a speech-recognition directory may carry, in DIR/language_model/ (the
// folder Hugging Face's Wav2Vec2ProcessorWithLM repositories use for theirs):
//
//   language_model/lm.arpa      an n-gram model in ARPA text (SRILM's and KenLM's format); its
//                               vocabulary is the lexicon transcripts are held to
//   language_model/attrs.json   {"alpha": 0.5, "beta": 1.0, "num_beams": 4}: the LM weight, the
//                               per-word bonus, and the beams transcription uses by default
//
// `strata train-asr` writes one trained on its training transcripts (never the held-out ones);
// transcription decodes with it (beam search + the lexicon/LM rule of generation/word-decoding.ts)
// unless told not to. See that file for what alpha and beta do.

import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { ConfigReader, readJsonObject } from '../io/config.js';
import { WORD_DECODING_DEFAULTS, WordDecodingRule } from '../generation/word-decoding.js';
import { type WordLanguageModel, parseArpa, toArpa } from '../text/ngram.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

export const SPEECH_LM_DIR = 'language_model';
export const SPEECH_LM_FILE = 'lm.arpa';
export const SPEECH_LM_ATTRS = 'attrs.json';

/** A word LM and how transcription weighs it. */
export interface SpeechLanguageModel {
  lm: WordLanguageModel;
  alpha: number;
  beta: number;
  /** beams transcription uses with this LM unless told otherwise */
  numBeams: number;
  /** where it was read from ('' when built in memory) */
  source: string;
}

export const SPEECH_LM_DEFAULTS = { alpha: WORD_DECODING_DEFAULTS.alpha, beta: WORD_DECODING_DEFAULTS.beta, numBeams: 4 } as const;

/** DIR/language_model/ read, or null when DIR has none. A present but unreadable one is an error, not silently skipped. */
export function loadSpeechLanguageModel(dir: string): SpeechLanguageModel | null {
  const folder = path.join(dir, SPEECH_LM_DIR);
  if (!fs.existsSync(folder)) return null;
  const file = path.join(folder, SPEECH_LM_FILE);
  if (!fs.existsSync(file)) throw new StrataError('io', folder, `has no ${SPEECH_LM_FILE} (the ARPA n-gram model); remove the folder to transcribe without a language model`);
  const lm = parseArpa(fs.readFileSync(file, 'utf8'), file);
  const attrsFile = path.join(folder, SPEECH_LM_ATTRS);
  let { alpha, beta, numBeams }: { alpha: number; beta: number; numBeams: number } = SPEECH_LM_DEFAULTS;
  if (fs.existsSync(attrsFile)) {
    const c = new ConfigReader(readJsonObject(attrsFile), attrsFile);
    alpha = c.number('alpha', alpha, { min: 0 });
    beta = c.number('beta', beta);
    numBeams = c.int('num_beams', numBeams, { min: 1, max: 64 });
  }
  return { lm, alpha, beta, numBeams, source: folder };
}

/** Writes DIR/language_model/ (the ARPA file and attrs.json), each file atomically. */
export function saveSpeechLanguageModel(dir: string, slm: Omit<SpeechLanguageModel, 'source'>): void {
  const folder = path.join(dir, SPEECH_LM_DIR);
  fs.mkdirSync(folder, { recursive: true });
  writeFileAtomic(path.join(folder, SPEECH_LM_FILE), [Buffer.from(toArpa(slm.lm))]);
  const attrs = { alpha: slm.alpha, beta: slm.beta, num_beams: slm.numBeams };
  writeFileAtomic(path.join(folder, SPEECH_LM_ATTRS), [Buffer.from(`${JSON.stringify(attrs, null, 2)}\n`)]);
}

const rules = new WeakMap<Tokenizer, WeakMap<SpeechLanguageModel, WordDecodingRule>>();

/** The lexicon/LM decoding rule of a tokenizer and LM (built once per pair: it decodes every token's text). */
export function wordDecodingRule(tokenizer: Tokenizer, vocabSize: number, stopToken: number, slm: SpeechLanguageModel): WordDecodingRule {
  let byLm = rules.get(tokenizer);
  if (!byLm) rules.set(tokenizer, (byLm = new WeakMap()));
  let rule = byLm.get(slm);
  if (!rule || rule.stopToken !== stopToken) {
    rule = new WordDecodingRule(tokenizer, vocabSize, stopToken, { languageModel: slm.lm, alpha: slm.alpha, beta: slm.beta });
    byLm.set(slm, rule);
  }
  return rule;
}
