// Corpus BLEU (Papineni et al., 2002) with one or more references per candidate, on whitespace
// tokens:
//
//   p_n  = sum over sentences of clipped n-gram matches / sum of candidate n-grams   (n = 1..N)
//   BP   = 1 when the candidates' total length c exceeds the references' r, else exp(1 - r / c)
//   BLEU = BP * exp(mean_n log p_n)
//
// A match is clipped at the most times that n-gram occurs in any one reference, so repeating a
// right word earns nothing extra; r sums, per sentence, the reference length closest to the
// candidate's (the shorter one on a tie). Corpus-level sums (not an average of sentence scores) are what the paper
// and sacrebleu report; an empty candidate side, or any p_n of zero, gives 0 (no smoothing).

import { StrataError } from '../errors.js';

export interface BleuResult {
  /** in [0, 1] */
  bleu: number;
  /** modified n-gram precisions p_1..p_N */
  precisions: number[];
  brevityPenalty: number;
  /** total candidate and reference lengths, in tokens */
  candidateLength: number;
  referenceLength: number;
}

function tokens(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

function ngramCounts(words: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= words.length; i++) {
    const key = words.slice(i, i + n).join('\u0001');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** One reference, or several equally valid ones. */
export type References = string | readonly string[];

function referenceList(r: References, op: string, i: number): readonly string[] {
  const list = typeof r === 'string' ? [r] : r;
  if (!Array.isArray(list) || list.length === 0) throw new StrataError('argument', op, `candidate ${i} has no reference`);
  return list;
}

/** Corpus BLEU-N (default 4) of candidates against their references. */
export function corpusBleu(candidates: readonly string[], references: readonly References[], maxOrder = 4): BleuResult {
  if (candidates.length !== references.length) throw new StrataError('argument', 'corpusBleu', `needs one reference per candidate, got ${candidates.length} candidates and ${references.length} references`);
  if (!Number.isInteger(maxOrder) || maxOrder < 1) throw new StrataError('argument', 'corpusBleu', `maxOrder must be an integer >= 1, got ${maxOrder}`);
  const matches = new Array<number>(maxOrder).fill(0);
  const totals = new Array<number>(maxOrder).fill(0);
  let c = 0;
  let r = 0;
  candidates.forEach((cand, i) => {
    const hyp = tokens(cand);
    const refs = referenceList(references[i]!, 'corpusBleu', i).map(tokens);
    c += hyp.length;
    r += refs.map((x) => x.length).reduce((best, len) => (Math.abs(len - hyp.length) < Math.abs(best - hyp.length) || (Math.abs(len - hyp.length) === Math.abs(best - hyp.length) && len < best) ? len : best));
    for (let n = 1; n <= maxOrder; n++) {
      const refCounts = new Map<string, number>();
      for (const ref of refs) for (const [gram, count] of ngramCounts(ref, n)) refCounts.set(gram, Math.max(count, refCounts.get(gram) ?? 0));
      for (const [gram, count] of ngramCounts(hyp, n)) matches[n - 1]! += Math.min(count, refCounts.get(gram) ?? 0);
      totals[n - 1]! += Math.max(0, hyp.length - n + 1);
    }
  });
  const precisions = matches.map((m, i) => (totals[i]! > 0 ? m / totals[i]! : 0));
  const brevityPenalty = c === 0 ? 0 : c > r ? 1 : Math.exp(1 - r / c);
  const bleu = precisions.some((p) => p === 0) ? 0 : brevityPenalty * Math.exp(precisions.reduce((s, p) => s + Math.log(p), 0) / maxOrder);
  return { bleu, precisions, brevityPenalty, candidateLength: c, referenceLength: r };
}

/** Share of candidates equal to one of their references (whitespace runs folded, ends trimmed). */
export function exactMatch(candidates: readonly string[], references: readonly References[]): number {
  if (candidates.length !== references.length) throw new StrataError('argument', 'exactMatch', `needs one reference per candidate, got ${candidates.length} candidates and ${references.length} references`);
  if (candidates.length === 0) return 0;
  const norm = (s: string) => tokens(s).join(' ');
  return candidates.filter((cand, i) => referenceList(references[i]!, 'exactMatch', i).some((r) => norm(r) === norm(cand))).length / candidates.length;
}
