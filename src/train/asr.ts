// Speech recognition trained from scratch: a small WhisperForConditionalGeneration learns to
// transcribe espeak-ng speech (speech.ts) with teacher-forced cross-entropy.
//
// Window. Whisper's encoder takes a fixed window of 2 x max_source_positions mel frames. Here the
// window is short (chunkSeconds, default 6 s, against Whisper's 30 s) and the frames coarse
// (hop 320 = 20 ms, against 10 ms), which cuts the encoder's work by ten; utterances longer than
// the window are left out of training. preprocessor_config.json records the same numbers
// (chunk_length, hop_length, n_samples, nb_max_frames), so the transcribe pipeline, the server and
// transformers' WhisperFeatureExtractor compute exactly the features the model trained on (the
// features are made by the pipeline's own windowFeatures).
//
// Tokens. A byte-level BPE trained on the training sentences (a space before each, as Whisper's
// text tokens are), with Whisper's special tokens: <|endoftext|> (0) and <|startoftranscript|> (1)
// first, and <|notimestamps|> as the last id, so the model is English-only (no language or task
// tokens), its prompt is <|startoftranscript|> <|notimestamps|>, and it has no timestamp tokens
// (those would follow <|notimestamps|>). A training row is
//   input   <|startoftranscript|> <|notimestamps|> t1 .. tn
//   target  (ignored)             t1 ..            tn <|endoftext|>
// padded on the right (padding is ignored by the loss, and causal attention keeps it from
// reaching the real positions).
//
// Evaluation: word error rate (wer.ts) of greedy transcripts, decoded by the same generation
// code and rules as the transcribe pipeline, on held-out sentences (never in training) and on
// training sentences, and the teacher-forced loss on the held-out ones.
//
// Shapes: B batch, M mel bins, F frames, T decoder tokens, V vocabulary.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { WHISPER_SAMPLE_RATE } from '../audio/resample.js';
import { encodeInputs, generateEncoderDecoder } from '../generation/encoder-decoder.js';
import type { WhisperConfig } from '../models/whisper/config.js';
import type { WhisperForConditionalGeneration } from '../models/whisper/model.js';
import { decodingRules, whisperDecodingConfig } from '../models/whisper/tokens.js';
import { saveModel } from '../models/load.js';
import { createModel, parseModelConfig } from '../models/registry.js';
import { type SpeechFeatureOptions, windowFeatures } from '../pipelines/transcribe.js';
import { fromArray } from '../tensor/ops/creation.js';
import { crossEntropy } from '../tensor/ops/loss.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { type TrainedTokenizer, saveTrainedTokenizer, trainByteLevelBpe } from '../tokenizers/bpe-trainer.js';
import { hfTokenizerFromJson } from '../tokenizers/hf.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { BatchSampler } from './data.js';
import { type EmbeddedCorpus, EMBEDDED_CORPORA } from './sources.js';
import { type SpeechVariation, type Utterance, checkVariation, hashUniform, sentencePool, speechDataset, splitSentences, utteranceSamples } from './speech.js';
import { Trainer, type TrainerCallbacks, type TrainResult, type TrainingTask } from './trainer.js';
import { wordErrorRate } from './wer.js';

export const END_OF_TEXT = '<|endoftext|>';
export const START_OF_TRANSCRIPT = '<|startoftranscript|>';
export const NO_TIMESTAMPS = '<|notimestamps|>';

/** The ids of the three special tokens of a speech tokenizer. */
export interface SpeechTokenIds {
  endOfText: number;
  startOfTranscript: number;
  noTimestamps: number;
}

/**
 * A byte-level BPE for transcripts: trained on ` sentence` texts, <|endoftext|> and
 * <|startoftranscript|> as ids 0 and 1, <|notimestamps|> appended as the last id.
 */
