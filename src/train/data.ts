// Language-model training data: documents tokenized once into a flat binary file of token ids
// (cached on disk, keyed by the source's content and the tokenizer), cut into fixed windows with
// a seeded train/validation split, and a seeded batch order that a resumed run can continue.
//
// Letters: B batch, T time (the context length).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { StrataError } from '../errors.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { Tensor } from '../tensor/tensor.js';
import { fromArray } from '../tensor/ops/creation.js';
import { Generator as Rng } from '../tensor/random.js';
import { MappedFile } from '../io/mmap.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readDocuments, sourceFingerprint, type SourceOptions, type TextDocument } from './sources.js';

export interface PackOptions {
  tokenizer: Tokenizer;
  /** folder for the cache; the packed file is named from sha256(sourceFingerprint + tokenizer identity + options) */
  cacheDir: string;
  source?: SourceOptions;
  /** add the tokenizer's EOS (or BOS when it has no EOS) between documents (default true) */
  separateDocuments?: boolean;
  /** called after each document (or piece of a large text file) is tokenized; not called on a cache hit */
  onProgress?: (documentsDone: number, tokensDone: number) => void;
}

export interface PackedCorpus {
  file: string;
  tokens: number;
  dtype: 'u16' | 'u32';
  documents: number;
  vocabSize: number;
}

/** Bumped whenever what packCorpus writes changes, so older caches are not trusted. */
const PACK_VERSION = 1;
const META_FORMAT = 'strata-packed-tokens';
/** Token ids buffered before a write. */
const WRITE_CHUNK_TOKENS = 1 << 18;
const LITTLE_ENDIAN = os.endianness() === 'LE';

function bytesPerToken(dtype: 'u16' | 'u32'): 2 | 4 {
  return dtype === 'u16' ? 2 : 4;
}

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

const identities = new WeakMap<Tokenizer, string>();
const PROBE_TEXT = 'Hello, World! héllo  wörld\n\n\tcafé 12345 1,000.5 你好世界 🙂 <|endoftext|> </s> don\'t';

/**
 * What decides a tokenizer's output, hashed: its class, vocabulary (every token string by id),
 * special ids and the encoding of a probe text (normalizer, pre-tokenizer and merges). Two
 * tokenizers with the same identity pack a corpus the same way.
 */
export function tokenizerIdentity(tokenizer: Tokenizer): string {
  let id = identities.get(tokenizer);
  if (id === undefined) {
    const hash = crypto.createHash('sha256');
    hash.update(JSON.stringify([tokenizer.constructor?.name ?? '', tokenizer.vocabSize, tokenizer.special, tokenizer.addsBos]));
    for (let i = 0; i < tokenizer.vocabSize; i++) {
      let token: string;
      try {
        token = tokenizer.idToToken(i);
      } catch {
        token = '\u0000(none)'; // a gap in the ids
      }
      hash.update(token);
      hash.update(tokenizer.isSpecial(i) ? '\u0000s\u0000' : '\u0000');
    }
    hash.update(JSON.stringify([tokenizer.encode(PROBE_TEXT, { addSpecialTokens: false }), tokenizer.encode(PROBE_TEXT)]));
    id = hash.digest('hex');
    identities.set(tokenizer, id);
  }
  return id;
}

function checkPackOptions(options: PackOptions): void {
  const tok = options?.tokenizer;
  if (!tok || typeof tok.encode !== 'function' || !Number.isSafeInteger(tok.vocabSize) || tok.vocabSize < 1) {
    throw new StrataError('argument', 'packCorpus', 'options.tokenizer must be a Tokenizer');
  }
  if (tok.vocabSize > 2 ** 31) throw new StrataError('argument', 'packCorpus', `a vocabulary of ${tok.vocabSize} tokens does not fit in i32 token ids`);
  if (typeof options.cacheDir !== 'string' || options.cacheDir === '') throw new StrataError('argument', 'packCorpus', 'options.cacheDir must be a folder path');
}

