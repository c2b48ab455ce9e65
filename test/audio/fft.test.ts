// The mixed-radix FFT and the real power spectrum against a direct DFT (the obvious O(n²) sum).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StrataError } from '../../src/errors.js';
import { FFT, RealFFT } from '../../src/audio/fft.js';

function dft(re: Float64Array, im: Float64Array): { re: Float64Array; im: Float64Array } {
  const n = re.length;
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * ((j * k) % n)) / n;
      sr += re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
      si += re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
    }
    outRe[k] = sr;
    outIm[k] = si;
  }
  return { re: outRe, im: outIm };
}

function signal(n: number, seed: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.37 + seed) + 0.5 * Math.cos(i * i * 0.11 - seed));
}

// lengths covering every butterfly: 2, 3, 4, 5, the generic prime one, and their mixtures
const LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 25, 30, 49, 77, 97, 100, 128, 200, 400, 1000, 2310];

test('FFT equals the direct DFT for every radix and mixture', () => {
  for (const n of LENGTHS) {
    const re = signal(n, 1);
    const im = signal(n, 2);
    const want = dft(re, im);
    new FFT(n).forward(re, im);
    let worst = 0;
    for (let k = 0; k < n; k++) worst = Math.max(worst, Math.abs(re[k]! - want.re[k]!), Math.abs(im[k]! - want.im[k]!));
    assert.ok(worst < 1e-12 * Math.max(1, n), `n=${n}: max |diff| ${worst}`);
  }
});

test('a plan is reusable and its transform is linear (two runs, a sum)', () => {
  const plan = new FFT(400);
  const a = signal(400, 3);
  const b = signal(400, 4);
  const run = (x: Float64Array) => {
    const re = x.slice();
    const im = new Float64Array(400);
    plan.forward(re, im);
    return { re, im };
  };
  const fa = run(a);
  const fb = run(b);
  const fab = run(a.map((v, i) => v + b[i]!));
  for (let k = 0; k < 400; k++) {
    assert.ok(Math.abs(fab.re[k]! - fa.re[k]! - fb.re[k]!) < 1e-11);
    assert.ok(Math.abs(fab.im[k]! - fa.im[k]! - fb.im[k]!) < 1e-11);
  }
  assert.deepEqual(run(a), fa);
});

test('RealFFT power spectrum equals |DFT|² over the one-sided bins, even and odd lengths', () => {
  for (const n of [1, 2, 3, 8, 9, 50, 400, 401, 512]) {
    const x = signal(n, 5);
    const want = dft(x, new Float64Array(n));
    const plan = new RealFFT(n);
    const out = new Float64Array(plan.bins);
    assert.equal(plan.bins, Math.floor(n / 2) + 1);
    plan.powerSpectrum(x, out);
    for (let k = 0; k < plan.bins; k++) {
      const p = want.re[k]! ** 2 + want.im[k]! ** 2;
      assert.ok(Math.abs(out[k]! - p) < 1e-10 * Math.max(1, p), `n=${n} bin ${k}: ${out[k]} vs ${p}`);
    }
  }
});

test('bad lengths and buffers are StrataErrors', () => {
  for (const n of [0, -1, 2.5, NaN, 2 ** 30]) {
    assert.throws(() => new FFT(n), (err: unknown) => err instanceof StrataError && err.code === 'argument');
    assert.throws(() => new RealFFT(n), (err: unknown) => err instanceof StrataError && err.code === 'argument');
  }
  assert.throws(() => new FFT(8).forward(new Float64Array(8), new Float64Array(7)), (err: unknown) => err instanceof StrataError && err.code === 'shape');
  assert.throws(() => new RealFFT(8).powerSpectrum(new Float64Array(6), new Float64Array(5)), (err: unknown) => err instanceof StrataError && err.code === 'shape');
});
