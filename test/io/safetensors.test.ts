import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as S from '../../src/index.js';
import { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors } from '../../src/io/index.js';
import { loadFixture } from '../helpers/fixtures.js';

/** A raw safetensors image from a header (object or literal text) and data bytes. */
function image(header: unknown, data: ArrayLike<number> = [], headerLenOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLenOverride ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(Array.from(data), 8 + json.byteLength);
  return out;
}

function assertIoError(fn: () => unknown, pattern: RegExp, source = '<buffer>'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof S.StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, 'io');
    assert.ok(err.message.includes(source), `message '${err.message}' should name ${source}`);
    assert.match(err.message, pattern);
    return true;
  });
}

function rawBytes(t: S.Tensor): number[] {
  const c = t.contiguous();
  return Array.from(c.data.subarray(c.offset, c.offset + c.size));
}

function sampleTensors(): Record<string, S.Tensor> {
  return {
    'w.f32': S.tensor([[1.5, -2], [3, 4e-38]]),
    'w.f64': S.tensor([Math.PI, -1e300, 5e-324], { dtype: 'f64' }),
    'w.f16': S.tensor([1, -0.5, 65504, 6e-8, Infinity], { dtype: 'f16' }),
    'w.bf16': S.tensor([1, -0.5, 3e38, -1e-30], { dtype: 'bf16' }),
    'ids.i32': S.tensor([0, -1, 2147483647, -2147483648], { dtype: 'i32' }),
    'bytes.u8': S.tensor([0, 7, 255], { dtype: 'u8' }),
    'mask.bool': S.tensor([[true, false, true]], { dtype: 'bool' }),
    empty: S.zeros([0, 4]),
    scalar: S.tensor(2.5),
    // a transposed view: written as its row-major values
    transposed: S.tensor([[1, 2, 3], [4, 5, 6]]).transpose(0, 1),
  };
}

test('round trip of every dtype, shape and view', () => {
  const src = sampleTensors();
  const bytes = serializeSafetensors(src, { format: 'pt', note: 'héllo' });
  const { tensors, metadata } = parseSafetensors(bytes);
  assert.deepEqual(metadata, { format: 'pt', note: 'héllo' });
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(src).sort());
  for (const [name, t] of Object.entries(src)) {
    const back = tensors[name]!;
    assert.equal(back.dtype, t.dtype, name);
    assert.deepEqual(back.shape, t.shape, name);
    assert.deepEqual(rawBytes(back), rawBytes(t), name);
  }
  assert.deepEqual(tensors.transposed!.tolist(), [[1, 4], [2, 5], [3, 6]]);
});

test('writer layout: 8-byte aligned header padded with spaces, sorted keys, aligned tensors, zero-copy read', () => {
  const bytes = serializeSafetensors(sampleTensors());
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.equal(text, text.trimEnd() + ' '.repeat(n - text.trimEnd().length));
  const header = JSON.parse(text) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const keys = Object.keys(header);
  assert.deepEqual(keys, [...keys].sort());
  const size: Record<string, number> = { F64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, U8: 1, BOOL: 1 };
  for (const [name, e] of Object.entries(header)) assert.equal(e.data_offsets[0] % size[e.dtype]!, 0, `${name} is aligned`);
  const { tensors } = parseSafetensors(bytes);
  for (const name of ['w.f32', 'w.f64', 'w.f16', 'ids.i32']) assert.equal(tensors[name]!.data.buffer, bytes.buffer, `${name} is a view`);
  // a buffer that starts at an odd byte offset still parses (by copying)
  const shifted = new Uint8Array(bytes.byteLength + 1);
  shifted.set(bytes, 1);
  const odd = parseSafetensors(shifted.subarray(1));
  assert.deepEqual(odd.tensors['w.f64']!.toArray(), tensors['w.f64']!.toArray());
  assert.notEqual(odd.tensors['w.f64']!.data.buffer, shifted.buffer);
});

test('an empty file of tensors and metadata-only files round-trip', () => {
  assert.deepEqual(parseSafetensors(serializeSafetensors({})), { tensors: {}, metadata: {} });
  assert.deepEqual(parseSafetensors(serializeSafetensors({}, { a: 'b' })).metadata, { a: 'b' });
});

