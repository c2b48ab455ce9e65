// Training tasks: what one micro-batch's loss is for causal-LM pretraining, masked-LM
// pretraining, sequence classification/regression (full, LoRA or linear probe: the task does not
// care which parameters train) and supervised instruction tuning.
//
// Shapes: B batch, T tokens, V vocab, L labels.

import { StrataError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { fromArray } from '../tensor/ops/creation.js';
import { crossEntropy, mseLoss } from '../tensor/ops/loss.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { CausalLM } from '../models/types.js';
import type { TrainingTask } from './trainer.js';
import { BatchSampler, type TokenWindows } from './data.js';
import { collateSft, padTokenId } from './sft.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

/** A seeded generator for one (seed, stream, counter): masking that a resumed run repeats exactly. */
function streamGenerator(seed: number, stream: number, counter: number): Generator {
  return new Generator((seed * 1_000_003 + stream * 7_919 + counter * 104_729) % 2 ** 32);
}

interface SamplerState {
  sampler: { epoch: number; index: number };
  batches: number;
}

function restoreSampler(sampler: BatchSampler, state: unknown, op: string): number {
  const s = state as SamplerState | null;
  if (!s || typeof s !== 'object' || !s.sampler || !Number.isInteger(s.batches)) throw new StrataError('io', op, 'the checkpoint holds no data position for this task');
  sampler.restore(s.sampler);
  return s.batches;
}

/** Evaluation batches: consecutive slices of [0, n), at most `maxBatches`. */
function evalBatches(n: number, batchSize: number, maxBatches: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < n && out.length < maxBatches; i += batchSize) out.push(Array.from({ length: Math.min(batchSize, n - i) }, (_, k) => i + k));
  return out;
}

/** Token-level metrics of logits (N, V) against targets (N) with -100 ignored. */
function tokenAccuracy(logits: Tensor, targets: Int32Array): { correct: number; count: number } {
  const V = logits.shape[logits.ndim - 1]!;
  const pred = logits.reshape(-1, V).argmax(-1).toArray();
  let correct = 0;
  let count = 0;
  for (let i = 0; i < targets.length; i++) {
    if (targets[i] === -100) continue;
    count++;
    if (pred[i] === targets[i]) correct++;
  }
  return { correct, count };
}

export interface LMTaskOptions {
  batchSize: number;
  seed: number;
  /** validation batches per evaluation (default 8) */
  evalBatches?: number;
}

/** Next-token prediction over packed windows (GPT, LLaMA pretraining and continued pretraining). */
export class CausalLMTask implements TrainingTask {
  private readonly sampler: BatchSampler;
  private batches = 0;

  constructor(
    readonly model: CausalLM,
    readonly windows: TokenWindows,
    readonly options: LMTaskOptions,
  ) {
    this.sampler = new BatchSampler(windows.trainCount, options.batchSize, options.seed);
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    const { inputs, targets } = this.windows.batch('train', this.sampler.next());
    this.batches++;
    return { loss: crossEntropy(this.model.forward(inputs), targets), tokens: inputs.size };
  }

  /** Loss, perplexity and next-token accuracy on a split (default: the validation windows, at most evalBatches batches). */
  evaluate(split: 'train' | 'val' = 'val', maxBatches = this.options.evalBatches ?? 8): Record<string, number> {
    let lossSum = 0;
    let tokens = 0;
    let correct = 0;
    const n = split === 'val' ? this.windows.valCount : this.windows.trainCount;
    for (const idx of evalBatches(n, this.options.batchSize, maxBatches)) {
      const { inputs, targets } = this.windows.batch(split, idx);
      const logits = this.model.forward(inputs); // (B, T, V)
      lossSum += crossEntropy(logits, targets, { reduction: 'sum' }).item();
      const acc = tokenAccuracy(logits, Int32Array.from(targets.toArray()));
      correct += acc.correct;
      tokens += acc.count;
    }
    if (!tokens) return {};
    const loss = lossSum / tokens;
    return { val_loss: loss, val_perplexity: Math.exp(loss), val_accuracy: correct / tokens };
  }

  state(): SamplerState {
    return { sampler: this.sampler.state, batches: this.batches };
  }

  restore(state: unknown): void {
    this.batches = restoreSampler(this.sampler, state, 'CausalLMTask');
  }
}

