// GGUF reader and writer: round trips of every metadata value type and tensor type, the layout
// rules llama.cpp enforces, files written by ggml itself (test/fixtures/gguf, see
// scripts/fixtures/gguf_oracle.cpp) and hostile input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as S from '../../src/index.js';
import { parseGguf, readGguf, readGgufHeader, serializeGguf, writeGguf, type GgufValue } from '../../src/io/index.js';
import { isQuantized } from '../../src/index.js';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/gguf');

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'strata-gguf-'));
}

function ioError(fn: () => unknown, re: RegExp, source?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof S.StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, 'io');
    if (source !== undefined) assert.equal(err.op, source);
    assert.match(err.message, re);
    return true;
  });
}

const maxDiff = (a: S.Tensor, b: S.Tensor) => a.to('f32').sub(b.to('f32')).abs().max().item();

test('metadata of every value type round-trips with its type', () => {
  const metadata: Record<string, GgufValue> = {
    'v.u8': { type: 'u8', value: 255 },
    'v.i8': { type: 'i8', value: -128 },
    'v.u16': { type: 'u16', value: 65535 },
    'v.i16': { type: 'i16', value: -32768 },
    'v.u32': { type: 'u32', value: 4294967295 },
    'v.i32': { type: 'i32', value: -2147483648 },
    'v.f32': { type: 'f32', value: 0.5 },
    'v.f64': { type: 'f64', value: 0.1 },
    'v.u64': { type: 'u64', value: 2n ** 64n - 1n },
    'v.i64': { type: 'i64', value: -(2n ** 63n) },
    'v.bool': { type: 'bool', value: false },
    'v.string': { type: 'string', value: 'héllo ✓ 🙂' },
    'v.empty': { type: 'string', value: '' },
    'a.u8': { type: 'array', itemType: 'u8', value: new Uint8Array([0, 255]) },
    'a.i8': { type: 'array', itemType: 'i8', value: new Int8Array([-1, 1]) },
    'a.u16': { type: 'array', itemType: 'u16', value: new Uint16Array([1, 65535]) },
    'a.i16': { type: 'array', itemType: 'i16', value: new Int16Array([-2, 2]) },
    'a.u32': { type: 'array', itemType: 'u32', value: new Uint32Array([7]) },
    'a.i32': { type: 'array', itemType: 'i32', value: new Int32Array([-7, 0, 7]) },
    'a.f32': { type: 'array', itemType: 'f32', value: new Float32Array([1.5, -Infinity]) },
    'a.f64': { type: 'array', itemType: 'f64', value: new Float64Array([Math.PI]) },
    'a.u64': { type: 'array', itemType: 'u64', value: new BigUint64Array([2n ** 63n]) },
    'a.i64': { type: 'array', itemType: 'i64', value: new BigInt64Array([-1n]) },
    'a.bool': { type: 'array', itemType: 'bool', value: [true, false, true] },
    'a.string': { type: 'array', itemType: 'string', value: ['', 'Ġthe', '<0x0A>', '日本'] },
    'a.empty': { type: 'array', itemType: 'f32', value: new Float32Array(0) },
    'a.nested': {
      type: 'array',
      itemType: 'array',
      value: [
        { type: 'array', itemType: 'i32', value: new Int32Array([1, 2]) },
        { type: 'array', itemType: 'array', value: [{ type: 'array', itemType: 'string', value: ['deep'] }] },
      ],
    },
  };
  const back = parseGguf(serializeGguf({ metadata }));
  assert.equal(back.version, 3);
  assert.deepEqual(Object.keys(back.metadata), Object.keys(metadata));
  for (const [k, v] of Object.entries(metadata)) assert.deepEqual(back.metadata[k], v, k);
  assert.deepEqual(back.tensors, {});
});

