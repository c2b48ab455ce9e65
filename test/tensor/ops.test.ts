// Every differentiable op: finite-difference gradcheck in f64 (reference backend) on small
// inputs, and native-vs-reference parity on shapes with dims 1, 7, 33 and 1000, views and broadcasting.
import { describe, test } from 'node:test';
import * as S from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { checkOp, randn, randPos } from '../helpers/op-test.js';

const SIZES = [1, 7, 33, 1000];

describe('unary ops', () => {
  const ops: [string, (x: Tensor) => Tensor, boolean][] = [
    ['neg', (x) => x.neg(), false],
    ['exp', (x) => x.exp(), false],
    ['log', (x) => x.log(), true],
    ['sqrt', (x) => x.sqrt(), true],
    ['rsqrt', (x) => x.rsqrt(), true],
    ['abs', (x) => x.abs(), false],
    ['tanh', (x) => x.tanh(), false],
    ['sigmoid', (x) => x.sigmoid(), false],
    ['relu', (x) => x.relu(), false],
    ['gelu', (x) => x.gelu(), false],
    ['gelu_tanh', (x) => x.gelu('tanh'), false],
    ['silu', (x) => x.silu(), false],
    ['sin', (x) => S.sin(x), false],
    ['cos', (x) => S.cos(x), false],
    ['square', (x) => x.square(), false],
    ['reciprocal', (x) => S.reciprocal(x), true],
    ['pow_scalar', (x) => x.pow(2.5), true],
    ['clamp', (x) => x.clamp(-0.5, 0.7), false],
  ];
  for (const [name, f, positive] of ops) {
    test(name, () => {
      const mk = positive ? randPos : randn;
      checkOp(`${name} gradcheck`, f, [mk([3, 4], 1)], { gradcheck: true });
      for (const n of SIZES) checkOp(`${name} n=${n}`, f, [mk([n, 3], n)]);
      // a transposed (non-contiguous) view
      checkOp(`${name} transposed`, f, [mk([33, 7], 5).T]);
    });
  }
});

describe('binary ops with broadcasting', () => {
  const ops: [string, (a: Tensor, b: Tensor) => Tensor][] = [
    ['add', (a, b) => a.add(b)],
    ['sub', (a, b) => a.sub(b)],
    ['mul', (a, b) => a.mul(b)],
    ['div', (a, b) => a.div(b)],
    ['pow', (a, b) => a.pow(b)],
    ['maximum', (a, b) => a.maximum(b)],
    ['minimum', (a, b) => a.minimum(b)],
  ];
  for (const [name, f] of ops) {
    test(name, () => {
      checkOp(`${name} gradcheck`, f, [randPos([2, 3, 4], 1), randPos([3, 1], 2)], { gradcheck: true });
      checkOp(`${name} scalar-shaped`, f, [randPos([4], 3), randPos([], 4)], { gradcheck: true });
      for (const n of SIZES) checkOp(`${name} n=${n}`, f, [randPos([n, 1, 7], n), randPos([3, 1], n + 1)]);
      checkOp(`${name} views`, f, [randPos([7, 33], 6).T, randPos([40, 7], 7).slice(0, 3, 36)]);
    });
  }
  test('where / maskedFill', () => {
    const cond = S.randn([3, 4], { generator: new S.Generator(3) }).gt(0);
    checkOp('where', (a, b) => S.where(cond, a, b), [randn([3, 4], 1), randn([4], 2)], { gradcheck: true });
    checkOp('maskedFill', (a) => a.maskedFill(cond, -2), [randn([3, 4], 1)], { gradcheck: true });
    for (const n of SIZES) {
      const c = S.randn([n, 5], { generator: new S.Generator(n) }).gt(0);
      checkOp(`where n=${n}`, (a, b) => S.where(c, a, b), [randn([n, 5], 1), randn([1, 5], 2)]);
    }
  });
});

