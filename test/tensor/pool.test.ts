// The activation buffer pool (src/tensor/pool.ts): released storage comes back for the next
// output of its size, and only buffers the pool made are ever taken back.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import * as S from '../../src/index.js';
import { emptyOverwritten } from '../../src/tensor/ops/common.js';
import { drainPool, releaseStorage, takeBuffer } from '../../src/tensor/pool.js';
import { BertModel, parseBertConfig } from '../../src/models/bert.js';
import { maxAbsDiff } from '../helpers/op-test.js';

afterEach(() => drainPool());

describe('buffer pool', () => {
  test('a released output buffer is handed to the next output of its size, once', () => {
    const a = emptyOverwritten('f32', [128, 256]);
    const buf = a.data.buffer;
    releaseStorage(a, a.reshape(256, 128)); // a view of the same storage counts once
    const b = emptyOverwritten('f32', [256, 128]);
    assert.equal(b.data.buffer, buf);
    assert.equal(emptyOverwritten('f32', [256, 128]).data.buffer === buf, false);
    releaseStorage(b);
    releaseStorage(b); // twice is once
    assert.equal(drainPool(), 128 * 256 * 4);
  });

  test('storage the pool did not make is left alone', () => {
    const user = new Float32Array(64 * 1024);
    const t = S.fromArray(user, [64, 1024]);
    const small = emptyOverwritten('f32', [4, 4]); // below the size that skips the zero fill
    releaseStorage(t, small, S.zeros([64, 1024]));
    assert.equal(drainPool(), 0);
    assert.equal(emptyOverwritten('f32', [64, 1024]).data.buffer === user.buffer, false);
  });

  test('a release that would pass the cap drops what was kept before', () => {
    const big = () => emptyOverwritten('f32', [25, 2 ** 20]); // 100 MiB
    const [a, b, c] = [big(), big(), big()];
    releaseStorage(a, b); // 200 MiB kept
    releaseStorage(c); // 300 MiB would pass 256: a and b go, c stays
    assert.equal(drainPool(), 100 * 2 ** 20);
  });

  test('takeBuffer returns a buffer of the size asked for', () => {
    assert.equal(takeBuffer(3 * 65536).byteLength, 3 * 65536);
  });

  test('a BERT forward that reuses released buffers gives the hidden states of one that releases none', () => {
    const config = parseBertConfig(
      { hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 3, intermediate_size: 256, vocab_size: 99, max_position_embeddings: 256 },
      'config.json',
      'bert',
    );
    const model = new BertModel(config).eval(); // no dropout
    const ids = S.fromArray(Int32Array.from({ length: 2 * 160 }, (_, i) => (i * 7) % 99), [2, 160], { dtype: 'i32' });
    // recording gradients, the forward keeps every intermediate (and runs the unfused ops)
    for (const p of model.parameters()) p.requiresGrad_(true);
    const kept = model.encode(ids).lastHiddenState.detach();
    assert.equal(drainPool(), 0);
    for (const p of model.parameters()) p.requiresGrad_(false);
    for (let i = 0; i < 3; i++) {
      // the first forward reuses buffers of its own earlier layers, the next ones the pool's
      const reused = S.noGrad(() => model.encode(ids).lastHiddenState);
      assert.ok(maxAbsDiff(reused, kept) < 1e-5, `forward ${i}: ${maxAbsDiff(reused, kept)}`);
    }
    assert.ok(drainPool() > 0, 'the forwards released their intermediates');
  });

  test('a forward that records gradients releases nothing', () => {
    const config = parseBertConfig({ hidden_size: 32, num_attention_heads: 2, num_hidden_layers: 2, intermediate_size: 64, vocab_size: 50, max_position_embeddings: 600 }, 'config.json', 'bert');
    const model = new BertModel(config);
    for (const p of model.parameters()) p.requiresGrad_(true);
    const ids = S.fromArray(Int32Array.from({ length: 512 }, (_, i) => i % 50), [1, 512], { dtype: 'i32' });
    const out = model.encode(ids).lastHiddenState;
    assert.equal(drainPool(), 0);
    out.sum().backward(); // the saved intermediates are intact
  });
});
