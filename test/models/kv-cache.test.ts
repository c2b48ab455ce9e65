// The preallocated KV cache and the decoder forward-pass argument checks.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import { maxAbsDiff } from '../helpers/fixtures.js';
import { expected, fixtureDir, ids } from './model-fixtures.js';

describe('PreallocatedKVCache', () => {
  test('update writes in place and returns views over the filled positions', () => {
    const cache = new S.PreallocatedKVCache(1, 2, 2, 8, 4);
    const k = S.randn([2, 2, 3, 4], { generator: new S.Generator(1) });
    const v = S.randn([2, 2, 3, 4], { generator: new S.Generator(2) });
    const first = cache.update(0, k, v);
    assert.deepEqual(first.k.shape, [2, 2, 3, 4]);
    assert.equal(maxAbsDiff(first.k, k), 0);
    cache.advance(3);
    const k2 = S.randn([2, 2, 1, 4], { generator: new S.Generator(3) });
    const second = cache.update(0, k2, k2);
    assert.deepEqual(second.k.shape, [2, 2, 4, 4]);
    assert.equal(second.k.data, first.k.data, 'the same buffer, no reallocation');
    assert.equal(second.k.strides[2], 4, 'rows of D are contiguous, so attention reads them in place');
    assert.equal(maxAbsDiff(second.k.slice(2, 0, 3), k), 0);
    assert.equal(maxAbsDiff(second.k.slice(2, 3, 4), k2), 0);
  });

  test('reorder keeps the selected rows, in order (beam search)', () => {
    const cache = new S.PreallocatedKVCache(2, 3, 1, 4, 2);
    const rows = [0, 1, 2].map((b) => S.full([1, 1, 2, 2], b + 1));
    const k = S.cat(rows, 0); // (3, 1, 2, 2), row b filled with b + 1
    cache.update(0, k, k);
    cache.update(1, k, k);
    cache.advance(2);
    cache.reorder([2, 2, 0]);
    assert.equal(cache.batch, 3);
    const probe = S.zeros([3, 1, 1, 2]);
    const view = cache.update(1, probe, probe).k; // (3, 1, 3, 2)
    assert.deepEqual(view.slice(2, 0, 2).toArray(), [3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1]);
    cache.reorder([1]);
    assert.equal(cache.batch, 1);
    assert.throws(() => cache.reorder([1]), /row 1 is out of range/);
  });

  test('reorders to the same row count, step after step, keep every row right (buffers are reused)', () => {
    // each step: every row appends one position holding (its id at that step), then rows are
    // permuted; the cache must then hold, for each row, the history of the row it came from
    const cache = new S.PreallocatedKVCache(2, 3, 2, 8, 2);
    let history: number[][] = [[], [], []];
    const orders = [[2, 0, 0], [1, 1, 2], [0, 2, 1], [2, 2, 2], [1, 0, 2]];
    orders.forEach((order, step) => {
      const vals = [0, 1, 2].map((b) => 10 * step + b);
      const k = S.cat(vals.map((x) => S.full([1, 2, 1, 2], x)), 0); // (3, 2, 1, 2)
      for (let l = 0; l < 2; l++) cache.update(l, k, k.add(100));
      cache.advance(1);
      history = history.map((h, b) => [...h, vals[b]!]);
      cache.reorder(order);
      history = order.map((r) => history[r]!);
      const probe = S.zeros([3, 2, 1, 2]);
      for (let l = 0; l < 2; l++) {
        const { k: keys, v: values } = cache.update(l, probe, probe); // positions [0, step + 2)
        // (row, head, position, D): the row's history, then the probe's zeros
        const want = (add: number) => history.flatMap((h) => [0, 1].flatMap(() => h.flatMap((x) => [x + add, x + add]).concat([0, 0])));
        assert.deepEqual(keys.toArray(), want(0), `step ${step}, layer ${l}, keys`);
        assert.deepEqual(values.toArray(), want(100), `step ${step}, layer ${l}, values`);
      }
    });
  });

  test('bad arguments are StrataErrors', () => {
    assert.throws(() => new S.PreallocatedKVCache(1, 0, 1, 4, 2), /batch must be a positive integer/);
    const cache = new S.PreallocatedKVCache(1, 1, 1, 4, 2);
    assert.throws(() => cache.update(0, S.zeros([1, 1, 5, 2]), S.zeros([1, 1, 5, 2])), /exceed the cache length 4/);
    assert.throws(() => cache.update(0, S.zeros([1, 2, 1, 2]), S.zeros([1, 2, 1, 2])), /k must be \(B=1, Hkv=1, T, D=2\)/);
    assert.throws(() => cache.update(3, S.zeros([1, 1, 1, 2]), S.zeros([1, 1, 1, 2])), /layer 3 is out of range/);
    assert.throws(() => cache.advance(9), /cannot advance 9/);
    cache.advance(2);
    cache.reset();
    assert.equal(cache.length, 0);
  });
});

describe('decoder forward arguments', () => {
  test('shape and range errors name what is wrong', async () => {
    const gpt2 = (await S.loadModel(fixtureDir('gpt2'))).model as S.CausalLM;
    const llama = (await S.loadModel(fixtureDir('llama-gqa'))).model as S.CausalLM;
    const x = ids([[1, 2, 3]]);
    S.noGrad(() => {
      assert.throws(() => gpt2.forward(S.tensor([[1, 2]])), /ids must be \(B, T\) i32/);
      assert.throws(() => gpt2.forward(ids([Array(33).fill(1)])), /positions up to 32 exceed the 32 the model supports/);
      assert.throws(() => gpt2.forward(x, { positionIds: ids([[0, 1, 40]]) }), /position 40 is outside \[0, 32\)/);
      assert.throws(() => llama.forward(x, { positionIds: ids([[0, 1]]) }), /positionIds must be \(B, T\) = \(1, 3\)/);
      assert.throws(() => llama.forward(x, { attentionMask: S.ones([1, 2], { dtype: 'bool' }) }), /attentionMask must be \(B, S\) = \(1, 3\)/);
      assert.throws(() => llama.forward(x, { cache: llama.createCache(2, 8) }), /cache holds 2 rows but ids \(1, 3\) has 1/);
      assert.throws(() => llama.forward(x, { cache: llama.createCache(1, 2) }), /3 new tokens after 0 exceed the cache length 2/);
    });
  });

  test('an all-true attention mask equals no mask; lastOnly equals the last row', async () => {
    const llama = (await S.loadModel(fixtureDir('mistral'))).model as S.CausalLM;
    const x = expected('mistral').input_ids!;
    S.noGrad(() => {
      const full = llama.forward(x);
      const masked = llama.forward(x, { attentionMask: S.ones(x.shape, { dtype: 'bool' }) });
      assert.equal(maxAbsDiff(full, masked), 0);
      const last = llama.forward(x, { lastOnly: true });
      // the head runs on 1 row instead of 12 (another GEMM path): equal up to rounding
      assert.ok(maxAbsDiff(last, full.slice(1, 11, 12)) <= 1e-5);
    });
  });
});
