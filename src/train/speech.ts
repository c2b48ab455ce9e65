// Spoken sentences for ASR training: English sentences of ordinary words taken from the embedded
// text corpora, spoken by espeak-ng (a Debian package, run as a child process) at varied speeds,
// pitches and voices. Everything is a pure function of the settings and a seed, so a run (or a
// test) rebuilds exactly the same data.
//
// Sentences. The corpora are cut into clauses at sentence and clause punctuation (. ! ? ; : and
// parentheses, quotes, dashes); a clause is kept when it has minWords..maxWords words and every
// word is "ordinary": letters with at most one inner apostrophe, and among the `vocabularyWords`
// most frequent words of the corpora. Targets are normalised (lower case, no punctuation, single
// spaces: normalizeTranscript), which is also how the WER is measured. Clauses are deduplicated
// and split into training and held-out sentences by a seeded hash of the text, so a held-out
// sentence never appears in training; held-out sentences whose words training never hears are
// dropped (the test is of new sentences, not of new words).
//
// Audio. Each utterance's voice, speed (words per minute) and pitch are drawn from a hash of
// (seed, sentence), so the same sentence is always spoken the same way in a run. The WAV espeak-ng
// writes to stdout (22,050 Hz, 16-bit, its size fields left at 0x7fffffff because it streams) is
// given its true sizes and written atomically to the cache folder, named by a hash of everything
// that shapes the sound (text, voice, speed, pitch, espeak-ng's version): a cached file is never
// stale, and an interrupted synthesis leaves no half file.

import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readWav } from '../io/audio.js';
import { toMono16k } from '../audio/resample.js';
import { type EmbeddedCorpus, EMBEDDED_CORPORA, readDocuments } from './sources.js';

