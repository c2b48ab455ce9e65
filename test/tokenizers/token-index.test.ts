import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenIndex } from '../../src/tokenizers/token-index.js';

test('TokenIndex finds every token of a vocabulary and nothing else, as a Map does', () => {
  // tokens that share prefixes and hash neighbourhoods: ▁-prefixed pieces, bytes, unicode
  const tokens: string[] = [];
  for (let i = 0; i < 5000; i++) tokens.push(i % 3 === 0 ? `▁w${i}` : i % 3 === 1 ? `<0x${(i % 256).toString(16)}>${i}` : String.fromCodePoint(0x4e00 + i));
  const index = new TokenIndex(tokens, () => assert.fail('no duplicates here'));
  const map = new Map(tokens.map((t, i) => [t, i]));
  for (const [t, i] of map) assert.equal(index.get(t), i);
  for (const miss of ['', '▁w1', 'w0', '▁w0 ', '<0x0>', '\u0000']) assert.equal(index.get(miss), map.get(miss));
});

test('TokenIndex reports the first later id that repeats a token, with the id it repeats', () => {
  const seen: [number, number][] = [];
  const index = new TokenIndex(['a', 'b', 'c', 'b', 'a', 'b'], (first, later) => seen.push([first, later]));
  assert.deepEqual(seen, [[1, 3], [0, 4], [1, 5]]);
  assert.equal(index.get('a'), 0);
  assert.equal(index.get('b'), 1);
});
