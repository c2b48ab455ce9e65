// Quantized dtypes (q8_0, q4_0, q4_k, q6_k) as properties of a weight: the block layouts,
// quantize/dequantize round trips with their error bounds, the ops a quantized tensor supports
// (linear / matmul(x, w.T), embedding, .to(), views) on both backends, and the refusal of every
// other op. Also f16/bf16 weights used in linear and embedding without a full f32 copy.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import type { QuantDType, Tensor } from '../../src/index.js';
import { quantizeActivations, quantizeRows } from '../../src/tensor/quant.js';
import { nativeAvailable } from '../../src/backend/index.js';

const QTYPES: readonly QuantDType[] = ['q8_0', 'q4_0', 'q4_k', 'q6_k'];
const BACKENDS = nativeAvailable() ? (['reference', 'native'] as const) : (['reference'] as const);
const maxDiff = (a: Tensor, b: Tensor) => a.to('f32').sub(b.to('f32')).abs().max().item();

function f16Bytes(v: number): [number, number] {
  const h = S.tensor([v], { dtype: 'f16' }).data[0]!;
  return [h & 0xff, h >> 8];
}

describe('block layouts are ggml\'s', () => {
  test('q8_0: f16 d, then 32 signed quants', () => {
    const b = new Uint8Array(34);
    b.set(f16Bytes(0.5), 0);
    for (let i = 0; i < 32; i++) b[2 + i] = (i * 8 - 128) & 0xff;
    for (const be of BACKENDS) {
      const t = S.withBackend(be, () => new S.Tensor(b, 'q8_0', [1, 32]).to('f32').toArray());
      assert.deepEqual(t, Array.from({ length: 32 }, (_, i) => 0.5 * (i * 8 - 128)), be);
    }
  });

  test('q4_0: value j in the low nibble of byte j, value j+16 in its high nibble, minus 8', () => {
    const b = new Uint8Array(18);
    b.set(f16Bytes(2), 0);
    for (let j = 0; j < 16; j++) b[2 + j] = j | ((15 - j) << 4);
    const expected = [...Array.from({ length: 16 }, (_, j) => 2 * (j - 8)), ...Array.from({ length: 16 }, (_, j) => 2 * (7 - j))];
    for (const be of BACKENDS) assert.deepEqual(S.withBackend(be, () => new S.Tensor(b, 'q4_0', [32]).toArray()), expected, be);
  });

  test('q4_k: d, dmin, 6-bit scales and mins packed in 12 bytes, 64-value nibble chunks', () => {
    const sc = [1, 63, 7, 30, 45, 2, 63, 17];
    const mn = [0, 5, 63, 9, 33, 60, 1, 48];
    const s = new Uint8Array(12);
    for (let j = 0; j < 8; j++) {
      if (j < 4) {
        s[j] = sc[j]!;
        s[j + 4] = mn[j]!;
      } else {
        s[j + 4] = (sc[j]! & 15) | ((mn[j]! & 15) << 4);
        s[j - 4]! |= (sc[j]! >> 4) << 6;
        s[j]! |= (mn[j]! >> 4) << 6;
      }
    }
    const b = new Uint8Array(144);
    b.set(f16Bytes(0.25), 0);
    b.set(f16Bytes(0.125), 2);
    b.set(s, 4);
    for (let i = 0; i < 128; i++) b[16 + i] = (i * 7 + 3) & 0xff;
    const expected: number[] = [];
    for (let v = 0; v < 256; v++) {
      const chunk = v >> 6;
      const hi = (v & 63) >= 32;
      const byte = b[16 + 32 * chunk + (v & 31)]!;
      const q = hi ? byte >> 4 : byte & 15;
      const j = 2 * chunk + (hi ? 1 : 0); // sub-block of 32
      expected.push(0.25 * sc[j]! * q - 0.125 * mn[j]!);
    }
    for (const be of BACKENDS) assert.deepEqual(S.withBackend(be, () => new S.Tensor(b, 'q4_k', [256]).toArray()), expected, be);
  });

  test('q6_k: low 4 bits in ql, high 2 bits in qh, 16 signed scales, d last', () => {
    const b = new Uint8Array(210);
    for (let i = 0; i < 192; i++) b[i] = (i * 37 + 11) & 0xff;
    for (let g = 0; g < 16; g++) b[192 + g] = (g * 19 - 100) & 0xff;
    b.set(f16Bytes(0.5), 208);
    const expected: number[] = [];
    for (let v = 0; v < 256; v++) {
      const half = v >> 7; // 128 values use 64 ql bytes and 32 qh bytes
      const r = v & 127;
      const quarter = r >> 5;
      const l = r & 31;
      const ql = b[64 * half + l + (quarter & 1) * 32]!;
      const low = quarter < 2 ? ql & 15 : ql >> 4;
      const high = (b[128 + 32 * half + l]! >> (2 * quarter)) & 3;
      const scale = (b[192 + (v >> 4)]! << 24) >> 24;
      expected.push(0.5 * scale * ((low | (high << 4)) - 32));
    }
    for (const be of BACKENDS) assert.deepEqual(S.withBackend(be, () => new S.Tensor(b, 'q6_k', [1, 256]).toArray()), expected, be);
  });
});