/** A meta file written by packCorpus, if it is complete, for this key, and its token file has the size it states. */
function readCache(metaFile: string, binFile: string, key: string): PackedCorpus | null {
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  const { tokens, dtype, documents, vocabSize } = meta;
  if (meta.format !== META_FORMAT || meta.version !== PACK_VERSION || meta.key !== key) return null;
  if (dtype !== 'u16' && dtype !== 'u32') return null;
  if (![tokens, documents, vocabSize].every((v) => Number.isSafeInteger(v) && (v as number) >= 0)) return null;
  let size: number;
  try {
    size = fs.statSync(binFile).size;
  } catch {
    return null;
  }
  if (size !== (tokens as number) * bytesPerToken(dtype)) return null; // truncated or replaced
  return { file: binFile, tokens: tokens as number, dtype, documents: documents as number, vocabSize: vocabSize as number };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temp files a killed packCorpus left (writeFileAtomic names them `.<name>.<pid>.<random>.tmp`). */
function removeStaleTemps(dir: string, names: readonly string[]): void {
  for (const entry of fs.readdirSync(dir)) {
    if (!entry.endsWith('.tmp')) continue;
    for (const name of names) {
      const prefix = `.${name}.`;
      if (!entry.startsWith(prefix)) continue;
      const pid = Number.parseInt(entry.slice(prefix.length), 10);
      if (Number.isSafeInteger(pid) && pid !== process.pid && !processAlive(pid)) fs.rmSync(path.join(dir, entry), { force: true });
    }
  }
}

/** The bytes of the first `count` ids of `ids`, little-endian. */
function littleEndianBytes(ids: Uint16Array | Uint32Array, count: number): Uint8Array {
  const bytes = new Uint8Array(ids.buffer, ids.byteOffset, count * ids.BYTES_PER_ELEMENT);
  if (LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(bytes.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    if (ids instanceof Uint16Array) view.setUint16(2 * i, ids[i]!, true);
    else view.setUint32(4 * i, ids[i]!, true);
  }
  return out;
}

/**
 * Tokenizes every document of spec and appends the ids to a binary file (u16 if vocab <= 65536
 * else u32, little-endian) + a meta JSON; memory stays bounded (stream documents, write in
 * chunks). Both are written to temp names and renamed when complete, the meta last, so a kill
 * never leaves a half cache that is later trusted; a second call with the same source+tokenizer
 * returns the cached result without tokenizing. Documents are encoded without the tokenizer's
 * own special tokens; with separateDocuments, EOS follows each document (or, for a tokenizer
 * without EOS, BOS precedes each).
 */
export function packCorpus(spec: string, options: PackOptions): PackedCorpus {
  checkPackOptions(options);
  const tok = options.tokenizer;
  const separate = options.separateDocuments ?? true;
  const key = sha256(
    JSON.stringify({ version: PACK_VERSION, source: sourceFingerprint(spec, options.source), tokenizer: tokenizerIdentity(tok), separate }),
  );
  const cacheDir = path.resolve(options.cacheDir);
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
  } catch (err) {
    throw new StrataError('io', cacheDir, `cannot create the cache folder (${(err as Error).message})`);
  }
  const name = `tokens-${key.slice(0, 40)}`;
  const binFile = path.join(cacheDir, `${name}.bin`);
  const metaFile = path.join(cacheDir, `${name}.json`);
  const cached = readCache(metaFile, binFile, key);
  if (cached) return cached;
  removeStaleTemps(cacheDir, [`${name}.bin`, `${name}.json`]);

  const dtype = tok.vocabSize <= 65536 ? 'u16' : 'u32';
  const eos = separate ? tok.special.eos : undefined;
  const bos = separate && eos === undefined ? tok.special.bos : undefined;
  const documents = readDocuments(spec, options.source);
  const counts = { tokens: 0, documents: 0 };

  function* chunks(): Generator<Uint8Array> {
    let buf = dtype === 'u16' ? new Uint16Array(WRITE_CHUNK_TOKENS) : new Uint32Array(WRITE_CHUNK_TOKENS);
    let fill = 0;
    const pending: number[] = [];
    function* drain(): Generator<Uint8Array> {
      for (const id of pending) {
        if (!(Number.isInteger(id) && id >= 0 && id < tok.vocabSize)) {
          throw new StrataError('argument', 'packCorpus', `the tokenizer produced id ${id}, outside its vocabulary of ${tok.vocabSize}`);
        }
        buf[fill++] = id;
        if (fill === WRITE_CHUNK_TOKENS) {
          yield littleEndianBytes(buf, fill);
          buf = dtype === 'u16' ? new Uint16Array(WRITE_CHUNK_TOKENS) : new Uint32Array(WRITE_CHUNK_TOKENS);
          fill = 0;
        }
      }
      counts.tokens += pending.length;
      pending.length = 0;
    }
    let open = false; // a document is under way (EOS not yet written)
    for (const doc of documents) {
      if (doc.text === '') continue;
      if (!(doc.continues && open)) {
        if (open && eos !== undefined) pending.push(eos);
        if (bos !== undefined) pending.push(bos);
        counts.documents++;
        open = true;
      }
      for (const id of tok.encode(doc.text, { addSpecialTokens: false })) pending.push(id);
      yield* drain();
      options.onProgress?.(counts.documents, counts.tokens);
    }
    if (open && eos !== undefined) pending.push(eos);
    yield* drain();
    if (counts.tokens === 0) throw new StrataError('argument', spec, 'has no text to pack');
    if (fill > 0) yield littleEndianBytes(buf, fill);
  }

  writeFileAtomic(binFile, chunks());
  const corpus: PackedCorpus = { file: binFile, tokens: counts.tokens, dtype, documents: counts.documents, vocabSize: tok.vocabSize };
  const meta = { format: META_FORMAT, version: PACK_VERSION, key, spec, tokens: corpus.tokens, dtype, documents: corpus.documents, vocabSize: corpus.vocabSize, separateDocuments: separate };
  writeFileAtomic(metaFile, [new TextEncoder().encode(`${JSON.stringify(meta, null, 2)}\n`)]);
  return corpus;
}

function checkSeed(seed: number, op: string): void {
  if (!Number.isSafeInteger(seed)) throw new StrataError('argument', op, `seed must be an integer, got ${seed}`);
}

/** A 32-bit avalanche (murmur3's finalizer). */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A 32-bit hash of (seed, i): every bit of both matters. */
function hashPair(seed: number, i: number): number {
  const lo = Number(BigInt.asUintN(32, BigInt(seed)));
  const hi = Number(BigInt.asUintN(32, BigInt(seed) >> 32n));
  return fmix32(lo ^ fmix32(hi ^ fmix32((i + 0x9e3779b9) >>> 0) ^ Math.imul(Math.floor(i / 2 ** 32), 0x27d4eb2f)));
}

/** A permutation of 0..n-1 (Fisher–Yates), or its first `count` entries chosen. */
function shuffled(n: number, gen: Rng, count = n): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = 0; i < Math.min(count, n - 1); i++) {
    const j = gen.integer(i, n);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/**
 * Opens a packed corpus (memory-mapped via src/io/mmap.ts, or read by range without the addon)
 * and cuts it into non-overlapping windows of context+1 tokens (input = the first context,
 * target = the same shifted by one). A seeded choice of ceil(valFraction * n) windows forms the
 * validation split; the rest is the training split, so no token is in both.
 */
export class TokenWindows {
  readonly context: number;
  readonly trainCount: number;
  readonly valCount: number;
  private readonly file: MappedFile;
  private readonly bytes: 2 | 4;
  private readonly train: Uint32Array;
  private readonly val: Uint32Array;

  constructor(corpus: PackedCorpus, options: { context: number; valFraction?: number; seed?: number }) {
    const op = 'TokenWindows';
    const { context } = options;
    const valFraction = options.valFraction ?? 0;
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(context) || context < 1) throw new StrataError('argument', op, `context must be an integer >= 1, got ${context}`);
    if (!(valFraction >= 0 && valFraction < 1)) throw new StrataError('argument', op, `valFraction must be in [0, 1), got ${valFraction}`);
    checkSeed(seed, op);
    if (corpus?.dtype !== 'u16' && corpus?.dtype !== 'u32') throw new StrataError('argument', op, `corpus.dtype must be 'u16' or 'u32', got ${String(corpus?.dtype)}`);
    if (!Number.isSafeInteger(corpus.tokens) || corpus.tokens < 0) throw new StrataError('argument', op, `corpus.tokens must be a count, got ${corpus.tokens}`);
    this.context = context;
    this.bytes = bytesPerToken(corpus.dtype);
    this.file = MappedFile.open(corpus.file);
    if (this.file.size !== corpus.tokens * this.bytes) {
      throw new StrataError('io', corpus.file, `has ${this.file.size} bytes, but ${corpus.tokens} ${corpus.dtype} tokens take ${corpus.tokens * this.bytes} (truncated or replaced?)`);
    }
    const n = Math.floor(corpus.tokens / (context + 1));
    if (n < 1) throw new StrataError('argument', op, `the corpus has ${corpus.tokens} tokens, fewer than one window of context + 1 = ${context + 1}`);
    const valCount = valFraction > 0 ? Math.ceil(valFraction * n) : 0;
    if (valCount >= n) throw new StrataError('argument', op, `valFraction ${valFraction} of ${n} windows leaves no training windows`);
    const order = shuffled(n, new Rng(hashPair(seed, 0x5eed)), valCount);
    this.val = order.slice(0, valCount).sort();
    this.train = order.slice(valCount).sort();
    this.valCount = valCount;
    this.trainCount = n - valCount;
  }

  private windowStart(split: 'train' | 'val', i: number): number {
    const list = split === 'train' ? this.train : split === 'val' ? this.val : undefined;
    if (!list) throw new StrataError('argument', 'TokenWindows', `split must be 'train' or 'val', got ${String(split)}`);
    if (!Number.isInteger(i) || i < 0 || i >= list.length) {
      throw new StrataError('index', 'TokenWindows', `window ${i} is out of range for the ${list.length} ${split} windows`);
    }
    return list[i]! * (this.context + 1);
  }

  /** Token ids [start, start + count) into out at offset. */
  private read(start: number, count: number, out: Int32Array, offset: number): void {
    const raw = this.file.range(start * this.bytes, (start + count) * this.bytes);
    if (LITTLE_ENDIAN && raw.byteOffset % this.bytes === 0) {
      out.set(this.bytes === 2 ? new Uint16Array(raw.buffer, raw.byteOffset, count) : new Uint32Array(raw.buffer, raw.byteOffset, count), offset);
      return;
    }
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) out[offset + i] = this.bytes === 2 ? view.getUint16(2 * i, true) : view.getUint32(4 * i, true);
  }

  /** Window i of a split as context+1 token ids. */
  window(split: 'train' | 'val', i: number): Int32Array {
    const out = new Int32Array(this.context + 1);
    this.read(this.windowStart(split, i), this.context + 1, out, 0);
    return out;
  }

  /** A batch as i32 tensors: inputs (B, T) and targets (B, T), targets[b, t] = inputs[b, t + 1]'s token. */
  batch(split: 'train' | 'val', indices: readonly number[]): { inputs: Tensor; targets: Tensor } {
    if (!Array.isArray(indices) || indices.length === 0) throw new StrataError('argument', 'TokenWindows.batch', 'indices must be a non-empty array');
    const B = indices.length;
    const T = this.context;
    const inputs = new Int32Array(B * T); // (B, T)
    const targets = new Int32Array(B * T); // (B, T)
    const row = new Int32Array(T + 1);
    for (let b = 0; b < B; b++) {
      this.read(this.windowStart(split, indices[b]!), T + 1, row, 0);
      inputs.set(row.subarray(0, T), b * T);
      targets.set(row.subarray(1), b * T);
    }
    return { inputs: fromArray(inputs, [B, T], { dtype: 'i32' }), targets: fromArray(targets, [B, T], { dtype: 'i32' }) };
  }
}

