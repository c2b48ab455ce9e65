// Linear weights packed once for inference (src/tensor/ops/prepack.ts) and the stacked QKV GEMM
// (linearStack): the packed path gives the unpacked GEMM's values bit for bit, and every in-place
// write path (optimizer step, loadStateDict, LoRA merge, markModified after a direct write) makes
// the next forward use the new weights. A weight is packed on its second use, so each check
// calls twice (`twice`) to have the packed copy in place before the write it tests.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as S from '../../src/index.js';
import { Linear } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { LoRALinear } from '../../src/nn/lora.js';
import { SGD } from '../../src/optim/sgd.js';
import { linear, linearGelu, linearStack } from '../../src/tensor/ops/linalg.js';
import { hasPackedCopy } from '../../src/tensor/ops/prepack.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { maxAbsDiff, randn } from '../helpers/op-test.js';

const skip = S.nativeAvailable() ? false : 'native addon not built';

/** The unpacked GEMM: with the weight recording gradients nothing is packed. */
function unpacked<T>(weights: readonly Tensor[], fn: () => T): T {
  const flags = weights.map((w) => w.requiresGrad);
  weights.forEach((w) => w.requiresGrad_(true));
  try {
    return S.enableGrad(fn);
  } finally {
    weights.forEach((w, i) => w.requiresGrad_(flags[i]));
  }
}

const same = (a: Tensor, b: Tensor, what: string) => assert.equal(maxAbsDiff(a, b), 0, `${what}: packed and unpacked differ`);

/** The second of two calls: the first records the weights, the second packs and uses them. */
function twice<T>(fn: () => T): T {
  fn();
  return fn();
}