test('plain JS values get the GGUF types llama.cpp expects', () => {
  const back = parseGguf(
    serializeGguf({
      metadata: {
        'general.architecture': 'llama',
        'llama.block_count': 12,
        'llama.context_length': 2048,
        'llama.rope.freq_base': 10000,
        'llama.attention.layer_norm_rms_epsilon': 1e-5,
        'tokenizer.ggml.bos_token_id': 1,
        'tokenizer.ggml.add_bos_token': true,
        'tokenizer.ggml.tokens': ['a', 'b'],
        'tokenizer.ggml.merges': [],
        'tokenizer.ggml.scores': [0, -1],
        'tokenizer.ggml.token_type': [1, 2],
        'llama.attention.head_count_kv': [4, 4, 2],
        'other.count': 3,
        'other.negative': -3,
        'other.fraction': 0.25,
        'other.big': 2 ** 40,
        'other.bigint': 5n,
        'other.list': [1, 2, 3],
        'other.floats': new Float32Array([0.5]),
        'other.grid': [
          [1, 2],
          [3, 4],
        ],
        'other.u64': { type: 'u64', value: 7 },
      },
    }),
  );
  const type = (k: string) => {
    const v = back.metadata[k]!;
    return v.type === 'array' ? `${v.itemType}[]` : v.type;
  };
  assert.equal(type('general.architecture'), 'string');
  assert.equal(type('llama.block_count'), 'u32');
  assert.equal(type('llama.context_length'), 'u32');
  assert.equal(type('llama.rope.freq_base'), 'f32');
  assert.equal(type('llama.attention.layer_norm_rms_epsilon'), 'f32');
  assert.equal(type('tokenizer.ggml.bos_token_id'), 'u32');
  assert.equal(type('tokenizer.ggml.add_bos_token'), 'bool');
  assert.equal(type('tokenizer.ggml.tokens'), 'string[]');
  assert.equal(type('tokenizer.ggml.merges'), 'string[]');
  assert.equal(type('tokenizer.ggml.scores'), 'f32[]');
  assert.equal(type('tokenizer.ggml.token_type'), 'i32[]');
  assert.equal(type('llama.attention.head_count_kv'), 'u32[]');
  assert.equal(type('other.count'), 'u32');
  assert.equal(type('other.negative'), 'i32');
  assert.equal(type('other.fraction'), 'f32');
  assert.equal(type('other.big'), 'u64');
  assert.equal(type('other.bigint'), 'u64');
  assert.equal(type('other.list'), 'i32[]');
  assert.equal(type('other.floats'), 'f32[]');
  assert.equal(type('other.grid'), 'array[]');
  assert.deepEqual(back.metadata['other.u64'], { type: 'u64', value: 7n });
  assert.deepEqual(back.metadata['llama.rope.freq_base'], { type: 'f32', value: 10000 });
});

test('bad metadata values are refused before anything is written', () => {
  const bad = (metadata: Record<string, unknown>, re: RegExp) =>
    assert.throws(
      () => serializeGguf({ metadata: metadata as never }),
      (e: unknown) => e instanceof S.StrataError && re.test(e.message),
    );
  bad({ 'llama.block_count': -1 }, /u32/);
  bad({ 'llama.block_count': 1.5 }, /u32/);
  bad({ x: { type: 'u8', value: 256 } }, /u8/);
  bad({ x: { type: 'q9', value: 1 } }, /unknown GGUF value type/);
  bad({ x: { type: 'u64', value: -1n } }, /out of range/);
  bad({ x: ['a', 1] }, /string array/);
  bad({ x: { type: 'string', value: 3 } }, /string/);
  bad({ x: () => 1 }, /cannot store/);
  bad({ 'general.alignment': { type: 'u64', value: 32 } }, /alignment/);
});

