// The pieces of ASR training (asr.ts trains with them): the transcript tokenizer with Whisper's
// special tokens, log-mel features of the short window (cached per utterance), teacher-forcing
// batches, the teacher-forced cross-entropy task, greedy transcripts as the transcribe pipeline
// decodes them, and the generation_config.json of a model trained here. See asr.ts for the window,
// the token layout and the evaluation.
//
// Shapes: B batch, M mel bins, F frames, T decoder tokens, V vocabulary.

import { StrataError } from '../errors.js';
import { WHISPER_SAMPLE_RATE } from '../audio/resample.js';
import { encodeInputs, generateEncoderDecoder } from '../generation/encoder-decoder.js';
import type { WhisperConfig } from '../models/whisper/config.js';
import type { WhisperForConditionalGeneration } from '../models/whisper/model.js';
import { decodingRules, whisperDecodingConfig } from '../models/whisper/tokens.js';
import { type SpeechFeatureOptions, windowFeatures } from '../pipelines/transcribe.js';
import { fromArray } from '../tensor/ops/creation.js';
import { Generator } from '../tensor/random.js';
import { crossEntropy } from '../tensor/ops/loss.js';
import type { Tensor } from '../tensor/tensor.js';
import { type TrainedTokenizer, trainByteLevelBpe } from '../tokenizers/bpe-trainer.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { BatchSampler } from './data.js';
import { type Utterance, hashUniform, utteranceSamples } from './speech.js';
import type { TrainingTask } from './trainer.js';
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
 * SpecAugment (Park et al., 2019) without time warping: each training utterance gets `freqMasks`
 * bands of 0..freqMaskWidth mel bins and `timeMasks` spans of 0..timeMaskWidth frames (at most a
 * fifth of its speech each) set to its mean, so the model cannot lean on any one band or moment.
 * A regularizer for small data: the same sentences heard with parts missing. 0 masks = off.
 */
export interface SpecAugment {
  freqMasks: number;
  freqMaskWidth: number;
  timeMasks: number;
  timeMaskWidth: number;
}

export const NO_SPEC_AUGMENT: SpecAugment = { freqMasks: 0, freqMaskWidth: 0, timeMasks: 0, timeMaskWidth: 0 };

/** Masks one utterance's (M, F) features in place; `used` frames hold its speech. */
export function maskSpectrogram(x: Float32Array, M: number, F: number, used: number, masks: SpecAugment, g: Generator): void {
  let sum = 0;
  for (let m = 0; m < M; m++) for (let t = 0; t < used; t++) sum += x[m * F + t]!;
  const mean = sum / (M * used);
  for (let i = 0; i < masks.freqMasks; i++) {
    const width = g.integer(0, Math.min(masks.freqMaskWidth, M) + 1);
    const start = g.integer(0, M - width + 1);
    for (let m = start; m < start + width; m++) x.fill(mean, m * F, m * F + used);
  }
  for (let i = 0; i < masks.timeMasks; i++) {
    const width = g.integer(0, Math.min(masks.timeMaskWidth, Math.floor(used / 5)) + 1);
    const start = g.integer(0, used - width + 1);
    for (let m = 0; m < M; m++) x.fill(mean, m * F + start, m * F + start + width);
  }
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

  /**
   * (B, M, F) features of the utterances, equal to the transcribe pipeline's; with `augment`,
   * SpecAugment's masks drawn from `augment.generator` cover parts of each one's speech.
   */
  batch(utterances: readonly Pick<Utterance, 'file'>[], augment?: { masks: SpecAugment; generator: Generator }): Tensor {
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
      if (augment) maskSpectrogram(out.subarray(b * M * F, (b + 1) * M * F), M, F, used, augment.masks, augment.generator);
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
  /** masks on training batches (never on evaluation); off when absent */
  specAugment?: SpecAugment;
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
  lossOf(utterances: readonly Utterance[], augment?: { masks: SpecAugment; generator: Generator }): { loss: Tensor; tokens: number } {
    const feats = this.features.batch(utterances, augment); // (B, M, F)
    const { inputs, targets, tokens } = transcriptBatch(utterances.map((u) => this.tokensOf(u.text)), this.ids);
    const { logits } = this.model.forward(feats, inputs); // (B, T, V)
    return { loss: crossEntropy(logits, targets), tokens };
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    const masks = this.options.specAugment;
    // the masks come from the batch's place in the data, so a resumed run draws the same ones
    const { epoch, index } = this.sampler.state;
    const augment = masks && (masks.freqMasks > 0 || masks.timeMasks > 0) ? { masks, generator: new Generator(hashUniform('spec-augment', this.options.seed, epoch, index) * 2 ** 32) } : undefined;
    return this.lossOf(this.sampler.next().map((i) => this.train[i]!), augment);
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
