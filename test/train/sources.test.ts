import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { EMBEDDED_CORPORA, READ_CHUNK_BYTES, readDocuments, readLines, sourceFingerprint } from '../../src/train/sources.js';

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-sources-'));
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

const dir = tempDir();

test('a small text file is one document', () => {
  const file = path.join(dir, 'small.txt');
  fs.writeFileSync(file, 'line one\nline two\r\n');
  assert.deepEqual([...readDocuments(file)], [{ text: 'line one\nline two\r\n' }]);
});

test('a large text file comes in pieces of at most ~1 MiB cut at line ends, which join to the file', () => {
  const file = path.join(dir, 'large.md');
  // lines of varied length, blank lines and multi-byte characters (one straddles a read boundary somewhere)
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 2.6 * READ_CHUNK_BYTES; i++) {
    const line = i % 7 === 0 ? '' : `${i} héllo wörld ${'ab'.repeat(i % 50)} 🙂 漢字`;
    lines.push(line);
    size += Buffer.byteLength(line) + 1;
  }
  const text = lines.join('\n');
  fs.writeFileSync(file, text);
  const docs = [...readDocuments(file)];
  assert.ok(docs.length >= 3, `${docs.length} pieces`);
  assert.equal(docs.map((d) => d.text).join(''), text);
  assert.equal(docs[0]!.continues, undefined);
  for (const [i, d] of docs.entries()) {
    assert.ok(d.text.length <= READ_CHUNK_BYTES, `piece ${i} has ${d.text.length} characters`);
    if (i > 0) assert.equal(d.continues, true);
    if (i < docs.length - 1) {
      assert.ok(d.text.endsWith('\n'), `piece ${i} ends at a line end`);
      assert.notEqual(docs[i + 1]!.text[0], '\n', 'a cut falls before a line with text, not inside a run of blank lines');
    }
  }
});

test('a file with NUL bytes is refused as binary', () => {
  const file = path.join(dir, 'image.bin');
  fs.writeFileSync(file, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13]));
  assertError(() => [...readDocuments(file)], 'io', /image\.bin: looks binary/);
});

test('JSONL: default field, dotted field, labels, blank lines, CRLF', () => {
  const file = path.join(dir, 'data.jsonl');
  fs.writeFileSync(
    file,
    [
      JSON.stringify({ text: 'first', label: 'pos', meta: { body: 'one' } }),
      '',
      JSON.stringify({ text: 'second', label: 3, meta: { body: 'two' } }),
      JSON.stringify({ text: 'third', meta: { body: 'three', tag: true } }),
    ].join('\r\n') + '\r\n',
  );
  assert.deepEqual([...readDocuments(file)], [{ text: 'first', label: 'pos' }, { text: 'second', label: '3' }, { text: 'third' }]);
  assert.deepEqual([...readDocuments(file, { field: 'meta.body', labelField: 'meta.tag' })], [{ text: 'one' }, { text: 'two' }, { text: 'three', label: 'true' }]);
  assert.deepEqual(
    [...readLines(file)].map((l) => l.line),
    [1, 2, 3, 4],
  );
});

test('JSONL: a bad line or a missing field names file:line', () => {
  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, '{"text": "ok"}\n\n{"text": "broken"\n{"text": "never read"}\n');
  const it = readDocuments(bad);
  assert.deepEqual(it.next().value, { text: 'ok' });
  assertError(() => it.next(), 'io', /bad\.jsonl:3: not valid JSON/);

  const missing = path.join(dir, 'missing-field.jsonl');
  fs.writeFileSync(missing, '{"text": "a"}\n{"body": "b", "id": 2}\n');
  assertError(() => [...readDocuments(missing)], 'io', /missing-field\.jsonl:2: no field 'text' \(the record has: body, id\)/);
  assertError(() => [...readDocuments(missing, { field: 'id' })], 'io', /missing-field\.jsonl:1: no field 'id'/);
  assertError(() => readDocuments(missing, { field: 'a..b' }), 'argument', /field must be a field name/);
});

