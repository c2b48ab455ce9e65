// Word error rate: the word-level edit distance (substitutions + deletions + insertions) between a
// reference and a hypothesis, summed over utterances and divided by the reference words. Both
// sides are normalised first (normalizeTranscript: lower case, punctuation removed), so "Call me
// Ishmael." and "call me ishmael" are the same words. A corpus WER is a ratio of sums, not a mean of
// per-utterance rates (short utterances would otherwise weigh as much as long ones), and it can
// exceed 1 when the hypotheses insert words.

import { StrataError } from '../errors.js';
import { normalizeTranscript } from './speech.js';

/** Minimum substitutions + deletions + insertions turning `ref` into `hyp` (Levenshtein on words). */
export function wordEditDistance(ref: readonly string[], hyp: readonly string[]): number {
  // one row of the DP table at a time: prev[j] = distance(ref[..i-1], hyp[..j])
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const row = [i];
    for (let j = 1; j <= hyp.length; j++) {
      const same = ref[i - 1] === hyp[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j - 1]! + same, prev[j]! + 1, row[j - 1]! + 1));
    }
    prev = row;
  }
  return prev[hyp.length]!;
}

export interface WordErrorRate {
  /** errors / words */
  wer: number;
  /** summed edit distance */
  errors: number;
  /** reference words */
  words: number;
  utterances: number;
}

const wordsOf = (text: string) => {
  const n = normalizeTranscript(text);
  return n ? n.split(' ') : [];
};

/** The corpus WER of hypotheses against references (pairs by position; both normalised). */
export function wordErrorRate(references: readonly string[], hypotheses: readonly string[]): WordErrorRate {
  if (references.length !== hypotheses.length) throw new StrataError('argument', 'wordErrorRate', `${references.length} references but ${hypotheses.length} hypotheses: they pair by position`);
  let errors = 0;
  let words = 0;
  references.forEach((r, i) => {
    const ref = wordsOf(r);
    errors += wordEditDistance(ref, wordsOf(hypotheses[i]!));
    words += ref.length;
  });
  if (words === 0 && references.length > 0) throw new StrataError('argument', 'wordErrorRate', 'the references hold no words: the rate is undefined');
  return { wer: words ? errors / words : 0, errors, words, utterances: references.length };
}