describe('quantize / dequantize round trips', () => {
  // max |x - dequant(quant(x))| per block relative to the block's largest |x|, and the relative
  // RMS error over a tensor. q8_0's is the rounding bound 0.5/127 plus the f16 scale's 2^-11.
  const bounds: Record<QuantDType, { block: number; rms: number }> = {
    q8_0: { block: 0.5 / 127 + 2 ** -11, rms: 0.007 },
    q4_0: { block: 0.13, rms: 0.1 },
    q4_k: { block: 0.1, rms: 0.085 },
    q6_k: { block: 0.02, rms: 0.022 },
  };
  for (const dt of QTYPES) {
    test(`${dt}: error within bounds on varied data`, () => {
      const g = new S.Generator(11);
      const B = S.QUANT_BLOCKS[dt].values;
      const cases = [
        S.randn([8, 1024], { generator: g }),
        S.randn([8, 1024], { generator: g }).mul(1e-3).add(0.3), // offset: exercises q4_k's mins
        S.rand([8, 1024], { generator: g }).mul(100),
        S.zeros([2, 512]),
      ];
      for (const x of cases) {
        const q = x.to(dt);
        assert.equal(q.dtype, dt);
        assert.deepEqual(q.shape, x.shape);
        assert.equal(q.nbytes, (x.size / B) * S.QUANT_BLOCKS[dt].bytes);
        const back = q.to('f32');
        const err = x.sub(back).abs().reshape(-1, B).max(1);
        const amax = x.abs().reshape(-1, B).max(1);
        const ratio = err.sub(amax.mul(bounds[dt].block)).max().item();
        assert.ok(ratio <= 1e-7, `${dt}: a block error exceeds ${bounds[dt].block} x its max |x| by ${ratio}`);
        const ms = x.square().mean().item();
        if (ms > 0) assert.ok(Math.sqrt(x.sub(back).square().mean().item() / ms) <= bounds[dt].rms, `${dt} rms`);
        else assert.equal(back.abs().max().item(), 0);
        // q8_0 and q4_0 take their scale from the largest value, so requantizing changes nothing
        // (the k-quants refit their scales and may move slightly)
        if (dt === 'q8_0' || dt === 'q4_0') assert.equal(maxDiff(back.to(dt), back), 0, `${dt} is not idempotent`);
      }
    });
  }

  test('.to() quantizes from f64 / f16 / bf16 and along the last dim of any rank', () => {
    const x = S.randn([2, 3, 64]);
    assert.equal(maxDiff(x.to('f16').to('q8_0'), x.to('f16').to('f32').to('q8_0')), 0);
    assert.deepEqual(x.to('f64').to('q4_0').shape, [2, 3, 64]);
    assert.equal(maxDiff(x.transpose(0, 1).to('q8_0'), x.transpose(0, 1).contiguous().to('q8_0')), 0);
  });
});