describe('prepacked linear weights', { skip }, () => {
  // several K blocks (the GEMM's is 256), N and M not multiples of the micro-tile, 3-D input
  const shapes = [
    { name: 'tails, 3 K blocks', x: [37, 600], n: 100 },
    { name: '3-D input, wide N', x: [2, 20, 300], n: 1600 },
    { name: 'just above the skinny sizes', x: [9, 64], n: 9 },
    { name: 'skinny rows (streamed, not packed)', x: [3, 64], n: 50 },
  ];
  for (const threads of [1, 2]) {
    for (const s of shapes) {
      test(`${s.name}, ${threads} thread(s): bit for bit the unpacked GEMM`, () => {
        const before = S.getThreads();
        S.setThreads(threads);
        try {
          const x = randn(s.x, 1, false);
          const w = randn([s.n, s.x.at(-1)!], 2, false);
          const b = randn([s.n], 3, false);
          for (const bias of [b, null]) {
            const got = twice(() => S.noGrad(() => linear(x, w, bias)));
            same(got, unpacked([w], () => linear(x, w, bias).detach()), `bias ${bias ? 'on' : 'off'}`);
            // a third call reads the cached panels
            same(S.noGrad(() => linear(x, w, bias)), got, 'cached');
          }
          same(
            S.noGrad(() => linearGelu(x, w, b)),
            unpacked([w], () => S.noGrad(() => S.gelu(linear(x, w, b).detach()))),
            'linearGelu',
          );
        } finally {
          S.setThreads(before);
        }
      });
    }
  }

  test('a weight written through markModified is repacked', () => {
    const x = randn([16, 300], 4, false);
    const w = randn([64, 300], 5, false);
    const first = twice(() => S.noGrad(() => linear(x, w)));
    (w.data as Float32Array)[7] = 10; // row 0 of W: column 0 of the output
    S.markModified(w);
    const want = unpacked([w], () => linear(x, w).detach());
    assert.ok(maxAbsDiff(first, want) > 0, 'the write changed nothing');
    same(S.noGrad(() => linear(x, w)), want, 'first call after the write');
    same(S.noGrad(() => linear(x, w)), want, 'second call after the write (repacked)');
    same(S.noGrad(() => linear(x, w)), want, 'third call after the write');
  });

  test('an optimizer step invalidates the packed weight', () => {
    const layer = new Linear(300, 64, { generator: new S.Generator(6) });
    const x = randn([16, 300], 7, false);
    const before = twice(() => S.noGrad(() => layer.forward(x))); // packs
    layer.forward(x).square().sum().backward(); // records: the unpacked GEMM
    new SGD(layer.parameters(), { lr: 0.1 }).step();
    const want = S.enableGrad(() => layer.forward(x).detach());
    assert.ok(maxAbsDiff(before, want) > 1e-3, 'the step changed nothing');
    same(S.noGrad(() => layer.forward(x)), want, 'first call after the step');
    same(S.noGrad(() => layer.forward(x)), want, 'second call after the step');
  });

  test('loadStateDict invalidates the packed weight', () => {
    class Net extends Module {
      readonly fc = this.module('fc', new Linear(300, 40, { generator: new S.Generator(8) }));
    }
    const net = new Net();
    const other = new Net();
    const x = randn([12, 300], 9, false);
    const before = twice(() => S.noGrad(() => net.fc.forward(x)));
    net.loadStateDict({ 'fc.weight': other.fc.weight.mul(2), 'fc.bias': other.fc.bias! });
    const want = S.enableGrad(() => linear(x, other.fc.weight.mul(2), other.fc.bias).detach());
    same(S.noGrad(() => net.fc.forward(x)), want, 'first call after loading');
    same(S.noGrad(() => net.fc.forward(x)), want, 'second call after loading');
    assert.ok(maxAbsDiff(before, want) > 1e-3);
  });

  test('a LoRA merge and unmerge invalidate the packed base weight', () => {
    const base = new Linear(300, 48, { generator: new S.Generator(10) });
    const lora = new LoRALinear(base, { rank: 4, alpha: 8, generator: new S.Generator(11) });
    (lora.loraB.weight.data as Float32Array).fill(0.05); // a nonzero adapter
    S.markModified(lora.loraB.weight);
    const x = randn([10, 300], 12, false);
    const adapted = twice(() => S.noGrad(() => lora.forward(x))); // packs the base weight (frozen)
    const plain = S.noGrad(() => linear(x, base.weight, base.bias));
    lora.merge();
    const merged = twice(() => S.noGrad(() => lora.forward(x))); // the merged weight alone, repacked
    same(merged, unpacked([lora.weight], () => linear(x, lora.weight, lora.bias).detach()), 'merged');
    assert.ok(maxAbsDiff(merged, adapted) < 1e-4, 'merging changed the function');
    lora.unmerge();
    for (let call = 0; call < 2; call++) {
      same(S.noGrad(() => linear(x, base.weight, base.bias)), unpacked([base.weight], () => linear(x, base.weight, base.bias).detach()), `unmerged, call ${call + 1}`);
    }
    assert.ok(maxAbsDiff(S.noGrad(() => linear(x, base.weight, base.bias)), plain) < 1e-5);
  });

  test('a weight is packed on its second use, and never once a few-row product has read it', () => {
    const x = randn([40, 64], 16, false);
    const x3 = randn([3, 64], 17, false);
    const w = randn([32, 64], 18, false);
    S.noGrad(() => linear(x, w));
    assert.equal(hasPackedCopy([w]), false, 'packed on its first use');
    S.noGrad(() => linear(x, w));
    assert.equal(hasPackedCopy([w]), true, 'not packed on its second use');
    S.noGrad(() => linear(x3, w)); // a decode step: reads W itself
    assert.equal(hasPackedCopy([w]), false, 'the packed copy outlived a few-row product');
    const again = twice(() => S.noGrad(() => linear(x, w)));
    assert.equal(hasPackedCopy([w]), false, 'packed again after a few-row product');
    same(again, unpacked([w], () => linear(x, w).detach()), 'streamed weight');
    // a stack with one streamed member is not packed, and drops a copy it had
    const v = randn([32, 64], 19, false);
    const u = randn([32, 64], 20, false);
    const stack = [{ weight: u, bias: null }, { weight: v, bias: null }];
    twice(() => S.noGrad(() => linearStack(x, stack)));
    assert.equal(hasPackedCopy([u, v]), true);
    S.noGrad(() => linear(x3, v));
    twice(() => S.noGrad(() => linearStack(x, stack)));
    assert.equal(hasPackedCopy([u, v]), false);
  });

  test('the reference backend packs nothing and gives the same linear', () => {
    const x = randn([20, 70], 13, false);
    const w = randn([30, 70], 14, false);
    const b = randn([30], 15, false);
    S.withBackend('reference', () => {
      const alone = unpacked([w], () => linear(x, w, b).detach());
      assert.equal(maxAbsDiff(S.noGrad(() => linear(x, w, b)), alone), 0);
      const [p] = twice(() => S.noGrad(() => linearStack(x, [{ weight: w, bias: b }, { weight: w, bias: b }])));
      assert.equal(maxAbsDiff(p!, alone), 0);
    });
  });
});

