// The bookkeeping of one input's beam search, apart from any model: which continuations run on,
// which end as hypotheses, and when the search is over. It follows transformers' beam search
// (GenerationMixin._beam_search, 5.x) step for step, so that a model scored the same way picks
// the same tokens:
//
//   - each step takes the 2K best continuations (K = numBeams) over all running beams, ranked by
//     summed log-probability;
//   - a continuation that ends (a stop token, or the token budget reached) becomes a hypothesis
//     only when it ranks among the first K of those 2K; its score is
//     sum(logprob) / generated^lengthPenalty, `generated` counting the stop token and not the prompt;
//   - the K best continuations that do not end run on; at most K hypotheses are kept, the best;
//   - the search ends when the budget is spent, or (earlyStopping true) when K hypotheses are
//     done, or when no running beam can still beat the worst of K hypotheses: its score at its
//     current length (earlyStopping false, transformers' default), or at the budget's length
//     (earlyStopping 'never' with lengthPenalty > 0). Once that test fails it stays failed.
//
// One difference, in corners only: where transformers fills a slot with a stand-in scored about
// -1e9 (beams 1..K-1 at the start, copies of beam 0 that matter only when beam 0 has fewer than
// 2K allowed tokens; an ended continuation kept running when fewer than K of the 2K run on),
// the slot here is dead (-Infinity) and that step keeps fewer beams running.

import { StrataError } from '../errors.js';
import { topEntries } from './sampling.js';

export type EarlyStopping = boolean | 'never';

export interface BeamScorerOptions {
  numBeams: number;
  /** most generated tokens; a beam reaching it ends ('length') */
  maxTokens: number;
  /** scores are sum(logprob) / generated^lengthPenalty (default 1) */
  lengthPenalty?: number;
  /** see the header (default false, as transformers) */
  earlyStopping?: EarlyStopping;
  stopTokens?: readonly number[];
}

export interface RunningBeam {
  /** generated ids so far (no prompt) */
  tokens: number[];
  /** summed log-probability; -Infinity for a dead slot */
  logprob: number;
}

export interface ScoredHypothesis {
  /** generated ids, without the stop token */
  tokens: number[];
  /** summed log-probability, the stop token's included */
  logprob: number;
  /** logprob / generated^lengthPenalty */
  score: number;
  /** tokens the log-probability covers: tokens, plus the stop token when there is one */
  scoredTokens: number;
  finishReason: 'stop' | 'length';
}

interface Candidate {
  parent: number;
  token: number;
  logprob: number;
}

// transformers' stand-in score of a hypothesis slot still empty
const EMPTY_SLOT = -1e9;

export class BeamScorer {
  readonly numBeams: number;
  readonly maxTokens: number;
  readonly lengthPenalty: number;
  readonly earlyStopping: EarlyStopping;
  private readonly stops: Set<number>;
  /** K slots, best first once the first step ran */
  running: RunningBeam[];
  /** at most K hypotheses, best first */
  readonly finished: ScoredHypothesis[] = [];
  done = false;
  private improvable = true;

  constructor(options: BeamScorerOptions) {
    const op = 'beamSearch';
    const { numBeams: k, maxTokens } = options;
    if (!Number.isInteger(k) || k < 1) throw new StrataError('argument', op, `numBeams must be an integer >= 1, got ${k}`);
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new StrataError('argument', op, `maxTokens must be an integer >= 1, got ${maxTokens}`);
    const lp = options.lengthPenalty ?? 1;
    if (!Number.isFinite(lp)) throw new StrataError('argument', op, `lengthPenalty must be a finite number, got ${lp}`);
    const es = options.earlyStopping ?? false;
    if (es !== true && es !== false && es !== 'never') throw new StrataError('argument', op, `earlyStopping must be true, false or 'never', got ${String(es)}`);
    this.numBeams = k;
    this.maxTokens = maxTokens;
    this.lengthPenalty = lp;
    this.earlyStopping = es;
    this.stops = new Set(options.stopTokens ?? []);
    // only the first beam is live at the start: the others would repeat its continuations
    this.running = Array.from({ length: k }, (_, b) => ({ tokens: [], logprob: b === 0 ? 0 : -Infinity }));
  }

  /** Generated tokens of every running beam so far (the same for all). */
  get length(): number {
    return this.running[0]!.tokens.length;
  }

  private score(logprob: number, generated: number): number {
    return logprob / Math.pow(generated, this.lengthPenalty);
  }

  /**
   * One step: `rows[b]` holds running beam b's next-token log-probabilities (V), already changed
   * by the logits rules; null or ignored for a dead beam. Returns, for each of the K new running
   * beams, the old beam it continues (the cache rows to keep, in order).
   */
  step(rows: readonly (Float32Array | null)[]): number[] {
    if (this.done) throw new StrataError('argument', 'beamSearch', 'the search is over; no more steps');
    const k = this.numBeams;
    const generated = this.length + 1;
    const candidates: Candidate[] = [];
    this.running.forEach((beam, b) => {
      const row = rows[b];
      if (beam.logprob === -Infinity || !row) return;
      for (const [token, l] of topEntries(row, 2 * k)) if (l > -Infinity) candidates.push({ parent: b, token, logprob: beam.logprob + l });
    });
    candidates.sort((a, b) => b.logprob - a.logprob);
    candidates.length = Math.min(candidates.length, 2 * k);
    const atLimit = generated >= this.maxTokens;
    const ends = (c: Candidate) => atLimit || this.stops.has(c.token);

    const full = this.earlyStopping === true && this.finished.length === k;
    if (this.improvable && !full) {
      // only the first K of the 2K may end; the others are there to keep K beams running
      candidates.slice(0, k).forEach((c) => {
        if (!ends(c)) return;
        const stopped = this.stops.has(c.token);
        const tokens = [...this.running[c.parent]!.tokens];
        if (!stopped) tokens.push(c.token);
        this.finished.push({ tokens, logprob: c.logprob, score: this.score(c.logprob, generated), scoredTokens: generated, finishReason: stopped ? 'stop' : 'length' });
      });
      this.finished.sort((a, b) => b.score - a.score);
      this.finished.length = Math.min(this.finished.length, k);
    }

    const next = candidates.filter((c) => !ends(c)).slice(0, k);
    const parents = next.map((c) => c.parent);
    const running = next.map((c) => ({ tokens: [...this.running[c.parent]!.tokens, c.token], logprob: c.logprob }));
    while (running.length < k) {
      parents.push(0);
      running.push({ tokens: [...this.running[0]!.tokens, 0], logprob: -Infinity });
    }
    this.running = running;

    const bestLength = this.earlyStopping === 'never' && this.lengthPenalty > 0 ? this.maxTokens : generated;
    const bestPossible = this.running[0]!.logprob === -Infinity ? -Infinity : this.score(this.running[0]!.logprob, bestLength);
    const worst = this.finished.length < k ? EMPTY_SLOT : this.finished[k - 1]!.score;
    this.improvable &&= bestPossible > worst;
    const open = !(this.earlyStopping === true && this.finished.length === k);
    const continuable = candidates.some((c) => !ends(c));
    this.done = !this.improvable || !open || !continuable;
    return parents;
  }
}