describe('quantized tensors', () => {
  test('the constructor checks the storage length and that views keep blocks whole', () => {
    const bad = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof S.StrataError && re.test(e.message));
    new S.Tensor(new Uint8Array(68), 'q8_0', [2, 32]);
    bad(() => new S.Tensor(new Uint8Array(67), 'q8_0', [2, 32]), /67 bytes is not a whole number of 34-byte blocks/);
    bad(() => new S.Tensor(new Uint8Array(34), 'q8_0', [2, 32]), /reaches past a storage of 32 elements/);
    bad(() => new S.Tensor(new Uint8Array(35), 'q4_0', [2, 32]), /not a whole number of 18-byte blocks/);
    bad(() => new S.Tensor(new Float32Array(8), 'q8_0', [8]), /cannot hold dtype q8_0/);
    bad(() => new S.Tensor(new Uint8Array(34), 'q8_0', [16]), /cuts a block/);
    bad(() => new S.Tensor(new Uint8Array(68), 'q8_0', [32], [1], 16), /block boundary/);
    bad(() => new S.Tensor(new Uint8Array(68), 'q8_0', [2, 32], [16, 1]), /splits blocks/);
    const w = S.randn([4, 64]).to('q8_0');
    bad(() => w.slice(1, 0, 16), /cuts a block/);
    bad(() => w.slice(1, 8, 40), /block boundary/);
    // views that keep blocks whole: transposes, row slices, column slices on block boundaries
    assert.deepEqual(w.T.shape, [64, 4]);
    assert.equal(maxDiff(w.slice(0, 1, 3), w.to('f32').slice(0, 1, 3)), 0);
    assert.equal(maxDiff(w.slice(1, 32, 64), w.to('f32').slice(1, 32, 64)), 0);
    assert.equal(maxDiff(w.T, w.to('f32').T), 0);
    assert.equal(maxDiff(w.reshape(2, 128), w.to('f32').reshape(2, 128)), 0);
    assert.equal(maxDiff(w.unsqueeze(0).expand(3, 4, 64), w.to('f32').unsqueeze(0).expand(3, 4, 64)), 0);
  });

  test('toArray, toString, clone, nbytes and conversions', () => {
    const x = S.randn([3, 32]);
    const q = x.to('q8_0');
    assert.equal(q.nbytes, 3 * 34);
    assert.equal(q.toArray().length, 96);
    assert.match(String(q), /Tensor\(q8_0, \(3, 32\)/);
    const c = q.clone();
    assert.notEqual(c.data, q.data);
    assert.deepEqual(c.data, q.data);
    assert.equal(q.to('q8_0'), q);
    assert.deepEqual(q.to('f16').dtype, 'f16');
    assert.equal(maxDiff(q.to('q4_0'), q.to('f32').to('q4_0')), 0);
    assert.equal(q.to('i32').dtype, 'i32');
  });

  test('every other op refuses a quantized tensor with a StrataError naming its dtype', () => {
    const q = S.randn([4, 64]).to('q4_0');
    const f = S.randn([4, 64]);
    const ops: Record<string, () => unknown> = {
      add: () => q.add(1),
      addRight: () => f.add(q),
      mul: () => q.mul(q),
      neg: () => q.neg(),
      exp: () => S.exp(q),
      sum: () => q.sum(),
      mean: () => q.mean(1),
      max: () => q.max(),
      softmax: () => q.softmax(),
      relu: () => q.relu(),
      eq: () => q.eq(0),
      where: () => S.where(f.gt(0), q, f),
      clamp: () => q.clamp(0, 1),
      cat: () => S.cat([q, q]),
      gather: () => q.gather(0, S.zeros([1, 64], { dtype: 'i32' })),
      indexSelect: () => q.indexSelect(0, S.tensor([0], { dtype: 'i32' })),
      layerNorm: () => S.layerNorm(q),
      rmsNorm: () => S.rmsNorm(q),
      matmulLeft: () => q.matmul(f.T),
      matmulUntransposed: () => f.T.matmul(q),
      contiguous: () => q.T.contiguous(),
      zerosLike: () => S.zerosLike(q),
      create: () => S.tensor([[1, 2]], { dtype: 'q8_0' }),
      requiresGrad: () => q.requiresGrad_(),
      quantizeInt: () => S.zeros([2, 32], { dtype: 'i32' }).to('q8_0'),
      quantizeShape: () => S.zeros([2, 33]).to('q8_0'),
      safetensors: () => S.serializeSafetensors({ q }),
    };
    // the error's op is the op that was called (where it is not, the dtype is named)
    const named: Record<string, string> = { add: 'add', addRight: 'add', mul: 'mul', sum: 'sum', eq: 'eq', where: 'where', relu: 'relu', softmax: 'softmax', matmulLeft: 'matmul', contiguous: 'contiguous', requiresGrad: 'requiresGrad_', layerNorm: 'layerNorm' };
    for (const [name, fn] of Object.entries(ops)) {
      assert.throws(fn, (e: unknown) => e instanceof S.StrataError && /q4_0|q8_0/.test(e.message) && (named[name] === undefined || e.op === named[name]), name);
    }
  });
});

