// Hostile input: GGUF vocabulary metadata with wrong types, and fuzzing — thousands of mutated
// tokenizer.json / tokenizer_config.json texts and GGUF metadata records, each of which must load
// or be refused with a StrataError, never crash or hang.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { type Tokenizer, hfTokenizerFromText, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { ggufFromTokenizerJson } from './helpers.js';

const TINY = path.join(FIXTURES_DIR, 'tokenizers', 'tiny-bpe');
const tokenizerText = fs.readFileSync(path.join(TINY, 'tokenizer.json'), 'utf8');
const configText = fs.readFileSync(path.join(TINY, 'tokenizer_config.json'), 'utf8');
const BASE_META = ggufFromTokenizerJson(JSON.parse(tokenizerText), JSON.parse(configText), 'llama-bpe');
const SPM_META: Record<string, unknown> = {
  'tokenizer.ggml.model': 'llama',
  'tokenizer.ggml.tokens': ['<unk>', '<s>', '</s>', '▁', 'a', 'b', '▁a', 'ab', '<0x0A>'],
  'tokenizer.ggml.scores': [0, 0, 0, -1, -2, -3, -4, -5, 0],
  'tokenizer.ggml.token_type': [2, 3, 3, 1, 1, 1, 1, 1, 6],
};
const SAMPLE = 'Hello, wörld! 123 <|im_start|>你好🙂\n  ab';

