// The native sampler (sampleF32) picks the reference sampler's token (src/backend/sample.ts) for
// the same uniform draw: on flat, moderate and peaked rows, rows full of ties, 32k vocabularies,
// every filter alone and combined, NaN and infinite logits, and draws at the ends of [0, 1).
// Its top-p sums the head in another order than the reference's sort, so a draw that lands within
// rounding of a boundary could differ; the draws here are seeded and none does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon, nativeLoadError } from '../../src/backend/native.js';
import { type SampleParams, sampleReference } from '../../src/backend/sample.js';
import { Generator } from '../../src/tensor/random.js';

const lib = loadAddon();
const skip = lib ? false : `native addon not built (${nativeLoadError()})`;

const SETTINGS: SampleParams[] = [
  { temperature: 1, topK: 0, topP: 1, minP: 0 },
  { temperature: 0.8, topK: 0, topP: 0.9, minP: 0 },
  { temperature: 1, topK: 40, topP: 1, minP: 0 },
  { temperature: 0.7, topK: 50, topP: 0.95, minP: 0 },
  { temperature: 1.3, topK: 0, topP: 0.5, minP: 0.05 },
  { temperature: 2, topK: 0, topP: 0.999, minP: 0 },
  { temperature: 0.5, topK: 1, topP: 1, minP: 0 },
  { temperature: 1, topK: 0, topP: 1, minP: 0.2 },
  { temperature: 0.9, topK: 7, topP: 0.3, minP: 0.01 },
];

describe('native sampler', { skip }, () => {
  const g = new Generator(5);

  test('picks the reference token on random rows for every filter', () => {
    let cases = 0;
    for (let r = 0; r < 48; r++) {
      const n = [3, 40, 700, 5000, 32000][r % 5]!;
      const scale = [0.05, 1, 8][r % 3]!; // flat, moderate, peaked
      const logits = Float32Array.from({ length: n }, () => g.normal() * scale);
      if (r % 4 === 0) for (let i = 0; i < n; i += 3) logits[i] = 0.5; // many ties
      for (const o of SETTINGS) {
        for (let d = 0; d < 6; d++) {
          const u = d === 0 ? 0 : d === 1 ? 1 - 2 ** -53 : g.uniform();
          const want = sampleReference(logits, o, u);
          assert.equal(lib!.sampleF32(logits, o.temperature, o.topK, o.topP, o.minP, u), want, `row ${r} (n ${n}), ${JSON.stringify(o)}, u ${u}`);
          cases++;
        }
      }
    }
    assert.equal(cases, 48 * SETTINGS.length * 6);
  });

  test('is a distribution: drawn frequencies follow softmax under the filters', () => {
    // logits log(4), log(3), log(2), log(1): probabilities 0.4, 0.3, 0.2, 0.1; top-p 0.75 keeps the
    // first three (0.4 + 0.3 < 0.75 <= 0.9), renormalized to 4/9, 3/9, 2/9
    const logits = Float32Array.from([4, 3, 2, 1], Math.log);
    const counts = [0, 0, 0, 0];
    const draws = 20000;
    for (let i = 0; i < draws; i++) counts[lib!.sampleF32(logits, 1, 0, 0.75, 0, g.uniform())]!++;
    assert.equal(counts[3], 0);
    for (const [i, p] of [4 / 9, 3 / 9, 2 / 9].entries()) {
      // 5 standard deviations of a binomial proportion
      assert.ok(Math.abs(counts[i]! / draws - p) < 5 * Math.sqrt((p * (1 - p)) / draws), `token ${i}: ${counts[i]} of ${draws}`);
    }
  });

  test('NaN logits are never drawn; rows without a finite largest logit give their first largest', () => {
    const withNaN = Float32Array.from([NaN, 1, NaN, 1]);
    for (let i = 0; i < 50; i++) {
      const u = g.uniform();
      const t = lib!.sampleF32(withNaN, 1, 0, 1, 0, u);
      assert.ok(t === 1 || t === 3);
      assert.equal(t, sampleReference(withNaN, { temperature: 1, topK: 0, topP: 1, minP: 0 }, u));
    }
    const o = { temperature: 1, topK: 0, topP: 0.9, minP: 0 };
    for (const row of [[-Infinity, -Infinity], [NaN, NaN], [1, Infinity, Infinity], [-Infinity, 2, -Infinity]]) {
      const x = Float32Array.from(row);
      assert.equal(lib!.sampleF32(x, 1, 0, 0.9, 0, 0.5), sampleReference(x, o, 0.5), JSON.stringify(row));
    }
    assert.equal(lib!.sampleF32(Float32Array.from([1, Infinity, Infinity]), 1, 0, 0.9, 0, 0.5), 1);
  });

  test('bad arguments are refused with the argument named', () => {
    const x = Float32Array.from([1, 2]);
    assert.throws(() => lib!.sampleF32(x, 0, 0, 1, 0, 0.5), /temperature/);
    assert.throws(() => lib!.sampleF32(x, 1, -1, 1, 0, 0.5), /topK/);
    assert.throws(() => lib!.sampleF32(x, 1, 0, 0, 0, 0.5), /topP/);
    assert.throws(() => lib!.sampleF32(x, 1, 0, 1, 2, 0.5), /minP/);
    assert.throws(() => lib!.sampleF32(x, 1, 0, 1, 0, 1), /uniform/);
    assert.throws(() => lib!.sampleF32(new Float32Array(0), 1, 0, 1, 0, 0.5), /logits/);
  });
});