/** A module that maps ids (B, T) (and an optional mask) to per-token vocabulary logits (B, T, V): BertForMaskedLM. */
export interface MaskedLM extends Module {
  forward(ids: Tensor, options?: { attentionMask?: Tensor }): Tensor;
}

export interface MaskedLMTaskOptions extends LMTaskOptions {
  maskTokenId: number;
  vocabSize: number;
  /** ids never masked or used as random replacements (CLS, SEP, PAD, ...) */
  specialIds: readonly number[];
  /** share of tokens predicted (default 0.15; of them 80% [MASK], 10% random, 10% kept, as BERT) */
  maskProbability?: number;
}

/** The masking settings a tokenizer gives a masked-LM task: its mask token, vocabulary and the ids never masked. */
export function maskingOf(tokenizer: Tokenizer, op: string): Pick<MaskedLMTaskOptions, 'maskTokenId' | 'vocabSize' | 'specialIds'> {
  const sp = tokenizer.special;
  if (sp.mask === undefined) throw new StrataError('argument', op, 'masked-LM training and evaluation need a tokenizer with a mask token ([MASK] or <mask>)');
  const specialIds = [sp.pad, sp.sep, sp.bos, sp.eos, sp.unk, sp.mask].filter((x): x is number => x !== undefined);
  return { maskTokenId: sp.mask, vocabSize: tokenizer.vocabSize, specialIds };
}

/** BERT/RoBERTa masked-LM pretraining over packed windows. */
export class MaskedLMTask implements TrainingTask {
  private readonly sampler: BatchSampler;
  private batches = 0;
  private readonly special: Set<number>;

  constructor(
    readonly model: MaskedLM,
    readonly windows: TokenWindows,
    readonly options: MaskedLMTaskOptions,
  ) {
    this.sampler = new BatchSampler(windows.trainCount, options.batchSize, options.seed);
    this.special = new Set(options.specialIds);
    const p = options.maskProbability ?? 0.15;
    if (!(p > 0 && p < 1)) throw new StrataError('argument', 'MaskedLMTask', `maskProbability must be in (0, 1), got ${p}`);
  }

  /** Masks the windows' first T tokens: inputs with [MASK]/random/kept tokens and labels (-100 where not predicted). */
  private mask(windows: Int32Array[], g: Generator): { inputs: Tensor; labels: Tensor; labelIds: Int32Array } {
    const B = windows.length;
    const T = windows[0]!.length - 1;
    const ids = new Int32Array(B * T);
    const labels = new Int32Array(B * T).fill(-100);
    const p = this.options.maskProbability ?? 0.15;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const id = windows[b]![t]!;
        const i = b * T + t;
        ids[i] = id;
        if (this.special.has(id) || g.uniform() >= p) continue;
        labels[i] = id;
        const r = g.uniform();
        if (r < 0.8) ids[i] = this.options.maskTokenId;
        else if (r < 0.9) {
          let rid: number;
          do rid = Math.floor(g.uniform() * this.options.vocabSize);
          while (this.special.has(rid));
          ids[i] = rid;
        }
      }
    }
    return { inputs: fromArray(ids, [B, T], { dtype: 'i32' }), labels: fromArray(labels, [B, T], { dtype: 'i32' }), labelIds: labels };
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    const windows = this.sampler.next().map((i) => this.windows.window('train', i));
    const { inputs, labels } = this.mask(windows, streamGenerator(this.options.seed, 1, this.batches++));
    return { loss: crossEntropy(this.model.forward(inputs), labels), tokens: inputs.size };
  }

  /** Masked-token loss, perplexity and accuracy on a split, with masks fixed by the seed. */
  evaluate(split: 'train' | 'val' = 'val', maxBatches = this.options.evalBatches ?? 8): Record<string, number> {
    let lossSum = 0;
    let correct = 0;
    let count = 0;
    const n = split === 'val' ? this.windows.valCount : this.windows.trainCount;
    evalBatches(n, this.options.batchSize, maxBatches).forEach((idx, k) => {
      const { inputs, labels, labelIds } = this.mask(
        idx.map((i) => this.windows.window(split, i)),
        streamGenerator(this.options.seed, 2, k),
      );
      const logits = this.model.forward(inputs);
      lossSum += crossEntropy(logits, labels, { reduction: 'sum' }).item();
      const acc = tokenAccuracy(logits, labelIds);
      correct += acc.correct;
      count += acc.count;
    });
    if (!count) return {};
    const loss = lossSum / count;
    return { val_loss: loss, val_perplexity: Math.exp(loss), val_accuracy: correct / count };
  }

  state(): SamplerState {
    return { sampler: this.sampler.state, batches: this.batches };
  }

  restore(state: unknown): void {
    this.batches = restoreSampler(this.sampler, state, 'MaskedLMTask');
  }
}

