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
// The task, tokenizer, features and decoding live in asr-task.ts (re-exported here).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { WHISPER_SAMPLE_RATE } from '../audio/resample.js';
import type { WhisperConfig } from '../models/whisper/config.js';
import { WhisperForConditionalGeneration } from '../models/whisper/model.js';
import { loadModel, saveModel } from '../models/load.js';
import { createModel, parseModelConfig } from '../models/registry.js';
import { Generator } from '../tensor/random.js';
import { SPEECH_LM_DEFAULTS, SPEECH_LM_DIR, saveSpeechLanguageModel } from '../pipelines/speech-lm.js';
import { trainKneserNey } from '../text/ngram.js';
import { saveTrainedTokenizer } from '../tokenizers/bpe-trainer.js';
import { hfTokenizerFromJson } from '../tokenizers/hf.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { type AsrFeatureSpec, AsrTask, FeatureCache, generationConfigOf, speechPreprocessorConfig, speechTokenIds, trainSpeechTokenizer } from './asr-task.js';
import { type EmbeddedCorpus, EMBEDDED_CORPORA } from './sources.js';
import { type SpeechVariation, type Utterance, checkVariation, hashUniform, sentencePool, speechDataset, splitSentences } from './speech.js';
import { TRAIN_CONFIG_FILE, startRunConfig } from './run-config.js';
import { Trainer, type TrainerCallbacks, type TrainResult } from './trainer.js';
import { markWritten } from '../tensor/version.js';

export * from './asr-task.js';

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
  /** SpecAugment on training batches (asr-task.ts): bands of up to freqMaskWidth mel bins and spans of up to timeMaskWidth frames; 0 masks = off */
  freqMasks: number;
  freqMaskWidth: number;
  timeMasks: number;
  timeMaskWidth: number;
  /**
   * a speech model trained by this command (a RUN folder or a zoo model) whose weights start the
   * run instead of random ones, with a fresh optimizer and schedule: a second stage with other
   * settings (dropout, SpecAugment, more renditions); '' = from scratch
   */
  init: string;
  /**
   * order of the word n-gram LM written to RUN/language_model/ from the training transcripts
   * (speech-lm.ts; transcription decodes with it by default); 0 = none
   */
  lmOrder: number;
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
  // characters (256 bytes + specials): a 1,024-token vocabulary had not left the LM-level loss
  // after 400 steps, letters left it after ~300 (see scripts/zoo/asr-espeak.ts)
  maxTargetPositions: 128,
  vocabSize: 259,
  dropout: 0,
  freqMasks: 0,
  freqMaskWidth: 15,
  timeMasks: 0,
  timeMaskWidth: 25,
  init: '',
  lmOrder: 2,
  evalSentences: 64,
  steps: 1000,
  batchSize: 32,
  lr: 1e-3,
  weightDecay: 0.01,
  seed: 0,
  checkpointEvery: 100,
  evalEvery: 100,
} as const satisfies Omit<TrainAsrConfig, 'out'>;

export const ASR_TRAIN_CONFIG_FILE = TRAIN_CONFIG_FILE;

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
  for (const k of ['freqMasks', 'freqMaskWidth', 'timeMasks', 'timeMaskWidth'] as const) {
    check(Number.isSafeInteger(c[k]) && c[k] >= 0, `${k} must be an integer >= 0, got ${c[k]}`);
  }
  check(c.freqMaskWidth < c.melBins, `freqMaskWidth (${c.freqMaskWidth}) must be below melBins (${c.melBins})`);
  check(c.lmOrder === 0 || c.lmOrder === 2 || c.lmOrder === 3, `lmOrder must be 0 (no language model), 2 or 3, got ${c.lmOrder}`);
  check(typeof c.init === 'string', 'init must be a trained speech model folder or ""');
  if (c.init) check(fs.existsSync(path.join(c.init, 'config.json')), `init: ${c.init} has no config.json (expected a speech model trained by train-asr, such as zoo/asr-espeak)`);
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
  check(c.vocabSize >= 259, `vocabSize must be at least 259 (256 bytes and the three special tokens: 259 is a character-level vocabulary), got ${c.vocabSize}`);
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
 * The sentences of a run, each list in a seeded order (so a smaller run takes a random sample
 * rather than the alphabet's start): the training ones (the first trainSentences when that is
 * set) and every held-out one.
 */