/**
 * Deterministic shuffled order over n items: epoch e is a permutation seeded by (seed, e), and
 * batches run on across epoch ends, so every index comes once per epoch. Its position is
 * serializable so a resumed run continues with exactly the same batches.
 */
export class BatchSampler {
  readonly n: number;
  readonly batchSize: number;
  readonly seed: number;
  private epoch = 0;
  private index = 0;
  private order: Uint32Array | null = null;
  private orderEpoch = -1;

  constructor(n: number, batchSize: number, seed: number) {
    if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 32) throw new StrataError('argument', 'BatchSampler', `n must be an integer >= 1, got ${n}`);
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new StrataError('argument', 'BatchSampler', `batchSize must be an integer >= 1, got ${batchSize}`);
    checkSeed(seed, 'BatchSampler');
    this.n = n;
    this.batchSize = batchSize;
    this.seed = seed;
  }

  private epochOrder(): Uint32Array {
    if (this.orderEpoch !== this.epoch || !this.order) {
      this.order = shuffled(this.n, new Rng(hashPair(this.seed, this.epoch)));
      this.orderEpoch = this.epoch;
    }
    return this.order;
  }

  /** The next batch of indices (running on into the next epoch, reshuffled). */
  next(): number[] {
    const out: number[] = [];
    while (out.length < this.batchSize) {
      const order = this.epochOrder();
      const take = Math.min(this.batchSize - out.length, this.n - this.index);
      for (let k = 0; k < take; k++) out.push(order[this.index + k]!);
      this.index += take;
      if (this.index === this.n) {
        this.epoch++;
        this.index = 0;
      }
    }
    return out;
  }

  /** Where the sampler stands: the epoch, and how many of its items have been handed out. */
  get state(): { epoch: number; index: number } {
    return { epoch: this.epoch, index: this.index };
  }

  restore(state: { epoch: number; index: number }): void {
    const { epoch, index } = state ?? {};
    if (!Number.isSafeInteger(epoch) || epoch < 0 || !Number.isSafeInteger(index) || index < 0 || index > this.n) {
      throw new StrataError('argument', 'BatchSampler.restore', `state must be {epoch >= 0, index in [0, ${this.n}]}, got ${JSON.stringify(state)}`);
    }
    this.epoch = index === this.n ? epoch + 1 : epoch;
    this.index = index === this.n ? 0 : index;
  }
}