/** Lower case, apostrophes kept inside words, every other character a space, spaces collapsed. */
export function normalizeTranscript(text: string): string {
  return text
    .toLowerCase()
    .replace(/[’‘`]/g, "'")
    .replace(/[^a-z0-9']+/g, ' ')
    .replace(/(^|\s)'+|'+(?=\s|$)/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

const WORD = /^[a-z]+(?:'[a-z]+)?$/;

export interface SentencePoolOptions {
  /** embedded corpora to draw from (default moby-dick and sotu: prose, where spam-assassin is mail headers) */
  corpora?: readonly EmbeddedCorpus[];
  minWords?: number;
  maxWords?: number;
  /** how many of the corpora's most frequent words count as ordinary (default 2000) */
  vocabularyWords?: number;
}

export interface SentencePool {
  /** the ordinary words, most frequent first */
  words: string[];
  /** distinct normalised sentences, in a fixed order (sorted) */
  sentences: string[];
}

const poolCache = new Map<string, SentencePool>();

function clausesOf(text: string): string[] {
  // split at sentence and clause marks; commas stay inside a clause (they are only pauses)
  return text
    .replace(/\s+/g, ' ')
    .split(/[.!?;:()[\]{}"“”]|--|—|\s'|'\s/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The ordinary-word sentences of the embedded corpora (see the file header). */
export function sentencePool(options: SentencePoolOptions = {}): SentencePool {
  const corpora = options.corpora ?? ['moby-dick', 'sotu'];
  const minWords = options.minWords ?? 3;
  const maxWords = options.maxWords ?? 12;
  const vocabularyWords = options.vocabularyWords ?? 2000;
  for (const c of corpora) if (!(EMBEDDED_CORPORA as readonly string[]).includes(c)) throw new StrataError('argument', 'sentencePool', `unknown corpus '${c}' (known: ${EMBEDDED_CORPORA.join(', ')})`);
  if (!corpora.length) throw new StrataError('argument', 'sentencePool', 'corpora must name at least one corpus');
  if (!Number.isInteger(minWords) || minWords < 1 || !Number.isInteger(maxWords) || maxWords < minWords) throw new StrataError('argument', 'sentencePool', `need 1 <= minWords <= maxWords, got ${minWords}..${maxWords}`);
  if (!Number.isInteger(vocabularyWords) || vocabularyWords < 1) throw new StrataError('argument', 'sentencePool', `vocabularyWords must be an integer >= 1, got ${vocabularyWords}`);
  const key = JSON.stringify([corpora, minWords, maxWords, vocabularyWords]);
  const hit = poolCache.get(key);
  if (hit) return hit;

  const clauses: string[][] = [];
  const counts = new Map<string, number>();
  for (const corpus of corpora) {
    for (const doc of readDocuments(`corpus:${corpus}`)) {
      for (const clause of clausesOf(doc.text)) {
        // a clause with digits, hyphens or other marks is not plain speech: skipped whole
        if (/[^A-Za-z',’\s]/.test(clause)) continue;
        const words = normalizeTranscript(clause).split(' ').filter(Boolean);
        if (!words.every((w) => WORD.test(w))) continue;
        for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
        if (words.length >= minWords && words.length <= maxWords) clauses.push(words);
      }
    }
  }
  // most frequent first; ties in code-unit order so every machine agrees
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([w]) => w);
  const words = ranked.slice(0, vocabularyWords);
  const ordinary = new Set(words);
  const sentences = [...new Set(clauses.filter((ws) => ws.every((w) => ordinary.has(w))).map((ws) => ws.join(' ')))].sort();
  const pool = { words, sentences };
  poolCache.set(key, pool);
  return pool;
}

/** A number in [0, 1) from a hash of the parts: the same parts give the same number everywhere. */
export function hashUniform(...parts: (string | number)[]): number {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

export interface SentenceSplit {
  train: string[];
  heldOut: string[];
}

/**
 * Splits sentences into training and held-out ones by a seeded hash of each sentence (about
 * `heldOutFraction` held out), then drops held-out sentences with a word training lacks.
 */
export function splitSentences(sentences: readonly string[], options: { heldOutFraction: number; seed: number }): SentenceSplit {
  const { heldOutFraction, seed } = options;
  if (!(heldOutFraction > 0 && heldOutFraction < 1)) throw new StrataError('argument', 'splitSentences', `heldOutFraction must be in (0, 1), got ${heldOutFraction}`);
  const train: string[] = [];
  const candidates: string[] = [];
  for (const s of sentences) (hashUniform('split', seed, s) < heldOutFraction ? candidates : train).push(s);
  const heard = new Set(train.flatMap((s) => s.split(' ')));
  return { train, heldOut: candidates.filter((s) => s.split(' ').every((w) => heard.has(w))) };
}

/** How an utterance is spoken. */
export interface VoiceSettings {
  /** an espeak-ng voice, with an optional +variant ('en-us', 'en-gb+f2') */
  voice: string;
  /** words per minute */
  speed: number;
  /** 0..99 */
  pitch: number;
}

export interface SpeechVariation {
  voices: readonly string[];
  /** inclusive range of words per minute */
  speed: readonly [number, number];
  /** inclusive range of espeak-ng pitch (0..99) */
  pitch: readonly [number, number];
}

export const DEFAULT_SPEECH_VARIATION: SpeechVariation = {
  voices: ['en-us', 'en-gb', 'en-us+f2', 'en-gb+m3'],
  speed: [140, 190],
  pitch: [30, 70],
};

/** Checks voice names and the speed and pitch ranges. */
export function checkVariation(v: SpeechVariation): void {
  const op = 'speech';
  if (!v.voices.length) throw new StrataError('argument', op, 'voices must name at least one espeak-ng voice');
  for (const voice of v.voices) if (!/^[A-Za-z0-9_-]+(\+[A-Za-z0-9_-]+)?$/.test(voice)) throw new StrataError('argument', op, `voice '${voice}' is not an espeak-ng voice name (e.g. en-us or en-gb+f2)`);
  const [s0, s1] = v.speed;
  if (!(Number.isInteger(s0) && Number.isInteger(s1) && s0 >= 80 && s1 <= 450 && s0 <= s1)) throw new StrataError('argument', op, `speed must be an integer range within [80, 450] words per minute, got ${s0}..${s1}`);
  const [p0, p1] = v.pitch;
  if (!(Number.isInteger(p0) && Number.isInteger(p1) && p0 >= 0 && p1 <= 99 && p0 <= p1)) throw new StrataError('argument', op, `pitch must be an integer range within [0, 99], got ${p0}..${p1}`);
}

/** The voice, speed and pitch of one sentence (its `rendition`-th spoken version) in a run with this seed. */
export function voiceFor(sentence: string, seed: number, variation: SpeechVariation = DEFAULT_SPEECH_VARIATION, rendition = 0): VoiceSettings {
  const pick = (what: string, lo: number, hi: number) => lo + Math.floor(hashUniform(what, seed, rendition, sentence) * (hi - lo + 1));
  return {
    voice: variation.voices[pick('voice', 0, variation.voices.length - 1)]!,
    speed: pick('speed', variation.speed[0], variation.speed[1]),
    pitch: pick('pitch', variation.pitch[0], variation.pitch[1]),
  };
}

let espeakVersionCache: string | null | undefined;

/** espeak-ng's version line, or null when it is not installed. */
export function espeakVersion(): string | null {
  if (espeakVersionCache === undefined) {
    try {
      espeakVersionCache = execFileSync('espeak-ng', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
    } catch {
      espeakVersionCache = null;
    }
  }
  return espeakVersionCache;
}

function requireEspeak(): string {
  const v = espeakVersion();
  if (v === null) throw new StrataError('unsupported', 'speech', 'espeak-ng is not installed (Debian: apt-get install espeak-ng); it speaks the ASR training data');
  return v;
}

/** Gives a streamed RIFF/WAVE (size fields 0x7fffffff or 0) its true sizes; the data chunk must be last. */
export function fixStreamedWav(bytes: Buffer, source = 'espeak-ng'): Buffer {
  if (bytes.length < 44 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') throw new StrataError('io', source, 'did not write a RIFF/WAVE stream');
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = bytes.toString('latin1', at, at + 4);
    if (id === 'data') {
      bytes.writeUInt32LE(bytes.length - 8, 4);
      bytes.writeUInt32LE(bytes.length - at - 8, at + 4);
      return bytes;
    }
    at += 8 + bytes.readUInt32LE(at + 4) + (bytes.readUInt32LE(at + 4) & 1);
  }
  throw new StrataError('io', source, 'wrote a WAV without a data chunk');
}

function espeakArgs(text: string, settings: VoiceSettings): string[] {
  requireEspeak();
  if (!text.trim() || text.startsWith('-')) throw new StrataError('argument', 'speak', `the text must be words (not empty, not starting with '-'), got ${JSON.stringify(text.slice(0, 40))}`);
  return ['--stdout', '-v', settings.voice, '-s', String(settings.speed), '-p', String(settings.pitch), text];
}

function espeakFailed(text: string, settings: VoiceSettings, err: unknown): StrataError {
  const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
  return new StrataError('io', 'espeak-ng', `failed to speak ${JSON.stringify(text.slice(0, 40))} with voice ${settings.voice}: ${stderr || (err as Error).message}`);
}

const ESPEAK_OPTIONS = { timeout: 60_000, maxBuffer: 64 << 20, encoding: 'buffer' } as const;

/** Speaks `text` with espeak-ng and returns the WAV bytes (sizes fixed). */
export function speak(text: string, settings: VoiceSettings): Buffer {
  const args = espeakArgs(text, settings);
  let out: Buffer;
  try {
    out = execFileSync('espeak-ng', args, { ...ESPEAK_OPTIONS, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw espeakFailed(text, settings, err);
  }
  return fixStreamedWav(out);
}

/** speak(), without blocking: several syntheses can run at once. */
export function speakAsync(text: string, settings: VoiceSettings): Promise<Buffer> {
  const args = espeakArgs(text, settings);
  return new Promise((resolve, reject) => {
    execFile('espeak-ng', args, ESPEAK_OPTIONS, (err, stdout, stderr) => {
      if (err) reject(espeakFailed(text, settings, Object.assign(err, { stderr })));
      else {
        try {
          resolve(fixStreamedWav(stdout));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
    });
  });
}

/** One spoken sentence of a dataset. */
export interface Utterance {
  text: string;
  settings: VoiceSettings;
  /** the cached WAV */
  file: string;
  /** seconds */
  duration: number;
}

/** The cache file of one utterance: a hash of everything that shapes its sound. */
export function utteranceFile(cacheDir: string, text: string, settings: VoiceSettings): string {
  const key = createHash('sha256').update(JSON.stringify([requireEspeak(), settings.voice, settings.speed, settings.pitch, text])).digest('hex').slice(0, 24);
  return path.join(cacheDir, key.slice(0, 2), `${key}.wav`);
}

function wavSeconds(file: string): number {
  // 16-bit mono PCM at the header's rate: the data size tells the length without decoding
  const head = Buffer.alloc(64);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, 64, 0);
  } finally {
    fs.closeSync(fd);
  }
  const rate = head.readUInt32LE(24);
  const blockAlign = head.readUInt16LE(32);
  const dataAt = head.indexOf('data', 12, 'latin1');
  if (dataAt < 0 || !rate || !blockAlign) throw new StrataError('io', file, 'is not a WAV this cache wrote (no data chunk in its first 64 bytes); delete it to re-synthesize');
  return head.readUInt32LE(dataAt + 4) / blockAlign / rate;
}

export interface SpeechDatasetOptions {
  /** folder of the WAV cache (shared between runs: file names are content hashes) */
  cacheDir: string;
  seed: number;
  variation?: SpeechVariation;
  /** spoken versions of each sentence, each with its own voice, speed and pitch (default 1) */
  renditions?: number;
  /** utterances longer than this many seconds are dropped (they do not fit the encoder's window) */
  maxSeconds?: number;
  /** espeak-ng processes at once (default 4) */
  concurrency?: number;
  /** called after each utterance is ready, with how many are done */
  onProgress?(done: number, total: number): void;
}

/**
 * Spoken versions of `sentences` (`renditions` of each, sentence-major), synthesized (or found in
 * the cache) now, in order; those longer than maxSeconds are left out. `dropped` counts them.
 */
export async function speechDataset(sentences: readonly string[], options: SpeechDatasetOptions): Promise<{ utterances: Utterance[]; dropped: number }> {
  const variation = options.variation ?? DEFAULT_SPEECH_VARIATION;
  checkVariation(variation);
  const maxSeconds = options.maxSeconds ?? Infinity;
  if (!(maxSeconds > 0)) throw new StrataError('argument', 'speechDataset', `maxSeconds must be > 0, got ${maxSeconds}`);
  const renditions = options.renditions ?? 1;
  if (!Number.isInteger(renditions) || renditions < 1) throw new StrataError('argument', 'speechDataset', `renditions must be an integer >= 1, got ${renditions}`);
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new StrataError('argument', 'speechDataset', `concurrency must be an integer >= 1, got ${concurrency}`);
  const items = sentences.flatMap((text) =>
    Array.from({ length: renditions }, (_, k) => {
      const settings = voiceFor(text, options.seed, variation, k);
      return { text, settings, file: utteranceFile(options.cacheDir, text, settings) };
    }),
  );
  // synthesize what the cache lacks, `concurrency` at a time; each file appears whole or not at all
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      if (!fs.existsSync(item.file)) {
        const wav = await speakAsync(item.text, item.settings);
        fs.mkdirSync(path.dirname(item.file), { recursive: true });
        writeFileAtomic(item.file, [wav]);
      }
      options.onProgress?.(++done, items.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const utterances: Utterance[] = [];
  let dropped = 0;
  for (const item of items) {
    const duration = wavSeconds(item.file);
    if (duration <= maxSeconds) utterances.push({ ...item, duration });
    else dropped++;
  }
  return { utterances, dropped };
}

/** The utterance's audio as 16 kHz mono samples. */
export function utteranceSamples(u: Pick<Utterance, 'file'>): Float32Array {
  return toMono16k(readWav(u.file));
}
