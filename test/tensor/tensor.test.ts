import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/tensor/dtype.js';

const isStrataError = (re: RegExp) => (e: unknown) => e instanceof S.StrataError && re.test(e.message);

describe('creation', () => {
  test('tensor, zeros, ones, full, arange, linspace, eye', () => {
    assert.deepEqual(S.tensor([[1, 2], [3, 4]]).shape, [2, 2]);
    assert.deepEqual(S.zeros([2, 3]).toArray(), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(S.ones([2], { dtype: 'i32' }).toArray(), [1, 1]);
    assert.deepEqual(S.full([2], 2.5, { dtype: 'bf16' }).toArray(), [2.5, 2.5]);
    assert.deepEqual(S.arange(5).toArray(), [0, 1, 2, 3, 4]);
    assert.equal(S.arange(5).dtype, 'i32');
    assert.deepEqual(S.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
    assert.deepEqual(S.linspace(0, 1, 3).toArray(), [0, 0.5, 1]);
    assert.deepEqual(S.eye(2).toArray(), [1, 0, 0, 1]);
  });
  test('fromArray shares a matching typed array and checks the length', () => {
    const buf = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = S.fromArray(buf, [2, 3]);
    assert.equal(t.data, buf);
    assert.throws(() => S.fromArray(buf, [4, 2]), isStrataError(/do not fill shape/));
    assert.throws(() => S.zeros([2, -1]), isStrataError(/non-negative/));
  });
  test('seeded generators are reproducible and independent of the default one', () => {
    const a = S.randn([5], { generator: new S.Generator(42) }).toArray();
    S.manualSeed(1);
    S.randn([3]);
    const b = S.randn([5], { generator: new S.Generator(42) }).toArray();
    assert.deepEqual(a, b);
    S.manualSeed(7);
    const c = S.rand([4]).toArray();
    S.manualSeed(7);
    assert.deepEqual(S.rand([4]).toArray(), c);
    const g = new S.Generator(3);
    g.normal();
    const state = g.getState();
    const next = [g.normal(), g.uniform()];
    g.setState(state);
    assert.deepEqual([g.normal(), g.uniform()], next);
  });
  test('randn has the right moments', () => {
    const x = S.randn([20000], { generator: new S.Generator(5) });
    assert.ok(Math.abs(x.mean().item()) < 0.03);
    assert.ok(Math.abs(x.var().item() - 1) < 0.04);
  });
});

describe('dtypes', () => {
  test('f16 and bf16 round to nearest even and keep specials', () => {
    for (const v of [0, -0, 1, -2.5, 65504, 2 ** -14, 2 ** -24, 3 * 2 ** -20, Infinity, -Infinity]) assert.equal(f16ToF32(f32ToF16(v)), v);
    assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
    assert.equal(f16ToF32(f32ToF16(1 + 2 ** -11)), 1); // halfway: ties to even
    assert.equal(f16ToF32(f32ToF16(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
    assert.equal(f16ToF32(f32ToF16(1e6)), Infinity);
    for (const v of [0, 1, -3.5, 1e30, -1e-30]) assert.ok(Math.abs(bf16ToF32(f32ToBf16(v)) - v) <= Math.abs(v) / 128);
    assert.equal(bf16ToF32(f32ToBf16(1 + 2 ** -8)), 1);
  });
  test('casts between every dtype; math upcasts storage formats to f32', () => {
    const x = S.tensor([1.5, -2, 3.25]);
    for (const dt of ['f32', 'f64', 'f16', 'bf16'] as const) assert.deepEqual(x.to(dt).to('f32').toArray(), [1.5, -2, 3.25]);
    assert.deepEqual(x.to('i32').toArray(), [1, -2, 3]);
    assert.deepEqual(x.to('bool').toArray(), [1, 1, 1]);
    assert.deepEqual(x.to('u8').toArray(), [1, 254, 3]);
    const h = x.to('bf16');
    assert.equal(h.add(1).dtype, 'f32');
    assert.equal(h.matmul(S.ones([3, 1], { dtype: 'f16' })).dtype, 'f32');
    assert.equal(S.arange(3).add(S.arange(3)).dtype, 'i32');
    assert.equal(x.to('f64').add(x).dtype, 'f64');
  });
  test('gradients flow through float casts', () => {
    const x = S.tensor([1, 2], { requiresGrad: true });
    x.to('f64').mul(3).sum().backward();
    assert.equal(x.grad!.dtype, 'f32');
    assert.deepEqual(x.grad!.toArray(), [3, 3]);
  });
});

describe('views copy nothing', () => {
  const x = S.arange(24).to('f32').reshape(2, 3, 4);
  test('reshape, permute, transpose, slice, select, expand, squeeze share storage', () => {
    for (const v of [x.reshape(6, 4), x.permute(2, 0, 1), x.transpose(0, 2), x.slice(2, 1, 3), x.select(1, 2), x.slice(0, 0, 1).expand(5, 3, 4), x.unsqueeze(1).squeeze(1)]) {
      assert.equal(v.data, x.data);
    }
    assert.deepEqual(x.permute(2, 0, 1).shape, [4, 2, 3]);
    assert.deepEqual(x.select(1, 2).toArray(), [8, 9, 10, 11, 20, 21, 22, 23]);
    assert.deepEqual(x.slice(2, 1, 4, 2).toArray(), [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]);
    assert.deepEqual(x.slice(-1, -1).shape, [2, 3, 1]);
    assert.deepEqual(x.reshape(-1, 12).shape, [2, 12]);
  });
  test('reshape of a non-viewable layout copies; contiguous materializes', () => {
    const t = x.transpose(0, 2); // (4, 3, 2)
    const r = t.reshape(12, 2);
    assert.notEqual(r.data, x.data);
    assert.deepEqual(r.toArray(), t.toArray());
    assert.equal(t.contiguous().isContiguous, true);
    assert.deepEqual(t.contiguous().toArray(), t.toArray());
  });
  test('tolist / item / toString', () => {
    assert.deepEqual(S.tensor([[1, 2], [3, 4]]).tolist(), [[1, 2], [3, 4]]);
    assert.equal(S.tensor([[7]]).item(), 7);
    assert.throws(() => S.tensor([1, 2]).item(), isStrataError(/one-element/));
    assert.match(S.tensor([1]).toString(), /Tensor\(f32, \(1,\)/);
  });
  test('argmax / argmin and comparisons', () => {
    const t = S.tensor([[1, 5, 2], [7, 0, 7]]);
    assert.deepEqual(t.argmax(1).toArray(), [1, 0]);
    assert.deepEqual(t.argmin(0).toArray(), [0, 1, 0]);
    assert.equal(t.argmax().item(), 3);
    assert.deepEqual(t.gt(2).toArray(), [0, 1, 0, 1, 0, 1]);
    assert.equal(t.eq(7).dtype, 'bool');
    assert.deepEqual(S.split(S.arange(5), 2).map((p) => p.toArray()), [[0, 1], [2, 3], [4]]);
    assert.deepEqual(S.chunk(S.arange(6), 3).length, 3);
  });
});

describe('bad input names the op and the shapes', () => {
  test('shape mismatches', () => {
    assert.throws(() => S.zeros([2, 3]).matmul(S.zeros([4, 5])), isStrataError(/^matmul: inner dimensions differ: a \(2, 3\) vs b \(4, 5\)/));
    assert.throws(() => S.zeros([2, 3]).add(S.zeros([4])), isStrataError(/^add: shapes \(2, 3\) and \(4,\) cannot be broadcast/));
    assert.throws(() => S.zeros([6]).reshape(4, 2), isStrataError(/^reshape: cannot reshape \(6,\)/));
    assert.throws(() => S.zeros([2, 2]).permute(0, 0), isStrataError(/^permute/));
    assert.throws(() => S.zeros([2, 2]).sum(2), isStrataError(/^sum: axis 2 is out of range/));
    assert.throws(() => S.layerNorm(S.zeros([2, 3]), S.ones([4])), isStrataError(/^layerNorm: weight must be \(3,\), got \(4,\)/));
    assert.throws(() => S.conv2d(S.zeros([1, 3, 5, 5]), S.zeros([2, 2, 3, 3])), isStrataError(/^conv2d: weight \(2, 2, 3, 3\) expects 2 input channels/));
    assert.throws(() => S.conv2d(S.zeros([1, 1, 2, 2]), S.zeros([1, 1, 3, 3])), isStrataError(/^conv2d: kernel 3x3 does not fit/));
    assert.throws(() => S.scaledDotProductAttention(S.zeros([1, 3, 2, 4]), S.zeros([1, 2, 2, 4]), S.zeros([1, 2, 2, 4])), isStrataError(/multiple of key\/value heads/));
    assert.throws(() => S.cat([S.zeros([2, 3]), S.zeros([3, 3])], 1), isStrataError(/^cat: shapes/));
  });
  test('bad indices and dtypes', () => {
    const w = S.zeros([4, 2]);
    assert.throws(() => S.embedding(w, S.fromArray(Int32Array.from([0, 4]), [2])), isStrataError(/index 4 is out of range for a dimension of size 4/));
    assert.throws(() => S.embedding(w, S.fromArray(Int32Array.from([-1]), [1])), isStrataError(/index -1/));
    assert.throws(() => w.gather(1, S.fromArray(Int32Array.from([0, 2, 0, 0, 1, 1, 1, 1]), [4, 2])), isStrataError(/^gather: index 2/));
    assert.throws(() => S.crossEntropy(S.zeros([2, 3]), S.fromArray(Int32Array.from([0, 3]), [2])), isStrataError(/target 3 is out of range/));
    assert.throws(() => S.arange(3).exp(), isStrataError(/floating-point/));
    assert.throws(() => S.where(S.zeros([2]), 1, 0), isStrataError(/^where: condition must be bool/));
    assert.throws(() => S.zeros([2]).to('f8'), isStrataError(/unknown dtype 'f8'/));
  });
  test('hostile views are rejected before any kernel runs', () => {
    const data = new Float32Array(6);
    assert.throws(() => new S.Tensor(data, 'f32', [2, 4]), isStrataError(/reaches past a storage of 6 elements/));
    assert.throws(() => new S.Tensor(data, 'f32', [2, 3], [3, 1], 1), isStrataError(/reaches past/));
    assert.throws(() => new S.Tensor(data, 'f32', [2, 3], [-3, 1], 3), isStrataError(/invalid view/));
    assert.throws(() => new S.Tensor(data, 'f32', [-2, 3]), isStrataError(/invalid view/));
    assert.throws(() => new S.Tensor(data, 'i32', [6]), isStrataError(/cannot hold dtype i32/));
    assert.throws(() => new S.Tensor(data, 'f32', [2, 3], [1e300, 1]), isStrataError(/invalid view|reaches past/));
  });
});
