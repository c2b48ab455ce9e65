import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import { record } from '../../src/tensor/grad-mode.js';

test('backward accumulates into .grad across calls and through shared inputs', () => {
  const x = S.tensor([1, 2, 3], { requiresGrad: true });
  const y = x.mul(x).add(x).sum(); // d/dx = 2x + 1
  y.backward();
  assert.deepEqual(x.grad!.toArray(), [3, 5, 7]);
  x.mul(2).sum().backward();
  assert.deepEqual(x.grad!.toArray(), [5, 7, 9]);
  x.zeroGrad();
  assert.equal(x.grad, null);
});

test('noGrad records nothing; detach cuts the tape', () => {
  const x = S.tensor([1, 2], { requiresGrad: true });
  const y = S.noGrad(() => x.mul(3));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.gradFn, null);
  const z = x.detach().mul(x).sum();
  z.backward();
  assert.deepEqual(x.grad!.toArray(), [1, 2]);
});

test('leaf gradients are owned buffers (in-place clipping cannot leak between leaves)', () => {
  const a = S.tensor([3, 4], { requiresGrad: true });
  const b = S.tensor([0, 0], { requiresGrad: true });
  a.add(b).sum().backward();
  assert.notEqual(a.grad!.data, b.grad!.data);
  const norm = S.optim.clipGradNorm([a, b], 1);
  assert.ok(Math.abs(norm - 2) < 1e-6);
  assert.ok(Math.abs(a.grad!.toArray()[0]! - 1 / 2) < 1e-5);
  assert.ok(Math.abs(b.grad!.toArray()[0]! - 1 / 2) < 1e-5);
});

test('backward of a non-scalar needs an explicit gradient', () => {
  const x = S.tensor([1, 2], { requiresGrad: true });
  assert.throws(() => x.mul(2).backward(), (e: unknown) => e instanceof S.StrataError && /non-scalar/.test(e.message));
  x.mul(2).backward(S.tensor([1, 10]));
  assert.deepEqual(x.grad!.toArray(), [2, 20]);
  assert.throws(() => S.tensor([1]).backward(), S.StrataError);
});

test('grad() returns gradients without touching .grad', () => {
  const x = S.tensor([2], { requiresGrad: true });
  const [g] = S.grad(x.pow(3).sum(), [x]);
  assert.deepEqual(g!.toArray(), [12]);
  assert.equal(x.grad, null);
});

test('gradcheck detects a wrong backward', () => {
  // a hand-made op whose vjp is off by a factor of 2: the checker must fail it
  const badSquare = (x: S.Tensor) => {
    const y = S.noGrad(() => x.mul(x));
    return record('badSquare', [x], y, (g) => [g.mul(x)]);
  };
  const r = S.gradcheck(badSquare, [S.randn([3]).requiresGrad_()]);
  assert.equal(r.ok, false);
  const good = S.gradcheck((x) => x.mul(x), [S.randn([3]).requiresGrad_()]);
  assert.equal(good.ok, true);
});

test('the tape handles deep chains without recursion limits', () => {
  const x = S.tensor([1], { requiresGrad: true });
  let y = x;
  for (let i = 0; i < 20000; i++) y = y.add(1e-4);
  y.sum().backward();
  assert.deepEqual(x.grad!.toArray(), [1]);
});
