// sampleToken's top-k / top-p cut-offs come from the sorted head of the distribution only
// (sampling.ts: headDescending); they must equal the definition, a sort of every probability.
// The reference below is that definition, written out; rows are peaked, flat and full of ties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type SamplingOptions, sampleToken } from '../../src/generation/sampling.js';
import { Generator } from '../../src/tensor/random.js';

function byDefinition(logits: Float32Array, o: SamplingOptions, rng: Generator): number {
  const t = o.temperature ?? 1;
  const n = logits.length;
  const m = Math.max(...logits);
  const probs = Float32Array.from(logits, (l) => Math.exp((l - m) / t));
  const total = probs.reduce((a, p) => a + p, 0);
  for (let i = 0; i < n; i++) probs[i] = probs[i]! / total;
  const sorted = probs.slice().sort().reverse();
  const topK = o.topK ?? 0;
  const topP = o.topP ?? 1;
  let cutoff = 0;
  if (topK > 0 && topK < n) cutoff = Math.max(cutoff, sorted[topK - 1]!);
  if (topP < 1) {
    let cum = 0;
    for (const p of sorted) {
      cum += p;
      if (cum >= topP) {
        cutoff = Math.max(cutoff, p);
        break;
      }
    }
  }
  if (o.minP) cutoff = Math.max(cutoff, o.minP * sorted[0]!);
  let budget = topK > 0 && topK < n ? Math.max(topK - probs.filter((p) => p > cutoff).length, 0) : Infinity;
  const keep = Array.from(probs, (p) => !(p < cutoff || (p === cutoff && budget-- <= 0)));
  let u = rng.uniform() * probs.reduce((a, p, i) => a + (keep[i] ? p : 0), 0);
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (!keep[i]) continue;
    last = i;
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return last;
}

test('top-k / top-p / min-p sampling picks what sorting every probability picks', () => {
  const g = new Generator(11);
  const settings: SamplingOptions[] = [{ temperature: 0.8, topP: 0.9 }, { temperature: 1, topK: 40 }, { temperature: 0.7, topK: 50, topP: 0.95 }, { temperature: 1.3, topP: 0.5, minP: 0.05 }, { temperature: 2, topP: 0.999 }, { temperature: 0.5, topK: 1 }];
  let cases = 0;
  for (let r = 0; r < 60; r++) {
    const n = [40, 700, 5000][r % 3]!;
    const scale = [0.05, 1, 8][r % 4 % 3]!; // flat, moderate, peaked
    const logits = Float32Array.from({ length: n }, () => g.normal() * scale);
    if (r % 5 === 0) for (let i = 0; i < n; i += 3) logits[i] = 0.5; // many ties
    for (const o of settings) {
      const seed = 1000 * r + cases++;
      assert.equal(sampleToken(logits, o, new Generator(seed)), byDefinition(logits, o, new Generator(seed)), `row ${r}, ${JSON.stringify(o)}`);
    }
  }
});
