import { StrataError } from '../errors.js';
import type { EncoderModel } from '../models/types.js';
import type { BertConfig, BertForMaskedLM, BertForQuestionAnswering, BertForSequenceClassification } from '../models/bert.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';

/** A right-padded batch of encoder inputs: ids (B, T), attention mask (B, T), token types (B, T). */
export interface EncoderBatch {
  ids: Tensor;
  attentionMask: Tensor;
  tokenTypeIds: Tensor;
  /** real tokens per row */
  lengths: number[];
  rows: number[][];
}

/** Encodes one text, or a (first, second) pair in the model's pair format, truncated to maxLength. */
export function encodeForEncoder(tokenizer: Tokenizer, config: Pick<BertConfig, 'model_type'>, a: string, b?: string, maxLength = 512): { ids: number[]; types: number[] } {
  const first = tokenizer.encode(a, { addSpecialTokens: true });
  if (b === undefined) return { ids: first.slice(0, maxLength), types: new Array<number>(Math.min(first.length, maxLength)).fill(0) };
  const sep = tokenizer.special.sep ?? tokenizer.special.eos;
  if (sep === undefined) throw new StrataError('unsupported', 'encode', 'the tokenizer has no separator token for text pairs');
  const second = tokenizer.encode(b, { addSpecialTokens: false });
  // BERT: [CLS] a [SEP] b [SEP] with token types 0…0 1…1; RoBERTa: <s> a </s></s> b </s>, one type
  const middle = config.model_type === 'roberta' ? [sep] : [];
  const ids = [...first, ...middle, ...second, sep];
  const types = config.model_type === 'roberta' ? ids.map(() => 0) : ids.map((_, i) => (i < first.length ? 0 : 1));
  return { ids: ids.slice(0, maxLength), types: types.slice(0, maxLength) };
}

export function padBatch(rows: readonly { ids: number[]; types: number[] }[], padId: number): EncoderBatch {
  const b = rows.length;
  const t = Math.max(1, ...rows.map((r) => r.ids.length));
  const ids = new Int32Array(b * t).fill(padId);
  const mask = new Uint8Array(b * t);
  const types = new Int32Array(b * t);
  rows.forEach((r, i) => {
    ids.set(r.ids, i * t);
    mask.fill(1, i * t, i * t + r.ids.length);
    types.set(r.types, i * t);
  });
  return {
    ids: fromArray(ids, [b, t], { dtype: 'i32' }),
    attentionMask: fromArray(mask, [b, t], { dtype: 'bool' }),
    tokenTypeIds: fromArray(types, [b, t], { dtype: 'i32' }),
    lengths: rows.map((r) => r.ids.length),
    rows: rows.map((r) => r.ids),
  };
}

