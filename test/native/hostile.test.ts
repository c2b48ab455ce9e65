// The addon validates every argument itself: hostile calls from JavaScript (negative sizes,
// short buffers, overlapping outputs, wrong types, NaN) throw instead of touching memory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAddon, nativeLoadError } from '../../src/backend/native.js';

const lib = loadAddon();
const skip = lib ? false : `native addon not built (${nativeLoadError()})`;

const f = (n: number) => new Float32Array(n);
const throwsRange = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof Error && re.test(e.message));

describe('native addon rejects hostile arguments', { skip }, () => {
  test('gemmF32: negative or fractional sizes, short buffers, NaN, wrong array types', () => {
    const a = f(16);
    const b = f(16);
    const c = f(16);
    const call = (over: Partial<Record<string, unknown>>) => {
      const p = { a, aOff: 0, lda: 4, transA: false, b, bOff: 0, ldb: 4, transB: false, c, cOff: 0, ldc: 4, m: 4, n: 4, k: 4, batch: 1, sA: 0, sB: 0, sC: 0, alpha: 1, beta: 0, ...over };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (lib!.gemmF32 as any)(p.a, p.aOff, p.lda, p.transA, p.b, p.bOff, p.ldb, p.transB, p.c, p.cOff, p.ldc, p.m, p.n, p.k, p.batch, p.sA, p.sB, p.sC, p.alpha, p.beta);
    };
    call({});
    throwsRange(() => call({ m: -1 }), /gemmF32/);
    throwsRange(() => call({ k: 2.5 }), /gemmF32/);
    throwsRange(() => call({ n: NaN }), /gemmF32/);
    throwsRange(() => call({ m: 5 }), /gemmF32/);
    throwsRange(() => call({ aOff: 1 }), /gemmF32/);
    throwsRange(() => call({ batch: 2, sA: 16 }), /gemmF32/);
    throwsRange(() => call({ lda: 2 }), /gemmF32/);
    throwsRange(() => call({ m: 2 ** 40, n: 2 ** 40 }), /gemmF32/);
    throwsRange(() => call({ a: new Float64Array(16) }), /gemmF32/);
    throwsRange(() => call({ c: [1, 2, 3] }), /gemmF32/);
  });

  test('gemmF32: an output overlapping an input is computed safely or refused', () => {
    const buf = new Float32Array(32).map((_, i) => (i % 5) - 2);
    const a = buf.subarray(0, 16);
    const expected = f(16);
    lib!.gemmF32(a.slice(), 0, 4, false, a.slice(), 0, 4, false, expected, 0, 4, 4, 4, 4, 1, 0, 0, 0, 1, 0);
    const out = buf.subarray(8, 24); // overlaps the second half of a
    try {
      lib!.gemmF32(a, 0, 4, false, a, 0, 4, false, out, 0, 4, 4, 4, 4, 1, 0, 0, 0, 1, 0);
    } catch (e) {
      assert.match(String(e), /overlap/);
      return;
    }
    assert.deepEqual([...out], [...expected]);
  });

  test('elementwise kernels: bad views, short outputs, overlap, unknown ops', () => {
    const x = f(12);
    const out = f(12);
    lib!.unaryF32(1, x, [4, 1], 0, [3, 4], 0, out);
    throwsRange(() => lib!.unaryF32(1, x, [4, 1], 1, [3, 4], 0, out), /unaryF32: x view reaches/);
    throwsRange(() => lib!.unaryF32(1, x, [-4, 1], 0, [3, 4], 0, out), /unaryF32/);
    throwsRange(() => lib!.unaryF32(1, x, [4, 1], 0, [3, -4], 0, out), /unaryF32/);
    throwsRange(() => lib!.unaryF32(1, x, [4, 1], 0, [3, 4], 0, f(11)), /out needs 12/);
    throwsRange(() => lib!.unaryF32(99, x, [4, 1], 0, [3, 4], 0, out), /op/);
    throwsRange(() => lib!.unaryF32(1, x, [4, 1], 0, [3, 4], 0, x), /overlaps/);
    throwsRange(() => lib!.unaryF32(1, x, [4], 0, [3, 4], 0, out), /rank/);
    throwsRange(() => lib!.unaryF32(1, x, [1, 1, 1, 1, 1, 1, 1, 1, 1], 0, [1, 1, 1, 1, 1, 1, 1, 1, 1], 0, out), /8 dimensions/);
    throwsRange(() => lib!.binaryF32(0, x, [4, 1], 0, x, [0, 1], 9, [3, 4], out), /b view reaches/);
    throwsRange(() => lib!.copyStrided(x, [1], 0, [12], new Int32Array(12)), /same typed-array type/);
    throwsRange(() => lib!.whereF32(new Uint8Array(2), [1, 0], 0, x, [4, 1], 0, x, [4, 1], 0, [3, 4], out), /cond view reaches/);
  });

  test('row kernels and attention: lengths are checked against the sizes', () => {
    throwsRange(() => lib!.softmaxF32(f(10), 3, 4, f(12), false), /x needs 12/);
    throwsRange(() => lib!.layerNormF32(f(12), f(3), null, 3, 4, 1e-5, f(12), f(3), f(3)), /weight needs 4/);
    throwsRange(() => lib!.layerNormF32(f(12), null, null, 3, 4, 1e-5, f(12), f(3), f(3), f(11)), /residual needs 12/);
    const sums = f(12);
    throwsRange(() => lib!.layerNormF32(f(12), null, null, 3, 4, 1e-5, sums, f(3), f(3), sums), /overlaps/);
    throwsRange(() => lib!.rmsNormF32(f(12), null, 3, 4, 1e-5, f(12), f(2)), /rstd needs 3/);
    throwsRange(() => lib!.ropeF32(f(12), 1, 2, 6, f(6), f(5), 1, false, false, f(12)), /sin needs 6/);
    throwsRange(() => lib!.ropeF32(f(24), 2, 2, 6, f(6), f(6), 1, false, false, f(24)), /cos needs 12/);
    throwsRange(() => lib!.reduceF32(0, f(12), 3, 4, 2, f(6)), /x needs 24/);
    throwsRange(() => lib!.im2colF32(f(16), [1, 1, 4, 4, 3, 3, 1, 1, 0, 0, 1, 1, 3, 3], f(81)), /output size/);
    throwsRange(() => lib!.im2colF32(f(16), [1, 1, 4, 4, 3, 3, 0, 1, 0, 0, 1, 1, 2, 2], f(36)), />= 1/);
    const q = f(1 * 2 * 3 * 4);
    const L = [0, 24, 12, 4] as const; // (1, 2, 3, 4) contiguous
    type Layout = [number, number, number, number];
    throwsRange(() => lib!.attentionF32(q, L, f(24), L, f(23), L, null, [0, 0, 0, 0], 1, 2, 2, 3, 3, 4, 0.5, true, f(24), L), /v needs 24/);
    throwsRange(() => lib!.attentionF32(q, L, f(24), [1, 24, 12, 4], f(24), L, null, [0, 0, 0, 0], 1, 2, 2, 3, 3, 4, 0.5, true, f(24), L), /k needs 25/);
    throwsRange(() => lib!.attentionF32(q, L, f(24), [0, 24, 12] as unknown as Layout, f(24), L, null, [0, 0, 0, 0], 1, 2, 2, 3, 3, 4, 0.5, true, f(24), L), /kLayout must be/);
    throwsRange(() => lib!.attentionF32(q, L, f(12), L, f(12), L, null, [0, 0, 0, 0], 1, 2, 0, 3, 3, 4, 0.5, true, f(24), L), /headsKV/);
    throwsRange(() => lib!.attentionF32(q, L, f(24), L, f(24), L, f(8), [0, 0, 9, 4], 1, 2, 2, 3, 3, 4, 0.5, true, f(24), L), /mask needs 20/);
    throwsRange(() => lib!.attentionF32(q, L, f(24), L, f(24), L, null, [0, 0, 0, 0], 1, 2, 2, 3, 3, 4, 0.5, true, f(24), [0, 24, 8, 8]), /out needs 28/);
    throwsRange(() => lib!.attentionF32(q, L, f(24), L, f(24), L, null, [0, 0, 0, 0], 1, 2, 2, 3, 3, 4, 0.5, true, f(24), [0, 12, 6, 3]), /rowStride/);
    throwsRange(() => lib!.attentionF32(q, [0, 24, -12, 4], f(24), L, f(24), L, null, [0, 0, 0, 0], 1, 2, 2, 3, 3, 4, 0.5, true, f(24), L), /qLayout/);
    throwsRange(() => lib!.attentionF32(q, L, f(24), L, f(24), L, null, [0, 0, 0, 0], 1, 2, 2, 3, 3, 4, 0.5, true, q, L), /overlaps q/);
  });

  test('setThreads rejects nonsense and keeps working', () => {
    const before = lib!.getThreads();
    assert.throws(() => lib!.setThreads(-1));
    assert.throws(() => lib!.setThreads(NaN));
    lib!.setThreads(1);
    assert.equal(lib!.getThreads(), 1);
    lib!.setThreads(before);
  });
});