/** A module mapping ids (B, T) with an attention mask to one row of label logits each (B, L). */
export interface Classifier extends Module {
  forward(ids: Tensor, options?: { attentionMask?: Tensor }): Tensor;
}

export interface LabelledExample {
  ids: number[];
  /** class index, or the target value for regression */
  label: number;
}

export interface ClassificationTaskOptions {
  batchSize: number;
  seed: number;
  padId: number;
  /** 'classification' (cross-entropy) or 'regression' (MSE on one output) */
  problem?: 'classification' | 'regression';
  numLabels: number;
  /** examples scored per evaluation (default all) */
  evalLimit?: number;
}

/**
 * Token ids of one classification example: special tokens added, at most `maxLength`, the
 * end-of-sequence token kept last when cut (decoders classify from the last token), and a pad
 * token for an empty text.
 */
export function encodeExample(tokenizer: Tokenizer, text: string, maxLength: number): number[] {
  // a token covers at least one character, usually several: no need to encode a whole long document
  const ids = tokenizer.encode(text.slice(0, maxLength * 16), { addSpecialTokens: true });
  if (ids.length === 0) return [padTokenId(tokenizer)];
  if (ids.length <= maxLength) return ids;
  const eos = tokenizer.special.eos;
  return eos !== undefined ? [...ids.slice(0, maxLength - 1), eos] : ids.slice(0, maxLength);
}

/** Right-pads examples into ids (B, T) and a mask; decoders read the last real token, encoders the first. */
export function padBatch(examples: readonly { ids: number[] }[], padId: number): { ids: Tensor; mask: Tensor; tokens: number } {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.ids.length));
  if (!(T > 0)) throw new StrataError('argument', 'padBatch', 'every example must hold at least one token');
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Int32Array(B * T);
  let tokens = 0;
  examples.forEach((e, b) => {
    ids.set(e.ids, b * T);
    mask.fill(1, b * T, b * T + e.ids.length);
    tokens += e.ids.length;
  });
  return { ids: fromArray(ids, [B, T], { dtype: 'i32' }), mask: fromArray(mask, [B, T], { dtype: 'i32' }), tokens };
}

/** Accuracy and F1 (binary: of label 1; more labels: macro average) of predictions. */
export function classificationMetrics(pred: readonly number[], gold: readonly number[], numLabels: number): { accuracy: number; f1: number } {
  let correct = 0;
  const tp = new Array<number>(numLabels).fill(0);
  const fp = new Array<number>(numLabels).fill(0);
  const fn = new Array<number>(numLabels).fill(0);
  pred.forEach((p, i) => {
    const g = gold[i]!;
    if (p === g) {
      correct++;
      tp[g]!++;
    } else {
      fp[p]!++;
      fn[g]!++;
    }
  });
  const f1Of = (c: number) => (tp[c]! === 0 ? 0 : (2 * tp[c]!) / (2 * tp[c]! + fp[c]! + fn[c]!));
  const f1 = numLabels === 2 ? f1Of(1) : Array.from({ length: numLabels }, (_, c) => f1Of(c)).reduce((a, b) => a + b, 0) / numLabels;
  return { accuracy: pred.length ? correct / pred.length : 0, f1 };
}

/** Sequence classification or regression on labelled token sequences. */
export class ClassificationTask implements TrainingTask {
  private readonly sampler: BatchSampler;
  private batches = 0;

  constructor(
    readonly model: Classifier,
    readonly train: readonly LabelledExample[],
    readonly val: readonly LabelledExample[],
    readonly options: ClassificationTaskOptions,
  ) {
    if (!train.length) throw new StrataError('argument', 'ClassificationTask', 'no training examples');
    this.sampler = new BatchSampler(train.length, options.batchSize, options.seed);
  }

  private lossOf(logits: Tensor, labels: readonly number[], reduction: 'mean' | 'sum'): Tensor {
    if (this.options.problem === 'regression') return mseLoss(logits.reshape(-1), fromArray(Float32Array.from(labels), [labels.length]), reduction);
    return crossEntropy(logits, fromArray(Int32Array.from(labels), [labels.length], { dtype: 'i32' }), { reduction });
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    const examples = this.sampler.next().map((i) => this.train[i]!);
    this.batches++;
    const { ids, mask, tokens } = padBatch(examples, this.options.padId);
    const logits = this.model.forward(ids, { attentionMask: mask }); // (B, L)
    return { loss: this.lossOf(logits, examples.map((e) => e.label), 'mean'), tokens };
  }

