// Beam search for encoder-decoder models (Whisper, VisionEncoderDecoder: any EncoderDecoderModel),
// scored as transformers' generate(num_beams=K) scores it (beam-scorer.ts has the rules).
//
// Per input: the encoder states are given (encoded once, for the whole batch, by the caller);
// every decoder layer's cross-attention keys and values are computed once for the batch, and an
// input's K beams read its rows through a broadcast view (batch stride 0: no copy, where
// expanding to B*K rows would hold K copies: for Whisper large's 32 layers over 1500 positions,
// 491 MB an input per extra beam). The prompt is decoded once, as one row; the self-attention
// cache then grows to K rows and is reordered as beams are chosen. Inputs are searched one after
// another: each keeps its own cache, so batching inputs would only share the weights' reads.
//
// Scores per step, as transformers computes them: the log-softmax of the decoder's logits, then
// the logits rules (suppressed tokens, Whisper's timestamp grammar) on those log-probabilities.
// The rules only mask tokens, and the timestamp rule compares log-sum-exps, so its choices are
// the same either way; what differs from applying the rules first (as greedy decoding and
// OpenAI's Whisper do) is that the masked mass is not renormalized away, which changes the
// beams' sums and so can change which beam wins.
//
// Shapes: B inputs, K beams, S encoder positions, C hidden, H heads, D head size, T tokens,
// V vocab.

import { StrataError } from '../errors.js';
import { CrossAttentionStates, type EncoderDecoderModel } from '../models/encoder-decoder.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { BeamScorer, type EarlyStopping } from './beam-scorer.js';
import { type EncoderDecoderResult, type LogitsRule, checkPrompts } from './encoder-decoder.js';
import { logSoftmaxRow } from './sampling.js';

export interface EncoderDecoderBeamOptions {
  numBeams: number;
  /** most new tokens per input (default: as many as the decoder's positions leave after the prompt) */
  maxTokens?: number;
  /** hypotheses score sum(logprob) / generated^lengthPenalty, the stop token counted (default 1) */
  lengthPenalty?: number;
  /** false (default): stop when no running beam can beat the finished ones at its length; true: when numBeams are finished; 'never': at the budget's length */
  earlyStopping?: EarlyStopping;
  /** ids that end a hypothesis (e.g. <|endoftext|>); they are not part of its tokens */
  stopTokens?: readonly number[];
  /** applied to every beam's log-probabilities at every step, in order */
  rules?: readonly LogitsRule[];
  /** hypotheses returned per input, best first (default 1; at most numBeams) */
  numReturnSequences?: number;
  /** cancels the search between steps: each input not yet done returns its best running beam, finishReason 'abort' */
  signal?: AbortSignal;
}

export interface EncoderDecoderHypothesis extends EncoderDecoderResult {
  /** sumLogprob / scoredTokens^lengthPenalty: what the beams were ranked by */
  score: number;
}

/** One input's cross-attention states (1, H, S, D) per layer, read by K rows without a copy. */
function broadcastRows(cross: CrossAttentionStates, input: number, k: number): CrossAttentionStates {
  const view = (t: Tensor) => {
    const row = t.slice(0, input, input + 1); // (1, H, S, D)
    return k === 1 ? row : row.expand(k, t.shape[1]!, t.shape[2]!, t.shape[3]!); // (K, H, S, D), batch stride 0
  };
  return new CrossAttentionStates(cross.keys.map(view), cross.values.map(view));
}

/**
 * Beam search over each row of `encoderStates` (B, S, C) from model.encode, continuing its prompt
 * (decoder ids, e.g. Whisper's <|startoftranscript|><|en|><|transcribe|><|notimestamps|>).
 * Returns, per input, its best hypotheses, best first.
 */
export function beamSearchEncoderDecoder(model: EncoderDecoderModel, encoderStates: Tensor, prompts: readonly (readonly number[])[], options: EncoderDecoderBeamOptions): EncoderDecoderHypothesis[][] {
  const op = 'beamSearchEncoderDecoder';
  const { longest, room } = checkPrompts(model, encoderStates, prompts, op);
  const k = options.numBeams;
  if (!Number.isInteger(k) || k < 1) throw new StrataError('argument', op, `numBeams must be an integer >= 1, got ${k}`);
  const maxTokens = options.maxTokens ?? room;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new StrataError('argument', op, `maxTokens must be an integer >= 1, got ${maxTokens}`);
  if (maxTokens > room) throw new StrataError('argument', op, `prompt (${longest} tokens) + maxTokens (${maxTokens}) exceeds the decoder's ${model.maxPositions} positions`);
  const returned = options.numReturnSequences ?? 1;
  if (!Number.isInteger(returned) || returned < 1 || returned > k) throw new StrataError('argument', op, `numReturnSequences must be an integer in [1, numBeams = ${k}], got ${returned}`);
  const rules = options.rules ?? [];

  return noGrad(() => {
    const cross = model.crossAttention(encoderStates); // (B, H, S, D) per layer
    return prompts.map((prompt, input) => {
      const scorer = new BeamScorer({ numBeams: k, maxTokens, lengthPenalty: options.lengthPenalty, earlyStopping: options.earlyStopping, stopTokens: options.stopTokens });
      const one = broadcastRows(cross, input, 1);
      const many = broadcastRows(cross, input, k);
      const cache = model.createCache(1, prompt.length + maxTokens);
      // the prompt once, as one row: every beam starts from it
      let logits = model.decode(fromArray(Int32Array.from(prompt), [1, prompt.length], { dtype: 'i32' }), one, { cache, lastOnly: true }); // (1, 1, V)
      let aborted = false;
      for (;;) {
        const flat = logits.toFloat32Array();
        const V = logits.shape[2]!;
        const rows = scorer.running.map((beam, r) => {
          if (beam.logprob === -Infinity || r * V >= flat.length) return null;
          const row = logSoftmaxRow(flat.subarray(r * V, (r + 1) * V)); // (V)
          const ids = [...prompt, ...beam.tokens];
          for (const rule of rules) rule.process(row, ids, prompt.length);
          return row;
        });
        const parents = scorer.step(rows);
        if (scorer.done) break;
        if (options.signal?.aborted) {
          aborted = true;
          break;
        }
        cache.reorder(parents);
        const last = Int32Array.from(scorer.running, (beam) => beam.tokens[beam.tokens.length - 1]!);
        logits = model.decode(fromArray(last, [k, 1], { dtype: 'i32' }), many, { cache, lastOnly: true }); // (K, 1, V)
      }
      if (aborted) {
        const best = scorer.running[0]!;
        return [{ tokens: best.tokens, finishReason: 'abort' as const, sumLogprob: best.logprob, scoredTokens: best.tokens.length, score: best.logprob / Math.pow(best.tokens.length, scorer.lengthPenalty) }];
      }
      if (scorer.finished.length === 0) throw new StrataError('argument', op, `input ${input}: no hypothesis survived (the rules masked every token)`);
      return scorer.finished.slice(0, returned).map((h) => ({ tokens: h.tokens, finishReason: h.finishReason, sumLogprob: h.logprob, scoredTokens: h.scoredTokens, score: h.score }));
    });
  });
}