describe('linear, matmul and embedding on quantized weights', () => {
  for (const dt of QTYPES) {
    test(`${dt}: backends agree, x of rank 1 to 3, against the f32 product`, () => {
      const g = new S.Generator(5);
      const K = dt.endsWith('k') ? 512 : 96; // 96: an odd number of 32-blocks
      const w = S.randn([37, K], { generator: g }).mul(0.1); // (N, K)
      const q = w.to(dt);
      const wd = q.to('f32');
      for (const shape of [[K], [5, K], [2, 3, K]]) {
        const x = S.randn(shape, { generator: g });
        const ys = BACKENDS.map((be) => S.withBackend(be, () => S.linear(x, q)));
        assert.deepEqual(ys[0]!.shape, [...shape.slice(0, -1), 37]);
        assert.equal(ys[0]!.dtype, 'f32');
        if (ys.length === 2) {
          const scale = ys[0]!.abs().max().item();
          assert.ok(maxDiff(ys[0]!, ys[1]!) <= 2e-5 * scale, `${dt} native vs reference ${maxDiff(ys[0]!, ys[1]!)}`);
        }
        // vs the f32 product with the dequantized weight: only the activations' 8-bit rounding
        // differs, |dy| <= |e| |w| with |e| <= sqrt(B)/254 |x| per row (B the activation block)
        const yf = S.linear(x, wd);
        const B = dt.endsWith('k') ? 256 : 32;
        const bound = x.square().sum(-1, true).sqrt().mul(wd.square().sum(1).sqrt()).mul(Math.sqrt(B) / 254);
        assert.ok(ys[0]!.sub(yf).abs().sub(bound).max().item() <= 1e-6, `${dt} activation quantization error out of bound`);
        const typical = ys[0]!.sub(yf).abs().div(bound).mean().item();
        assert.ok(typical < 0.2, `${dt}: typical error ${typical} of the bound`);
        // matmul(x, w.T) is the same op
        assert.equal(maxDiff(x.matmul(q.T), ys[ys.length - 1]!), 0);
      }
    });
  }

  test('bias, gradients through x, and rows of a weight (a fused qkv slice)', () => {
    const g = new S.Generator(8);
    const w = S.randn([12, 64], { generator: g });
    const q = w.to('q8_0');
    const wd = q.to('f32');
    const bias = S.randn([4], { generator: g });
    const x = S.randn([3, 64], { generator: g }).requiresGrad_();
    const y = S.linear(x, q.slice(0, 4, 8), bias); // rows 4..8: the 'k' part
    const yd = S.linear(x, wd.slice(0, 4, 8), bias);
    assert.ok(maxDiff(y, yd) < 0.03 * yd.abs().max().item(), 'only the activations\' rounding differs');
    y.sum().backward();
    const gx = x.grad!;
    x.zeroGrad();
    S.linear(x, wd.slice(0, 4, 8), bias).sum().backward();
    assert.ok(maxDiff(gx, x.grad!) < 1e-5, 'dx = g · W with the dequantized weight');
  });

  test('embedding dequantizes only the looked-up rows, on both backends', () => {
    for (const dt of QTYPES) {
      const w = S.randn([50, 256]).to(dt);
      const ids = S.tensor([[3, 49], [0, 3]], { dtype: 'i32' });
      const full = w.to('f32');
      for (const be of BACKENDS) {
        const e = S.withBackend(be, () => S.embedding(w, ids));
        assert.deepEqual(e.shape, [2, 2, 256]);
        assert.equal(maxDiff(e, S.embedding(full, ids)), 0, `${dt} ${be}`);
      }
      assert.throws(() => S.embedding(w, S.tensor([50], { dtype: 'i32' })), (e: unknown) => e instanceof S.StrataError && e.code === 'index');
    }
  });
});

