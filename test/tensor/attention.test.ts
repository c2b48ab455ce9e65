// The fused attention kernel against its composed fallback (STYLE.md item 3), on every backend.
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

describe('the row kernel at prefill sizes', () => {
  test('backend attention kernel equals the composed graph for T = S = 40 (the op routes these through GEMMs)', () => {
    const [b, hq, hkv, t, d] = [2, 4, 2, 40, 16];
    const q = randn([b, hq, t, d], 11, false);
    const k = randn([b, hkv, t, d], 12, false);
    const v = randn([b, hkv, t, d], 13, false);
    const expected = S.attentionComposed(q, k, v, { causal: true });
    for (const name of S.nativeAvailable() ? (['reference', 'native'] as const) : (['reference'] as const)) {
      S.withBackend(name, () => {
        const out = new Float32Array(b * hq * t * d);
        S.backend().attention({
          q: q.toFloat32Array(),
          k: k.toFloat32Array(),
          kOffset: 0,
          kBatchStride: hkv * t * d,
          kHeadStride: t * d,
          v: v.toFloat32Array(),
          vOffset: 0,
          vBatchStride: hkv * t * d,
          vHeadStride: t * d,
          mask: null,
          maskBatchStride: 0,
          maskHeadStride: 0,
          batch: b,
          headsQ: hq,
          headsKV: hkv,
          tq: t,
          tk: t,
          headDim: d,
          scale: 1 / Math.sqrt(d),
          causal: true,
          out,
        });
        assertClose(S.fromArray(out, [b, hq, t, d]), expected, 1e-5, 1e-4, `row kernel on ${name}`);
      });
    }
    // and the op itself (GEMM route) with gradients
    checkOp('attention T=40', (q, k, v) => S.scaledDotProductAttention(q, k, v, { causal: true }), [q.requiresGrad_(), k.requiresGrad_(), v.requiresGrad_()]);
  });
});
