// Generation for encoder-decoder models (architecture kind 'encoder-decoder': Whisper, and any
// model implementing EncoderDecoderModel). The encoder runs once; every decoder layer's
// cross-attention keys and values are computed once from its states; then the decoder runs over
// the prompt (prefill) and one token per step with a self-attention KV cache. Each row's next
// token is chosen as in decoder-only generation (sampling.ts), after the model's logits rules
// (suppressed tokens, timestamp grammar) have changed its logits.
//
// Order per row and step, as transformers applies it: penalties, rules, then temperature /
// top-k / top-p and the pick (argmax at temperature 0).
//
// Shapes: B batch, S encoder positions, C hidden, T tokens, V vocab.

import { StrataError, fmtShape } from '../errors.js';
import type { EncoderDecoderModel } from '../models/encoder-decoder.js';
import { Generator } from '../tensor/random.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { FinishReason } from './generate.js';
import { type SamplingOptions, applyPenalties, logSoftmaxRow, sampleToken, validateSampling } from './sampling.js';

/** Changes one row of next-token logits in place (masking tokens with -Infinity, usually). */
export interface LogitsRule {
  /** `tokens` are the row's decoder ids so far, prompt included; generation began at `promptLength` */
  process(logits: Float32Array, tokens: readonly number[], promptLength: number): void;
}

export interface EncoderDecoderGenerateOptions extends SamplingOptions {
  /** most new tokens per row (default: as many as the decoder's positions leave after the prompt) */
  maxTokens?: number;
  /** ids that end a row (e.g. <|endoftext|>); they are not part of its tokens */
  stopTokens?: readonly number[];
  /** applied to every row at every step, in order */
  rules?: readonly LogitsRule[];
  /** cancels generation between steps */
  signal?: AbortSignal;
}

export interface EncoderDecoderResult {
  /** generated ids, without the prompt and without the stop token */
  tokens: number[];
  finishReason: FinishReason;
  /**
   * Sum of the log-probabilities of the chosen tokens (the stop token included) under the
   * distribution after the rules, at temperature 1; divide by the count for Whisper's average
   * log-probability.
   */
  sumLogprob: number;
  /** tokens the sum covers: tokens.length, plus one when a stop token ended the row */
  scoredTokens: number;
}

/** Runs the encoder: inputs -> encoder states (B, S, C). */
export function encodeInputs(model: EncoderDecoderModel, inputs: Tensor): Tensor {
  return noGrad(() => model.encode(inputs));
}

/**
 * Checks encoder states (B, S, C) against B decoder prompts (non-empty, ids in the vocabulary);
 * returns the longest prompt's length and the decoder positions it leaves.
 */
export function checkPrompts(model: EncoderDecoderModel, encoderStates: Tensor, prompts: readonly (readonly number[])[], op: string): { longest: number; room: number } {
  const b = prompts.length;
  if (b === 0) throw new StrataError('argument', op, 'no prompt given');
  if (encoderStates.ndim !== 3 || encoderStates.shape[0] !== b) throw new StrataError('shape', op, `encoder states must be (B, S, C) with B = ${b} prompts, got ${fmtShape(encoderStates.shape)}`);
  for (const p of prompts) {
    if (p.length === 0) throw new StrataError('argument', op, 'a prompt must hold at least one token (the decoder start token)');
    for (const t of p) if (!Number.isInteger(t) || t < 0 || t >= model.vocabSize) throw new StrataError('argument', op, `prompt token ${t} is outside the vocabulary (0..${model.vocabSize - 1})`);
  }
  const longest = Math.max(...prompts.map((p) => p.length));
  return { longest, room: model.maxPositions - longest };
}

/**
 * Generates a continuation of each prompt (decoder ids) for each row of `encoderStates` (B, S, C)
 * from model.encode. Prompts may differ in length (they are left-padded; padding is masked and
 * positions count from each row's first real token). Rows finish independently.
 */
