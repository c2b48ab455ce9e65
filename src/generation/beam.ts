import { StrataError } from '../errors.js';
import type { CausalLM } from '../models/types.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { TextDecoder } from './generate.js';
import { logSoftmaxRow, maskUndecodable, topEntries } from './sampling.js';

export interface BeamSearchOptions {
  numBeams: number;
  maxTokens?: number;
  /** scores are sum(logprob) / length^lengthPenalty (1 = average log-probability; > 1 favours longer outputs) */
  lengthPenalty?: number;
  /** stop as soon as numBeams hypotheses are finished (otherwise when no running beam can still win) */
  earlyStopping?: boolean;
  stopTokens?: readonly number[];
  /** how many hypotheses to return, best first (default numBeams) */
  numReturnSequences?: number;
  tokenizer?: TextDecoder;
}

export interface BeamHypothesis {
  tokens: number[];
  /** length-penalized score */
  score: number;
  /** sum of the tokens' log-probabilities */
  logprob: number;
  finishReason: 'stop' | 'length';
  text?: string;
}

interface Beam {
  tokens: number[];
  logprob: number;
}

/**
 * Beam search over a decoder: keeps the numBeams best partial outputs, all decoded together as
 * one batch whose KV-cache rows are reordered as beams are chosen.
 */
export function beamSearch(model: CausalLM, prompt: readonly number[], options: BeamSearchOptions): BeamHypothesis[] {
  const k = options.numBeams;
  if (!Number.isInteger(k) || k < 1) throw new StrataError('argument', 'beamSearch', `numBeams must be an integer >= 1, got ${k}`);
  const maxTokens = options.maxTokens ?? 64;
  const lp = options.lengthPenalty ?? 1;
  const stop = new Set(options.stopTokens ?? []);
  if (prompt.length === 0) throw new StrataError('argument', 'beamSearch', 'a prompt must hold at least one token');
  if (prompt.length + maxTokens > model.maxPositions) {
    throw new StrataError('argument', 'beamSearch', `prompt (${prompt.length} tokens) + maxTokens (${maxTokens}) exceeds the model's context of ${model.maxPositions}`);
  }
  const score = (logprob: number, len: number) => logprob / Math.pow(Math.max(len, 1), lp);
  const finished: BeamHypothesis[] = [];
  const cache = model.createCache(k, prompt.length + maxTokens);
  const ids = new Int32Array(k * prompt.length);
  for (let b = 0; b < k; b++) ids.set(prompt, b * prompt.length);
  let input = fromArray(ids, [k, prompt.length], { dtype: 'i32' });
  // only the first beam is live at the start, so the first step expands one prompt, not k copies
  let beams: Beam[] = Array.from({ length: k }, (_, b) => ({ tokens: [], logprob: b === 0 ? 0 : -Infinity }));
  noGrad(() => {
    for (let step = 0; step < maxTokens; step++) {
      const logits = model.forward(input, { cache, lastOnly: true }).toFloat32Array();
      const v = logits.length / k;
      const candidates: { beam: number; token: number; logprob: number }[] = [];
      beams.forEach((beam, b) => {
        if (beam.logprob === -Infinity) return;
        const raw = logits.subarray(b * v, (b + 1) * v); // (V)
        maskUndecodable(raw, options.tokenizer?.vocabSize);
        const row = logSoftmaxRow(raw);
        for (const [token, l] of topEntries(row, 2 * k)) candidates.push({ beam: b, token, logprob: beam.logprob + l });
      });
      candidates.sort((a, b) => b.logprob - a.logprob);
      const next: { from: number; beam: Beam }[] = [];
      for (const [rank, c] of candidates.entries()) {
        if (next.length === k) break;
        const tokens = [...beams[c.beam]!.tokens, c.token];
        if (stop.has(c.token)) {
          // an end token ranked below the beam width cannot displace a running beam
          if (rank < k) finished.push({ tokens: tokens.slice(0, -1), score: score(c.logprob, tokens.length), logprob: c.logprob, finishReason: 'stop' });
          continue;
        }
        next.push({ from: c.beam, beam: { tokens, logprob: c.logprob } });
      }
      while (next.length < k) next.push({ from: 0, beam: { tokens: [...beams[0]!.tokens, 0], logprob: -Infinity } });
      beams = next.map((n) => n.beam);
      if (finished.length >= k) {
        if (options.earlyStopping) break;
        const worst = Math.min(...finished.map((f) => f.score));
        const bestRunning = Math.max(...beams.map((b) => score(b.logprob, b.tokens.length)));
        // log-probabilities only fall as beams grow; with lengthPenalty <= 1 none can catch up
        if (lp <= 1 && bestRunning < worst) break;
      }
      if (step === maxTokens - 1) break;
      cache.reorder(next.map((n) => n.from));
      input = fromArray(Int32Array.from(beams.map((b) => b.tokens[b.tokens.length - 1]!)), [k, 1], { dtype: 'i32' });
    }
  });
  for (const b of beams) {
    if (b.logprob > -Infinity && b.tokens.length === maxTokens) finished.push({ tokens: b.tokens, score: score(b.logprob, b.tokens.length), logprob: b.logprob, finishReason: 'length' });
  }
  finished.sort((a, b) => b.score - a.score);
  const out = finished.slice(0, options.numReturnSequences ?? k);
  if (options.tokenizer) for (const h of out) h.text = options.tokenizer.decode(h.tokens, { skipSpecialTokens: true });
  return out;
}
