// The Hugging Face loader on the small committed fixture: special tokens from tokenizer_config.json
// (strings or AddedToken objects) and special_tokens_map.json, BOS from the post-processor,
// vocabulary lookups, and the files it refuses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { hfTokenizerFromText, loadTokenizer } from '../../src/tokenizers/index.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { tempDir } from './helpers.js';

const TINY = path.join(FIXTURES_DIR, 'tokenizers', 'tiny-bpe');
const tokenizerText = fs.readFileSync(path.join(TINY, 'tokenizer.json'), 'utf8');
const configText = fs.readFileSync(path.join(TINY, 'tokenizer_config.json'), 'utf8');

function assertError(fn: () => unknown, code: string, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

async function assertRejects(promise: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

test('tiny-bpe: special tokens, BOS from the TemplateProcessing post-processor, lookups', async () => {
  const t = await loadTokenizer(TINY);
  assert.equal(t.vocabSize, 561);
  assert.deepEqual(t.special, { bos: 556, eos: 557, eot: 559 }); // eos_token is an AddedToken object in the config
  assert.deepEqual(t.endOfGenerationIds, [557, 559]);
  assert.equal(t.addsBos, true);
  const ids = t.encode('Hello there');
  assert.equal(ids[0], 556);
  assert.deepEqual(t.encode('Hello there', { addSpecialTokens: false }), ids.slice(1));
  assert.equal(t.decode(ids), '<|bos|>Hello there');
  assert.equal(t.decode(ids, { skipSpecialTokens: true }), 'Hello there');
  assert.equal(t.isSpecial(556), true);
  assert.equal(t.isSpecial(560), false); // <think>: added, not special
  assert.equal(t.tokenToId('<|im_end|>'), 559);
  assert.equal(t.tokenToId('no such token'), undefined);
  assert.equal(t.idToToken(559), '<|im_end|>');
  assert.equal(t.decode([]), '');
  assert.equal(t.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true }), '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
});

test('cleanUpTokenizationSpaces is off unless asked for (it is lossy)', async () => {
  const t = await loadTokenizer(TINY);
  const ids = t.encode("Hi , it 's me .", { addSpecialTokens: false });
  assert.equal(t.decode(ids), "Hi , it 's me .");
  assert.equal(t.decode(ids, { cleanUpTokenizationSpaces: true }), "Hi, it's me.");
});

test('special_tokens_map.json fills in what tokenizer_config.json leaves out', async () => {
  const dir = tempDir('tiny-map-');
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), tokenizerText);
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|bos|>' }));
  fs.writeFileSync(path.join(dir, 'special_tokens_map.json'), JSON.stringify({ eos_token: { content: '<|im_end|>' }, pad_token: '<|eos|>' }));
  const t = await loadTokenizer(dir);
  assert.equal(t.special.eos, 559);
  assert.equal(t.special.pad, 557);
  assert.equal(t.chatTemplate, undefined);
  // without a tokenizer_config.json at all
  fs.rmSync(path.join(dir, 'tokenizer_config.json'));
  assert.equal((await loadTokenizer(dir)).special.eos, 559);
});

test('missing and unreadable files name the file', async () => {
  const dir = tempDir('tiny-missing-');
  await assertRejects(loadTokenizer(dir), 'io', /tokenizer\.json: not found/);
  fs.writeFileSync(path.join(dir, 'tokenizer.model'), 'x');
  await assertRejects(loadTokenizer(dir), 'unsupported', /only tokenizer\.json is supported/);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), tokenizerText.slice(0, 1000));
  await assertRejects(loadTokenizer(dir), 'io', new RegExp(`${dir}/tokenizer\\.json`), /not valid JSON/);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), tokenizerText);
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), configText.slice(0, 50));
  await assertRejects(loadTokenizer(dir), 'io', /tokenizer_config\.json/, /not valid JSON/);
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), '[1, 2]');
  await assertRejects(loadTokenizer(dir), 'io', /tokenizer_config\.json: must hold a JSON object/);
});

test('tokenizer.json with wrong types is refused with the field named', () => {
  interface TinyJson {
    model?: { vocab: unknown; merges: unknown[] };
    added_tokens: Array<Record<string, unknown>> | object;
    pre_tokenizer: { pretokenizers: Array<{ pattern: { Regex: string } }> } | number;
    normalizer: unknown;
  }
  const base = JSON.parse(tokenizerText) as TinyJson;
  const tiny = (j: TinyJson) => ({
    model: j.model as { vocab: Record<string, unknown>; merges: unknown[] },
    added: j.added_tokens as Array<Record<string, unknown>>,
    pre: j.pre_tokenizer as { pretokenizers: Array<{ pattern: { Regex: string } }> },
  });
  const variant = (edit: (j: TinyJson) => void): string => {
    const j = structuredClone(base);
    edit(j);
    return JSON.stringify(j);
  };
  const load = (text: string) => () => hfTokenizerFromText({ tokenizer: text, config: configText, source: '/m' });
  assertError(load('"just a string"'), 'io', /\/m\/tokenizer\.json: must hold a JSON object/);
  assertError(load(variant((j) => delete j.model)), 'io', /'model' must be an object/);
  assertError(load(variant((j) => (tiny(j).model.vocab = 'abc' as never))), 'io', /'model\.vocab' must be/);
  assertError(load(variant((j) => (tiny(j).model.vocab.a = '12'))), 'io', /model\.vocab\['a'\]: token id must be an integer/);
  assertError(load(variant((j) => (tiny(j).model.vocab.a = -1))), 'io', /model\.vocab\['a'\]/);
  assertError(load(variant((j) => (tiny(j).model.vocab.a = 1e12))), 'io', /model\.vocab\['a'\]/);
  assertError(load(variant((j) => (tiny(j).model.merges[5] = 42))), 'io', /model\.merges\[5\]/);
  assertError(load(variant((j) => (tiny(j).model.merges[7] = 'nospace'))), 'io', /model\.merges\[7\]/);
  assertError(load(variant((j) => (j.added_tokens = {}))), 'io', /'added_tokens' must be a list/);
  assertError(load(variant((j) => delete tiny(j).added[1]!.content)), 'io', /added_tokens\[1\]/);
  assertError(load(variant((j) => (tiny(j).added[2]!.id = 'x'))), 'io', /added_tokens\[2\]/);
  assertError(load(variant((j) => (j.pre_tokenizer = 42))), 'io', /'pre_tokenizer' must be null or an object/);
  assertError(load(variant((j) => (j.normalizer = { type: 'NoSuchNormalizer' }))), 'io', /cannot build the tokenizer|does not work/);
  assertError(load(variant((j) => (tiny(j).pre.pretokenizers[0]!.pattern.Regex = '(unclosed'))), 'io', /\/m\/tokenizer\.json/);
  assertError(() => hfTokenizerFromText({ tokenizer: tokenizerText, config: '{"bos_token": 5}' }), 'io', /'bos_token' must be a string/);
});

test('bad calls are argument errors', async () => {
  const t = await loadTokenizer(TINY);
  for (const ids of [[561], [-1], [1.5], [NaN], [0, 10 ** 9]]) assertError(() => t.decode(ids), 'argument', /decode: token id .* out of range \[0, 561\)/);
  assertError(() => t.decode('abc' as never), 'argument', /ids must be an array/);
  assertError(() => t.idToToken(561), 'argument', /idToToken/);
  assertError(() => t.encode(42 as never), 'argument', /encode: text must be a string/);
});