function softmax(xs: ArrayLike<number>): number[] {
  const arr = Array.from(xs);
  const m = Math.max(...arr);
  const e = arr.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

export interface FeatureOptions {
  /** 'mean' over real tokens (sentence-transformers style) or the first token ('cls') */
  pooling?: 'mean' | 'cls';
  /** scale each vector to unit L2 norm */
  normalize?: boolean;
  batchSize?: number;
}

/** Sentence embeddings from an encoder (feature extraction). */
export function embedTexts(model: EncoderModel & { config: BertConfig }, tokenizer: Tokenizer, texts: readonly string[], options: FeatureOptions = {}): number[][] {
  const pooling = options.pooling ?? 'mean';
  const bs = options.batchSize ?? 16;
  const out: number[][] = [];
  for (let s = 0; s < texts.length; s += bs) {
    const batch = padBatch(
      texts.slice(s, s + bs).map((t) => encodeForEncoder(tokenizer, model.config, t, undefined, model.maxPositions)),
      model.config.pad_token_id,
    );
    const hidden = noGrad(() => model.encode(batch.ids, { attentionMask: batch.attentionMask, tokenTypeIds: batch.tokenTypeIds }).lastHiddenState);
    const [b, t, c] = hidden.shape as [number, number, number];
    const h = hidden.toFloat32Array();
    for (let i = 0; i < b; i++) {
      const v = new Array<number>(c).fill(0);
      const n = pooling === 'cls' ? 1 : batch.lengths[i]!;
      for (let j = 0; j < n; j++) for (let k = 0; k < c; k++) v[k]! += h[(i * t + j) * c + k]!;
      for (let k = 0; k < c; k++) v[k] = v[k]! / n;
      if (options.normalize) {
        const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
        for (let k = 0; k < c; k++) v[k] = v[k]! / norm;
      }
      out.push(v);
    }
  }
  return out;
}

export interface MaskPrediction {
  token: number;
  tokenStr: string;
  score: number;
  sequence: string;
}

/** Predicts the token at each mask position of `text` (the tokenizer's mask token: [MASK], <mask>). */
export function fillMask(model: BertForMaskedLM, tokenizer: Tokenizer, text: string, topK = 5): MaskPrediction[][] {
  const maskId = tokenizer.special.mask;
  if (maskId === undefined) throw new StrataError('unsupported', 'fillMask', 'the tokenizer has no mask token');
  const { ids, types } = encodeForEncoder(tokenizer, model.config, text, undefined, model.maxPositions);
  const positions = ids.flatMap((id, i) => (id === maskId ? [i] : []));
  if (positions.length === 0) throw new StrataError('argument', 'fillMask', `the text holds no mask token (${tokenizer.idToToken(maskId)})`);
  const batch = padBatch([{ ids, types }], model.config.pad_token_id);
  const logits = noGrad(() => model.forward(batch.ids, { attentionMask: batch.attentionMask, tokenTypeIds: batch.tokenTypeIds })).toFloat32Array();
  const v = model.vocabSize;
  return positions.map((p) => {
    const probs = softmax(logits.subarray(p * v, (p + 1) * v));
    const best = probs
      .map((s, token) => ({ token, s }))
      .sort((a, b) => b.s - a.s)
      .slice(0, topK);
    return best.map(({ token, s }) => {
      const filled = [...ids];
      filled[p] = token;
      return { token, tokenStr: tokenizer.idToToken(token), score: s, sequence: tokenizer.decode(filled, { skipSpecialTokens: true }) };
    });
  });
}

/** Label probabilities of a sequence classifier, best first (labels from config.json's id2label). */
export function classifyText(model: BertForSequenceClassification, tokenizer: Tokenizer, text: string, pair?: string): { label: string; score: number }[] {
  const batch = padBatch([encodeForEncoder(tokenizer, model.config, text, pair, model.maxPositions)], model.config.pad_token_id);
  const logits = noGrad(() => model.forward(batch.ids, { attentionMask: batch.attentionMask, tokenTypeIds: batch.tokenTypeIds })).toFloat32Array();
  const probs = softmax(logits);
  const names = model.config.id2label;
  return probs.map((score, i) => ({ label: names?.[String(i)] ?? `LABEL_${i}`, score })).sort((a, b) => b.score - a.score);
}

export interface ExtractiveAnswer {
  answer: string;
  score: number;
  /** token span within the context */
  start: number;
  end: number;
}

/** Extractive question answering: the most likely span of `context` that answers `question`. */
export function answerExtractive(model: BertForQuestionAnswering, tokenizer: Tokenizer, question: string, context: string, options: { maxAnswerTokens?: number } = {}): ExtractiveAnswer {
  const maxLen = options.maxAnswerTokens ?? 30;
  const ctxIds = tokenizer.encode(context, { addSpecialTokens: false });
  const { ids, types } = encodeForEncoder(tokenizer, model.config, question, context, model.maxPositions);
  // the context starts after the question part: find where its tokens begin
  const qLen = ids.length - ctxIds.length - 1;
  if (qLen < 1) throw new StrataError('argument', 'answerExtractive', 'question and context do not fit the model together');
  const batch = padBatch([{ ids, types }], model.config.pad_token_id);
  const { startLogits, endLogits } = noGrad(() => model.forward(batch.ids, { attentionMask: batch.attentionMask, tokenTypeIds: batch.tokenTypeIds }));
  const sl = startLogits.toFloat32Array();
  const el = endLogits.toFloat32Array();
  const sp = softmax(sl.subarray(qLen, qLen + ctxIds.length));
  const ep = softmax(el.subarray(qLen, qLen + ctxIds.length));
  let best = { start: 0, end: 0, score: -1 };
  for (let s = 0; s < ctxIds.length; s++)
    for (let e = s; e < Math.min(ctxIds.length, s + maxLen); e++) {
      const score = sp[s]! * ep[e]!;
      if (score > best.score) best = { start: s, end: e, score };
    }
  return { answer: tokenizer.decode(ctxIds.slice(best.start, best.end + 1), { skipSpecialTokens: true }).trim(), ...best };
}
