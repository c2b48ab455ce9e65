// Task heads shared by the decoder families: sequence classification and regression on the last
// real token (Hugging Face's *ForSequenceClassification: a bias-free `score` projection), and the
// label fields of config.json they read.
//
// Shapes: B batch, T tokens, C hidden, L labels.

import { StrataError, fmtShape } from '../errors.js';
import type { ConfigReader } from '../io/config.js';
import type { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { fromArray } from '../tensor/ops/creation.js';
import { gather } from '../tensor/ops/indexing.js';
import type { DecoderForwardOptions, ModelCard } from './types.js';

export type ProblemType = 'single_label_classification' | 'multi_label_classification' | 'regression';

/** The label fields of config.json (id2label, num_labels, problem_type). */
export interface LabelFields {
  /** label names by id; null when the config names none */
  id2label: Record<string, string> | null;
  num_labels: number;
  problem_type: ProblemType | null;
}

export function parseLabelFields(c: ConfigReader): LabelFields {
  let id2label: Record<string, string> | null = null;
  const labels = c.object('id2label');
  if (labels) {
    id2label = {};
    const n = Object.keys(labels.raw).length;
    for (const [k, v] of Object.entries(labels.raw)) {
      const id = Number(k);
      if (!Number.isInteger(id) || id < 0 || id >= n) labels.fail(k, `is not a label id in [0, ${n})`);
      if (typeof v !== 'string') return labels.fail(k, 'must be a label name (string)');
      id2label[String(id)] = v;
    }
  }
  return {
    id2label,
    num_labels: id2label ? Object.keys(id2label).length : c.int('num_labels', 2, { min: 1 }),
    problem_type: c.has('problem_type') && c.raw['problem_type'] !== null ? c.choice('problem_type', ['single_label_classification', 'multi_label_classification', 'regression'] as const, 'single_label_classification') : null,
  };
}

/** A decoder stack that returns final hidden states (LlamaModel, GPT2Model). */
export interface DecoderBase extends Module {
  /** ids (B, T) -> final-norm hidden states (B, T, C) */
  forward(ids: Tensor, options?: DecoderForwardOptions): Tensor;
}

export interface SequenceClassifierOptions {
  /** (B, T) bool or integer, nonzero on real tokens; the score is read at each row's last real token. Omitted = every position is real. */
  attentionMask?: Tensor;
}

/** A model whose forward maps token ids to one row of label logits per sequence. */
export interface SequenceClassifier extends Module {
  readonly kind: 'decoder-classifier';
  readonly card: ModelCard;
  readonly numLabels: number;
  readonly vocabSize: number;
  readonly maxPositions: number;
  /** ids (B, T) -> logits (B, L) */
  forward(ids: Tensor, options?: SequenceClassifierOptions): Tensor;
}

/** Index of each row's last nonzero mask position (B,), or T - 1 for every row without a mask. */
export function lastRealPositions(mask: Tensor | undefined, b: number, t: number, op: string): Int32Array {
  const out = new Int32Array(b).fill(t - 1);
  if (!mask) return out;
  if (mask.ndim !== 2 || mask.shape[0] !== b || mask.shape[1] !== t) throw new StrataError('shape', op, `attentionMask must be (B, T) = (${b}, ${t}), got ${fmtShape(mask.shape)}`);
  const m = mask.to('f32').contiguous().toArray() as number[];
  for (let i = 0; i < b; i++) {
    let last = -1;
    for (let j = 0; j < t; j++) if (m[i * t + j] !== 0) last = j;
    if (last < 0) throw new StrataError('argument', op, `row ${i} of attentionMask has no real token`);
    out[i] = last;
  }
  return out;
}

/**
 * Hugging Face's LlamaForSequenceClassification / GPT2ForSequenceClassification: the decoder under
 * its base prefix and `score` (L, C) without bias, read at the last real token of each row.
 */
export class DecoderForSequenceClassification extends Module implements SequenceClassifier {
  readonly kind = 'decoder-classifier' as const;

  constructor(
    readonly baseName: string,
    readonly base: DecoderBase,
    readonly score: Linear,
    readonly card: ModelCard,
    readonly vocabSize: number,
    readonly maxPositions: number,
  ) {
    super();
    this.module(baseName, base);
    this.module('score', score);
  }

  get numLabels(): number {
    return this.score.outFeatures;
  }

  forward(ids: Tensor, options: SequenceClassifierOptions = {}): Tensor {
    if (ids.ndim !== 2) throw new StrataError('shape', 'SequenceClassification', `ids must be (B, T), got ${fmtShape(ids.shape)}`);
    const [B, T] = ids.shape as [number, number];
    const last = lastRealPositions(options.attentionMask, B, T, 'SequenceClassification');
    const mask = options.attentionMask ? (options.attentionMask.dtype === 'bool' ? options.attentionMask : options.attentionMask.ne(0)) : undefined;
    const h = this.base.forward(ids, mask ? { attentionMask: mask, positionIds: positionsFromMask(mask) } : {}); // (B, T, C)
    const C = h.shape[2]!;
    const idx = fromArray(last, [B, 1, 1], { dtype: 'i32' }).expand(B, 1, C);
    const pooled = gather(h, 1, idx).reshape(B, C); // (B, C)
    return this.score.forward(pooled); // (B, L)
  }
}

/** Positions that count only real tokens (left padding keeps each row's first token at 0). */
function positionsFromMask(mask: Tensor): Tensor {
  const [B, T] = mask.shape as [number, number];
  const m = mask.to('f32').contiguous().toArray() as number[];
  const pos = new Int32Array(B * T);
  for (let i = 0; i < B; i++) {
    let p = 0;
    for (let j = 0; j < T; j++) {
      pos[i * T + j] = m[i * T + j] !== 0 ? p++ : 0;
    }
  }
  return fromArray(pos, [B, T], { dtype: 'i32' });
}
