import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as G from '../../src/generation/index.js';
import { MarkovLM, charTokenizer } from '../helpers/markov-lm.js';

const L = Math.log;
// vocab: 0 '<' start, 1 'a', 2 'b', 3 'c', 4 '.' end
// greedy from 0 takes 'a' (0.6) but every continuation of 'a' is weak; 'b' (0.4) leads to 'c' (0.9)
const table = [
  [-1e9, L(0.6), L(0.4), -1e9, -1e9],
  [-1e9, L(0.3), L(0.3), L(0.2), L(0.2)],
  [-1e9, L(0.05), L(0.05), L(0.9), -1e9],
  [-1e9, L(0.05), L(0.05), L(0.1), L(0.8)],
  [-1e9, L(0.25), L(0.25), L(0.25), L(0.25)],
];
const tok = charTokenizer('<abc.');

describe('sampling and decoding', () => {
  test('greedy follows the argmax, stops on a stop token, reports timings', () => {
    const m = new MarkovLM(table);
    const r = G.generate(m, [0], { temperature: 0, maxTokens: 10, stopTokens: [4], tokenizer: tok });
    assert.deepEqual(r.tokens, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.equal(r.finishReason, 'length');
    const r2 = G.generate(new MarkovLM(table), [2], { temperature: 0, maxTokens: 10, stopTokens: [4], tokenizer: tok });
    assert.deepEqual(r2.tokens, [3]);
    assert.equal(r2.finishReason, 'stop');
    assert.equal(r2.text, 'c');
    assert.equal(r2.timings.promptTokens, 1);
    assert.ok(r2.timings.prefillMs >= 0);
  });

  test('prefill runs once over the prompt, then one token per step', () => {
    const m = new MarkovLM(table);
    G.generate(m, [0, 1, 2], { temperature: 0, maxTokens: 3 });
    assert.deepEqual(
      m.forwardCalls.map((c) => c.shape),
      [
        [1, 3],
        [1, 1],
        [1, 1],
      ],
    );
  });

  test('seeded sampling is reproducible and follows the distribution; top-k 1 is greedy', () => {
    const m = new MarkovLM(table);
    const a = G.generate(m, [0], { temperature: 1, seed: 7, maxTokens: 20 }).tokens;
    const b = G.generate(m, [0], { temperature: 1, seed: 7, maxTokens: 20 }).tokens;
    assert.deepEqual(a, b);
    assert.deepEqual(G.generate(m, [2], { temperature: 1.5, topK: 1, seed: 3, maxTokens: 4 }).tokens, [3, 4, 1, 1]);
    const rng = new (await_generator())(11);
    const counts = [0, 0, 0, 0, 0];
    const row = Float32Array.from(table[0]!);
    for (let i = 0; i < 4000; i++) counts[G.sampleToken(row, { temperature: 1 }, rng)]!++;
    assert.ok(Math.abs(counts[1]! / 4000 - 0.6) < 0.03, `p(a) ~ 0.6, got ${counts[1]! / 4000}`);
    assert.equal(counts[3], 0);
  });

  test('top-p, min-p and temperature shape the distribution', () => {
    const rng = new (await_generator())(5);
    const row = Float32Array.from([L(0.5), L(0.3), L(0.15), L(0.05)]);
    const seen = (o: G.SamplingOptions) => {
      const s = new Set<number>();
      for (let i = 0; i < 500; i++) s.add(G.sampleToken(row.slice(), o, rng));
      return [...s].sort();
    };
    assert.deepEqual(seen({ topP: 0.7 }), [0, 1]);
    assert.deepEqual(seen({ topP: 0.81 }), [0, 1, 2]);
    assert.deepEqual(seen({ minP: 0.5 }), [0, 1]);
    assert.deepEqual(seen({ topK: 3 }), [0, 1, 2]);
    assert.deepEqual(seen({ temperature: 0.01 }), [0]);
  });

  test('repetition, presence and frequency penalties', () => {
    const logits = Float32Array.from([2, -2, 1, 0]);
    G.applyPenalties(logits, [0, 1, 0], { repetitionPenalty: 2 });
    assert.deepEqual([...logits], [1, -4, 1, 0]);
    const l2 = Float32Array.from([2, 2, 2]);
    G.applyPenalties(l2, [0, 0, 1], { presencePenalty: 0.5, frequencyPenalty: 0.25 });
    assert.deepEqual([...l2], [1, 1.25, 2]);
    // a strong repetition penalty steers greedy decoding away from the loop on 'a'
    const r = G.generate(new MarkovLM(table), [0], { temperature: 0, maxTokens: 4, repetitionPenalty: 3 });
    assert.notDeepEqual(r.tokens, [1, 1, 1, 1]);
  });

  test('stop strings cut the text, and streaming deltas add up to it', async () => {
    const chars = charTokenizer('xyz');
    const cyc = [
      [-9, 9, -9],
      [-9, -9, 9],
      [9, -9, -9],
    ];
    const m = new MarkovLM(cyc);
    const r = G.generate(m, [0], { temperature: 0, maxTokens: 20, stop: ['zxy'], tokenizer: chars });
    assert.equal(r.text, 'y');
    assert.equal(r.finishReason, 'stop');
    const parts: string[] = [];
    const it = G.streamGenerate(m, [0], { temperature: 0, maxTokens: 8, stop: ['xyzq'], tokenizer: chars });
    let res = await it.next();
    while (!res.done) {
      parts.push(res.value.delta);
      res = await it.next();
    }
    assert.equal(parts.join(''), 'yzxyzxyz');
    assert.equal(res.value.text, 'yzxyzxyz');
    assert.equal(res.value.finishReason, 'length');
  });

  test('abort stops between tokens; logprobs report the chosen token and alternatives', () => {
    const ac = new AbortController();
    ac.abort();
    const r = G.generate(new MarkovLM(table), [0], { maxTokens: 5, signal: ac.signal });
    assert.equal(r.finishReason, 'abort');
    const lp = G.generate(new MarkovLM(table), [0], { temperature: 0, maxTokens: 1, logprobs: 2 });
    assert.ok(Math.abs(lp.logprobs![0]!.logprob - L(0.6)) < 1e-5);
    assert.deepEqual(
      lp.logprobs![0]!.top.map((t) => t.token),
      [1, 2],
    );
  });

  test('batched generation left-pads, masks the padding and equals single runs', () => {
    const m = new MarkovLM(table);
    const prompts = [[0], [0, 2, 1], [2, 1]];
    const batch = G.generateBatch(m, prompts, { temperature: 0, maxTokens: 4, padTokenId: 4 });
    const call = m.forwardCalls[0]!;
    assert.deepEqual(call.shape, [3, 3]);
    assert.deepEqual(call.mask, [0, 0, 1, 1, 1, 1, 0, 1, 1]);
    assert.deepEqual(call.positions, [0, 0, 0, 0, 1, 2, 0, 0, 1]);
    assert.deepEqual(m.forwardCalls[1]!.positions, [1, 3, 2]);
    prompts.forEach((p, i) => assert.deepEqual(batch[i]!.tokens, G.generate(new MarkovLM(table), p, { temperature: 0, maxTokens: 4 }).tokens));
    // rows that finish early stop growing while the others go on
    const mixed = G.generateBatch(new MarkovLM(table), [[0], [2, 3]], { temperature: 0, maxTokens: 3, stopTokens: [4] });
    assert.deepEqual(mixed.map((r) => [r.tokens, r.finishReason]), [[[1, 1, 1], 'length'], [[], 'stop']]);
  });

  test('bad options are clear errors', () => {
    const m = new MarkovLM(table);
    assert.throws(() => G.generate(m, [], {}), /at least one token/);
    assert.throws(() => G.generate(m, [9], {}), /outside the vocabulary/);
    assert.throws(() => G.generate(m, [0], { topP: 0 }), /topP must be in \(0, 1\]/);
    assert.throws(() => G.generate(m, [0], { temperature: -1 }), /temperature/);
    assert.throws(() => G.generate(m, [0], { maxTokens: 5000 }), /exceeds the model's context/);
    assert.throws(() => G.generate(m, [0], { stop: ['x'] }), /need a tokenizer/);
  });
});

describe('beam search', () => {
  test('finds the more probable sequence that greedy misses', () => {
    const greedy = G.generate(new MarkovLM(table), [0], { temperature: 0, maxTokens: 3, stopTokens: [4] });
    assert.deepEqual(greedy.tokens, [1, 1, 1]);
    const beams = G.beamSearch(new MarkovLM(table), [0], { numBeams: 3, maxTokens: 3, stopTokens: [4], lengthPenalty: 0 });
    // b c . : 0.4 * 0.9 * 0.8 = 0.288 beats every path through 'a'
    assert.deepEqual(beams[0]!.tokens, [2, 3]);
    assert.equal(beams[0]!.finishReason, 'stop');
    assert.ok(Math.abs(beams[0]!.logprob - L(0.4 * 0.9 * 0.8)) < 1e-5);
    for (let i = 1; i < beams.length; i++) assert.ok(beams[i - 1]!.score >= beams[i]!.score);
  });

  test('one beam is greedy; beam rows are reordered in the cache', () => {
    const m = new MarkovLM(table);
    const one = G.beamSearch(m, [0], { numBeams: 1, maxTokens: 4 });
    assert.deepEqual(one[0]!.tokens, [1, 1, 1, 1]);
    const m3 = new MarkovLM(table);
    G.beamSearch(m3, [0], { numBeams: 2, maxTokens: 3 });
    assert.deepEqual(m3.forwardCalls[0]!.shape, [2, 1]);
  });
});

function await_generator() {
  return G_Generator;
}
import { Generator as G_Generator } from '../../src/tensor/random.js';
