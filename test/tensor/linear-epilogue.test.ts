// linearGelu (GELU applied by the GEMM to each output tile) against its composed definition,
// gelu(linear(x, W, b)), on every backend (STYLE.md item 3).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as S from '../../src/index.js';
import { gelu } from '../../src/tensor/ops/elementwise.js';
import { linear, linearGelu } from '../../src/tensor/ops/linalg.js';
import { assertClose, checkOp, maxAbsDiff, randn } from '../helpers/op-test.js';

const backends = S.nativeAvailable() ? (['reference', 'native'] as const) : (['reference'] as const);

describe('linearGelu equals gelu(linear(...))', () => {
  // blocked GEMM with partial tiles, the skinny (few rows) path, a folded 3-D batch
  const shapes = [
    { name: 'blocked, tails', x: [37, 70], n: 100 },
    { name: 'skinny rows', x: [3, 64], n: 50 },
    { name: '3-D input', x: [2, 9, 24], n: 40 },
    // rows wider than the staged GELU's 512-value chunk (native/src/kernels/elementwise.cc)
    { name: 'wide rows', x: [20, 16], n: 1100 },
  ];
  for (const { name, x: xs, n } of shapes) {
    for (const approximate of ['none', 'tanh'] as const) {
      test(`${name}, approximate ${approximate}`, () => {
        const x = randn(xs, 1, false).mul(3); // spread over GELU's curved range
        const w = randn([n, xs.at(-1)!], 2, false);
        const b = randn([n], 3, false);
        for (const backend of backends) {
          S.withBackend(backend, () => {
            const fused = S.noGrad(() => linearGelu(x, w, b, approximate));
            const composed = S.noGrad(() => gelu(linear(x, w, b), approximate));
            // the epilogue runs the unary kernel's own arithmetic on the same GEMM output
            assert.equal(maxAbsDiff(fused, composed), 0, `${backend}: fused and composed differ`);
          });
        }
        const ref = S.withBackend('reference', () => S.noGrad(() => linearGelu(x, w, b, approximate)));
        for (const backend of backends) assertClose(S.withBackend(backend, () => S.noGrad(() => linearGelu(x, w, b, approximate))), ref, 1e-4, 1e-5, backend);
      });
    }
  }

  test('with gradients recorded it is the composed op, gradients included', () => {
    checkOp('linearGelu', (x, w, b) => linearGelu(x, w, b), [randn([4, 6], 4), randn([5, 6], 5), randn([5], 6)], { gradcheck: true });
  });

  test('GELU of a strided view equals GELU of its contiguous copy, bit for bit', () => {
    // contiguous rows take the staged kernel, strided ones the value-by-value one
    const x = randn([600, 40], 9, false).mul(3);
    for (const backend of backends) {
      S.withBackend(backend, () => {
        for (const approximate of ['none', 'tanh'] as const) {
          const strided = gelu(x.transpose(0, 1), approximate);
          const contiguous = gelu(x.transpose(0, 1).contiguous(), approximate);
          assert.equal(maxAbsDiff(strided, contiguous), 0, `${backend}, approximate ${approximate}`);
        }
      });
    }
  });

  test('without a bias it falls back to the composed form', () => {
    const x = randn([5, 8], 7, false);
    const w = randn([6, 8], 8, false);
    const fused = S.noGrad(() => linearGelu(x, w, null));
    assert.equal(maxAbsDiff(fused, S.noGrad(() => gelu(linear(x, w, null)))), 0);
  });
});