describe('f16 / bf16 weights without a full f32 copy', () => {
  for (const dt of ['f16', 'bf16'] as const) {
    test(`${dt}: linear on the stored weight matches the f32 product, both backends`, () => {
      const g = new S.Generator(3);
      const w = S.randn([33, 70], { generator: g }).to(dt); // (N, K), K not a multiple of 16
      const wf = w.to('f32');
      for (const m of [1, 3, 4, 9]) {
        const x = S.randn([m, 70], { generator: g });
        const ref = S.linear(x, wf);
        for (const be of BACKENDS) {
          const y = S.withBackend(be, () => S.linear(x, w));
          assert.ok(maxDiff(y, ref) <= 1e-5 * (ref.abs().max().item() + 1), `${dt} ${be} m=${m}: ${maxDiff(y, ref)}`);
        }
      }
      const e = S.embedding(w, S.tensor([32, 0], { dtype: 'i32' }));
      assert.equal(maxDiff(e, S.embedding(wf, S.tensor([32, 0], { dtype: 'i32' }))), 0);
      // a weight being trained takes the generic (differentiable) path
      const trained = S.randn([4, 8]).to(dt).requiresGrad_();
      const x = S.randn([2, 8]);
      S.linear(x, trained).sum().backward();
      assert.deepEqual(trained.grad!.shape, [4, 8]);
    });
  }
});

test('activation quantization: scale amax/127, round half to even, NaN for non-finite blocks', () => {
  const x = new Float32Array(64);
  x[0] = 127;
  x[1] = 0.5; // exactly half a step: rounds to 0 (even)
  x[2] = 1.5; // rounds to 2
  x[3] = -2.5; // rounds to -2
  x[32] = Infinity;
  const a = quantizeActivations(x, 1, 64, 32);
  assert.equal(a.d[0], 1);
  assert.deepEqual([...a.qs.subarray(0, 4)], [127, 0, 2, -2]);
  assert.ok(Number.isNaN(a.d[1]!));
  assert.equal(a.sums16[0], 127);
  // a weight row fed NaN activations gives NaN, not a crash, on both backends
  const w = S.randn([2, 64]).to('q8_0');
  for (const be of BACKENDS) {
    const y = S.withBackend(be, () => S.linear(S.fromArray(x, [1, 64]), w));
    assert.ok(y.toArray().every(Number.isNaN), be);
  }
  assert.equal(quantizeRows('q8_0', new Float32Array(0), 32).length, 0);
});