describe('reductions', () => {
  test('sum / mean / var over dims', () => {
    checkOp('sum all', (x) => x.sum(), [randn([3, 4], 1)], { gradcheck: true });
    checkOp('sum dim', (x) => x.sum(1), [randn([2, 3, 4], 1)], { gradcheck: true });
    checkOp('sum dims keepdim', (x) => x.sum([0, 2], true), [randn([2, 3, 4], 1)], { gradcheck: true });
    checkOp('mean', (x) => x.mean(-1), [randn([2, 3, 4], 1)], { gradcheck: true });
    checkOp('var', (x) => x.var(1), [randn([2, 5, 3], 1)], { gradcheck: true });
    checkOp('var biased', (x) => x.var(-1, { correction: 0, keepdim: true }), [randn([2, 5], 1)], { gradcheck: true });
    for (const n of SIZES) {
      checkOp(`sum n=${n}`, (x) => x.sum(0), [randn([n, 7], n)]);
      checkOp(`mean n=${n}`, (x) => x.mean(-1), [randn([7, n], n)]);
      checkOp(`sum transposed n=${n}`, (x) => x.sum(1), [randn([33, n], n).T]);
    }
  });
  test('max / min pick one element', () => {
    checkOp('max dim', (x) => x.max(1), [randn([3, 5], 1)], { gradcheck: true });
    checkOp('min all', (x) => x.min(), [randn([3, 5], 2)], { gradcheck: true });
    for (const n of SIZES) checkOp(`max n=${n}`, (x) => x.max(0, true), [randn([n, 7], n)]);
  });
});

describe('matmul', () => {
  test('gradcheck: plain, batched-broadcast, vector and transposed operands', () => {
    checkOp('mm', (a, b) => a.matmul(b), [randn([3, 4], 1), randn([4, 2], 2)], { gradcheck: true });
    checkOp('bmm broadcast', (a, b) => a.matmul(b), [randn([2, 1, 3, 4], 1), randn([3, 4, 2], 2)], { gradcheck: true });
    checkOp('vec', (a, b) => a.matmul(b), [randn([4], 1), randn([4, 3], 2)], { gradcheck: true });
    checkOp('transposed', (a, b) => a.T.matmul(b.T), [randn([4, 3], 1), randn([2, 4], 2)], { gradcheck: true });
  });
  test('native parity over sizes 1, 7, 33, 1000 and layouts', () => {
    for (const m of SIZES)
      for (const n of [1, 7, 33])
        for (const k of [1, 7, 33, 1000]) {
          if (m * k > 40000 && n > 7) continue;
          checkOp(`mm ${m}x${n}x${k}`, (a, b) => a.matmul(b), [randn([m, k], m + k), randn([k, n], n)], { rtol: 1e-4, atol: 1e-4 });
        }
    checkOp('mm A^T', (a, b) => a.T.matmul(b), [randn([33, 7], 1), randn([33, 5], 2)]);
    checkOp('mm B^T', (a, b) => a.matmul(b.T), [randn([7, 33], 1), randn([5, 33], 2)]);
    checkOp('bmm both transposed', (a, b) => a.transpose(1, 2).matmul(b.transpose(1, 2)), [randn([3, 33, 7], 1), randn([3, 5, 33], 2)]);
    checkOp('bmm broadcast batch', (a, b) => a.matmul(b), [randn([4, 1, 7, 9], 1), randn([3, 9, 5], 2)]);
    checkOp('sliced rows', (a, b) => a.slice(0, 1, 8).matmul(b), [randn([10, 33], 1), randn([33, 7], 2)]);
  });
  test('linear', () => {
    checkOp('linear', (x, w, b) => S.linear(x, w, b), [randn([2, 3, 4], 1), randn([5, 4], 2), randn([5], 3)], { gradcheck: true });
  });
});

describe('softmax and norms', () => {
  test('softmax / logSoftmax along any dim', () => {
    checkOp('softmax', (x) => x.softmax(-1), [randn([3, 5], 1)], { gradcheck: true });
    checkOp('softmax dim0', (x) => x.softmax(0), [randn([3, 5], 1)], { gradcheck: true });
    checkOp('logSoftmax', (x) => x.logSoftmax(-1), [randn([3, 5], 1)], { gradcheck: true });
    for (const n of SIZES) {
      checkOp(`softmax n=${n}`, (x) => x.softmax(-1), [randn([7, n], n)]);
      checkOp(`logSoftmax n=${n}`, (x) => x.logSoftmax(-1), [randn([n, 33], n)]);
    }
  });
  test('layerNorm / rmsNorm', () => {
    checkOp('layerNorm', (x, w, b) => S.layerNorm(x, w, b, 1e-5), [randn([2, 3, 6], 1), randn([6], 2), randn([6], 3)], { gradcheck: true });
    checkOp('layerNorm no affine', (x) => S.layerNorm(x), [randn([4, 6], 1)], { gradcheck: true });
    checkOp('rmsNorm', (x, w) => S.rmsNorm(x, w, 1e-6), [randn([2, 3, 6], 1), randn([6], 2)], { gradcheck: true });
    for (const n of SIZES) {
      checkOp(`layerNorm n=${n}`, (x, w, b) => S.layerNorm(x, w, b), [randn([7, n], n), randn([n], 1), randn([n], 2)]);
      checkOp(`rmsNorm n=${n}`, (x, w) => S.rmsNorm(x, w), [randn([7, n], n).mul(3), randn([n], 1)]);
    }
    checkOp('layerNorm transposed input', (x, w) => S.layerNorm(x, w), [randn([33, 7], 1).T, randn([33], 2)]);
  });
});