test('writeSafetensors is atomic and readSafetensors reads it back', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-st-'));
  try {
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, { a: S.tensor([1, 2, 3]) }, { step: '1' });
    writeSafetensors(file, { a: S.tensor([4, 5]), b: S.tensor([1], { dtype: 'i32' }) }, { step: '2' });
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors'], 'no temporary files are left behind');
    const { tensors, metadata } = readSafetensors(file);
    assert.deepEqual(tensors.a!.toArray(), [4, 5]);
    assert.deepEqual(tensors.b!.toArray(), [1]);
    assert.deepEqual(metadata, { step: '2' });
    assertIoError(() => writeSafetensors(path.join(dir, 'missing-dir', 'x.safetensors'), {}), /cannot write/, 'missing-dir');
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('reads every dtype from a file written by the Python fixture script (I64 becomes i32)', () => {
  const { tensors, metadata } = loadFixture('dtypes');
  const expected = JSON.parse(metadata.expected!) as Record<string, { shape: number[]; values: (number | string)[] }>;
  const dtypes: Record<string, string> = {
    a_u8: 'u8',
    b_bool: 'bool',
    c_f16: 'f16',
    d_bf16: 'bf16',
    e_f32: 'f32',
    f_f64: 'f64',
    g_i32: 'i32',
    h_i64: 'i32',
    i_empty_f32: 'f32',
    j_scalar_f32: 'f32',
  };
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(expected).sort());
  for (const [name, exp] of Object.entries(expected)) {
    const t = tensors[name]!;
    assert.equal(t.dtype, dtypes[name], name);
    assert.deepEqual(t.shape, exp.shape, name);
    const want = exp.values.map((v) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number)));
    assert.deepEqual(t.toArray(), want, name);
  }
});

test('hostile input: too short, header length past the end, huge header length', () => {
  assertIoError(() => parseSafetensors(new Uint8Array(0)), /shorter than the 8-byte header length/);
  assertIoError(() => parseSafetensors(new Uint8Array(7)), /shorter than the 8-byte header length/);
  assertIoError(() => parseSafetensors(image('{}', [], 1n)), /too small/);
  assertIoError(() => parseSafetensors(image('{}', [], 100n)), /header length 100 reaches past the end/);
  assertIoError(() => parseSafetensors(image('{}', [], 0xffffffffffffffffn)), /header length 18446744073709551615 reaches past/);
  assertIoError(() => parseSafetensors(image('{}', [], 2n ** 53n + 1n)), /reaches past/);
  const big = new Uint8Array(8 + 100_000_001);
  new DataView(big.buffer).setBigUint64(0, 100_000_001n, true);
  assertIoError(() => parseSafetensors(big), /exceeds the 100000000-byte limit/);
});

test('hostile input: bad header text', () => {
  assertIoError(() => parseSafetensors(image('{"a": ')), /not valid JSON/);
  assertIoError(() => parseSafetensors(image('[1, 2]')), /must be a JSON object/);
  assertIoError(() => parseSafetensors(image('null')), /must be a JSON object/);
  const bad = image('{"\u00e9": 1}');
  bad[10] = 0xff; // break the UTF-8 of the first character
  assertIoError(() => parseSafetensors(bad), /not valid UTF-8/);
  assertIoError(() => parseSafetensors(image({ __metadata__: { a: 1 } })), /__metadata__ value for 'a' must be a string/);
  assertIoError(() => parseSafetensors(image({ __metadata__: ['x'] })), /__metadata__ must be an object/);
  assertIoError(() => parseSafetensors(image({ t: 5 })), /tensor 't': header entry must be an object/);
});

test('hostile input: bad entries', () => {
  const e = (entry: object, data: number[] = [0, 0, 0, 0]) => () => parseSafetensors(image({ t: entry }, data));
  assertIoError(e({ dtype: 'F31', shape: [1], data_offsets: [0, 4] }), /unknown dtype 'F31'/);
  assertIoError(e({ dtype: 'I8', shape: [4], data_offsets: [0, 4] }), /dtype I8 is not supported/);
  assertIoError(e({ dtype: 7, shape: [1], data_offsets: [0, 4] }), /dtype must be a string/);
  assertIoError(e({ dtype: 'toString', shape: [1], data_offsets: [0, 4] }), /unknown dtype/);
  assertIoError(e({ dtype: 'F32', shape: [-1], data_offsets: [0, 4] }), /shape must be an array of non-negative integers/);
  assertIoError(e({ dtype: 'F32', shape: [1.5], data_offsets: [0, 4] }), /shape must be/);
  assertIoError(e({ dtype: 'F32', shape: '1', data_offsets: [0, 4] }), /shape must be/);
  assertIoError(e({ dtype: 'F32', shape: [1], data_offsets: [0] }), /data_offsets must be \[begin, end\]/);
  assertIoError(e({ dtype: 'F32', shape: [1], data_offsets: [-4, 0] }), /data_offsets must be/);
  assertIoError(e({ dtype: 'F32', shape: [1], data_offsets: [4, 0] }), /end before they begin/);
  assertIoError(e({ dtype: 'F32', shape: [1], data_offsets: [0, 8] }), /reach past the end of the 4-byte data buffer/);
  assertIoError(e({ dtype: 'F32', shape: [1], data_offsets: [0, 2 ** 60] }), /data_offsets must be|reach past/);
  assertIoError(e({ dtype: 'F32', shape: [2], data_offsets: [0, 4] }), /needs 8 bytes but data_offsets \[0, 4\] hold 4/);
  assertIoError(e({ dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] }), /needs .* bytes/);
  assertIoError(e({ dtype: 'F32', shape: [1], data_offsets: [0, 4] }, [0, 0, 0, 0, 9]), /trailing bytes/);
  // deeply nested values must not overflow the stack, in parsing or in the error message
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  assertIoError(() => parseSafetensors(image(deep)), /must be a JSON object/);
  assertIoError(() => parseSafetensors(image(`{"t":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`)), /shape must be/);
  assertIoError(() => parseSafetensors(image(`{"t":{"dtype":"F32","shape":[0],"data_offsets":${deep}}}`)), /data_offsets must be/);
  assertIoError(() => parseSafetensors(image({ ['n'.repeat(1e6)]: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, [0, 0, 0, 0])), /tensor 'n{80}\.\.\.': shape/);
});