export function asrSentences(c: Pick<TrainAsrConfig, 'corpora' | 'minWords' | 'maxWords' | 'vocabularyWords' | 'heldOutFraction' | 'seed' | 'trainSentences'>): { train: string[]; heldOut: string[] } {
  const pool = sentencePool({ corpora: parseCorpora(c.corpora), minWords: c.minWords, maxWords: c.maxWords, vocabularyWords: c.vocabularyWords });
  const split = splitSentences(pool.sentences, { heldOutFraction: c.heldOutFraction, seed: c.seed });
  const order = (list: string[], salt: string) => list.map((s) => [hashUniform(salt, c.seed, s), s] as const).sort((a, b) => a[0] - b[0]).map(([, s]) => s);
  const train = order(split.train, 'train');
  return { train: c.trainSentences > 0 ? train.slice(0, c.trainSentences) : train, heldOut: order(split.heldOut, 'held-out') };
}

/**
 * Sentences, split and spoken: what a run trains and evaluates on. Only the first `heldOutLimit`
 * held-out sentences (in the run's seeded order) are spoken; training evaluates on the first
 * evalSentences of them, a final test on all.
 */
export async function asrRunData(c: TrainAsrConfig, options: { heldOutLimit?: number; onLog?: (message: string) => void } = {}): Promise<AsrRunData> {
  const onLog = options.onLog;
  const sentences = asrSentences(c);
  const chosen = sentences.train;
  const heldOutSentences = sentences.heldOut.slice(0, options.heldOutLimit ?? Infinity);
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

/**
 * Draws the two front-end convolutions with He's std sqrt(2 / fan_in) instead of Whisper's 0.02:
 * at 0.02 the audio reaches the first layer about twenty times weaker than the sinusoidal
 * positions added to it, and a model trained from scratch spends its first hundreds of steps
 * growing it (measured here: loss at LM level after 400 steps).
 */
export function widenConvInit(model: WhisperForConditionalGeneration, seed: number): void {
  const g = new Generator(seed + 7919);
  for (const conv of [model.model.encoder.conv1, model.model.encoder.conv2]) {
    const w = conv.weight; // (out, in, k)
    const std = Math.sqrt(2 / (w.shape[1]! * w.shape[2]!));
    const data = w.data as Float32Array;
    for (let i = 0; i < w.size; i++) data[w.offset + i] = std * g.normal();
    markWritten(data);
  }
}

/**
 * Copies a trained speech model's weights into `model`: the same architecture and sizes, and the
 * same transcript tokenizer (the ids must mean the same characters), or a clear error.
 */
async function startFrom(dir: string, model: WhisperForConditionalGeneration, tokenizerJson: unknown): Promise<void> {
  const loaded = await loadModel(dir);
  const from = loaded.model;
  if (!(from instanceof WhisperForConditionalGeneration)) throw new StrataError('argument', 'train-asr', `init: ${dir} is a ${loaded.architecture}, not a WhisperForConditionalGeneration`);
  for (const k of ['d_model', 'encoder_layers', 'decoder_layers', 'encoder_ffn_dim', 'encoder_attention_heads', 'num_mel_bins', 'max_source_positions', 'max_target_positions', 'vocab_size'] as const) {
    check(from.config[k] === model.config[k], `init: ${dir} has ${k} ${from.config[k]}, this run ${model.config[k]} (the sizes must match)`);
  }
  const theirs = path.join(dir, 'tokenizer.json');
  check(fs.existsSync(theirs) && JSON.stringify(JSON.parse(fs.readFileSync(theirs, 'utf8'))) === JSON.stringify(tokenizerJson), `init: ${dir}'s tokenizer.json differs from this run's (trained on the same sentences with the same vocabulary size, they are equal)`);
  model.loadStateDict(Object.fromEntries(from.namedParameters()));
}

const json = (value: unknown) => [Buffer.from(`${JSON.stringify(value, null, 2)}\n`)];

/** Trains a Whisper on espeak-ng speech from scratch (or resumes a run) and saves it as a Hugging Face directory in `out`. */
export async function trainAsr(given: TrainAsrConfig, options: { resume?: boolean } & TrainAsrCallbacks = {}): Promise<TrainAsrResult> {
  const resume = options.resume ?? false;
  const c = startRunConfig(given, resume, validateTrainAsrConfig);
  const data = await asrRunData(c, { heldOutLimit: c.evalSentences, onLog: options.onLog });
  check(data.train.length >= c.batchSize, `only ${data.train.length} training utterances for batches of ${c.batchSize}`);
  options.onLog?.(`${data.trainSentences} training sentences (${data.train.length} utterances), ${data.heldOut.length} held-out; ${data.dropped} longer than ${c.chunkSeconds} s left out`);

  const trained = trainSpeechTokenizer(new Set(data.train.map((u) => u.text)), { vocabSize: c.vocabSize, maxLength: c.maxTargetPositions });
  saveTrainedTokenizer(c.out, trained);
  const tokenizer = hfTokenizerFromJson({ tokenizer: trained.tokenizerJson, config: trained.tokenizerConfig, source: c.out });
  // every transcript must fit the decoder (prompt, tokens, <|endoftext|>): found now, not hours in
  const longest = Math.max(...[...data.train, ...data.heldOut].map((u) => tokenizer.encode(` ${u.text}`).length));
  check(longest + 3 <= c.maxTargetPositions, `the longest transcript is ${longest} tokens: with the prompt and <|endoftext|> it needs maxTargetPositions >= ${longest + 3} (got ${c.maxTargetPositions}; a smaller vocabulary makes longer transcripts)`);
  const spec = featureSpecOf(c);
  writeFileAtomic(path.join(c.out, 'preprocessor_config.json'), json(speechPreprocessorConfig(spec)));

  const config = asrModelConfig(c, tokenizer);
  const model = createModel(config, { generator: new Generator(c.seed) }) as WhisperForConditionalGeneration;
  if (c.init && !resume) await startFrom(c.init, model, trained.tokenizerJson);
  else if (!resume) widenConvInit(model, c.seed);
  options.onLog?.(`Whisper: ${model.numParameters().toLocaleString('en-US')} parameters, vocabulary ${tokenizer.vocabSize}, window ${c.chunkSeconds} s = ${model.inputFrames} frames`);
  const features = new FeatureCache(spec);
  const evalSets = { heldOut: data.heldOut.slice(0, c.evalSentences), train: data.train.slice(0, c.evalSentences) };
  const specAugment = { freqMasks: c.freqMasks, freqMaskWidth: c.freqMaskWidth, timeMasks: c.timeMasks, timeMaskWidth: c.timeMaskWidth };
  const task = new AsrTask(model, tokenizer, features, data.train, { batchSize: c.batchSize, seed: c.seed, specAugment }, evalSets);
  const { out: _out, steps: _steps, checkpointEvery: _ce, evalEvery: _ee, dataDir: _dd, lmOrder: _lm, ...settings } = c;
  // settings added after runs had started count only when used, so those runs still resume
  for (const k of ['freqMasks', 'timeMasks', 'init'] as const) if (!settings[k]) delete (settings as Partial<typeof settings>)[k];
  if (!settings.freqMasks) delete (settings as Partial<typeof settings>).freqMaskWidth;
  if (!settings.timeMasks) delete (settings as Partial<typeof settings>).timeMaskWidth;
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
  if (c.lmOrder > 0) {
    // the training transcripts only: held-out sentences must stay unseen by every part of the recognizer
    const lm = trainKneserNey(new Set(data.train.map((u) => u.text)), { order: c.lmOrder as 2 | 3 });
    saveSpeechLanguageModel(c.out, { lm, ...SPEECH_LM_DEFAULTS });
    options.onLog?.(`word language model: order ${c.lmOrder}, ${lm.words.length} words, in ${path.join(c.out, SPEECH_LM_DIR)}`);
  } else fs.rmSync(path.join(c.out, SPEECH_LM_DIR), { recursive: true, force: true });
  options.onLog?.(`saved the model to ${c.out}`);
  return { ...result, eval: final, out: c.out, config, parameters: model.numParameters(), data };
}

/** A hash of settings, for checkpoint digests. */
function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