test('tensors of every type round-trip, shapes reversed into GGUF ne order', () => {
  const g = new S.Generator(7);
  const w = S.randn([5, 256], { generator: g }); // (out, in)
  const tensors: Record<string, S.Tensor> = {
    f32: w,
    f16: w.to('f16'),
    bf16: w.to('bf16'),
    q8_0: w.to('q8_0'),
    q4_0: w.to('q4_0'),
    q4_k: w.to('q4_k'),
    q6_k: w.to('q6_k'),
    vec: S.randn([3], { generator: g }),
    cube: S.randn([2, 3, 4, 5], { generator: g }),
    scalar: S.tensor(2.5),
    empty: S.zeros([0, 4]),
    q3d: S.randn([2, 3, 32], { generator: g }).to('q8_0'),
  };
  const bytes = serializeGguf({ tensors });
  const back = parseGguf(bytes, 'mem.gguf');
  assert.deepEqual(Object.keys(back.tensors), Object.keys(tensors));
  for (const [name, t] of Object.entries(tensors)) {
    const r = back.tensors[name]!;
    assert.equal(r.dtype, t.dtype, name);
    assert.deepEqual(r.shape, t.shape, name);
    if (isQuantized(t.dtype)) assert.deepEqual(r.data, (t.data as Uint8Array).subarray(0, r.data.length), name);
    else assert.deepEqual(r.toArray(), t.toArray(), name);
  }
  const info = back.tensorInfos.find((i) => i.name === 'q4_k')!;
  assert.deepEqual(info.ne, [256, 5]);
  assert.equal(info.type, 'Q4_K');
  assert.equal(info.ggmlType, 12);
  assert.equal(info.nbytes, 5 * 144);
  // llama.cpp's layout: each tensor right after the previous one, padded to the alignment
  let expected = 0;
  for (const i of back.tensorInfos) {
    assert.equal(i.offset, expected, i.name);
    assert.equal(i.fileOffset, back.dataOffset + i.offset);
    expected += Math.ceil(i.nbytes / 32) * 32;
  }
  assert.equal(back.dataOffset % 32, 0);
  assert.equal(bytes.byteLength, back.dataOffset + expected, 'the last tensor is padded too');
  // views, not copies, where the data is aligned
  assert.equal(back.tensors.f32!.data.buffer, bytes.buffer);
  assert.equal(back.tensors.q6_k!.data.buffer, bytes.buffer);
});

test('alignment: the option, general.alignment, and bad values', () => {
  const t = { a: S.ones([3]), b: S.ones([5]) };
  const back = parseGguf(serializeGguf({ tensors: t, alignment: 64 }));
  assert.equal(back.alignment, 64);
  assert.deepEqual(back.metadata['general.alignment'], { type: 'u32', value: 64 });
  assert.equal(back.tensorInfos[1]!.offset, 64);
  assert.equal(back.dataOffset % 64, 0);
  const viaKey = parseGguf(serializeGguf({ tensors: t, metadata: { 'general.alignment': { type: 'u32', value: 128 } } }));
  assert.equal(viaKey.tensorInfos[1]!.offset, 128);
  for (const alignment of [0, 3, 4, 48]) ioError(() => serializeGguf({ tensors: t, alignment }), /alignment/);
  ioError(() => serializeGguf({ tensors: t, alignment: 64, metadata: { 'general.alignment': 32 } }), /alignment/);
});

test('the writer refuses what GGUF or llama.cpp cannot hold', () => {
  ioError(() => serializeGguf({ tensors: { x: S.ones([2], { dtype: 'i32' }) } }), /i32/);
  ioError(() => serializeGguf({ tensors: { x: S.ones([1, 1, 1, 1, 1]) } }), /more than 4 dimensions/);
  ioError(() => serializeGguf({ tensors: { ['n'.repeat(64)]: S.ones([1]) } }), /1 to 63 bytes/);
  ioError(() => serializeGguf({ tensors: { '': S.ones([1]) } }), /1 to 63 bytes/);
  ioError(() => serializeGguf({ tensors: { x: 3 as unknown as S.Tensor } }), /not a Tensor/);
  ioError(() => serializeGguf({ tensors: { x: S.randn([64, 64]).to('q8_0').T } }), /strided q8_0/);
  // a strided float view is written as its contiguous copy
  const t = S.randn([4, 6]);
  assert.deepEqual(parseGguf(serializeGguf({ tensors: { t: t.T } })).tensors.t!.toArray(), t.T.toArray());
});

