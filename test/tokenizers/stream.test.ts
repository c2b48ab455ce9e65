// The streaming decoder: text deltas for one token at a time must add up to decode(all ids), hold
// back a character until its last byte arrives, and keep SentencePiece spaces where they belong.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import llamaTokenizerJs from 'llama-tokenizer-js';
import { StrataError } from '../../src/errors.js';
import { type Tokenizer, loadTokenizer, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { SAMPLE_TEXTS, ggufFromLlamaTokenizerJs, ggufFromTokenizerJson, gpt2TokenizerJson, type LlamaTokenizerJs } from './helpers.js';

const spm = tokenizerFromGguf(ggufFromLlamaTokenizerJs(llamaTokenizerJs as unknown as LlamaTokenizerJs));
const gpt2 = tokenizerFromGguf(ggufFromTokenizerJson(gpt2TokenizerJson(), { eos_token: '<|endoftext|>' }, 'gpt-2'));
const tiny = await loadTokenizer(path.join(FIXTURES_DIR, 'tokenizers', 'tiny-bpe'));
const TOKENIZERS: Array<[string, Tokenizer]> = [['SentencePiece (GGUF llama)', spm], ['byte-level (GGUF gpt2)', gpt2], ['Hugging Face (tiny-bpe)', tiny]];

function streamAll(t: Tokenizer, ids: readonly number[], options?: Parameters<Tokenizer['createDecodeStream']>[0]): string[] {
  const stream = t.createDecodeStream(options);
  const deltas = ids.map((id) => stream.push(id));
  deltas.push(stream.flush());
  return deltas;
}

test('stream deltas add up to decode(all ids) and never split a character', () => {
  const texts = [...SAMPLE_TEXTS, '👨‍👩‍👧‍👦🇯🇵 你好，世界 — 🦙🦙 naïve', SAMPLE_TEXTS.join(' ').repeat(3)];
  for (const [name, t] of TOKENIZERS) {
    for (const text of texts) {
      const ids = t.encode(text);
      const deltas = streamAll(t, ids);
      assert.equal(deltas.join(''), t.decode(ids), `${name}: ${JSON.stringify(text.slice(0, 40))}`);
      for (const d of deltas) assert.ok(!d.includes('\uFFFD'), `${name}: a delta holds a broken character: ${JSON.stringify(d)}`);
    }
  }
});

test('a character made of several byte tokens comes out with its last byte', () => {
  const llama = spm.encode('🦙', { addSpecialTokens: false });
  assert.equal(llama.length, 5); // '▁' and four <0xXX> bytes
  assert.deepEqual(streamAll(spm, llama), ['', '', '', '', '🦙', '']);
  const ids = gpt2.encode('🦙');
  const deltas = streamAll(gpt2, ids);
  assert.equal(deltas.filter((d) => d !== '').length, 1);
  assert.equal(deltas.join(''), '🦙');
});

test('SentencePiece spaces: dropped at the start, kept between words and after a prompt', () => {
  const ids = spm.encode('Hello world, how are you?', { addSpecialTokens: false });
  assert.deepEqual(streamAll(spm, ids), ['Hello', ' world', ',', ' how', ' are', ' you', '?', '']);
  // a continuation of a prompt: its first word keeps its space
  const all = spm.encode('The capital of France is Paris');
  const prompt = all.slice(0, -1);
  assert.deepEqual(streamAll(spm, all.slice(-1), { context: prompt }), [' Paris', '']);
  assert.deepEqual(streamAll(spm, all.slice(-1)), ['Paris', '']);
});

test('special tokens in a stream: shown, or skipped with skipSpecialTokens', () => {
  const ids = [...spm.encode('Hi there'), 2];
  assert.equal(streamAll(spm, ids).join(''), '<s> Hi there</s>');
  assert.equal(streamAll(spm, ids, { skipSpecialTokens: true }).join(''), 'Hi there');
});

test('a long stream stays consistent while its buffer is trimmed', () => {
  const text = SAMPLE_TEXTS.join('\n').repeat(4);
  for (const [, t] of TOKENIZERS) {
    const ids = t.encode(text, { addSpecialTokens: false });
    assert.ok(ids.length > 1000);
    assert.equal(streamAll(t, ids).join(''), t.decode(ids));
  }
});

test('a bad id is a StrataError', () => {
  const stream = gpt2.createDecodeStream();
  for (const bad of [-1, 50257, 1.5, NaN]) {
    assert.throws(() => stream.push(bad), (err: unknown) => err instanceof StrataError && err.code === 'argument');
  }
  assert.throws(() => gpt2.createDecodeStream({ context: [99999999] }), (err: unknown) => err instanceof StrataError && err.code === 'argument');
});
