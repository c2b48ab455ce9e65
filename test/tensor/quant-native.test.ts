// The native quant kernels against the TypeScript reference (src/tensor/quant.ts): same
// activation quantization, exact integer block dot products, so the results agree to f32
// rounding of the scaled sums; dequantization is bit-exact. Every ISA table this CPU runs is
// checked (child processes with STRATA_ISA), and the bindings refuse hostile arguments.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAddon, nativeLoadError } from '../../src/backend/native.js';
import { GGML_TYPE_OF, dequantizeRows, quantMatmulReference, quantizeRows, rowBytes } from '../../src/tensor/quant.js';
import type { QuantDType } from '../../src/index.js';

const lib = loadAddon();
const skip = lib ? false : `native addon not built (${nativeLoadError()})`;
const QTYPES: readonly QuantDType[] = ['q8_0', 'q4_0', 'q4_k', 'q6_k'];

let seed = 777;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const randArray = (n: number, scale = 1) => Float32Array.from({ length: n }, () => rand() * scale);

/** Native vs reference: |native - ref| <= tol * sum |terms| for every output. */
const TOLERANCE = 2e-6;

describe('native quantized matmul equals the reference', { skip }, () => {
  for (const dt of QTYPES) {
    test(`${dt}: decode, small and parallel shapes`, () => {
      const k32 = dt.endsWith('k') ? 256 : 32;
      const shapes: [number, number, number][] = [
        [1, 1, k32],
        [1, 37, 3 * k32], // an odd number of blocks
        [3, 5, 4 * k32],
        [4, 16, 2 * k32],
        [9, 13, 6 * k32],
        [64, 97, 512], // parallel over rows and tiles
        [2, 600, 1024],
      ];
      for (const [m, n, k] of shapes) {
        const w = quantizeRows(dt, randArray(n * k, 0.1), k);
        const x = randArray(m * k, 2);
        const ref = new Float32Array(m * n);
        const mag = new Float64Array(m * n);
        quantMatmulReference(dt, w, rowBytes(dt, k), x, m, n, k, ref, mag);
        const out = new Float32Array(m * n).fill(NaN);
        lib!.quantMatmul(GGML_TYPE_OF[dt], w, rowBytes(dt, k), x, m, n, k, out);
        for (let i = 0; i < out.length; i++) {
          const d = Math.abs(out[i]! - ref[i]!);
          assert.ok(d <= TOLERANCE * mag[i]! + 1e-30, `${dt} ${m}x${n}x${k} [${i}]: ${out[i]} vs ${ref[i]} (|terms| ${mag[i]})`);
        }
      }
    });
  }

  test('rows further apart than their length (a view of part of a wider matrix)', () => {
    const [m, n, k] = [3, 4, 64];
    const wide = quantizeRows('q8_0', randArray(n * 2 * k), 2 * k); // (n, 2k): use the first k
    const ref = new Float32Array(m * n);
    const x = randArray(m * k);
    quantMatmulReference('q8_0', wide, rowBytes('q8_0', 2 * k), x, m, n, k, ref);
    const out = new Float32Array(m * n);
    lib!.quantMatmul(8, wide, rowBytes('q8_0', 2 * k), x, m, n, k, out);
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - ref[i]!) < 1e-4);
  });

  test('dequantizeRows is bit-exact, for any bytes (NaN and inf scales included)', () => {
    for (const dt of QTYPES) {
      const k = dt.endsWith('k') ? 512 : 64;
      const n = 9;
      const w = Uint8Array.from({ length: rowBytes(dt, k) * n }, () => Math.floor((rand() + 1) * 128));
      const ids = Int32Array.from([8, 0, 3, 3]);
      for (const sel of [null, ids]) {
        const count = sel ? sel.length : n;
        const a = new Float32Array(count * k);
        const b = new Float32Array(count * k);
        dequantizeRows(dt, w, rowBytes(dt, k), k, n, sel, a);
        lib!.dequantizeRows(GGML_TYPE_OF[dt], w, rowBytes(dt, k), k, n, sel, b);
        for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])), `${dt} [${i}] ${a[i]} vs ${b[i]}`);
      }
    }
  });

  test('every ISA table this CPU runs agrees with the reference (child processes)', () => {
    const features = lib!.cpuFeatures();
    const isas = ['portable', ...(features.avx2 ? ['avx2'] : []), ...(features.avx512f ? ['avx512'] : [])];
    const script = path.join(import.meta.dirname, 'quant-isa-check.ts');
    for (const isa of isas) {
      const res = spawnSync(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, STRATA_ISA: isa }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(res.status, 0, `${isa}: ${res.stderr}`);
      const r = JSON.parse(res.stdout.trim().split('\n').pop()!) as Record<string, number | string>;
      for (const dt of QTYPES) {
        assert.ok((r[dt] as number) <= TOLERANCE, `${isa} (${r.isa}) ${dt}: ${r[dt]}`);
        assert.equal(r[`${dt}.dequant`], 0, `${isa} ${dt} dequantization`);
      }
      assert.ok((r.f16 as number) < 1e-5 && (r.bf16 as number) < 1e-5, `${isa} half: ${r.f16} ${r.bf16}`);
    }
  });
});

