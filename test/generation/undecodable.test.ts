// A model whose vocabulary is padded past its tokenizer's (as many checkpoints are) must never
// generate the padding ids: the tokenizer cannot decode them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as G from '../../src/generation/index.js';
import { maskUndecodable } from '../../src/generation/sampling.js';
import { MarkovLM } from '../helpers/markov-lm.js';

const alphabet = 'abcd';
/** Decodes ids 0..3 and, like a real tokenizer, refuses anything else. */
const strictTokenizer = {
  vocabSize: alphabet.length,
  decode(ids: readonly number[]): string {
    return ids
      .map((i) => {
        if (i >= alphabet.length) throw new Error(`undecodable id ${i}`);
        return alphabet[i]!;
      })
      .join('');
  },
};

// 6 model ids, 4 tokenizer ids: the padding ids 4 and 5 are the model's favourites after any token,
// then 2 after 0 and 1, 0 after 2 and 3.
const table = Array.from({ length: 6 }, (_, a) => [a >= 2 ? 3 : 0, 0, a < 2 ? 3 : 0, 1, 9, 8]);

describe('ids past the tokenizer are never generated', () => {
  test('maskUndecodable sets exactly the ids past the tokenizer to -Infinity', () => {
    const row = Float32Array.from([1, 2, 3, 4, 5]);
    maskUndecodable(row, 3);
    assert.deepEqual([...row], [1, 2, 3, -Infinity, -Infinity]);
    maskUndecodable(row, undefined);
    maskUndecodable(row, 7);
    assert.deepEqual([...row], [1, 2, 3, -Infinity, -Infinity]);
  });

  test('greedy picks the best decodable id; without a tokenizer the padding ids stay reachable', () => {
    const r = G.generate(new MarkovLM(table), [0], { temperature: 0, maxTokens: 4, tokenizer: strictTokenizer });
    assert.deepEqual(r.tokens, [2, 0, 2, 0]);
    assert.equal(r.text, 'caca');
    assert.deepEqual(G.generate(new MarkovLM(table), [0], { temperature: 0, maxTokens: 2 }).tokens, [4, 4]);
  });

  test('sampling, logprobs, streaming and beam search stay inside the tokenizer', async () => {
    const sampled = G.generate(new MarkovLM(table), [1], { temperature: 5, maxTokens: 200, seed: 3, logprobs: 5, tokenizer: strictTokenizer });
    assert.equal(sampled.tokens.length, 200);
    assert.ok(sampled.tokens.every((t) => t < alphabet.length));
    // the masked ids are no alternatives either
    for (const l of sampled.logprobs!) assert.ok(l.top.every((e) => e.token < alphabet.length && e.logprob > -Infinity));
    let streamed = '';
    const it = G.streamGenerate(new MarkovLM(table), [1], { temperature: 5, maxTokens: 50, seed: 9, tokenizer: strictTokenizer });
    for (;;) {
      const s = await it.next();
      if (s.done) break;
      streamed += s.value.delta;
    }
    assert.equal(streamed.length, 50);
    const beams = G.beamSearch(new MarkovLM(table), [0], { numBeams: 3, maxTokens: 3, tokenizer: strictTokenizer });
    assert.ok(beams.length > 0);
    for (const b of beams) assert.ok(b.tokens.every((t) => t < alphabet.length), `beam ${b.tokens}`);
    assert.equal(beams[0]!.text, 'cac');
  });
});
