// gemmPackB + gemmF32 reading the packed panels give exactly what gemmF32 gives packing B itself
// on the blocked path (tails, several K blocks, B transposed or not, bias, GELU epilogue, 1 and 2
// threads), and bad packed operands are RangeErrors, never a crash.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon, nativeLoadError } from '../../src/backend/native.js';
import { Generator } from '../../src/tensor/random.js';

const lib = loadAddon();
const skip = lib ? false : `native addon not built (${nativeLoadError()})`;

describe('gemmF32 on packed B', { skip }, () => {
  const g = new Generator(5);
  const rand = (n: number) => Float32Array.from({ length: n }, () => g.normal());
  const shapes = [
    { name: 'tails, 3 K blocks, B transposed', m: 37, n: 100, k: 600, transB: true },
    { name: 'B not transposed', m: 64, n: 96, k: 300, transB: false },
    { name: 'wide N (several N tiles)', m: 20, n: 1600, k: 40, transB: true },
    { name: 'one row, one column (skinny shapes run blocked)', m: 1, n: 1, k: 70, transB: true },
  ];
  for (const threads of [1, 2]) {
    for (const s of shapes) {
      test(`${s.name}, ${threads} thread(s)`, () => {
        const before = lib!.getThreads();
        lib!.setThreads(threads);
        try {
          const a = rand(s.m * s.k);
          const b = rand(s.k * s.n);
          const bias = rand(s.n);
          const ldb = s.transB ? s.k : s.n;
          const packed = lib!.gemmPackB(b, 0, ldb, s.transB, s.k, s.n);
          assert.equal(packed.length, lib!.gemmPackedLength(s.k, s.n));
          for (const [epilogue, withBias] of [[0, undefined], [1, bias], [0, bias]] as const) {
            const want = new Float32Array(s.m * s.n);
            lib!.gemmF32(a, 0, s.k, false, b, 0, ldb, s.transB, want, 0, s.n, s.m, s.n, s.k, 1, 0, 0, 0, 1, 0, epilogue, withBias);
            const got = new Float32Array(s.m * s.n).fill(Number.NaN); // never read
            lib!.gemmF32(a, 0, s.k, false, null, 0, s.n, false, got, 0, s.n, s.m, s.n, s.k, 1, 0, 0, 0, 1, 0, epilogue, withBias, packed);
            if (s.m > 8 && s.n > 8) assert.deepEqual(got, want);
            else for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-4 * (1 + Math.abs(want[i]!)), `element ${i}: ${got[i]} vs ${want[i]}`);
          }
        } finally {
          lib!.setThreads(before);
        }
      });
    }
  }

  test('bad packed operands are RangeErrors', () => {
    const a = rand(16 * 32);
    const b = rand(32 * 24);
    const c = new Float32Array(16 * 24);
    const packed = lib!.gemmPackB(b, 0, 24, false, 32, 24);
    const call = (p: Float32Array, k = 32, n = 24, out = c) => lib!.gemmF32(a, 0, 32, false, null, 0, n, false, out, 0, n, 16, n, k, 1, 0, 0, 0, 1, 0, 0, undefined, p);
    const range = (re: RegExp) => (e: unknown) => e instanceof RangeError && re.test(e.message);
    call(packed); // fine
    assert.throws(() => call(packed.subarray(1)), range(/packedB must hold \d+ floats \(gemmPackB of a 32 x 24/));
    assert.throws(() => call(packed, 31), range(/packedB must hold/)); // packed for another K
    assert.throws(() => call(packed, 32, 60, new Float32Array(16 * 60)), range(/packedB must hold/)); // packed for another N
    // C inside the packed array
    const shared = new Float32Array(packed.length);
    assert.throws(() => call(shared, 32, 24, shared), range(/shares memory with c/));
    assert.throws(() => lib!.gemmPackB(b, 0, 24, false, 32, 25), range(/ldb/));
    assert.throws(() => lib!.gemmPackB(b, 1, 24, false, 32, 24), range(/gemmPackB/));
    assert.throws(() => lib!.gemmPackB(b, 0, 24, false, 0, 24), range(/gemmPackB/));
    assert.throws(() => lib!.gemmPackB(b, 0, 24, false, 2 ** 40, 24), range(/gemmPackB/));
    assert.throws(() => (lib!.gemmF32 as (...args: unknown[]) => void)(a, 0, 32, false, null, 0, 24, false, c, 0, 24, 16, 24, 32, 1, 0, 0, 0, 1, 0, 0, undefined), TypeError);
  });
});
