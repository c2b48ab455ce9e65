// Text classification with a trained head: BERT/RoBERTa *ForSequenceClassification and the decoder
// heads (Llama/GPT-2 *ForSequenceClassification), labelled by config.json's id2label.
//
// Shapes: T tokens, L labels.

import { StrataError } from '../errors.js';
import { BertForSequenceClassification } from '../models/bert.js';
import type { LabelFields, SequenceClassifier } from '../models/heads.js';
import type { StrataModel } from '../models/registry.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { classifyText } from './encoder.js';

export interface LabelScore {
  label: string;
  score: number;
}

/** A model with a sequence-classification head, or null for any other model. */
export function sequenceClassifier(model: StrataModel): BertForSequenceClassification | SequenceClassifier | null {
  if (model instanceof BertForSequenceClassification) return model;
  return model.kind === 'decoder-classifier' ? model : null;
}

/**
 * The head's label scores for `text`, best first, as Hugging Face's text-classification pipeline
 * reports them: softmax over the labels for single-label heads, a sigmoid per label for
 * multi-label (and one-label) heads, the raw value for regression.
 */
export function classifyWithHead(model: BertForSequenceClassification | SequenceClassifier, tokenizer: Tokenizer, text: string, labels: LabelFields): LabelScore[] {
  if (model instanceof BertForSequenceClassification) return classifyText(model, tokenizer, text);
  const ids = tokenizer.encode(text, { addSpecialTokens: true }).slice(0, model.maxPositions);
  if (ids.length === 0) throw new StrataError('argument', 'classify', 'the text encodes to no tokens');
  // the head reads the last real token: no padding in a batch of one
  const logits = Array.from(noGrad(() => model.forward(fromArray(Int32Array.from(ids), [1, ids.length], { dtype: 'i32' }))).toFloat32Array()); // (L)
  const name = (i: number) => labels.id2label?.[String(i)] ?? `LABEL_${i}`;
  if (labels.problem_type === 'regression') return logits.map((score, i) => ({ label: name(i), score }));
  let scores: number[];
  if (labels.problem_type === 'multi_label_classification' || logits.length === 1) scores = logits.map((x) => 1 / (1 + Math.exp(-x)));
  else {
    const m = Math.max(...logits);
    const e = logits.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    scores = e.map((x) => x / z);
  }
  return scores.map((score, i) => ({ label: name(i), score })).sort((a, b) => b.score - a.score);
}