describe('indexing', () => {
  const idx = (vals: number[], shape: number[]) => S.fromArray(Int32Array.from(vals), shape);
  test('gather / scatterAdd / indexSelect / embedding / indexAdd', () => {
    checkOp('gather', (x) => x.gather(1, idx([0, 2, 1, 1, 0, 0], [2, 3])), [randn([2, 4], 1)], { gradcheck: true });
    checkOp('gather smaller index', (x) => x.gather(0, idx([1, 0], [2, 1])), [randn([3, 4], 1)], { gradcheck: true });
    checkOp('scatterAdd', (x, s) => S.scatterAdd(x, 1, idx([0, 2, 2, 1, 1, 1], [2, 3]), s), [randn([2, 4], 1), randn([2, 3], 2)], { gradcheck: true });
    checkOp('indexSelect', (x) => x.indexSelect(0, idx([2, 0, 2], [3])), [randn([4, 3], 1)], { gradcheck: true });
    checkOp('indexAdd', (x, s) => S.indexAdd(x, 1, idx([1, 1], [2]), s), [randn([2, 3], 1), randn([2, 2], 2)], { gradcheck: true });
    checkOp('embedding', (w) => S.embedding(w, idx([1, 3, 3, 0], [2, 2])), [randn([5, 3], 1)], { gradcheck: true });
    for (const n of SIZES) {
      const ids = S.randint(0, n, [17], { generator: new S.Generator(n) });
      checkOp(`embedding n=${n}`, (w) => S.embedding(w, ids), [randn([n, 33], n)]);
      const gi = S.randint(0, 7, [n, 5], { generator: new S.Generator(n + 1) });
      checkOp(`gather n=${n}`, (x) => x.gather(1, gi), [randn([n, 7], n)]);
    }
  });
});

describe('joining and views', () => {
  test('cat / stack / split / views', () => {
    checkOp('cat', (a, b) => S.cat([a, b], 1), [randn([2, 3], 1), randn([2, 2], 2)], { gradcheck: true });
    checkOp('stack', (a, b) => S.stack([a, b], 1), [randn([2, 3], 1), randn([2, 3], 2)], { gradcheck: true });
    checkOp('split', (a) => S.split(a, [1, 3], 1)[1]!.mul(2), [randn([2, 4], 1)], { gradcheck: true });
    checkOp('permute+reshape', (a) => a.permute(2, 0, 1).reshape(4, 6).mul(a.reshape(6, 4).T), [randn([2, 3, 4], 1)], { gradcheck: true });
    checkOp('slice step', (a) => a.slice(1, 0, 5, 2).mul(3), [randn([3, 6], 1)], { gradcheck: true });
    checkOp('expand', (a) => a.expand(3, 4).mul(S.arange(12).reshape(3, 4)), [randn([3, 1], 1)], { gradcheck: true });
    checkOp('contiguous of view', (a) => a.T.contiguous().mul(2), [randn([3, 4], 1)], { gradcheck: true });
    for (const n of SIZES) checkOp(`cat n=${n}`, (a, b) => S.cat([a, b.T], 0), [randn([n, 7], 1), randn([7, 3], 2)]);
  });
});