function assertError(fn: () => unknown, code: string, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

const gguf = (edit: Record<string, unknown>, base = BASE_META): Tokenizer => tokenizerFromGguf({ ...base, ...edit }, { source: 'model.gguf' });

test('GGUF metadata: wrong types are io errors naming the file and key', () => {
  assertError(() => gguf({ 'tokenizer.ggml.model': undefined }), 'io', /model\.gguf: tokenizer\.ggml\.model: is missing/);
  assertError(() => gguf({ 'tokenizer.ggml.model': 7 }), 'io', /tokenizer\.ggml\.model: must be a string/);
  assertError(() => gguf({ 'tokenizer.ggml.model': 'bert' }), 'unsupported', /'bert' is not supported; supported: 'llama'/);
  assertError(() => gguf({ 'tokenizer.ggml.tokens': undefined }), 'io', /tokenizer\.ggml\.tokens: is missing/);
  assertError(() => gguf({ 'tokenizer.ggml.tokens': 'abc' }), 'io', /tokenizer\.ggml\.tokens: must be an array of strings/);
  assertError(() => gguf({ 'tokenizer.ggml.tokens': ['a', 'b', 5] }), 'io', /tokenizer\.ggml\.tokens: element 2 must be a string, got number 5/);
  assertError(() => gguf({ 'tokenizer.ggml.tokens': [] }), 'io', /tokenizer\.ggml\.tokens: is empty/);
  assertError(() => gguf({ 'tokenizer.ggml.tokens': ['a', 'b', 'a'] }, SPM_META), 'io', /token 'a' appears twice \(ids 0 and 2\)/);
  assertError(() => gguf({ 'tokenizer.ggml.scores': [0, 0, 0] }, SPM_META), 'io', /tokenizer\.ggml\.scores: has 3 entries for 9 tokens/);
  assertError(() => gguf({ 'tokenizer.ggml.scores': 'high' }, SPM_META), 'io', /tokenizer\.ggml\.scores: must be an array of numbers/);
  assertError(() => gguf({ 'tokenizer.ggml.scores': [0, 0, 0, 0, '1', 0, 0, 0, 0] }, SPM_META), 'io', /tokenizer\.ggml\.scores: element 4 must be a number/);
  assertError(() => gguf({ 'tokenizer.ggml.token_type': [1, 1, 1.5] }, SPM_META), 'io', /tokenizer\.ggml\.token_type: has 3 entries/);
  assertError(() => gguf({ 'tokenizer.ggml.token_type': [2, 3, 3, 1.5, 1, 1, 1, 1, 6] }, SPM_META), 'io', /token_type: element 3 must be an integer/);
  assertError(() => gguf({ 'tokenizer.ggml.merges': undefined }), 'io', /tokenizer\.ggml\.merges: is missing/);
  assertError(() => gguf({ 'tokenizer.ggml.merges': ['Ġ t', 'nospace'] }), 'io', /tokenizer\.ggml\.merges\[1\]: 'nospace' is not 'left right'/);
  assertError(() => gguf({ 'tokenizer.ggml.merges': ['Ġ t', ['h', 'e']] }), 'io', /tokenizer\.ggml\.merges: element 1 must be a string/);
  assertError(() => gguf({ 'tokenizer.ggml.bos_token_id': '1' }), 'io', /tokenizer\.ggml\.bos_token_id: must be a non-negative integer token id/);
  assertError(() => gguf({ 'tokenizer.ggml.eos_token_id': -3 }), 'io', /eos_token_id/);
  assertError(() => gguf({ 'tokenizer.ggml.add_bos_token': 'yes' }), 'io', /add_bos_token: must be a boolean/);
  assertError(() => gguf({ 'tokenizer.ggml.bos_token_id': undefined }), 'io', /add_bos_token: is true, but tokenizer\.ggml\.bos_token_id is not set/);
  assertError(() => gguf({ 'tokenizer.ggml.pre': 'no-such-pre' }), 'unsupported', /'no-such-pre' is not supported; supported: default, gpt-2/);
  assertError(() => gguf({ 'tokenizer.chat_template': ['x'] }), 'io', /tokenizer\.chat_template: must be a string/);
  assertError(() => tokenizerFromGguf(null as never), 'argument', /metadata must be a record/);
});

test('GGUF metadata: what llama.cpp tolerates, Strata tolerates', () => {
  // typed arrays and bigint ids, as a GGUF reader may hand them over
  const typed = gguf({ 'tokenizer.ggml.scores': Float32Array.from([0, 0, 0, -1, -2, -3, -4, -5, 0, 7]), 'tokenizer.ggml.token_type': Int32Array.from([2, 3, 3, 1, 1, 1, 1, 1, 6]), 'tokenizer.ggml.bos_token_id': 1n }, SPM_META);
  assert.deepEqual(typed.encode('ab a\n'), [1, 6, 5, 6, 8]); // '▁a' (-4) beats 'ab' (-5)
  // an out-of-range special id is dropped, an empty token renamed, an unknown type undefined
  const lenient = gguf({ 'tokenizer.ggml.padding_token_id': 99999, 'tokenizer.ggml.tokens': [...(SPM_META['tokenizer.ggml.tokens'] as string[]).slice(0, 8), ''] }, SPM_META);
  assert.equal(lenient.special.pad, undefined);
  assert.equal(lenient.idToToken(8), '[EMPTY_8]');
  assert.equal(gguf({ 'tokenizer.ggml.token_type': [2, 3, 3, 1, 1, 1, 1, 1, 42] }, SPM_META).decode([8]), '');
});

test('GGUF decode: ids out of range are argument errors', () => {
  const t = gguf({});
  for (const ids of [[t.vocabSize], [-1], [0.5], [Infinity]]) assertError(() => t.decode(ids), 'argument', /decode: token id/);
  assertError(() => t.idToToken(-1), 'argument', /idToToken/);
  assert.equal(t.isSpecial(-1), false);
});

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s ^= s >>> 13;
    return (s >>> 0) / 2 ** 32;
  };
}

function mutateText(text: string, random: () => number): string {
  const bytes = Buffer.from(text, 'utf8');
  const pick = random();
  if (pick < 0.3) return bytes.subarray(0, Math.floor(random() * bytes.length)).toString('utf8');
  const out = Buffer.from(bytes);
  const flips = 1 + Math.floor(random() * 4);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(random() * out.length);
    if (pick < 0.7) out[at] = Math.floor(random() * 256);
    else out[at] = '0123456789-.e"{}[],: '.charCodeAt(Math.floor(random() * 21));
  }
  return out.toString('utf8');
}

