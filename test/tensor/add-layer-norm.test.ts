// addLayerNorm (a residual add and layer norm in one pass) against its composed definition,
// layerNorm(add(x, residual)), on every backend (STYLE.md item 3).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as S from '../../src/index.js';
import { add } from '../../src/tensor/ops/elementwise.js';
import { addLayerNorm, layerNorm } from '../../src/tensor/ops/nn.js';
import { LayerNorm } from '../../src/nn/layers.js';
import { assertClose, checkOp, maxAbsDiff, randn } from '../helpers/op-test.js';

const backends = S.nativeAvailable() ? (['reference', 'native'] as const) : (['reference'] as const);

describe('addLayerNorm equals layerNorm(x + residual)', () => {
  const shapes = [
    { name: 'BERT-like rows', shape: [3, 5, 96] },
    { name: 'one row, odd width', shape: [1, 37] },
    { name: 'a vector', shape: [7] },
  ];
  for (const { name, shape } of shapes) {
    for (const affine of [true, false]) {
      test(`${name}, ${affine ? 'weight and bias' : 'no affine'}`, () => {
        const cols = shape.at(-1)!;
        const x = randn(shape, 1, false).mul(2);
        const r = randn(shape, 2, false);
        const w = affine ? randn([cols], 3, false) : null;
        const b = affine ? randn([cols], 4, false) : null;
        for (const backend of backends) {
          S.withBackend(backend, () => {
            const fused = S.noGrad(() => addLayerNorm(x, r, w, b, 1e-5));
            const composed = S.noGrad(() => layerNorm(add(x, r), w, b, 1e-5));
            // the same sums, rounded as add rounds them, then the same normalization
            assert.equal(maxAbsDiff(fused, composed), 0, `${backend}: fused and composed differ`);
          });
        }
        const ref = S.withBackend('reference', () => S.noGrad(() => addLayerNorm(x, r, w, b, 1e-5)));
        for (const backend of backends) assertClose(S.withBackend(backend, () => S.noGrad(() => addLayerNorm(x, r, w, b, 1e-5))), ref, 1e-5, 1e-5, backend);
      });
    }
  }

  test('with gradients recorded it is the composed op, gradients included', () => {
    checkOp('addLayerNorm', (x, r, w, b) => addLayerNorm(x, r, w, b, 1e-5), [randn([4, 6], 5), randn([4, 6], 6), randn([6], 7), randn([6], 8)], { gradcheck: true });
  });

  test('a residual that broadcasts, or of another dtype, is added first', () => {
    const x = randn([4, 6], 9, false);
    const row = randn([6], 10, false);
    assert.equal(maxAbsDiff(S.noGrad(() => addLayerNorm(x, row)), S.noGrad(() => layerNorm(add(x, row)))), 0);
    const r64 = randn([4, 6], 11, false).to('f64');
    const mixed = S.noGrad(() => addLayerNorm(x, r64));
    assert.equal(mixed.dtype, 'f64');
    assert.equal(maxAbsDiff(mixed, S.noGrad(() => layerNorm(add(x, r64)))), 0);
  });

  test('LayerNorm.forwardAdd is forward(x + residual)', () => {
    const ln = new LayerNorm(8, 1e-6);
    const x = randn([2, 8], 12, false);
    const r = randn([2, 8], 13, false);
    assert.equal(maxAbsDiff(S.noGrad(() => ln.forwardAdd(x, r)), S.noGrad(() => ln.forward(x.add(r)))), 0);
  });

  test('a wrong weight shape is refused', () => {
    assert.throws(() => addLayerNorm(randn([2, 4], 14, false), randn([2, 4], 15, false), randn([3], 16, false)), /addLayerNorm: weight must be \(4,\)/);
  });
});
