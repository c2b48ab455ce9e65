// The fused attention kernel against its composed fallback (STYLE.md item 3), on every backend.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as S from '../../src/index.js';
import { assertClose, checkOp, randn } from '../helpers/op-test.js';

const cases = [
  { name: 'self, causal', b: 2, hq: 2, hkv: 2, t: 7, s: 7, d: 8, causal: true },
  { name: 'GQA 4/2, causal', b: 1, hq: 4, hkv: 2, t: 5, s: 5, d: 4, causal: true },
  { name: 'MQA 3/1, bidirectional', b: 2, hq: 3, hkv: 1, t: 4, s: 6, d: 4, causal: false },
  { name: 'decode step with cache (T=1, S=33)', b: 1, hq: 4, hkv: 4, t: 1, s: 33, d: 16, causal: true },
  { name: 'prefill into cache (T=7, S=33)', b: 2, hq: 2, hkv: 1, t: 7, s: 33, d: 64, causal: true },
];

describe('scaledDotProductAttention equals attentionComposed', () => {
  for (const c of cases) {
    test(c.name, () => {
      const q = randn([c.b, c.hq, c.t, c.d], 1);
      const k = randn([c.b, c.hkv, c.s, c.d], 2);
      const v = randn([c.b, c.hkv, c.s, c.d], 3);
      for (const name of S.nativeAvailable() ? (['reference', 'native'] as const) : (['reference'] as const)) {
        S.withBackend(name, () => {
          const fused = S.scaledDotProductAttention(q, k, v, { causal: c.causal });
          const composed = S.attentionComposed(q, k, v, { causal: c.causal });
          assertClose(fused, composed, 1e-5, 1e-4, `${c.name} on ${name}`);
        });
      }
      checkOp(c.name, (q, k, v) => S.scaledDotProductAttention(q, k, v, { causal: c.causal }), [q, k, v]);
    });
  }

  test('padding mask (bool, per sequence) and additive float mask', () => {
    const q = randn([2, 2, 5, 4], 1);
    const k = randn([2, 2, 5, 4], 2);
    const v = randn([2, 2, 5, 4], 3);
    const pad = S.paddingMask([5, 3], 5);
    const additive = S.randn([1, 2, 5, 5], { generator: new S.Generator(9) });
    for (const mask of [pad, additive]) {
      const fused = S.scaledDotProductAttention(q, k, v, { mask, causal: true });
      const composed = S.attentionComposed(q, k, v, { mask, causal: true });
      assertClose(fused, composed, 1e-5, 1e-4, `mask ${mask.dtype}`);
      checkOp(`masked ${mask.dtype}`, (q, k, v) => S.scaledDotProductAttention(q, k, v, { mask, causal: true }), [q, k, v]);
    }
  });

  test('gradients of the fused op pass the finite-difference check', () => {
    const mask = S.paddingMask([3, 2], 3);
    checkOp(
      'attention gradcheck',
      (q, k, v) => S.scaledDotProductAttention(q, k, v, { causal: true, mask }),
      [randn([2, 2, 3, 4], 1), randn([2, 1, 3, 4], 2), randn([2, 1, 3, 4], 3)],
      { gradcheck: true },
    );
  });
});

describe('KV-cache views and per-sequence rotary tables', () => {
  test('attention reads a sliced, preallocated cache in place and equals the contiguous result', () => {
    const cacheK = randn([2, 2, 40, 8], 4, false);
    const cacheV = randn([2, 2, 40, 8], 5, false);
    const q = randn([2, 4, 3, 8], 6, false);
    const k = cacheK.slice(2, 0, 19); // (2, 2, 19, 8): non-contiguous view of the cache
    const v = cacheV.slice(2, 0, 19);
    for (const name of S.nativeAvailable() ? (['reference', 'native'] as const) : (['reference'] as const)) {
      S.withBackend(name, () => {
        const viewed = S.scaledDotProductAttention(q, k, v, { causal: true });
        const copied = S.attentionComposed(q, k.contiguous(), v.contiguous(), { causal: true });
        assertClose(viewed, copied, 1e-5, 1e-4, `cache view on ${name}`);
      });
    }
  });

  test('rope with (B, T, D/2) tables rotates each sequence by its own positions', () => {
    const x = randn([2, 3, 4, 8], 7);
    const a = S.ropeTables(4, 8, { offset: 0 });
    const b = S.ropeTables(4, 8, { offset: 5 });
    const cos = S.stack([a.cos, b.cos]);
    const sin = S.stack([a.sin, b.sin]);
    const both = S.applyRotaryEmbedding(x, cos, sin);
    assertClose(both.select(0, 0), S.applyRotaryEmbedding(x.select(0, 0), a.cos, a.sin), 1e-6, 1e-6, 'sequence 0');
    assertClose(both.select(0, 1), S.applyRotaryEmbedding(x.select(0, 1), b.cos, b.sin), 1e-6, 1e-6, 'sequence 1');
    checkOp('rope per-sequence', (t) => S.applyRotaryEmbedding(t, cos, sin, 'interleaved'), [randn([2, 2, 4, 8], 8)], { gradcheck: true });
  });
});