  /** Predictions (class ids, or values for regression) for examples, in order. */
  predict(examples: readonly { ids: number[] }[]): { predictions: number[]; logits: number[][] } {
    const predictions: number[] = [];
    const logits: number[][] = [];
    for (let i = 0; i < examples.length; i += this.options.batchSize) {
      const chunk = examples.slice(i, i + this.options.batchSize);
      const { ids, mask } = padBatch(chunk, this.options.padId);
      const out = this.model.forward(ids, { attentionMask: mask }); // (B, L)
      const L = out.shape[1]!;
      const flat = out.toArray();
      for (let b = 0; b < chunk.length; b++) {
        const row = flat.slice(b * L, (b + 1) * L);
        logits.push(row);
        predictions.push(this.options.problem === 'regression' ? row[0]! : row.indexOf(Math.max(...row)));
      }
    }
    return { predictions, logits };
  }

  evaluate(): Record<string, number> {
    // a periodic evaluation scores an evenly spread subset: datasets are often sorted by label
    const limit = Math.min(this.options.evalLimit ?? this.val.length, this.val.length);
    const val = limit === this.val.length ? this.val : Array.from({ length: limit }, (_, i) => this.val[Math.floor((i * this.val.length) / limit)]!);
    if (!val.length) return {};
    const { predictions, logits } = this.predict(val);
    const L = logits[0]!.length;
    const loss = this.lossOf(fromArray(Float32Array.from(logits.flat()), [val.length, L]), val.map((e) => e.label), 'mean').item();
    if (this.options.problem === 'regression') {
      const mae = predictions.reduce((s, p, i) => s + Math.abs(p - val[i]!.label), 0) / val.length;
      return { val_loss: loss, val_mae: mae };
    }
    const m = classificationMetrics(predictions, val.map((e) => e.label), this.options.numLabels);
    return { val_loss: loss, val_accuracy: m.accuracy, val_f1: m.f1 };
  }

  state(): SamplerState {
    return { sampler: this.sampler.state, batches: this.batches };
  }

  restore(state: unknown): void {
    this.batches = restoreSampler(this.sampler, state, 'ClassificationTask');
  }
}

export interface SftExample {
  ids: number[];
  labels: number[];
}

/** Supervised instruction tuning: causal-LM loss on the answer tokens only. */
export class SftTask implements TrainingTask {
  private readonly sampler: BatchSampler;
  private batches = 0;

  constructor(
    readonly model: CausalLM,
    readonly train: readonly SftExample[],
    readonly val: readonly SftExample[],
    readonly options: { batchSize: number; seed: number; padId: number },
  ) {
    if (!train.length) throw new StrataError('argument', 'SftTask', 'no training examples');
    this.sampler = new BatchSampler(train.length, options.batchSize, options.seed);
  }

  private loss(examples: readonly SftExample[], reduction: 'mean' | 'sum'): { loss: Tensor; tokens: number; answerTokens: number } {
    const { inputs, targets } = collateSft(examples, this.options.padId);
    const answerTokens = examples.reduce((n, e) => n + e.labels.filter((l) => l !== -100).length, 0);
    // right padding: a causal model's real tokens never attend to the padding after them
    return { loss: crossEntropy(this.model.forward(inputs), targets, { reduction }), tokens: inputs.size, answerTokens };
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    const examples = this.sampler.next().map((i) => this.train[i]!);
    this.batches++;
    const { loss, tokens } = this.loss(examples, 'mean');
    return { loss, tokens };
  }

  evaluate(): Record<string, number> {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < this.val.length; i += this.options.batchSize) {
      const r = this.loss(this.val.slice(i, i + this.options.batchSize), 'sum');
      sum += r.loss.item();
      count += r.answerTokens;
    }
    if (!count) return {};
    return { val_loss: sum / count, val_perplexity: Math.exp(sum / count) };
  }

  state(): SamplerState {
    return { sampler: this.sampler.state, batches: this.batches };
  }

  restore(state: unknown): void {
    this.batches = restoreSampler(this.sampler, state, 'SftTask');
  }
}