describe('linearStack equals the separate linears', { skip }, () => {
  const layersOf = (seed: number, k: number, ns: number[], bias = true) =>
    ns.map((n, i) => ({ weight: randn([n, k], seed + 2 * i, false), bias: bias ? randn([n], seed + 2 * i + 1, false) : null }));

  for (const threads of [1, 2]) {
    test(`query/key/value, 3 K blocks, ${threads} thread(s): bit for bit`, () => {
      const before = S.getThreads();
      S.setThreads(threads);
      try {
        const x = randn([2, 17, 600], 20, false); // (B, T, C)
        for (const bias of [true, false]) {
          const layers = layersOf(21, 600, [96, 50, 130], bias);
          const stacked = twice(() => S.noGrad(() => linearStack(x, layers)));
          layers.forEach((l, i) => {
            const alone = unpacked([l.weight], () => linear(x, l.weight, l.bias).detach());
            assert.deepEqual(stacked[i]!.shape, alone.shape);
            same(stacked[i]!, alone, `layer ${i}, bias ${bias}`);
          });
        }
      } finally {
        S.setThreads(before);
      }
    });
  }

  test('writing one weight of the stack repacks it', () => {
    const x = randn([16, 64], 30, false);
    const layers = layersOf(31, 64, [40, 40, 40]);
    const first = twice(() => S.noGrad(() => linearStack(x, layers)));
    (layers[2]!.weight.data as Float32Array).fill(0.5);
    S.markModified(layers[2]!.weight);
    const want = unpacked([layers[2]!.weight], () => linear(x, layers[2]!.weight, layers[2]!.bias).detach());
    for (let call = 0; call < 2; call++) {
      const again = S.noGrad(() => linearStack(x, layers));
      same(again[0]!, first[0]!, `untouched layer, call ${call + 1}`);
      same(again[2]!, want, `written layer, call ${call + 1}`);
    }
    assert.ok(maxAbsDiff(want, first[2]!) > 0);
  });

  test('with gradients recorded it is the composed op, gradients included', () => {
    const x = randn([12, 20], 40, true);
    const layers = layersOf(41, 20, [16, 16]).map((l) => ({ weight: l.weight.requiresGrad_(true), bias: l.bias!.requiresGrad_(true) }));
    const [a, b] = linearStack(x, layers);
    a!.mul(b!).sum().backward();
    const grads = [x.grad!, layers[0]!.weight.grad!, layers[1]!.bias.grad!];
    [x, ...layers.flatMap((l) => [l.weight, l.bias])].forEach((t) => (t.grad = null));
    linear(x, layers[0]!.weight, layers[0]!.bias).mul(linear(x, layers[1]!.weight, layers[1]!.bias)).sum().backward();
    assert.equal(maxAbsDiff(grads[0]!, x.grad!), 0);
    assert.equal(maxAbsDiff(grads[1]!, layers[0]!.weight.grad!), 0);
    assert.equal(maxAbsDiff(grads[2]!, layers[1]!.bias.grad!), 0);
  });

  test('mismatched in_features is the separate linears\' error', () => {
    const x = randn([16, 20], 50, false);
    const layers = [...layersOf(51, 20, [16]), ...layersOf(52, 21, [16])];
    assert.throws(() => S.noGrad(() => linearStack(x, layers)), (e: unknown) => e instanceof S.StrataError && /in_features 21/.test(e.message));
  });
});