test('writeGguf is atomic; readGguf memory-maps and names the file in errors', () => {
  const dir = tmpdir();
  try {
    const file = path.join(dir, 'm.gguf');
    const w = S.randn([4, 64]);
    writeGguf(file, { metadata: { 'general.architecture': 'llama' }, tensors: { w: w.to('q8_0'), b: S.ones([4]) } });
    assert.deepEqual(fs.readdirSync(dir), ['m.gguf']);
    const r = readGguf(file);
    assert.equal(r.tensors.w!.dtype, 'q8_0');
    assert.equal(maxDiff(r.tensors.w!, w.to('q8_0')), 0);
    const header = readGgufHeader(file);
    assert.deepEqual(header.metadata, r.metadata);
    assert.equal(header.tensorInfos.length, 2);
    // copy-on-write: writing into a mapped tensor changes the process's copy, never the file
    (r.tensors.b!.data as Float32Array)[0] = 42;
    assert.equal(readGguf(file).tensors.b!.toArray()[0], 1);
    assert.deepEqual(readGguf(file, { mmap: false }).tensors.b!.toArray(), [1, 1, 1, 1]);
    // a failed write leaves no temporary file behind and keeps the old file
    assert.throws(() => writeGguf(file, { tensors: { x: S.ones([1], { dtype: 'i32' }) } }), S.StrataError);
    assert.deepEqual(fs.readdirSync(dir), ['m.gguf']);
    ioError(() => readGguf(path.join(dir, 'missing.gguf')), /cannot read file/, path.join(dir, 'missing.gguf'));
    ioError(() => readGguf(dir), /directory/, dir);
    fs.writeFileSync(path.join(dir, 'empty.gguf'), '');
    ioError(() => readGguf(path.join(dir, 'empty.gguf')), /empty/);
    ioError(() => writeGguf(path.join(dir, 'no/such/dir.gguf'), { tensors: {} }), /cannot write/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('ggml itself loads Strata files and computes the same numbers (fixtures written by ggml)', () => {
  const ours = readGguf(path.join(FIXTURES, 'strata-written.gguf'));
  const ggml = readGguf(path.join(FIXTURES, 'ggml-written.gguf'));
  // a file written by ggml's own writer: every value type
  const md = ggml.metadata;
  assert.deepEqual(md['m.u8'], { type: 'u8', value: 200 });
  assert.deepEqual(md['m.i8'], { type: 'i8', value: -100 });
  assert.deepEqual(md['m.u16'], { type: 'u16', value: 60000 });
  assert.deepEqual(md['m.i16'], { type: 'i16', value: -30000 });
  assert.deepEqual(md['m.u32'], { type: 'u32', value: 4000000000 });
  assert.deepEqual(md['m.i32'], { type: 'i32', value: -2000000000 });
  assert.deepEqual(md['m.f32'], { type: 'f32', value: Math.fround(0.1) });
  assert.deepEqual(md['m.u64'], { type: 'u64', value: 18000000000000000000n });
  assert.deepEqual(md['m.i64'], { type: 'i64', value: -9000000000000000000n });
  assert.deepEqual(md['m.f64'], { type: 'f64', value: 0.1 });
  assert.deepEqual(md['m.bool'], { type: 'bool', value: true });
  assert.deepEqual(md['m.str'], { type: 'string', value: 'héllo' });
  assert.deepEqual(md['m.strs'], { type: 'array', itemType: 'string', value: ['a', '', '€'] });
  assert.deepEqual(md['m.f32s'], { type: 'array', itemType: 'f32', value: new Float32Array([1.5, -2]) });
  assert.deepEqual(md['m.i32s'], { type: 'array', itemType: 'i32', value: new Int32Array([-1, 7, 9]) });
  assert.deepEqual(md['m.bools'], { type: 'array', itemType: 'bool', value: [true, false] });

  const x = ours.tensors.x!;
  const src = ours.tensors.src!;
  for (const dt of ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'] as const) {
    const w = ours.tensors[`w.${dt}`]!;
    // the same block bytes decode to the same values in ggml and Strata, bit for bit
    assert.equal(maxDiff(w.to('f32'), ggml.tensors[`deq.${dt}`]!), 0, `${dt} dequantization`);
    assert.equal(S.withBackend('reference', () => maxDiff(w.to('f32'), ggml.tensors[`deq.${dt}`]!)), 0);
    // y = x · W^T: ggml_mul_mat quantizes the activations like Strata does for the k-quants;
    // for q8_0 / q4_0 it keeps their scale in f16 (Strata: f32), for f16 weights it rounds x to f16
    const yG = ggml.tensors[`y.${dt}`]!; // (M, N)
    const y = S.linear(x, w);
    const rel = maxDiff(y, yG) / yG.abs().max().item();
    const tol = { f32: 1e-6, f16: 2e-3, bf16: 4e-3, q8_0: 1e-3, q4_0: 1e-3, q4_k: 1e-5, q6_k: 1e-5 }[dt];
    assert.ok(rel <= tol, `${dt}: Strata vs ggml_mul_mat relative difference ${rel} > ${tol}`);
    if (isQuantized(dt)) {
      // Strata's quantizers follow ggml's reference quantizers to the byte on this data
      const theirs = ggml.tensors[`ggml.${dt}`]!;
      assert.deepEqual(src.to(dt).data, theirs.data.subarray(0, theirs.nbytes), `${dt} quantizer`);
    }
  }
});

test('bad magic, versions and counts name the file and the problem', () => {
  const good = serializeGguf({ metadata: { a: 'b' }, tensors: { t: S.ones([2, 32]).to('q8_0') } });
  const src = 'bad.gguf';
  const patch = (at: number, bytes: number[]) => {
    const b = good.slice();
    b.set(bytes, at);
    return b;
  };
  const u64 = (v: bigint) => [...new Uint8Array(new BigUint64Array([v]).buffer)];
  ioError(() => parseGguf(new Uint8Array(0), src), /too short/, src);
  ioError(() => parseGguf(patch(0, [0x47, 0x47, 0x4d, 0x4c]), src), /not a GGUF file: magic 'GGML'/);
  ioError(() => parseGguf(patch(4, [1, 0, 0, 0]), src), /version 1 is not supported/);
  ioError(() => parseGguf(patch(4, [9, 0, 0, 0]), src), /unsupported GGUF version 9/);
  ioError(() => parseGguf(patch(4, [0, 0, 0, 3]), src), /big-endian/);
  ioError(() => parseGguf(patch(8, u64(2n ** 40n)), src), /tensor count .* is 1099511627776/);
  ioError(() => parseGguf(patch(16, u64(2n ** 60n)), src), /metadata count/);
  ioError(() => parseGguf(patch(24, u64(2n ** 60n)), src), /key 0 .* claims 1152921504606846976 bytes/);
  // the value of 'a' is a string: its length field follows key length (8), key (1) and type (4)
  ioError(() => parseGguf(patch(24 + 8 + 1 + 4, u64(2n ** 60n)), src), /value of 'a' .* claims/);
  ioError(() => parseGguf(patch(24 + 8 + 1, [9, 0, 0, 0, 6, 0, 0, 0, ...u64(2n ** 50n)]), src), /array length of 'a' .* is 1125899906842624/);
  ioError(() => parseGguf(patch(24 + 8 + 1, [13, 0, 0, 0]), src), /not a GGUF value type/);
  // the data of 't' (2 blocks of 34 bytes) starts at 96; padding after it is not needed to read it
  assert.equal(parseGguf(good.subarray(0, 96 + 68)).tensors.t!.nbytes, 68);
  ioError(() => parseGguf(good.subarray(0, 96 + 67), src), /runs past the end of the 163-byte file \(truncated\?\)/);
  ioError(() => parseGguf(good.subarray(0, 30), src), /truncated/);
});

test('bad tensor infos: types, dims, offsets, overlaps, duplicates', () => {
  const two = () => ({ a: S.ones([2, 32]).to('q8_0'), b: S.ones([4]) });
  const bytes = serializeGguf({ tensors: two() });
  const parsed = parseGguf(bytes);
  // tensor info of 'a': name (8 + 1), n_dims (4), ne (2 x 8), type (4), offset (8)
  const infoA = 24;
  const typeAt = infoA + 9 + 4 + 16;
  const offA = typeAt + 4;
  const infoB = offA + 8;
  const typeB = infoB + 9 + 4 + 8;
  const offB = typeB + 4;
  const put32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v, true);
  const put64 = (b: Uint8Array, at: number, v: bigint) => new DataView(b.buffer, b.byteOffset).setBigUint64(at, v, true);
  const mutate = (f: (b: Uint8Array) => void) => {
    const b = bytes.slice();
    f(b);
    return b;
  };
  assert.equal(parsed.tensorInfos[1]!.offset, 96);
  ioError(() => parseGguf(mutate((b) => put32(b, typeAt, 3))), /tensor 'a' has tensor type Q4_1, which Strata does not read/);
  ioError(() => parseGguf(mutate((b) => put32(b, typeAt, 77))), /unknown tensor type 77/);
  ioError(() => parseGguf(mutate((b) => put32(b, typeB, 2))), /not whole Q4_0 blocks/);
  ioError(() => parseGguf(mutate((b) => put32(b, infoA + 9, 5))), /5 dimensions/);
  ioError(() => parseGguf(mutate((b) => put64(b, infoA + 13, 2n ** 62n))), /beyond any plausible size/);
  ioError(() => parseGguf(mutate((b) => put64(b, infoA + 13, 2n ** 40n))), /runs past the end|plausible/);
  ioError(() => parseGguf(mutate((b) => put64(b, offB, 33n))), /not a multiple of the alignment 32/);
  ioError(() => parseGguf(mutate((b) => put64(b, offB, 2n ** 40n))), /runs past the end/);
  ioError(() => parseGguf(mutate((b) => put64(b, offB, 0n))), /'a' and 'b' overlap/);
  ioError(() => parseGguf(mutate((b) => (b[infoB + 8] = 'a'.charCodeAt(0)))), /duplicate tensor name 'a'/);
  ioError(() => parseGguf(mutate((b) => (b[infoA + 8] = 0xff))), /not valid UTF-8/);
  const dup = serializeGguf({ metadata: { ab: 1, ac: 2 } });
  const second = dup.findIndex((v, i) => v === 0x61 && dup[i + 1] === 0x63); // "ac"
  dup[second + 1] = 0x62; // now "ab" again
  ioError(() => parseGguf(dup), /duplicate metadata key 'ab'/);
  const align = serializeGguf({ metadata: { 'general.alignment': { type: 'u32', value: 64 } } });
  const badAlign = align.slice();
  put32(badAlign, align.length - 4, 48);
  ioError(() => parseGguf(badAlign), /not a power of two/);
  const wrongType = align.slice();
  put32(wrongType, align.length - 8, 2); // the value type: u16 instead of u32
  ioError(() => parseGguf(wrongType), /general.alignment must be a u32/);
  let deep: GgufValue = { type: 'array', itemType: 'u8', value: new Uint8Array(1) };
  for (let i = 0; i < 40; i++) deep = { type: 'array', itemType: 'array', value: [deep] };
  assert.throws(() => serializeGguf({ metadata: { deep } }), /nest more than 32/);
});