export function generateEncoderDecoder(model: EncoderDecoderModel, encoderStates: Tensor, prompts: readonly (readonly number[])[], options: EncoderDecoderGenerateOptions = {}): EncoderDecoderResult[] {
  const op = 'generateEncoderDecoder';
  validateSampling(options, op);
  const b = prompts.length;
  const { longest, room } = checkPrompts(model, encoderStates, prompts, op);
  if (room < 0) throw new StrataError('argument', op, `a prompt of ${longest} tokens exceeds the decoder's ${model.maxPositions} positions`);
  const maxTokens = options.maxTokens ?? room;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new StrataError('argument', op, `maxTokens must be an integer >= 0, got ${maxTokens}`);
  if (maxTokens > room) throw new StrataError('argument', op, `prompt (${longest} tokens) + maxTokens (${maxTokens}) exceeds the decoder's ${model.maxPositions} positions`);
  const stops = new Set(options.stopTokens ?? []);
  const rules = options.rules ?? [];
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rows = prompts.map((p, i) => ({
    ids: [...p],
    promptLength: p.length,
    tokens: [] as number[],
    finish: (maxTokens === 0 ? 'length' : null) as FinishReason | null,
    sumLogprob: 0,
    scored: 0,
    rng: new Generator(seed + i),
  }));

  return noGrad(() => {
    const cross = model.crossAttention(encoderStates);
    const cache = model.createCache(b, longest + maxTokens);
    const padded = prompts.some((p) => p.length !== longest);
    // (B, S): which key positions hold real tokens (left padding does not)
    const valid = prompts.map((p) => Array.from({ length: longest }, (_, j) => j >= longest - p.length));
    const first = new Int32Array(b * longest);
    prompts.forEach((p, i) => first.set(p, (i + 1) * longest - p.length));
    let input = fromArray(first, [b, longest], { dtype: 'i32' });
    let positions: Tensor | undefined = padded ? fromArray(Int32Array.from(prompts.flatMap((p) => Array.from({ length: longest }, (_, j) => Math.max(0, j - (longest - p.length))))), [b, longest], { dtype: 'i32' }) : undefined;
    while (rows.some((r) => !r.finish)) {
      if (options.signal?.aborted) {
        for (const r of rows) r.finish ??= 'abort';
        break;
      }
      const mask = padded ? fromArray(Uint8Array.from(valid.flat(), Number), [b, valid[0]!.length], { dtype: 'bool' }) : undefined;
      const logits = model.decode(input, cross, { cache, attentionMask: mask, positionIds: positions, lastOnly: true }); // (B, 1, V)
      const flat = logits.toFloat32Array();
      const V = logits.shape[2]!;
      const next = new Int32Array(b).fill(rows[0]!.ids[0]!);
      rows.forEach((r, i) => {
        if (r.finish) return;
        const row = flat.subarray(i * V, (i + 1) * V);
        applyPenalties(row, r.ids, options);
        for (const rule of rules) rule.process(row, r.ids, r.promptLength);
        const token = sampleToken(row, options, r.rng);
        const lp = logSoftmaxRow(row)[token]!;
        next[i] = token;
        r.sumLogprob += lp;
        r.scored++;
        if (stops.has(token)) {
          r.finish = 'stop';
          return;
        }
        r.tokens.push(token);
        r.ids.push(token);
        if (r.tokens.length >= maxTokens) r.finish = 'length';
      });
      input = fromArray(next, [b, 1], { dtype: 'i32' });
      for (const v of valid) v.push(true);
      if (padded) positions = fromArray(Int32Array.from(rows.map((r) => r.ids.length - 1)), [b, 1], { dtype: 'i32' });
    }
    return rows.map((r) => ({ tokens: r.tokens, finishReason: r.finish ?? 'length', sumLogprob: r.sumLogprob, scoredTokens: r.scored }));
  });
}