/**
 * Deterministic labelled split for classification datasets, stratified by label: within each
 * label, round(testFraction * count) documents go to test, chosen by a seeded hash of the
 * document index. Both parts keep the documents' order.
 */
export function splitLabelled(docs: readonly TextDocument[], options: { testFraction: number; seed: number }): { train: TextDocument[]; test: TextDocument[] } {
  const { testFraction, seed } = options;
  if (!Array.isArray(docs)) throw new StrataError('argument', 'splitLabelled', 'docs must be an array of documents');
  if (!(testFraction >= 0 && testFraction < 1)) throw new StrataError('argument', 'splitLabelled', `testFraction must be in [0, 1), got ${testFraction}`);
  checkSeed(seed, 'splitLabelled');
  const byLabel = new Map<string | undefined, number[]>();
  docs.forEach((d, i) => {
    const group = byLabel.get(d.label);
    if (group) group.push(i);
    else byLabel.set(d.label, [i]);
  });
  const isTest = new Uint8Array(docs.length);
  for (const indices of byLabel.values()) {
    const keyed = indices.map((i) => [hashPair(seed, i), i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const count = Math.round(testFraction * indices.length);
    for (let k = 0; k < count; k++) isTest[keyed[k]![1]] = 1;
  }
  const train: TextDocument[] = [];
  const test: TextDocument[] = [];
  docs.forEach((d, i) => (isTest[i] ? test : train).push(d));
  return { train, test };
}
