import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { StrataError } from '../../src/errors.js';
import { loadTokenizer } from '../../src/tokenizers/index.js';
import { DecodeStream, type SpecialTokenIds, type Tokenizer } from '../../src/tokenizers/tokenizer.js';
import { BatchSampler, TokenWindows, packCorpus, splitLabelled, tokenizerIdentity, type PackedCorpus } from '../../src/train/data.js';
import { readDocuments, type TextDocument } from '../../src/train/sources.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';

const tiny = await loadTokenizer(path.join(FIXTURES_DIR, 'tokenizers', 'tiny-bpe'));

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-data-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function assertError(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

/** A fast stand-in: one token per UTF-16 code unit (id = code + 10), with the special ids given. */
function charTokenizer(vocabSize: number, special: SpecialTokenIds): Tokenizer {
  const tok: Tokenizer = {
    vocabSize,
    special,
    endOfGenerationIds: special.eos === undefined ? [] : [special.eos],
    addsBos: false,
    chatTemplate: undefined,
    encode: (text) => Array.from({ length: text.length }, (_, i) => (text.charCodeAt(i) + 10) % vocabSize),
    decode: (ids) => String.fromCharCode(...ids.map((id) => id - 10)),
    tokenToId: () => undefined,
    idToToken: (id) => `<${id}>`,
    isSpecial: (id) => id < 10,
    applyChatTemplate: () => {
      throw new Error('no template');
    },
    createDecodeStream: (options) => new DecodeStream(tok, options),
  };
  return tok;
}

/** The token ids of a packed file, read independently of TokenWindows. */
function readPacked(corpus: PackedCorpus): number[] {
  const bytes = fs.readFileSync(corpus.file);
  const out: number[] = [];
  for (let i = 0; i < corpus.tokens; i++) out.push(corpus.dtype === 'u16' ? bytes.readUInt16LE(2 * i) : bytes.readUInt32LE(4 * i));
  return out;
}

const dir = tempDir();
const dataDir = path.join(dir, 'data');
fs.mkdirSync(path.join(dataDir, 'sub'), { recursive: true });
fs.writeFileSync(path.join(dataDir, 'a.txt'), 'The quick brown fox jumps over the lazy dog.\nSecond line, café 🙂.\n');
fs.writeFileSync(path.join(dataDir, 'sub', 'b.jsonl'), `${JSON.stringify({ text: 'JSON line one' })}\n${JSON.stringify({ text: '' })}\n${JSON.stringify({ text: 'Line two: 人工智能' })}\n`);
fs.writeFileSync(path.join(dataDir, 'c.md'), '# Heading\n\nSome *markdown* text, numbers 12345 and   spaces.');

function listCache(cacheDir: string): string[] {
  return fs.readdirSync(cacheDir).sort();
}

test('packCorpus: the packed ids are exactly each document encoded, each followed by EOS', () => {
  const cacheDir = path.join(dir, 'cache-roundtrip');
  let calls = 0;
  const packed = packCorpus(dataDir, { tokenizer: tiny, cacheDir, onProgress: () => calls++ });
  const expected: number[] = [];
  let documents = 0;
  for (const d of readDocuments(dataDir)) {
    if (d.text === '') continue;
    expected.push(...tiny.encode(d.text, { addSpecialTokens: false }), tiny.special.eos!);
    documents++;
  }
  assert.equal(packed.dtype, 'u16');
  assert.equal(packed.vocabSize, tiny.vocabSize);
  assert.equal(packed.documents, documents);
  assert.equal(documents, 4);
  assert.equal(calls, 4);
  assert.equal(packed.tokens, expected.length);
  assert.deepEqual(readPacked(packed), expected);
  assert.equal(fs.statSync(packed.file).size, 2 * expected.length);
  assert.ok(path.isAbsolute(packed.file));
  // a meta file beside it, no temp files
  assert.deepEqual(listCache(cacheDir), [path.basename(packed.file), path.basename(packed.file).replace(/\.bin$/, '.json')]);
});

test('packCorpus: BOS before documents when the tokenizer has no EOS; no separators when asked', () => {
  const cacheDir = path.join(dir, 'cache-bos');
  const bosOnly = charTokenizer(300, { bos: 1 });
  const file = path.join(dir, 'two.jsonl');
  fs.writeFileSync(file, '{"text":"ab"}\n{"text":"c"}\n');
  assert.deepEqual(readPacked(packCorpus(file, { tokenizer: bosOnly, cacheDir })), [1, 107, 108, 1, 109]);
  const eos = charTokenizer(300, { bos: 1, eos: 2 });
  assert.deepEqual(readPacked(packCorpus(file, { tokenizer: eos, cacheDir })), [107, 108, 2, 109, 2]);
  assert.deepEqual(readPacked(packCorpus(file, { tokenizer: eos, cacheDir, separateDocuments: false })), [107, 108, 109]);
  const labelled = path.join(dir, 'fields.jsonl');
  fs.writeFileSync(labelled, '{"body":"xy"}\n');
  assert.deepEqual(readPacked(packCorpus(labelled, { tokenizer: eos, cacheDir, source: { field: 'body' } })), [130, 131, 2]);
});

test('packCorpus: a large text file is one document (no EOS between its pieces); u32 past 65536 tokens', () => {
  const cacheDir = path.join(dir, 'cache-large');
  const file = path.join(dir, 'large.txt');
  const line = 'All work and no play makes Jack a dull boy.\n';
  const text = line.repeat(Math.ceil((2.5 * 2 ** 20) / line.length));
  fs.writeFileSync(file, text);
  const big = charTokenizer(70000, { eos: 3 });
  const packed = packCorpus(file, { tokenizer: big, cacheDir });
  assert.equal(packed.dtype, 'u32');
  assert.equal(packed.documents, 1);
  assert.equal(packed.tokens, text.length + 1);
  const ids = readPacked(packed);
  assert.equal(ids.filter((id) => id === 3).length, 1);
  assert.equal(ids.at(-1), 3);
  assert.equal(String.fromCharCode(...ids.slice(0, 100).map((id) => id - 10)), text.slice(0, 100));
  assert.equal(fs.statSync(packed.file).size, 4 * packed.tokens);
});

test('packCorpus: a second call is a cache hit (no tokenizing); a change of source or tokenizer is not', () => {
  const cacheDir = path.join(dir, 'cache-hit');
  const file = path.join(dir, 'hit.txt');
  fs.writeFileSync(file, 'some text to pack');
  let calls = 0;
  const first = packCorpus(file, { tokenizer: tiny, cacheDir, onProgress: () => calls++ });
  assert.equal(calls, 1);
  const mtime = fs.statSync(first.file).mtimeMs;
  let encodes = 0;
  const counting: Tokenizer = Object.create(tiny, { encode: { value: (...args: Parameters<Tokenizer['encode']>) => (encodes++, tiny.encode(...args)) } });
  assert.equal(tokenizerIdentity(counting), tokenizerIdentity(tiny));
  encodes = 0;
  const second = packCorpus(file, { tokenizer: counting, cacheDir, onProgress: () => calls++ });
  assert.deepEqual(second, first);
  assert.equal(calls, 1, 'no progress: nothing was tokenized');
  assert.equal(encodes, 0);
  assert.equal(fs.statSync(first.file).mtimeMs, mtime);

  const other = packCorpus(file, { tokenizer: charTokenizer(300, { eos: 2 }), cacheDir });
  assert.notEqual(other.file, first.file);
  fs.writeFileSync(file, 'some other text to pack');
  const changed = packCorpus(file, { tokenizer: tiny, cacheDir, onProgress: () => calls++ });
  assert.equal(calls, 2);
  assert.notEqual(changed.file, first.file);
  assert.ok(!listCache(cacheDir).some((f) => f.endsWith('.tmp')));
});

test('packCorpus: a truncated token file or a broken meta file is detected and rebuilt', () => {
  const cacheDir = path.join(dir, 'cache-truncated');
  let calls = 0;
  const first = packCorpus(dataDir, { tokenizer: tiny, cacheDir, onProgress: () => calls++ });
  const good = fs.readFileSync(first.file);
  fs.truncateSync(first.file, good.length - 2);
  assertError(() => new TokenWindows(first, { context: 4 }), 'io', /truncated or replaced/);
  calls = 0;
  const rebuilt = packCorpus(dataDir, { tokenizer: tiny, cacheDir, onProgress: () => calls++ });
  assert.ok(calls > 0, 'rebuilt');
  assert.deepEqual(fs.readFileSync(rebuilt.file), good);
  const meta = first.file.replace(/\.bin$/, '.json');
  fs.writeFileSync(meta, fs.readFileSync(meta, 'utf8').slice(0, 20));
  calls = 0;
  packCorpus(dataDir, { tokenizer: tiny, cacheDir, onProgress: () => calls++ });
  assert.ok(calls > 0, 'rebuilt after a corrupt meta file');
  fs.rmSync(meta);
  calls = 0;
  packCorpus(dataDir, { tokenizer: tiny, cacheDir, onProgress: () => calls++ });
  assert.ok(calls > 0, 'rebuilt when the meta file is missing (a kill between the two renames)');
});

test('packCorpus: a failure part way leaves nothing behind; stale temp files of dead processes are removed', () => {
  const cacheDir = path.join(dir, 'cache-fail');
  assert.throws(
    () =>
      packCorpus(dataDir, {
        tokenizer: tiny,
        cacheDir,
        onProgress: (docs) => {
          if (docs === 2) throw new Error('killed');
        },
      }),
    /killed/,
  );
  assert.deepEqual(listCache(cacheDir), []);
  const packed = packCorpus(dataDir, { tokenizer: tiny, cacheDir });
  const name = path.basename(packed.file);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale = `.${name}.${dead}.abc123.tmp`;
  const unrelated = '.other.bin.1.abc.tmp';
  fs.writeFileSync(path.join(cacheDir, stale), 'half');
  fs.writeFileSync(path.join(cacheDir, unrelated), 'not ours');
  fs.rmSync(packed.file.replace(/\.bin$/, '.json'));
  packCorpus(dataDir, { tokenizer: tiny, cacheDir });
  assert.ok(!fs.existsSync(path.join(cacheDir, stale)));
  assert.ok(fs.existsSync(path.join(cacheDir, unrelated)));
});

test('packCorpus: bad input', () => {
  const empty = path.join(dir, 'empty.jsonl');
  fs.writeFileSync(empty, '{"text":""}\n');
  assertError(() => packCorpus(empty, { tokenizer: tiny, cacheDir: path.join(dir, 'cache-bad') }), 'argument', /empty\.jsonl: has no text to pack/);
  assert.deepEqual(listCache(path.join(dir, 'cache-bad')), []);
  assertError(() => packCorpus(path.join(dir, 'missing'), { tokenizer: tiny, cacheDir: path.join(dir, 'cache-bad') }), 'io', /missing: no such file/);
  assertError(() => packCorpus(dataDir, { tokenizer: tiny, cacheDir: '' }), 'argument', /cacheDir/);
});

function packedNumbers(count: number): PackedCorpus {
  // token i is i % 1000, so a window's position is visible in its ids
  const cacheDir = path.join(dir, 'cache-windows');
  fs.mkdirSync(cacheDir, { recursive: true });
  const file = path.join(cacheDir, `n${count}.bin`);
  const ids = new Uint16Array(count).map((_, i) => i % 1000);
  fs.writeFileSync(file, new Uint8Array(ids.buffer));
  return { file, tokens: count, dtype: 'u16', documents: 1, vocabSize: 1000 };
}

test('TokenWindows: windows of context+1 tokens, a seeded validation split disjoint from train', () => {
  const corpus = packedNumbers(1000);
  const context = 9; // 100 windows of 10 tokens
  const w = new TokenWindows(corpus, { context, valFraction: 0.15, seed: 7 });
  assert.equal(w.valCount, 15);
  assert.equal(w.trainCount, 85);
  const starts = (split: 'train' | 'val', count: number): number[] =>
    Array.from({ length: count }, (_, i) => {
      const win = w.window(split, i);
      assert.equal(win.length, context + 1);
      for (let k = 1; k < win.length; k++) assert.equal(win[k], win[0]! + k, 'consecutive tokens');
      assert.equal(win[0]! % (context + 1), 0, 'aligned to a window');
      return win[0]!;
    });
  const train = starts('train', w.trainCount);
  const val = starts('val', w.valCount);
  const all = new Set([...train, ...val]);
  assert.equal(all.size, 100, 'every window once, none in both splits');
  assert.ok(val.some((s) => s > 100) && val.some((s) => s < 900), 'val windows are spread, not the tail');

  const again = new TokenWindows(corpus, { context, valFraction: 0.15, seed: 7 });
  assert.deepEqual(starts('val', 15), Array.from({ length: 15 }, (_, i) => again.window('val', i)[0]));
  const reseeded = new TokenWindows(corpus, { context, valFraction: 0.15, seed: 8 });
  assert.notDeepEqual(val, Array.from({ length: 15 }, (_, i) => reseeded.window('val', i)[0]));

  const { inputs, targets } = w.batch('train', [3, 0]);
  assert.deepEqual(inputs.shape, [2, context]);
  assert.equal(inputs.dtype, 'i32');
  assert.equal(targets.dtype, 'i32');
  const w3 = Array.from(w.window('train', 3));
  const w0 = Array.from(w.window('train', 0));
  assert.deepEqual(Array.from(inputs.data), [...w3.slice(0, context), ...w0.slice(0, context)]);
  assert.deepEqual(Array.from(targets.data), [...w3.slice(1), ...w0.slice(1)]);
  assert.equal(new TokenWindows(corpus, { context }).valCount, 0);
});

test('TokenWindows: reads a real packed corpus; bad input is a clear StrataError', () => {
  const packed = packCorpus(dataDir, { tokenizer: tiny, cacheDir: path.join(dir, 'cache-roundtrip') });
  const ids = readPacked(packed);
  const w = new TokenWindows(packed, { context: 4 });
  assert.equal(w.trainCount, Math.floor(ids.length / 5));
  assert.deepEqual(Array.from(w.window('train', 2)), ids.slice(10, 15));

  const corpus = packedNumbers(100);
  assertError(() => new TokenWindows(corpus, { context: 0 }), 'argument', /context must be an integer >= 1/);
  assertError(() => new TokenWindows(corpus, { context: 100 }), 'argument', /100 tokens, fewer than one window of context \+ 1 = 101/);
  assertError(() => new TokenWindows(corpus, { context: 4, valFraction: 1 }), 'argument', /valFraction must be in \[0, 1\)/);
  assertError(() => new TokenWindows(corpus, { context: 4, valFraction: -0.1 }), 'argument', /valFraction/);
  assertError(() => new TokenWindows(corpus, { context: 60, valFraction: 0.01 }), 'argument', /leaves no training windows/);
  assertError(() => new TokenWindows({ ...corpus, tokens: 101 }, { context: 4 }), 'io', /truncated or replaced/);
  const ok = new TokenWindows(corpus, { context: 4, valFraction: 0.1 });
  assertError(() => ok.window('val', 2), 'index', /window 2 is out of range for the 2 val windows/);
  assertError(() => ok.batch('train', [0, 18]), 'index', /window 18 is out of range/);
  assertError(() => ok.batch('train', []), 'argument', /non-empty/);
});

test('BatchSampler: deterministic, every index once per epoch, reshuffled each epoch', () => {
  const n = 10;
  const take = (s: BatchSampler, batches: number): number[][] => Array.from({ length: batches }, () => s.next());
  const a = take(new BatchSampler(n, 3, 42), 20);
  assert.deepEqual(take(new BatchSampler(n, 3, 42), 20), a);
  assert.notDeepEqual(take(new BatchSampler(n, 3, 43), 20), a);
  assert.ok(a.every((b) => b.length === 3));
  const stream = a.flat();
  const epochs: number[][] = [];
  for (let e = 0; e < 6; e++) {
    const epoch = stream.slice(e * n, (e + 1) * n);
    assert.deepEqual([...epoch].sort((x, y) => x - y), [...Array(n).keys()], `epoch ${e} is a permutation`);
    epochs.push(epoch);
  }
  assert.ok(new Set(epochs.map((e) => e.join())).size > 1, 'epochs are shuffled differently');
  assert.notDeepEqual(epochs[0], [...Array(n).keys()], 'shuffled, not in order');
});

test('BatchSampler: state/restore continues with exactly the same batches', () => {
  const original = new BatchSampler(13, 4, 5);
  for (let i = 0; i < 7; i++) original.next();
  const state = JSON.parse(JSON.stringify(original.state)) as { epoch: number; index: number };
  assert.deepEqual(state, { epoch: 2, index: 2 }); // 28 items = 2 epochs of 13, then 2
  const expected = Array.from({ length: 9 }, () => original.next());
  const resumed = new BatchSampler(13, 4, 5);
  resumed.next(); // a different position first: restore must override it
  resumed.restore(state);
  assert.deepEqual(Array.from({ length: 9 }, () => resumed.next()), expected);
  // the end of an epoch is the start of the next
  const end = new BatchSampler(13, 4, 5);
  end.restore({ epoch: 1, index: 13 });
  const start = new BatchSampler(13, 4, 5);
  start.restore({ epoch: 2, index: 0 });
  assert.deepEqual(end.next(), start.next());
  assertError(() => end.restore({ epoch: -1, index: 0 }), 'argument', /state must be/);
  assertError(() => end.restore({ epoch: 0, index: 14 }), 'argument', /state must be/);
  assertError(() => new BatchSampler(0, 4, 1), 'argument', /n must be/);
  assertError(() => new BatchSampler(4, 0, 1), 'argument', /batchSize/);
  assertError(() => new BatchSampler(4, 2, 0.5), 'argument', /seed must be an integer/);
  // a batch larger than the data runs on through epochs
  assert.equal(new BatchSampler(3, 7, 1).next().length, 7);
});

test('splitLabelled: stratified, deterministic, disjoint (spam-assassin)', () => {
  const docs = [...readDocuments('corpus:spam-assassin')];
  const { train, test: held } = splitLabelled(docs, { testFraction: 0.2, seed: 1 });
  const count = (list: readonly TextDocument[], label: string): number => list.filter((d) => d.label === label).length;
  assert.equal(count(held, 'ham'), 830);
  assert.equal(count(held, 'spam'), 379);
  assert.equal(train.length + held.length, docs.length);
  const inTest = new Set(held);
  assert.ok(train.every((d) => !inTest.has(d)));
  assert.ok(held.every((d, i) => i === 0 || docs.indexOf(held[i - 1]!) < docs.indexOf(d)), 'document order kept');
  const again = splitLabelled(docs, { testFraction: 0.2, seed: 1 });
  assert.deepEqual(again.test.map((d) => docs.indexOf(d)), held.map((d) => docs.indexOf(d)));
  const other = splitLabelled(docs, { testFraction: 0.2, seed: 2 });
  assert.notDeepEqual(other.test.map((d) => docs.indexOf(d)), held.map((d) => docs.indexOf(d)));
  assert.equal(splitLabelled(docs, { testFraction: 0, seed: 1 }).test.length, 0);
  assertError(() => splitLabelled(docs, { testFraction: 1, seed: 1 }), 'argument', /testFraction/);
});