export function trainSpeechTokenizer(sentences: Iterable<string>, options: { vocabSize: number; maxLength: number }): TrainedTokenizer {
  const texts = (function* () {
    for (const s of sentences) yield ` ${s}`;
  })();
  const trained = trainByteLevelBpe(texts, { vocabSize: options.vocabSize - 1, specialTokens: [END_OF_TEXT, START_OF_TRANSCRIPT], chatTemplate: null, modelMaxLength: options.maxLength });
  const json = trained.tokenizerJson as Record<string, unknown> & { added_tokens: object[]; model: { vocab: Record<string, number> } };
  const last = Object.keys(json.model.vocab).length;
  const added = { id: last, content: NO_TIMESTAMPS, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  const config = trained.tokenizerConfig as Record<string, unknown> & { added_tokens_decoder: Record<string, object> };
  const { id: _id, ...decoderEntry } = added;
  return {
    tokenizerJson: { ...json, added_tokens: [...json.added_tokens, added] },
    tokenizerConfig: {
      ...config,
      added_tokens_decoder: { ...config.added_tokens_decoder, [String(last)]: decoderEntry },
      additional_special_tokens: [START_OF_TRANSCRIPT, NO_TIMESTAMPS],
      bos_token: END_OF_TEXT,
      eos_token: END_OF_TEXT,
      pad_token: END_OF_TEXT,
      unk_token: END_OF_TEXT,
    },
  };
}

/** The special-token ids of a speech tokenizer (an error naming the missing one otherwise). */
export function speechTokenIds(tokenizer: Tokenizer): SpeechTokenIds {
  const id = (t: string) => {
    const v = tokenizer.tokenToId(t);
    if (v === undefined) throw new StrataError('argument', 'asr', `the tokenizer has no ${t} token`);
    return v;
  };
  return { endOfText: id(END_OF_TEXT), startOfTranscript: id(START_OF_TRANSCRIPT), noTimestamps: id(NO_TIMESTAMPS) };
}

/** Mel features of a short window: M bins, the STFT, and the window length. */
export interface AsrFeatureSpec extends SpeechFeatureOptions {
  melBins: number;
  chunkSeconds: number;
}

export function windowSamplesOf(spec: AsrFeatureSpec): number {
  return Math.round(spec.chunkSeconds * WHISPER_SAMPLE_RATE);
}

/** preprocessor_config.json of a model trained here: Whisper's feature extractor at the short window. */
export function speechPreprocessorConfig(spec: AsrFeatureSpec): Record<string, unknown> {
  const nSamples = windowSamplesOf(spec);
  return {
    feature_extractor_type: 'WhisperFeatureExtractor',
    processor_class: 'WhisperProcessor',
    feature_size: spec.melBins,
    sampling_rate: WHISPER_SAMPLE_RATE,
    hop_length: spec.hop,
    n_fft: spec.nFft,
    chunk_length: spec.chunkSeconds,
    n_samples: nSamples,
    nb_max_frames: nSamples / spec.hop,
    padding_side: 'right',
    padding_value: 0,
    return_attention_mask: false,
  };
}

/**
 * Log-mel features of utterances, computed once each and kept in memory. Frames past the speech
 * are all the same value (the window's floor), so only the frames up to the end of the speech are
 * stored, with that value (checked, not assumed: otherwise the whole window is kept).
 */
export class FeatureCache {
  readonly frames: number;
  private readonly store = new Map<string, { head: Float32Array; used: number; fill: number }>();

  constructor(readonly spec: AsrFeatureSpec) {
    this.frames = windowSamplesOf(spec) / spec.hop;
  }

  private entry(u: Pick<Utterance, 'file'>) {
    const hit = this.store.get(u.file);
    if (hit) return hit;
    const samples = utteranceSamples(u);
    const M = this.spec.melBins;
    const F = this.frames;
    const full = windowFeatures(samples, windowSamplesOf(this.spec), M, this.spec).toFloat32Array(); // (M, F)
    // frames whose STFT window reaches a sample of speech; the rest saw only zeros
    let used = Math.min(F, Math.ceil((samples.length + this.spec.nFft / 2) / this.spec.hop) + 1);
    const fill = full[used < F ? used : F - 1]!;
    for (let m = 0; m < M && used < F; m++) for (let t = used; t < F; t++) if (full[m * F + t] !== fill) used = F;
    const head = new Float32Array(M * used);
    for (let m = 0; m < M; m++) head.set(full.subarray(m * F, m * F + used), m * used);
    const e = { head, used, fill };
    this.store.set(u.file, e);
    return e;
  }

  /** (B, M, F) features of the utterances, equal to the transcribe pipeline's. */
  batch(utterances: readonly Pick<Utterance, 'file'>[]): Tensor {
    const M = this.spec.melBins;
    const F = this.frames;
    const out = new Float32Array(utterances.length * M * F);
    utterances.forEach((u, b) => {
      const { head, used, fill } = this.entry(u);
      for (let m = 0; m < M; m++) {
        const row = (b * M + m) * F;
        out.set(head.subarray(m * used, (m + 1) * used), row);
        out.fill(fill, row + used, row + F);
      }
    });
    return fromArray(out, [utterances.length, M, F]); // (B, M, F)
  }
}

/** Teacher-forcing rows: inputs (B, T) and targets (B, T) with -100 where nothing is predicted. */
export function transcriptBatch(tokenRows: readonly (readonly number[])[], ids: SpeechTokenIds): { inputs: Tensor; targets: Tensor; tokens: number } {
  const B = tokenRows.length;
  const T = 2 + Math.max(...tokenRows.map((r) => r.length));
  const inputs = new Int32Array(B * T).fill(ids.endOfText);
  const targets = new Int32Array(B * T).fill(-100);
  let tokens = 0;
  tokenRows.forEach((row, b) => {
    inputs[b * T] = ids.startOfTranscript;
    inputs[b * T + 1] = ids.noTimestamps;
    row.forEach((t, i) => {
      inputs[b * T + 2 + i] = t;
      targets[b * T + 1 + i] = t;
    });
    targets[b * T + 1 + row.length] = ids.endOfText;
    tokens += row.length + 1;
  });
  return { inputs: fromArray(inputs, [B, T], { dtype: 'i32' }), targets: fromArray(targets, [B, T], { dtype: 'i32' }), tokens };
}

/** Greedy transcripts of utterances, decoded as the transcribe pipeline decodes (its prompt and rules). */
export function greedyTranscripts(model: WhisperForConditionalGeneration, tokenizer: Tokenizer, features: FeatureCache, utterances: readonly Utterance[], batchSize = 16): string[] {
  const settings = whisperDecodingConfig(model.config, generationConfigOf(model.config, speechTokenIds(tokenizer)), tokenizer);
  const ids = speechTokenIds(tokenizer);
  const prompt = [ids.startOfTranscript, ids.noTimestamps];
  const out: string[] = [];
  for (let i = 0; i < utterances.length; i += batchSize) {
    const group = utterances.slice(i, i + batchSize);
    const states = encodeInputs(model, features.batch(group)); // (B, S, C)
    const results = generateEncoderDecoder(model, states, group.map(() => prompt), { maxTokens: model.maxPositions - prompt.length, stopTokens: [ids.endOfText], rules: decodingRules(settings, false), temperature: 0 });
    for (const r of results) out.push(tokenizer.decode(r.tokens, { skipSpecialTokens: true }).trim());
  }
  return out;
}

export interface AsrTaskOptions {
  batchSize: number;
  seed: number;
}

/** Held-out and training utterances the task evaluates on. */
export interface AsrEvalSets {
  heldOut?: readonly Utterance[];
  train?: readonly Utterance[];
}

interface AsrTaskState {
  sampler: { epoch: number; index: number };
}

/** Teacher-forced cross-entropy of transcripts given the audio; `tokens` counts predicted tokens. */
export class AsrTask implements TrainingTask {
  private readonly sampler: BatchSampler;
  private readonly ids: SpeechTokenIds;
  private readonly tokenCache = new Map<string, number[]>();

  constructor(
    readonly model: WhisperForConditionalGeneration,
    readonly tokenizer: Tokenizer,
    readonly features: FeatureCache,
    readonly train: readonly Utterance[],
    readonly options: AsrTaskOptions,
    readonly evalSets: AsrEvalSets = {},
  ) {
    if (!train.length) throw new StrataError('argument', 'AsrTask', 'no training utterances');
    this.ids = speechTokenIds(tokenizer);
    this.sampler = new BatchSampler(train.length, options.batchSize, options.seed);
  }

  private tokensOf(text: string): number[] {
    let t = this.tokenCache.get(text);
    if (!t) {
      t = this.tokenizer.encode(` ${text}`);
      if (t.length + 3 > this.model.maxPositions) throw new StrataError('argument', 'AsrTask', `"${text.slice(0, 40)}..." is ${t.length} tokens: with the prompt and <|endoftext|> it exceeds max_target_positions (${this.model.maxPositions})`);
      this.tokenCache.set(text, t);
    }
    return t;
  }

  /** The mean cross-entropy of these utterances' transcripts, and how many tokens it covers. */
  lossOf(utterances: readonly Utterance[]): { loss: Tensor; tokens: number } {
    const feats = this.features.batch(utterances); // (B, M, F)
    const { inputs, targets, tokens } = transcriptBatch(utterances.map((u) => this.tokensOf(u.text)), this.ids);
    const { logits } = this.model.forward(feats, inputs); // (B, T, V)
    return { loss: crossEntropy(logits, targets), tokens };
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    return this.lossOf(this.sampler.next().map((i) => this.train[i]!));
  }

  evaluate(): Record<string, number> {
    const out: Record<string, number> = {};
    const { heldOut, train } = this.evalSets;
    if (heldOut?.length) {
      let sum = 0;
      let n = 0;
      for (let i = 0; i < heldOut.length; i += this.options.batchSize) {
        const group = heldOut.slice(i, i + this.options.batchSize);
        const { loss, tokens } = this.lossOf(group);
        sum += loss.item() * tokens;
        n += tokens;
      }
      out['val_loss'] = sum / n;
      out['val_wer'] = wordErrorRate(heldOut.map((u) => u.text), greedyTranscripts(this.model, this.tokenizer, this.features, heldOut)).wer;
    }
    if (train?.length) out['train_wer'] = wordErrorRate(train.map((u) => u.text), greedyTranscripts(this.model, this.tokenizer, this.features, train)).wer;
    return out;
  }

  state(): AsrTaskState {
    return { sampler: this.sampler.state };
  }

  restore(state: unknown): void {
    const s = state as AsrTaskState | null;
    if (!s || typeof s !== 'object' || !s.sampler) throw new StrataError('io', 'AsrTask', 'the checkpoint holds no data position for this task');
    this.sampler.restore(s.sampler);
  }
}

/** generation_config.json of a speech model trained here (what transcribe and transformers read). */
export function generationConfigOf(config: Pick<WhisperConfig, 'max_target_positions'>, ids: SpeechTokenIds): Record<string, unknown> {
  return {
    decoder_start_token_id: ids.startOfTranscript,
    bos_token_id: ids.endOfText,
    eos_token_id: ids.endOfText,
    pad_token_id: ids.endOfText,
    no_timestamps_token_id: ids.noTimestamps,
    is_multilingual: false,
    max_length: config.max_target_positions,
    // the prompt's tokens are never generated; the transcript is never empty
    suppress_tokens: [ids.startOfTranscript, ids.noTimestamps],
    begin_suppress_tokens: [ids.endOfText],
  };
}


// ---- trainAsr: a small Whisper from scratch on espeak-ng speech ---------------------------------

/** Everything `strata train-asr` takes; saved as RUN/train_config.json. */
export interface TrainAsrConfig {
  out: string;
  /** the WAV cache (file names are content hashes, so runs may share it); '' = RUN/data */
  dataDir: string;
  /** embedded corpora the sentences come from, comma-separated */
  corpora: string;
  /** how many of the corpora's most frequent words are ordinary */
  vocabularyWords: number;
  minWords: number;
  maxWords: number;
  heldOutFraction: number;
  /** training sentences used (0 = all) */
  trainSentences: number;
  /** spoken versions of each training sentence */
  renditions: number;
  /** espeak-ng voices, comma-separated ("en-us,en-gb+f2") */
  voices: string;
  speedMin: number;
  speedMax: number;
  pitchMin: number;
  pitchMax: number;
  /** the encoder's window in seconds */
  chunkSeconds: number;
  hopLength: number;
  nFft: number;
  melBins: number;
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  heads: number;
  ffnDim: number;
  maxTargetPositions: number;
  /** upper bound of the tokenizer's vocabulary */
  vocabSize: number;
  dropout: number;
  /** held-out (and training) utterances per periodic evaluation */
  evalSentences: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps?: number;
  weightDecay: number;
  seed: number;
  checkpointEvery: number;
  evalEvery: number;
}

export const TRAIN_ASR_DEFAULTS = {
  dataDir: '',
  corpora: 'moby-dick,sotu',
  vocabularyWords: 2000,
  minWords: 3,
  maxWords: 12,
  heldOutFraction: 0.05,
  trainSentences: 0,
  renditions: 1,
  voices: 'en-us,en-gb,en-us+f2,en-gb+m3',
  speedMin: 140,
  speedMax: 190,
  pitchMin: 30,
  pitchMax: 70,
  chunkSeconds: 6,
  hopLength: 320,
  nFft: 400,
  melBins: 80,
  dModel: 192,
  encoderLayers: 4,
  decoderLayers: 2,
  heads: 4,
  ffnDim: 768,
  maxTargetPositions: 48,
  vocabSize: 1024,
  dropout: 0,
  evalSentences: 64,
  steps: 1000,
  batchSize: 32,
  lr: 1e-3,
  weightDecay: 0.01,
  seed: 0,
  checkpointEvery: 100,
  evalEvery: 100,
} as const satisfies Omit<TrainAsrConfig, 'out'>;

export const ASR_TRAIN_CONFIG_FILE = 'train_config.json';

export interface TrainAsrCallbacks extends TrainerCallbacks {
  onLog?(message: string): void;
}

export interface TrainAsrResult extends TrainResult {
  out: string;
  config: WhisperConfig;
  parameters: number;
  data: AsrRunData;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new StrataError('argument', 'train-asr', message);
}

/** Validates a config (every field present and in range). */
export function validateTrainAsrConfig(c: TrainAsrConfig): TrainAsrConfig {
  check(typeof c.out === 'string' && c.out.length > 0, 'out must be a folder path');
  check(typeof c.dataDir === 'string', 'dataDir must be a folder path or empty');
  for (const k of ['vocabularyWords', 'minWords', 'maxWords', 'renditions', 'hopLength', 'nFft', 'melBins', 'dModel', 'encoderLayers', 'decoderLayers', 'heads', 'ffnDim', 'maxTargetPositions', 'vocabSize', 'evalSentences', 'steps', 'batchSize'] as const) {
    check(Number.isSafeInteger(c[k]) && c[k] >= 1, `${k} must be an integer >= 1, got ${c[k]}`);
  }
  check(Number.isSafeInteger(c.trainSentences) && c.trainSentences >= 0, `trainSentences must be an integer >= 0 (0 = all), got ${c.trainSentences}`);
  check(c.minWords <= c.maxWords, `minWords (${c.minWords}) exceeds maxWords (${c.maxWords})`);
  check(c.heldOutFraction > 0 && c.heldOutFraction < 1, `heldOutFraction must be in (0, 1), got ${c.heldOutFraction}`);
  check(c.chunkSeconds > 0 && c.chunkSeconds <= 30, `chunkSeconds must be in (0, 30], got ${c.chunkSeconds}`);
  const samples = c.chunkSeconds * WHISPER_SAMPLE_RATE;
  check(Number.isInteger(samples) && samples % (2 * c.hopLength) === 0, `chunkSeconds x 16000 (${samples}) must be a whole number of samples divisible by 2 x hopLength (${2 * c.hopLength}): the encoder halves the frames`);
  check(c.nFft % 2 === 0 && c.nFft >= c.hopLength, `nFft (${c.nFft}) must be even and at least hopLength (${c.hopLength})`);
  check(c.dModel % c.heads === 0 && c.dModel % 2 === 0, `heads (${c.heads}) must divide dModel (${c.dModel}), and dModel must be even`);
  check(c.vocabSize >= 260, `vocabSize must be at least 260 (256 bytes and the special tokens), got ${c.vocabSize}`);
  check(c.maxTargetPositions >= 8, `maxTargetPositions must be at least 8, got ${c.maxTargetPositions}`);
  check(c.dropout >= 0 && c.dropout < 1, `dropout must be in [0, 1), got ${c.dropout}`);
  check(c.lr > 0 && Number.isFinite(c.lr), `lr must be > 0, got ${c.lr}`);
  check(c.weightDecay >= 0, `weightDecay must be >= 0, got ${c.weightDecay}`);
  check(Number.isSafeInteger(c.seed) && c.seed >= 0, `seed must be an integer >= 0, got ${c.seed}`);
  check(Number.isInteger(c.checkpointEvery) && c.checkpointEvery >= 0, `checkpointEvery must be an integer >= 0, got ${c.checkpointEvery}`);
  check(Number.isInteger(c.evalEvery) && c.evalEvery >= 0, `evalEvery must be an integer >= 0, got ${c.evalEvery}`);
  parseCorpora(c.corpora);
  speechVariationOf(c);
  return c;
}

/** The corpora list of a config ("moby-dick,sotu"), checked. */
export function parseCorpora(list: string): EmbeddedCorpus[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  check(names.length > 0, 'corpora must name at least one embedded corpus (moby-dick, sotu, spam-assassin)');
  for (const n of names) check((EMBEDDED_CORPORA as readonly string[]).includes(n), `unknown corpus '${n}' (known: ${EMBEDDED_CORPORA.join(', ')})`);
  return names as EmbeddedCorpus[];
}

export function speechVariationOf(c: Pick<TrainAsrConfig, 'voices' | 'speedMin' | 'speedMax' | 'pitchMin' | 'pitchMax'>): SpeechVariation {
  const voices = c.voices.split(',').map((s) => s.trim()).filter(Boolean);
  const variation: SpeechVariation = { voices, speed: [c.speedMin, c.speedMax], pitch: [c.pitchMin, c.pitchMax] };
  checkVariation(variation);
  return variation;
}

export function featureSpecOf(c: Pick<TrainAsrConfig, 'melBins' | 'chunkSeconds' | 'hopLength' | 'nFft'>): AsrFeatureSpec {
  return { melBins: c.melBins, chunkSeconds: c.chunkSeconds, hop: c.hopLength, nFft: c.nFft };
}

/** The sentences and utterances of a run, all from its seed. */
export interface AsrRunData {
  trainSentences: number;
  /** held-out sentences spoken (see heldOutLimit) */
  heldOutSentences: number;
  /** training utterances (renditions of the training sentences that fit the window) */
  train: Utterance[];
  /** one utterance of every held-out sentence that fits the window */
  heldOut: Utterance[];
  /** utterances longer than the window, left out */
  dropped: number;
}

/**
 * Sentences, split and spoken: what a run trains and evaluates on. Only the first `heldOutLimit`
 * held-out sentences (in the run's seeded order) are spoken; training evaluates on the first
 * evalSentences of them, a final test on all.
 */
export async function asrRunData(c: TrainAsrConfig, options: { heldOutLimit?: number; onLog?: (message: string) => void } = {}): Promise<AsrRunData> {
  const onLog = options.onLog;
  const pool = sentencePool({ corpora: parseCorpora(c.corpora), minWords: c.minWords, maxWords: c.maxWords, vocabularyWords: c.vocabularyWords });
  const split = splitSentences(pool.sentences, { heldOutFraction: c.heldOutFraction, seed: c.seed });
  // a seeded order, so a smaller run takes a random sample rather than the alphabet's start
  const order = (list: string[], salt: string) => list.map((s) => [hashUniform(salt, c.seed, s), s] as const).sort((a, b) => a[0] - b[0]).map(([, s]) => s);
  const trainSentences = order(split.train, 'train');
  const chosen = c.trainSentences > 0 ? trainSentences.slice(0, c.trainSentences) : trainSentences;
  const heldOutSentences = order(split.heldOut, 'held-out').slice(0, options.heldOutLimit ?? Infinity);
  const cacheDir = c.dataDir || path.join(c.out, 'data');
  const variation = speechVariationOf(c);
  let last = 0;
  const progress = (what: string) => (done: number, total: number) => {
    if (done === total || Date.now() - last > 10_000) {
      last = Date.now();
      onLog?.(`speaking ${what}: ${done}/${total}`);
    }
  };
  const train = await speechDataset(chosen, { cacheDir, seed: c.seed, variation, renditions: c.renditions, maxSeconds: c.chunkSeconds, onProgress: progress('training sentences') });
  const heldOut = await speechDataset(heldOutSentences, { cacheDir, seed: c.seed, variation, maxSeconds: c.chunkSeconds, onProgress: progress('held-out sentences') });
  return { trainSentences: chosen.length, heldOutSentences: heldOutSentences.length, train: train.utterances, heldOut: heldOut.utterances, dropped: train.dropped + heldOut.dropped };
}

/** The config.json of a fresh Whisper for a training config and speech tokenizer. */
export function asrModelConfig(c: TrainAsrConfig, tokenizer: Tokenizer): WhisperConfig {
  const ids = speechTokenIds(tokenizer);
  const gen = generationConfigOf({ max_target_positions: c.maxTargetPositions }, ids);
  const raw = {
    model_type: 'whisper',
    architectures: ['WhisperForConditionalGeneration'],
    vocab_size: tokenizer.vocabSize,
    num_mel_bins: c.melBins,
    d_model: c.dModel,
    encoder_layers: c.encoderLayers,
    encoder_attention_heads: c.heads,
    encoder_ffn_dim: c.ffnDim,
    decoder_layers: c.decoderLayers,
    decoder_attention_heads: c.heads,
    decoder_ffn_dim: c.ffnDim,
    activation_function: 'gelu',
    max_source_positions: (c.chunkSeconds * WHISPER_SAMPLE_RATE) / c.hopLength / 2,
    max_target_positions: c.maxTargetPositions,
    dropout: c.dropout,
    init_std: 0.02,
    scale_embedding: false,
    decoder_start_token_id: ids.startOfTranscript,
    pad_token_id: ids.endOfText,
    bos_token_id: ids.endOfText,
    eos_token_id: ids.endOfText,
    suppress_tokens: gen['suppress_tokens'],
    begin_suppress_tokens: gen['begin_suppress_tokens'],
    tie_word_embeddings: true,
  };
  return parseModelConfig(raw, 'train-asr').config as WhisperConfig;
}

/** The config a resumed run continues with: the saved one, with only `steps` allowed to change. */
function resumeConfig(given: TrainAsrConfig): TrainAsrConfig {
  const file = path.join(given.out, ASR_TRAIN_CONFIG_FILE);
  if (!fs.existsSync(file)) return given;
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as TrainAsrConfig;
  return { ...saved, steps: given.steps, out: given.out };
}

const json = (value: unknown) => [Buffer.from(`${JSON.stringify(value, null, 2)}\n`)];

/** Trains a Whisper on espeak-ng speech from scratch (or resumes a run) and saves it as a Hugging Face directory in `out`. */
export async function trainAsr(given: TrainAsrConfig, options: { resume?: boolean } & TrainAsrCallbacks = {}): Promise<TrainAsrResult> {
  const resume = options.resume ?? false;
  const c = validateTrainAsrConfig(resume ? resumeConfig(given) : given);
  fs.mkdirSync(c.out, { recursive: true });
  writeFileAtomic(path.join(c.out, ASR_TRAIN_CONFIG_FILE), json({ ...c, out: undefined }));
  const data = await asrRunData(c, { heldOutLimit: c.evalSentences, onLog: options.onLog });
  check(data.train.length >= c.batchSize, `only ${data.train.length} training utterances for batches of ${c.batchSize}`);
  options.onLog?.(`${data.trainSentences} training sentences (${data.train.length} utterances), ${data.heldOut.length} held-out; ${data.dropped} longer than ${c.chunkSeconds} s left out`);

  const trained = trainSpeechTokenizer(new Set(data.train.map((u) => u.text)), { vocabSize: c.vocabSize, maxLength: c.maxTargetPositions });
  saveTrainedTokenizer(c.out, trained);
  const tokenizer = hfTokenizerFromJson({ tokenizer: trained.tokenizerJson, config: trained.tokenizerConfig, source: c.out });
  const spec = featureSpecOf(c);
  writeFileAtomic(path.join(c.out, 'preprocessor_config.json'), json(speechPreprocessorConfig(spec)));

  const config = asrModelConfig(c, tokenizer);
  const model = createModel(config, { generator: new Generator(c.seed) }) as WhisperForConditionalGeneration;
  options.onLog?.(`Whisper: ${model.numParameters().toLocaleString('en-US')} parameters, vocabulary ${tokenizer.vocabSize}, window ${c.chunkSeconds} s = ${model.inputFrames} frames`);
  const features = new FeatureCache(spec);
  const evalSets = { heldOut: data.heldOut.slice(0, c.evalSentences), train: data.train.slice(0, c.evalSentences) };
  const task = new AsrTask(model, tokenizer, features, data.train, { batchSize: c.batchSize, seed: c.seed }, evalSets);
  const { out: _out, steps: _steps, checkpointEvery: _ce, evalEvery: _ee, dataDir: _dd, ...settings } = c;
  const trainer = new Trainer(
    model,
    task,
    {
      steps: c.steps, lr: c.lr, warmupSteps: c.warmupSteps, weightDecay: c.weightDecay, seed: c.seed, checkpointEvery: c.checkpointEvery,
      evalEvery: c.evalEvery, runDir: c.out, resume, configDigest: digest({ settings, config }),
    },
    options,
  );
  const result = trainer.run();
  // the trainer evaluates at the last step; a resumed run that was already complete has not
  const final = result.eval ?? trainer.evaluate();
  model.eval();
  saveModel(c.out, model, config, { generationConfig: generationConfigOf(config, speechTokenIds(tokenizer)) });
  options.onLog?.(`saved the model to ${c.out}`);
  return { ...result, eval: final, out: c.out, config, parameters: model.numParameters(), data };
}

/** A hash of settings, for checkpoint digests. */
function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
