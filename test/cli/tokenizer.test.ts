// `strata tokenizer train`, run in-process through runCli with a capturing CliIO, on small text
// and JSONL files written to a temporary folder.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadHfTokenizer } from '../../src/tokenizers/index.js';
import { strata } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tokenizer-cli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const TEXT = [
  'The quick brown fox jumps over the lazy dog.',
  'The lazy dog sleeps; the quick fox runs on and on.',
  "It's the fox's day: quick, quicker, quickest!",
  'def run(fox, dog):\n    return fox.quick + dog.lazy\n',
].join('\n').repeat(20);
const textFile = path.join(dir, 'corpus.txt');
fs.writeFileSync(textFile, TEXT);
const jsonlFile = path.join(dir, 'docs.jsonl');
fs.writeFileSync(jsonlFile, TEXT.split('\n').map((line) => JSON.stringify({ body: line, text: 'ignored' })).join('\n'));

test('tokenizer train --json writes a loadable tokenizer and prints one JSON line', async () => {
  const out = path.join(dir, 'tok-json');
  const r = await strata('tokenizer', 'train', '--data', textFile, '--vocab-size', '300', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const summary = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(summary), ['out', 'vocab_size', 'merges', 'seconds']);
  assert.equal(summary.out, out);
  assert.equal(summary.vocab_size, 300);
  assert.equal(summary.merges, 300 - 259);
  assert.ok(typeof summary.seconds === 'number' && summary.seconds >= 0);
  assert.deepEqual(fs.readdirSync(out).sort(), ['tokenizer.json', 'tokenizer_config.json']);
  const tok = await loadHfTokenizer(out);
  assert.equal(tok.vocabSize, 300);
  assert.deepEqual(tok.encode(' quick').map((id) => tok.idToToken(id)), ['Ġquick']);
  assert.equal(tok.decode(tok.encode(TEXT)), TEXT);
});

test('tokenizer train shows progress on stderr and a summary on stdout', async () => {
  const out = path.join(dir, 'tok-human');
  const r = await strata('tokenizer', 'train', '--data', textFile, '--vocab-size', '280', '--out', out, '--special-tokens', '<s>, </s>,<pad>', '--min-frequency', '3');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^strata: reading .*corpus\.txt\n/);
  assert.match(r.stderr, new RegExp(`read 1 document \\(${TEXT.length.toLocaleString('en-US')} characters\\); merging`));
  // 280 - 256 bytes - 5 special tokens
  assert.match(r.stderr, /merges 19\/19\n/);
  assert.match(r.stdout, /^trained a byte-level BPE tokenizer: 280 tokens, 19 merges, in \d+\.\ds\ntokenizer: .*tok-human\n$/);
  const json = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')) as { added_tokens: Array<{ content: string }> };
  // the ChatML markers come after the given special tokens
  assert.deepEqual(json.added_tokens.map((t) => t.content), ['<s>', '</s>', '<pad>', '<|im_start|>', '<|im_end|>']);
});

test('tokenizer train reads a JSONL field, and says when the text runs out of pairs', async () => {
  const out = path.join(dir, 'tok-jsonl');
  const r = await strata('tokenizer', 'train', '--data', jsonlFile, '--field', 'body', '--vocab-size', '5000', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /read \d+ documents/);
  assert.match(r.stderr, /ran out of pairs seen at least 2 times at \d+ tokens \(of 5000 asked for\)/);
  const tok = await loadHfTokenizer(out);
  assert.ok(tok.vocabSize < 5000 && tok.vocabSize > 300);
  // 'ignored' was never read: the field chose 'body'
  assert.equal(tok.tokenToId('ignored'), undefined);
  assert.notEqual(tok.tokenToId('Ġquick'), undefined);
});

test('tokenizer train on an embedded corpus', async () => {
  const out = path.join(dir, 'tok-moby');
  const r = await strata('tokenizer', 'train', '--data', 'corpus:moby-dick', '--vocab-size', '512', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { vocab_size: number }).vocab_size, 512);
});

for (const [label, args, pattern] of [
  ['a vocabulary too small for the bytes and special tokens', ['--data', textFile, '--vocab-size', '100'], /vocabSize must be an integer in \[259,/],
  ['a fractional vocabulary size', ['--data', textFile, '--vocab-size', '300.5'], /--vocab-size.*positive integer/],
  ['a missing --data', ['--vocab-size', '300'], /required option '--data/],
  ['a missing file', ['--data', path.join(dir, 'nope.txt'), '--vocab-size', '300'], /nope\.txt/],
  ['an unknown corpus', ['--data', 'corpus:nope', '--vocab-size', '300'], /unknown corpus/],
  ['a zero min frequency', ['--data', textFile, '--vocab-size', '300', '--min-frequency', '0'], /--min-frequency.*positive integer/],
] as const) {
  test(`tokenizer train rejects ${label} with exit status 2 and no stack trace`, async () => {
    const out = path.join(dir, 'never');
    const r = await strata('tokenizer', 'train', ...args, '--out', out);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, '');
    const message = r.stderr.split('\n').find((l) => l.startsWith('strata: ') && !l.startsWith('strata: reading'));
    assert.ok(message, r.stderr);
    assert.match(message, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(fs.existsSync(out), false);
  });
}

test('tokenizer train on empty text is a usage error', async () => {
  const empty = path.join(dir, 'empty.txt');
  fs.writeFileSync(empty, '');
  const r = await strata('tokenizer', 'train', '--data', empty, '--vocab-size', '300', '--out', path.join(dir, 'tok-empty'), '--json');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^strata: trainByteLevelBpe: no training text/);
});
