// Beam search for decoder-only LMs (GPT-2, LLaMA, ...), scored as transformers'
// generate(input_ids, num_beams=K, do_sample=False) scores it: beam-scorer.ts holds the rules
// (2K candidates, only the first K may end, score = sum(logprob) / generated^lengthPenalty with
// the stop token counted, earlyStopping false / true / 'never').
//
// The K beams are decoded together as one batch whose KV-cache rows are reordered as beams are
// chosen. One rule transformers has no counterpart for: ids past the tokenizer's vocabulary (the
// padding rows of an embedding matrix) are masked before the log-softmax, so they are never chosen.
//
// Shapes: K beams, T prompt tokens, V vocab.

import { StrataError } from '../errors.js';
import type { CausalLM } from '../models/types.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import { BeamScorer, type EarlyStopping } from './beam-scorer.js';
import type { TextDecoder } from './generate.js';
import { logSoftmaxRow, maskUndecodable } from './sampling.js';

export interface BeamSearchOptions {
  numBeams: number;
  maxTokens?: number;
  /** scores are sum(logprob) / generated^lengthPenalty, the stop token counted (default 1; > 1 favours longer outputs) */
  lengthPenalty?: number;
  /**
   * false (default, as transformers): stop when no running beam can beat the numBeams finished ones
   * at its current length; true: as soon as numBeams hypotheses are finished; 'never': only when no
   * running beam could beat them even at the budget's length
   */
  earlyStopping?: EarlyStopping;
  stopTokens?: readonly number[];
  /** how many hypotheses to return, best first (default numBeams) */
  numReturnSequences?: number;
  tokenizer?: TextDecoder;
}

export interface BeamHypothesis {
  /** generated ids, without the stop token */
  tokens: number[];
  /** length-penalized score: logprob / (tokens, plus the stop token)^lengthPenalty */
  score: number;
  /** sum of the tokens' log-probabilities, the stop token's included */
  logprob: number;
  finishReason: 'stop' | 'length';
  text?: string;
}

/**
 * Beam search continuing `prompt`; returns the finished hypotheses, best first (at most numBeams).
 * The first is what transformers' generate(num_beams=numBeams) returns for the same settings.
 */
export function beamSearch(model: CausalLM, prompt: readonly number[], options: BeamSearchOptions): BeamHypothesis[] {
  const op = 'beamSearch';
  const k = options.numBeams;
  if (!Number.isInteger(k) || k < 1) throw new StrataError('argument', op, `numBeams must be an integer >= 1, got ${k}`);
  const maxTokens = options.maxTokens ?? 64;
  if (prompt.length === 0) throw new StrataError('argument', op, 'a prompt must hold at least one token');
  if (prompt.length + maxTokens > model.maxPositions) {
    throw new StrataError('argument', op, `prompt (${prompt.length} tokens) + maxTokens (${maxTokens}) exceeds the model's context of ${model.maxPositions}`);
  }
  const returned = options.numReturnSequences ?? k;
  if (!Number.isInteger(returned) || returned < 1) throw new StrataError('argument', op, `numReturnSequences must be an integer >= 1, got ${returned}`);
  // validates maxTokens, lengthPenalty and earlyStopping
  const scorer = new BeamScorer({ numBeams: k, maxTokens, lengthPenalty: options.lengthPenalty, earlyStopping: options.earlyStopping, stopTokens: options.stopTokens });
  const cache = model.createCache(k, prompt.length + maxTokens);
  const ids = new Int32Array(k * prompt.length);
  for (let b = 0; b < k; b++) ids.set(prompt, b * prompt.length);
  // every row holds the prompt (the cache keeps K rows throughout); only beam 0 is live at first
  let input = fromArray(ids, [k, prompt.length], { dtype: 'i32' }); // (K, T)
  noGrad(() => {
    for (;;) {
      const logits = model.forward(input, { cache, lastOnly: true }).toFloat32Array(); // (K, 1, V)
      const v = logits.length / k;
      const rows = scorer.running.map((beam, b) => {
        if (beam.logprob === -Infinity) return null;
        const raw = logits.subarray(b * v, (b + 1) * v); // (V)
        maskUndecodable(raw, options.tokenizer?.vocabSize);
        return logSoftmaxRow(raw);
      });
      const parents = scorer.step(rows);
      if (scorer.done) break;
      cache.reorder(parents);
      input = fromArray(Int32Array.from(scorer.running, (beam) => beam.tokens[beam.tokens.length - 1]!), [k, 1], { dtype: 'i32' }); // (K, 1)
    }
  });
  if (scorer.finished.length === 0) throw new StrataError('argument', op, 'no hypothesis finished (every token was masked)');
  const out: BeamHypothesis[] = scorer.finished.slice(0, returned).map((h) => ({ tokens: h.tokens, score: h.score, logprob: h.logprob, finishReason: h.finishReason }));
  if (options.tokenizer) for (const h of out) h.text = options.tokenizer.decode(h.tokens, { skipSpecialTokens: true });
  return out;
}