describe('convolution', () => {
  test('conv2d: stride, padding, groups, dilation', () => {
    checkOp('conv2d', (x, w, b) => S.conv2d(x, w, b, { stride: 2, padding: 1 }), [randn([2, 2, 5, 5], 1), randn([3, 2, 3, 3], 2), randn([3], 3)], { gradcheck: true });
    checkOp('conv2d groups', (x, w) => S.conv2d(x, w, null, { groups: 2, padding: [0, 1] }), [randn([1, 4, 4, 3], 1), randn([4, 2, 2, 2], 2)], { gradcheck: true });
    checkOp('conv2d dilation', (x, w) => S.conv2d(x, w, null, { dilation: 2 }), [randn([1, 1, 6, 6], 1), randn([2, 1, 2, 2], 2)], { gradcheck: true });
    checkOp('conv2d larger', (x, w, b) => S.conv2d(x, w, b, { stride: 2, padding: 1 }), [randn([2, 7, 33, 33], 1), randn([8, 7, 3, 3], 2), randn([8], 3)]);
  });
  test('conv1d', () => {
    checkOp('conv1d', (x, w, b) => S.conv1d(x, w, b, { padding: 1, stride: 2 }), [randn([2, 3, 7], 1), randn([4, 3, 3], 2), randn([4], 3)], { gradcheck: true });
    checkOp('conv1d long', (x, w, b) => S.conv1d(x, w, b, { padding: 1 }), [randn([1, 7, 1000], 1), randn([33, 7, 3], 2), randn([33], 3)]);
  });
});

describe('rotary embedding', () => {
  for (const layout of ['half', 'interleaved'] as const) {
    test(layout, () => {
      const { cos, sin } = S.ropeTables(5, 6, { base: 10000, offset: 3 });
      checkOp(`rope ${layout}`, (x) => S.applyRotaryEmbedding(x, cos, sin, layout), [randn([2, 2, 5, 6], 1)], { gradcheck: true });
      for (const t of [1, 7, 33]) {
        const tab = S.ropeTables(t, 64);
        checkOp(`rope ${layout} t=${t}`, (x) => S.applyRotaryEmbedding(x, tab.cos, tab.sin, layout), [randn([2, 3, t, 64], t)]);
      }
    });
  }
});

describe('losses and dropout', () => {
  test('crossEntropy with ignore_index and label smoothing', () => {
    const t = S.fromArray(Int32Array.from([1, -100, 3, 0]), [4]);
    checkOp('ce', (x) => S.crossEntropy(x, t), [randn([4, 5], 1)], { gradcheck: true });
    checkOp('ce smoothing', (x) => S.crossEntropy(x, t, { labelSmoothing: 0.1 }), [randn([4, 5], 1)], { gradcheck: true });
    checkOp('ce sum 3d', (x) => S.crossEntropy(x, t.reshape(2, 2), { reduction: 'sum' }), [randn([2, 2, 5], 1)], { gradcheck: true });
    for (const n of SIZES) {
      const tn = S.randint(0, n, [7], { generator: new S.Generator(n) });
      checkOp(`ce n=${n}`, (x) => S.crossEntropy(x, tn), [randn([7, n], n)]);
    }
  });
  test('dropout: gradient flows through the kept mask', () => {
    checkOp('dropout', (x) => S.dropout(x, 0.3, true, new S.Generator(7)), [randn([4, 5], 1)], { gradcheck: true });
  });
});

describe('comparisons and arg-reductions (no gradient)', () => {
  test('compare ops and argmax/argmin match across backends, NaN included', () => {
    for (const n of SIZES) {
      const a = S.randn([n, 7], { generator: new S.Generator(n) });
      const b = S.randn([1, 7], { generator: new S.Generator(n + 1) });
      for (const op of ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const) {
        checkOp(`${op} n=${n}`, (x, y) => S[op](x, y), [a, b]);
        checkOp(`${op} transposed n=${n}`, (x) => S[op](x, 0.1), [a.T]);
      }
      checkOp(`argmax n=${n}`, (x) => x.argmax(0), [a]);
      checkOp(`argmin n=${n}`, (x) => x.argmin(-1, true), [a]);
      checkOp(`argmax strided n=${n}`, (x) => x.T.argmax(-1), [a]);
    }
    const withNaN = S.tensor([[1, NaN, 3], [2, 2, 1]]);
    checkOp('argmax NaN', (x) => x.argmax(1), [withNaN]);
    checkOp('eq NaN', (x) => x.eq(x), [withNaN]);
  });
});