/** Either works on a sample (encode, decode, stream) or throws a StrataError; anything else fails the test. */
function exercise(build: () => Tokenizer, what: string): 'loaded' | 'refused' {
  let t: Tokenizer;
  try {
    t = build();
  } catch (err) {
    if (err instanceof StrataError) return 'refused';
    throw new Error(`${what}: ${String(err)}`, { cause: err });
  }
  try {
    const ids = t.encode(SAMPLE);
    t.decode(ids);
    const stream = t.createDecodeStream();
    for (const id of ids.slice(0, 8)) stream.push(id);
  } catch (err) {
    if (!(err instanceof StrataError)) throw new Error(`${what} loaded but failed with ${String(err)}`, { cause: err });
  }
  return 'loaded';
}

test('fuzz: mutated tokenizer.json and tokenizer_config.json load or throw StrataError', { timeout: 120_000 }, () => {
  const random = rng(2024);
  const counts = { loaded: 0, refused: 0 };
  const start = performance.now();
  for (let i = 0; i < 2500; i++) {
    const mutated = mutateText(tokenizerText, random);
    counts[exercise(() => hfTokenizerFromText({ tokenizer: mutated, config: configText, source: `fuzz-${i}` }), `tokenizer.json mutation ${i}`)]++;
  }
  for (let i = 0; i < 500; i++) {
    const mutated = mutateText(configText, random);
    counts[exercise(() => hfTokenizerFromText({ tokenizer: tokenizerText, config: mutated, source: `fuzz-config-${i}` }), `tokenizer_config.json mutation ${i}`)]++;
  }
  const seconds = (performance.now() - start) / 1000;
  assert.ok(counts.loaded > 100 && counts.refused > 100, `both outcomes should occur: ${JSON.stringify(counts)}`);
  assert.ok(seconds < 60, `3000 mutated files took ${seconds.toFixed(1)} s`);
});

const ODD_VALUES: unknown[] = [undefined, null, 0, -1, 1.5, 2 ** 40, NaN, 'x', '', true, [], ['a'], [1, 2], {}, 7n, new Float32Array(3), new Int32Array(600), [null]];

function mutateMeta(base: Record<string, unknown>, random: () => number): Record<string, unknown> {
  const meta: Record<string, unknown> = { ...base };
  const keys = [...Object.keys(base), 'tokenizer.ggml.pre', 'tokenizer.ggml.add_bos_token', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.add_space_prefix', 'tokenizer.chat_template'];
  const key = keys[Math.floor(random() * keys.length)]!;
  const value = meta[key];
  const roll = random();
  if (Array.isArray(value) && roll < 0.6) {
    const arr = value.slice();
    if (roll < 0.2) arr.length = Math.floor(random() * arr.length);
    else arr[Math.floor(random() * arr.length)] = ODD_VALUES[Math.floor(random() * ODD_VALUES.length)];
    meta[key] = arr;
  } else {
    meta[key] = ODD_VALUES[Math.floor(random() * ODD_VALUES.length)];
  }
  return meta;
}

test('fuzz: mutated GGUF vocabulary metadata builds or throws StrataError', { timeout: 120_000 }, () => {
  const random = rng(7);
  const counts = { loaded: 0, refused: 0 };
  for (let i = 0; i < 1000; i++) {
    const base = i % 2 === 0 ? BASE_META : SPM_META;
    let meta = mutateMeta(base, random);
    if (random() < 0.3) meta = mutateMeta(meta, random);
    counts[exercise(() => tokenizerFromGguf(meta, { source: `fuzz-${i}.gguf` }), `GGUF metadata mutation ${i}`)]++;
  }
  assert.ok(counts.loaded > 50 && counts.refused > 50, `both outcomes should occur: ${JSON.stringify(counts)}`);
});
