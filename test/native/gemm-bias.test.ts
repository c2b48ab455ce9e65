// gemmF32's bias row (C = bias + A B, written into each C tile before its first K block lands on
// it) gives exactly what filling C with bias rows and accumulating gives (beta 1), bit for bit, on
// the blocked path (tails, several K blocks, threads), the skinny paths, K = 0 and batches; and a
// short bias or a bias with beta != 0 is refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon, nativeLoadError } from '../../src/backend/native.js';
import { Generator } from '../../src/tensor/random.js';

const lib = loadAddon();
const skip = lib ? false : `native addon not built (${nativeLoadError()})`;

describe('gemmF32 with a bias row', { skip }, () => {
  const g = new Generator(3);
  const rand = (n: number) => Float32Array.from({ length: n }, () => g.normal());
  const shapes = [
    { name: 'blocked, tails, 2 K blocks', m: 37, n: 100, k: 300, batch: 1, transB: true },
    { name: 'blocked, B not transposed', m: 64, n: 96, k: 64, batch: 1, transB: false },
    { name: 'blocked, wide', m: 20, n: 1600, k: 40, batch: 1, transB: true },
    { name: 'skinny rows', m: 3, n: 70, k: 50, batch: 1, transB: true },
    { name: 'skinny columns', m: 90, n: 5, k: 50, batch: 1, transB: true },
    { name: 'K = 0', m: 9, n: 11, k: 0, batch: 1, transB: true },
    { name: 'batched', m: 17, n: 40, k: 33, batch: 3, transB: false },
  ];
  for (const s of shapes) {
    test(s.name, () => {
      const a = rand(Math.max(1, s.batch * s.m * s.k));
      const b = rand(Math.max(1, s.batch * s.k * s.n));
      const bias = rand(s.n);
      const ldb = s.transB ? s.k : s.n;
      const run = (c: Float32Array, beta: number, withBias?: Float32Array) =>
        lib!.gemmF32(a, 0, s.k, false, b, 0, ldb, s.transB, c, 0, s.n, s.m, s.n, s.k, s.batch, s.m * s.k, s.k * s.n, s.m * s.n, 1, beta, 0, withBias);
      const want = new Float32Array(s.batch * s.m * s.n);
      for (let r = 0; r < s.batch * s.m; r++) want.set(bias, r * s.n);
      run(want, 1);
      const got = new Float32Array(s.batch * s.m * s.n).fill(Number.NaN); // never read
      run(got, 0, bias);
      assert.deepEqual(got, want);
    });
  }

  test('a short bias, or a bias with beta != 0, is a RangeError', () => {
    const a = rand(16);
    const b = rand(16);
    const c = new Float32Array(16);
    const call = (bias: Float32Array, beta: number) => lib!.gemmF32(a, 0, 4, false, b, 0, 4, false, c, 0, 4, 4, 4, 4, 1, 0, 0, 0, 1, beta, 0, bias);
    assert.throws(() => call(new Float32Array(3), 0), (e: unknown) => e instanceof RangeError && /bias must hold at least N = 4/.test(e.message));
    assert.throws(() => call(new Float32Array(4), 1), (e: unknown) => e instanceof RangeError && /needs beta = 0/.test(e.message));
  });
});