describe('quant bindings refuse hostile arguments', { skip }, () => {
  const throwsRange = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof Error && re.test(e.message));

  test('quantMatmul', () => {
    const w = new Uint8Array(34 * 4);
    const x = new Float32Array(64);
    const out = new Float32Array(4);
    const call = (o: Partial<Record<string, unknown>>) => {
      const p = { type: 8, w, ldw: 68, x, m: 1, n: 2, k: 64, out, ...o };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (lib!.quantMatmul as any)(p.type, p.w, p.ldw, p.x, p.m, p.n, p.k, p.out);
    };
    call({});
    throwsRange(() => call({ type: 3 }), /quantMatmul: type 3 is not a supported block format/);
    throwsRange(() => call({ type: 8.5 }), /quantMatmul: type/);
    throwsRange(() => call({ k: 48 }), /not a multiple of the block size 32/);
    throwsRange(() => call({ n: 3 }), /w is too short/);
    throwsRange(() => call({ ldw: 10 }), /ldw = 10 is shorter than a row of 68 bytes/);
    throwsRange(() => call({ ldw: 2 ** 52 }), /w is too short/);
    throwsRange(() => call({ m: 2 }), /x is too short/);
    throwsRange(() => call({ m: 2 ** 53 }), /quantMatmul/);
    throwsRange(() => call({ m: -1 }), /quantMatmul: m/);
    throwsRange(() => call({ k: NaN }), /quantMatmul: k/);
    throwsRange(() => call({ out: new Float32Array(1) }), /out is too short/);
    throwsRange(() => call({ w: new Int8Array(136) }), /w must be a Uint8Array/);
    throwsRange(() => call({ x: new Float64Array(64) }), /x must be a Float32Array/);
    const shared = new Float32Array(256);
    throwsRange(() => call({ x: shared.subarray(0, 64), out: shared.subarray(60, 64) }), /out overlaps x/);
    throwsRange(() => call({ w: new Uint8Array(shared.buffer, 0, 136), out: shared.subarray(10, 14) }), /out overlaps w/);
  });

  test('dequantizeRows', () => {
    const w = new Uint8Array(144 * 2);
    const out = new Float32Array(512);
    lib!.dequantizeRows(12, w, 144, 256, 2, null, out);
    lib!.dequantizeRows(12, w, 144, 256, 2, Int32Array.from([1, 0]), out);
    throwsRange(() => lib!.dequantizeRows(12, w, 144, 256, 2, Int32Array.from([2]), out), /ids\[0\] = 2 is outside \[0, 2\)/);
    throwsRange(() => lib!.dequantizeRows(12, w, 144, 256, 2, Int32Array.from([-1]), out), /outside/);
    throwsRange(() => lib!.dequantizeRows(12, w, 144, 256, 3, null, new Float32Array(768)), /w is too short/);
    throwsRange(() => lib!.dequantizeRows(12, w, 144, 256, 2, null, new Float32Array(511)), /out is too short/);
    throwsRange(() => lib!.dequantizeRows(12, w, 144, 128, 2, null, out), /multiple of the block size 256/);
    throwsRange(() => lib!.dequantizeRows(12, w, 144, 256, 2, new Uint32Array(1) as never, out), /Int32Array or null/);
  });

  test('halfMatmul', () => {
    const w = new Uint16Array(12);
    const x = new Float32Array(8);
    const out = new Float32Array(6);
    lib!.halfMatmul(false, w, 0, 4, x, 2, 3, 4, out);
    throwsRange(() => lib!.halfMatmul(false, w, 1, 4, x, 2, 3, 4, out), /halfMatmul: w is too short/);
    throwsRange(() => lib!.halfMatmul(false, w, 0, 3, x, 2, 3, 4, out), /ldw = 3/);
    throwsRange(() => lib!.halfMatmul(false, w, 0, 4, x, 3, 3, 4, out), /x is too short/);
    throwsRange(() => lib!.halfMatmul(1 as never, w, 0, 4, x, 2, 3, 4, out), /bf16 must be a boolean/);
    throwsRange(() => lib!.halfMatmul(true, new Int16Array(12) as never, 0, 4, x, 2, 3, 4, out), /Uint16Array/);
  });

  test('mmapFile', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-mmap-'));
    try {
      const file = path.join(dir, 'f.bin');
      fs.writeFileSync(file, Uint8Array.from({ length: 10000 }, (_, i) => i & 255));
      assert.deepEqual([...new Uint8Array(lib!.mmapFile(file, 5000, 3))], [5000 & 255, 5001 & 255, 5002 & 255]);
      assert.equal(lib!.mmapFile(file).byteLength, 10000);
      throwsRange(() => lib!.mmapFile(path.join(dir, 'none')), /mmapFile: '.*none': cannot open: No such file/);
      throwsRange(() => lib!.mmapFile(dir), /is a directory/);
      throwsRange(() => lib!.mmapFile(file, 9999, 2), /range \[9999, 10001\) is empty or not inside/);
      throwsRange(() => lib!.mmapFile(file, 10000), /empty or not inside/);
      throwsRange(() => lib!.mmapFile(file, -1), /offset/);
      throwsRange(() => lib!.mmapFile(42 as never), /path must be a string/);
      throwsRange(() => lib!.mmapFile('a\0b'), /NUL/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