test('hostile input: overlapping offsets and gaps', () => {
  const f32 = (a: number, b: number) => ({ dtype: 'F32', shape: [(b - a) / 4], data_offsets: [a, b] });
  const data = new Array(12).fill(0);
  assertIoError(() => parseSafetensors(image({ a: f32(0, 8), b: f32(4, 12) }, data)), /overlap/);
  assertIoError(() => parseSafetensors(image({ a: f32(0, 8), b: f32(0, 8) }, data.slice(0, 8))), /overlap/);
  assertIoError(() => parseSafetensors(image({ a: f32(0, 4), b: f32(8, 12) }, data)), /gap after byte 4/);
  assertIoError(() => parseSafetensors(image({ a: f32(4, 12) }, data)), /gap after byte 0/);
  // out of order in the header but tiling the buffer is fine
  const ok = parseSafetensors(image({ b: f32(4, 12), a: f32(0, 4) }, data));
  assert.deepEqual(ok.tensors.b!.shape, [2]);
});

test('hostile input: I64 outside the i32 range and BOOL bytes other than 0/1', () => {
  const i64 = (lo: number, hi: number) => {
    const d = new Uint8Array(8);
    new DataView(d.buffer).setUint32(0, lo, true);
    new DataView(d.buffer).setUint32(4, hi, true);
    return Array.from(d);
  };
  const entry = { t: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } };
  assert.deepEqual(parseSafetensors(image(entry, i64(0x7fffffff, 0))).tensors.t!.toArray(), [2147483647]);
  assert.deepEqual(parseSafetensors(image(entry, i64(0x80000000, 0xffffffff))).tensors.t!.toArray(), [-2147483648]);
  assertIoError(() => parseSafetensors(image(entry, i64(0x80000000, 0))), /I64 value 2147483648 at element 0 does not fit in i32/);
  assertIoError(() => parseSafetensors(image(entry, i64(0x7fffffff, 0xffffffff))), /I64 value -2147483649/);
  assertIoError(() => parseSafetensors(image(entry, i64(0, 1))), /I64 value 4294967296/);
  assertIoError(() => parseSafetensors(image({ t: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, [1, 2])), /BOOL byte 2 at element 1/);
});

test("a tensor named '__proto__' is data, not a prototype", () => {
  const { tensors } = parseSafetensors(image({ ['__proto__']: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, [3]));
  assert.deepEqual(Object.keys(tensors), ['__proto__']);
  assert.equal(Object.getPrototypeOf(tensors), Object.prototype);
  assertIoError(() => serializeSafetensors({ __metadata__: S.tensor([1]) }), /reserved/);
});

test('every truncation and random corruption of a valid file is a StrataError or a clean parse', () => {
  const bytes = serializeSafetensors(sampleTensors(), { a: 'b' });
  for (let len = 0; len < bytes.byteLength; len++) {
    assert.throws(() => parseSafetensors(bytes.subarray(0, len), 'trunc.safetensors'), (err: unknown) => err instanceof S.StrataError && err.code === 'io');
  }
  const gen = new S.Generator(1234);
  for (let trial = 0; trial < 3000; trial++) {
    const copy = bytes.slice();
    const flips = 1 + gen.integer(0, 4);
    for (let f = 0; f < flips; f++) {
      // corrupt mostly the length word and the header, where parsing decisions are made
      const at = gen.uniform() < 0.9 ? gen.integer(0, Math.min(copy.byteLength, 400)) : gen.integer(0, copy.byteLength);
      copy[at] = gen.integer(0, 256);
    }
    try {
      const { tensors } = parseSafetensors(copy, 'fuzz.safetensors');
      for (const t of Object.values(tensors)) t.toArray();
    } catch (err) {
      assert.ok(err instanceof S.StrataError && err.code === 'io', `trial ${trial}: ${String(err)}`);
    }
  }
});

test('readSafetensors names the file when it cannot be read', () => {
  assertIoError(() => readSafetensors('/nonexistent/dir/model.safetensors'), /cannot read file/, '/nonexistent/dir/model.safetensors');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-st-'));
  try {
    const file = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(file, image('{"x":', []));
    assertIoError(() => readSafetensors(file), /not valid JSON/, file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