describe('the backend kernel reads strided operands in place, on both routes', () => {
  // (T, S) below 16 queries take the row kernel, from 16 on the blocked (GEMM) route; 70 queries
  // leave a 6-row tail block; T < S is a prefill into a cache.
  const shapes = [
    { t: 5, s: 9, causal: true },
    { t: 40, s: 40, causal: true },
    { t: 70, s: 70, causal: false },
    { t: 70, s: 83, causal: true },
  ];
  for (const { t, s, causal } of shapes) {
    test(`T=${t}, S=${s}${causal ? ', causal' : ''}: head-split q/k/v, broadcast padding mask, (B, T, H, D) output`, () => {
      const [b, hq, hkv, d] = [2, 4, 2, 16];
      const qp = randn([b, t, hq, d], 11, false); // (B, T, H, D) projections, split by views
      const kp = randn([b, s, hkv, d], 12, false);
      const vp = randn([b, s, hkv, d], 13, false);
      const [q, k, v] = [qp, kp, vp].map((x) => x.transpose(1, 2)) as [S.Tensor, S.Tensor, S.Tensor]; // (B, H, T|S, D)
      const lengths = [s, s - 3];
      const mask = S.where(S.paddingMask(lengths, s), 0, -1e9); // (B, 1, 1, S)
      const expected = S.attentionComposed(q, k, v, { causal, mask });
      const layout = (x: S.Tensor) => ({ data: x.data as Float32Array, offset: x.offset, batchStride: x.strides[0]!, headStride: x.strides[1]!, rowStride: x.strides[2]! });
      for (const name of S.nativeAvailable() ? (['reference', 'native'] as const) : (['reference'] as const)) {
        S.withBackend(name, () => {
          const out = new Float32Array(b * t * hq * d).fill(NaN); // every element must be written
          S.backend().attention({
            q: layout(q),
            k: layout(k),
            v: layout(v),
            mask: { data: mask.data as Float32Array, offset: 0, batchStride: s, headStride: 0, rowStride: 0 },
            batch: b,
            headsQ: hq,
            headsKV: hkv,
            tq: t,
            tk: s,
            headDim: d,
            scale: 1 / Math.sqrt(d),
            causal,
            out: { data: out, offset: 0, batchStride: t * hq * d, headStride: d, rowStride: hq * d },
          });
          assertClose(S.fromArray(out, [b, t, hq, d]).transpose(1, 2), expected, 1e-5, 1e-4, `kernel on ${name}`);
        });
      }
    });
  }

  test('the op on head-split views equals the composed graph, forward and backward (blocked route)', () => {
    const [b, t, h, d] = [2, 20, 3, 8];
    const x = randn([b, t, h * d], 14);
    const heads = (w: S.Tensor) => x.matmul(w).reshape(b, t, h, d).transpose(1, 2); // (B, H, T, D) views
    // small weights keep the softmax soft, so f32 and f64 gradients agree to the tolerance
    const ws = [15, 16, 17].map((seed) => S.randn([h * d, h * d], { generator: new S.Generator(seed), std: 0.2 }).requiresGrad_());
    const mask = S.paddingMask([t, 13], t);
    checkOp('attention on projections', (x, wq, wk, wv) => {
      const split = (w: S.Tensor) => x.matmul(w).reshape(b, t, h, d).transpose(1, 2);
      return S.scaledDotProductAttention(split(wq), split(wk), split(wv), { mask });
    }, [x, ...ws]);
    const fused = S.scaledDotProductAttention(heads(ws[0]!), heads(ws[1]!), heads(ws[2]!), { mask });
    assertClose(fused, S.attentionComposed(heads(ws[0]!), heads(ws[1]!), heads(ws[2]!), { mask }), 1e-5, 1e-4, 'op');
  });

  test('a query row whose every key is masked gives zeros on both routes', () => {
    for (const t of [4, 24]) {
      const q = randn([1, 1, t, 8], 18, false);
      const k = randn([1, 1, t, 8], 19, false);
      const mask = S.full([1, 1, t, t], 0, { dtype: 'bool' }); // nothing visible
      const y = S.scaledDotProductAttention(q, k, k, { mask });
      assert.deepEqual(Array.from(y.toFloat32Array()), new Array(t * 8).fill(0), `T=${t}`);
    }
  });
});