test('a .json file holds an array of records or strings', () => {
  const file = path.join(dir, 'list.json');
  fs.writeFileSync(file, JSON.stringify(['plain', { text: 'record', label: 'x' }]));
  assert.deepEqual([...readDocuments(file)], [{ text: 'plain' }, { text: 'record', label: 'x' }]);
});

test('a folder: recursive, sorted by path, hidden files and folders skipped, each file by its kind', () => {
  const root = path.join(dir, 'folder');
  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  write('b.txt', 'B');
  write('a/z.txt', 'AZ');
  write('a/b.jsonl', '{"text":"AB1"}\n{"text":"AB2"}\n');
  write('a-c.txt', 'A-C');
  write('.hidden.txt', 'hidden');
  write('.git/config', 'hidden too');
  write('a/.cache/x.txt', 'and this');
  assert.deepEqual(
    [...readDocuments(root)].map((d) => d.text),
    ['A-C', 'AB1', 'AB2', 'AZ', 'B'],
  );
});

test('missing paths, empty folders and unknown corpora are StrataErrors naming the spec', () => {
  assertError(() => readDocuments(path.join(dir, 'nope.txt')), 'io', /nope\.txt: no such file or folder/);
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(path.join(empty, '.only-hidden'), { recursive: true });
  fs.writeFileSync(path.join(empty, '.only-hidden', 'x.txt'), 'x');
  assertError(() => readDocuments(empty), 'io', /empty: the folder has no files/);
  assertError(() => readDocuments('corpus:nope'), 'argument', /unknown corpus 'corpus:nope' \(known: corpus:moby-dick, corpus:sotu, corpus:spam-assassin\)/);
  assertError(() => sourceFingerprint('corpus:nope'), 'argument', /unknown corpus/);
  assertError(() => sourceFingerprint(path.join(dir, 'nope')), 'io', /no such file/);
});

test('embedded corpora: spam-assassin labels, moby-dick chapters, sotu addresses', () => {
  assert.deepEqual([...EMBEDDED_CORPORA], ['moby-dick', 'sotu', 'spam-assassin']);
  const counts: Record<string, number> = {};
  let n = 0;
  for (const d of readDocuments('corpus:spam-assassin')) {
    counts[String(d.label)] = (counts[String(d.label)] ?? 0) + 1;
    n++;
  }
  assert.equal(n, 6046);
  assert.deepEqual(counts, { ham: 4150, spam: 1896 });
  const moby = [...readDocuments('corpus:moby-dick')];
  assert.ok(moby.length > 100);
  assert.ok(moby.some((d) => d.text.includes('Call me Ishmael')));
  const sotu = [...readDocuments('corpus:sotu')];
  assert.ok(sotu[0]!.text.startsWith('Fellow-Citizens'));
});

test('fingerprints follow content (size, mtime), options and package versions', () => {
  const file = path.join(dir, 'fp.jsonl');
  fs.writeFileSync(file, '{"text":"a"}\n');
  const a = sourceFingerprint(file);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(sourceFingerprint(file), a);
  assert.notEqual(sourceFingerprint(file, { field: 'body' }), a);
  fs.writeFileSync(file, '{"text":"ab"}\n');
  assert.notEqual(sourceFingerprint(file), a);
  const b = sourceFingerprint(file);
  fs.utimesSync(file, new Date(2001, 1, 1), new Date(2001, 1, 1));
  assert.notEqual(sourceFingerprint(file), b);
  const folder = path.join(dir, 'folder');
  const f1 = sourceFingerprint(folder);
  fs.writeFileSync(path.join(folder, 'c.txt'), 'C');
  assert.notEqual(sourceFingerprint(folder), f1);
  assert.equal(sourceFingerprint('corpus:sotu'), sourceFingerprint('corpus:sotu'));
  assert.notEqual(sourceFingerprint('corpus:sotu'), sourceFingerprint('corpus:moby-dick'));
});
