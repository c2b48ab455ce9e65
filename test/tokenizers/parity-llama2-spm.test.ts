// SentencePiece BPE (GGUF model 'llama'): the Llama-2 vocabulary shipped in llama-tokenizer-js,
// turned into GGUF metadata with scores, against that package's encoder and decoder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import llamaTokenizerJs from 'llama-tokenizer-js';
import { hfTokenizerFromJson, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import { SAMPLE_TEXTS, disagreements, ggufFromLlamaTokenizerJs, llama2TokenizerJson, randomTexts, type LlamaTokenizerJs } from './helpers.js';

const oracle = llamaTokenizerJs as unknown as LlamaTokenizerJs;
const meta = ggufFromLlamaTokenizerJs(oracle);
const spm = tokenizerFromGguf(meta);
const RANDOM = randomTexts(1000, 11);
// and the Hugging Face form of the same vocabulary (Llama 2's tokenizer.json layout)
const hf = hfTokenizerFromJson({ tokenizer: llama2TokenizerJson(oracle), config: { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' } });

test('llama2 SentencePiece: same ids as llama-tokenizer-js on every sample', () => {
  assert.deepEqual(disagreements(SAMPLE_TEXTS, (s) => spm.encode(s, { addSpecialTokens: false }), (s) => oracle.encode(s, false, true)), []);
  assert.deepEqual(disagreements(RANDOM, (s) => spm.encode(s, { addSpecialTokens: false }), (s) => oracle.encode(s, false, true)), []);
  // with BOS (SentencePiece vocabularies add it by default)
  assert.equal(spm.addsBos, true);
  assert.deepEqual(spm.encode('Hello world!'), [1, 15043, 3186, 29991]);
  assert.deepEqual(spm.encode('Hello world!'), oracle.encode('Hello world!'));
});

test('llama2 Hugging Face tokenizer.json (BPE, byte fallback): same ids and text as llama-tokenizer-js', () => {
  const ours = (s: string): number[] => hf.encode(s, { addSpecialTokens: false });
  assert.deepEqual(disagreements(SAMPLE_TEXTS, ours, (s) => oracle.encode(s, false, true)), []);
  assert.deepEqual(disagreements(RANDOM.slice(0, 300), ours, (s) => oracle.encode(s, false, true)), []);
  assert.equal(hf.addsBos, true);
  assert.deepEqual(hf.encode('Hello world!'), oracle.encode('Hello world!'));
  assert.deepEqual(hf.special, { bos: 1, eos: 2, unk: 0 });
  for (const text of SAMPLE_TEXTS) assert.equal(hf.decode(hf.encode(text), { skipSpecialTokens: true }), text);
  // the stream keeps SentencePiece spaces with the Hugging Face decoder too
  const stream = hf.createDecodeStream({ skipSpecialTokens: true });
  assert.deepEqual(hf.encode('Hello world 🦙').map((id) => stream.push(id)).filter((d) => d !== ''), ['Hello', ' world', ' ', '🦙']);
});

test('llama2 SentencePiece: unknown characters fall back to <0xXX> byte tokens', () => {
  // 🦙 is not in the vocabulary: its four UTF-8 bytes come out as byte tokens
  const ids = spm.encode('🦙', { addSpecialTokens: false });
  assert.deepEqual(ids.slice(-4).map((id) => spm.idToToken(id)), ['<0xF0>', '<0x9F>', '<0xA6>', '<0x99>']);
  assert.equal(spm.decode(ids), '🦙');
});

test('llama2 SentencePiece: decode drops the prefix space and reverses ▁ and bytes', () => {
  for (const text of [...SAMPLE_TEXTS, ...RANDOM.slice(0, 200)]) {
    const ids = spm.encode(text);
    assert.equal(spm.decode(ids, { skipSpecialTokens: true }), text);
    assert.equal(spm.decode(ids, { skipSpecialTokens: true }), oracle.decode(ids, true, true));
  }
  assert.equal(spm.decode([1, 15043]), '<s> Hello');
});

test('SentencePiece BPE merges the best-scored pair first, the leftmost on ties', () => {
  const tokens = ['<unk>', '<s>', '</s>', '▁', 'a', 'b', 'c', 'ab', 'bc', 'aa', '▁a'];
  const spmWith = (scores: Record<string, number>): ReturnType<typeof tokenizerFromGguf> =>
    tokenizerFromGguf({
      'tokenizer.ggml.model': 'llama',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.scores': tokens.map((t) => scores[t] ?? 0),
      'tokenizer.ggml.token_type': tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : 1)),
      'tokenizer.ggml.add_space_prefix': false,
    });
  const pieces = (t: ReturnType<typeof tokenizerFromGguf>, text: string): string[] => t.encode(text, { addSpecialTokens: false }).map((id) => t.idToToken(id));
  assert.deepEqual(pieces(spmWith({ ab: -1, bc: -2 }), 'abc'), ['ab', 'c']);
  assert.deepEqual(pieces(spmWith({ ab: -2, bc: -1 }), 'abc'), ['a', 'bc']);
  assert.deepEqual(pieces(spmWith({ aa: -1 }), 'aaa'), ['aa', 'a']);
  assert.deepEqual(pieces(spmWith({ '▁a': -1, aa: -2 }), ' aa'), ['▁a', 'a']);
  assert.deepEqual(pieces(spmWith({ '▁a': -2, aa: -1 }), ' aa'), ['▁', 'aa']);
});

test('llama2 SentencePiece: whitespace runs follow the scores', () => {
  // runs of '▁' have the lowest scores in Llama 2 (no merge makes them early): spaces go with words first
  for (const text of ['    if x:', 'a  b   c    d', '  \n  x']) assert.deepEqual(spm.encode(text), oracle.encode(text));
});

test('llama2 SentencePiece: special tokens, add_space_prefix after them', () => {
  assert.deepEqual(spm.special, { unk: 0, bos: 1, eos: 2 });
  assert.deepEqual(spm.endOfGenerationIds, [2]);
  // '</s>' in the text is the EOS token; the text after it gets the prefix space again
  assert.deepEqual(spm.encode('Hi</s>Hi', { addSpecialTokens: false }), [6324, 2, 6324]);
  const noPrefix = tokenizerFromGguf({ ...meta, 'tokenizer.ggml.add_space_prefix': false });
  assert.deepEqual(noPrefix.encode('Hello', { addSpecialTokens: false }), oracle.encode('Hello', false, false));
});

test('llama2 SentencePiece: long inputs merge from a heap, not by rescanning', () => {
  const letters = Array.from({ length: 100_000 }, (_, i) => 'etaoinshrdlu'[(i * 7919) % 12]).join('');
  for (const text of [letters, 'a'.repeat(100_000), ' '.repeat(200_000), SAMPLE_TEXTS.join('\n').repeat(20)]) {
    const start = performance.now();
    const ids = spm.encode(text);
    const seconds = (performance.now() - start) / 1000;
    assert.ok(seconds < 5, `${text.length} characters took ${seconds.toFixed(2)} s`);
    assert.equal(spm.decode(ids, { skipSpecialTokens: true }), text);
  }
});
