// A mixed-radix complex FFT in float64 (Stockham autosort: no bit reversal, any length).
//
// The length is split into factors 4, 2, 3, 5 (each with its own butterfly) and then any other
// primes, which take a plain p-point DFT butterfly: O(n·p), so lengths with large prime factors
// are slow but still exact. The Whisper front end transforms real frames of 400 through RealFFT,
// i.e. complex transforms of 200 = 4·2·5·5.
//
// Sign convention: X[k] = Σ_j x[j]·exp(-2πi·jk/n), unnormalized (as numpy.fft.fft / torch.fft.fft).

import { StrataError } from '../errors.js';

/** Largest length a plan is made for (the twiddle table is 16 bytes a point). */
const MAX_FFT_LENGTH = 1 << 24;

function factorize(n: number): number[] {
  const factors: number[] = [];
  let rest = n;
  for (const p of [4, 2, 3, 5]) {
    while (rest % p === 0) {
      factors.push(p);
      rest /= p;
    }
  }
  for (let p = 7; p * p <= rest; p += 2) {
    while (rest % p === 0) {
      factors.push(p);
      rest /= p;
    }
  }
  if (rest > 1) factors.push(rest);
  return factors;
}

/** A reusable FFT plan of one length: twiddles and scratch are allocated once. */
export class FFT {
  readonly n: number;
  private readonly factors: number[];
  /** cos and -sin of 2π·t/n for t < n: the twiddle ω^t = exp(-2πi·t/n) is (cos[t], sin[t]). */
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly scratchRe: Float64Array;
  private readonly scratchIm: Float64Array;
  /** Per-factor buffers for the generic prime butterfly (its p inputs). */
  private readonly tmpRe: Float64Array;
  private readonly tmpIm: Float64Array;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_FFT_LENGTH) {
      throw new StrataError('argument', 'FFT', `length must be an integer in [1, ${MAX_FFT_LENGTH}], got ${n}`);
    }
    this.n = n;
    this.factors = factorize(n);
    this.cos = new Float64Array(n);
    this.sin = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      const a = (2 * Math.PI * t) / n;
      this.cos[t] = Math.cos(a);
      this.sin[t] = -Math.sin(a);
    }
    this.scratchRe = new Float64Array(n);
    this.scratchIm = new Float64Array(n);
    const maxP = Math.max(1, ...this.factors);
    this.tmpRe = new Float64Array(maxP);
    this.tmpIm = new Float64Array(maxP);
  }

  /** In-place forward transform of (re, im), each of length n. */
  forward(re: Float64Array, im: Float64Array): void {
    const n = this.n;
    if (re.length !== n || im.length !== n) {
      throw new StrataError('shape', 'FFT.forward', `expected two arrays of length ${n}, got ${re.length} and ${im.length}`);
    }
    let xr = re;
    let xi = im;
    let yr = this.scratchRe;
    let yi = this.scratchIm;
    // `s` subsequences of length n/s are interleaved: subsequence q, element j sits at q + s·j.
    // One pass with factor p splits each into p subsequences of length m = n/(s·p).
    let s = 1;
    for (const p of this.factors) {
      const m = n / (s * p);
      this.pass(p, s, m, xr, xi, yr, yi);
      [xr, yr] = [yr, xr];
      [xi, yi] = [yi, xi];
      s *= p;
    }
    if (xr !== re) {
      re.set(xr);
      im.set(xi);
    }
  }

  /**
   * Decimation in frequency by p: for subsequence q (length p·m), j1 < m and output digit k2 < p,
   * y[q + s·k2 + s·p·j1] = ω_{p·m}^{j1·k2} · Σ_{j2<p} x[q + s·(j1 + m·j2)] · ω_p^{j2·k2}.
   */
  private pass(p: number, s: number, m: number, xr: Float64Array, xi: Float64Array, yr: Float64Array, yi: Float64Array): void {
    const n = this.n;
    const cos = this.cos;
    const sin = this.sin;
    const sm = s * m;
    const sp = s * p;
    const tw = s; // ω_{p·m}^{j1·k2} = ω_n^{j1·k2·s}
    if (p === 2) {
      for (let j1 = 0; j1 < m; j1++) {
        const w1r = cos[j1 * tw]!;
        const w1i = sin[j1 * tw]!;
        for (let q = 0; q < s; q++) {
          const a = q + s * j1;
          const b = a + sm;
          const ar = xr[a]!, ai = xi[a]!, br = xr[b]!, bi = xi[b]!;
          const o = q + sp * j1;
          yr[o] = ar + br;
          yi[o] = ai + bi;
          const dr = ar - br, di = ai - bi;
          yr[o + s] = dr * w1r - di * w1i;
          yi[o + s] = dr * w1i + di * w1r;
        }
      }
    } else if (p === 4) {
      for (let j1 = 0; j1 < m; j1++) {
        const w1r = cos[j1 * tw]!, w1i = sin[j1 * tw]!;
        const w2r = cos[2 * j1 * tw]!, w2i = sin[2 * j1 * tw]!;
        const w3r = cos[3 * j1 * tw]!, w3i = sin[3 * j1 * tw]!;
        for (let q = 0; q < s; q++) {
          const a = q + s * j1;
          const x0r = xr[a]!, x0i = xi[a]!;
          const x1r = xr[a + sm]!, x1i = xi[a + sm]!;
          const x2r = xr[a + 2 * sm]!, x2i = xi[a + 2 * sm]!;
          const x3r = xr[a + 3 * sm]!, x3i = xi[a + 3 * sm]!;
          const s02r = x0r + x2r, s02i = x0i + x2i;
          const d02r = x0r - x2r, d02i = x0i - x2i;
          const s13r = x1r + x3r, s13i = x1i + x3i;
          const d13r = x1r - x3r, d13i = x1i - x3i;
          // ω_4 = -i: X1 = d02 - i·d13, X3 = d02 + i·d13
          const y1r = d02r + d13i, y1i = d02i - d13r;
          const y2r = s02r - s13r, y2i = s02i - s13i;
          const y3r = d02r - d13i, y3i = d02i + d13r;
          const o = q + sp * j1;
          yr[o] = s02r + s13r;
          yi[o] = s02i + s13i;
          yr[o + s] = y1r * w1r - y1i * w1i;
          yi[o + s] = y1r * w1i + y1i * w1r;
          yr[o + 2 * s] = y2r * w2r - y2i * w2i;
          yi[o + 2 * s] = y2r * w2i + y2i * w2r;
          yr[o + 3 * s] = y3r * w3r - y3i * w3i;
          yi[o + 3 * s] = y3r * w3i + y3i * w3r;
        }
      }
    } else if (p === 3) {
      const s1 = -Math.sqrt(3) / 2; // imaginary part of ω_3
      for (let j1 = 0; j1 < m; j1++) {
        const w1r = cos[j1 * tw]!, w1i = sin[j1 * tw]!;
        const w2r = cos[2 * j1 * tw]!, w2i = sin[2 * j1 * tw]!;
        for (let q = 0; q < s; q++) {
          const a = q + s * j1;
          const x0r = xr[a]!, x0i = xi[a]!;
          const x1r = xr[a + sm]!, x1i = xi[a + sm]!;
          const x2r = xr[a + 2 * sm]!, x2i = xi[a + 2 * sm]!;
          const tr = x1r + x2r, ti = x1i + x2i;
          const ar = x0r - 0.5 * tr, ai = x0i - 0.5 * ti;
          // X1 = a + i·s1·(x1 - x2), X2 = a - i·s1·(x1 - x2)
          const br = -s1 * (x1i - x2i), bi = s1 * (x1r - x2r);
          const y1r = ar + br, y1i = ai + bi;
          const y2r = ar - br, y2i = ai - bi;
          const o = q + sp * j1;
          yr[o] = x0r + tr;
          yi[o] = x0i + ti;
          yr[o + s] = y1r * w1r - y1i * w1i;
          yi[o + s] = y1r * w1i + y1i * w1r;
          yr[o + 2 * s] = y2r * w2r - y2i * w2i;
          yi[o + 2 * s] = y2r * w2i + y2i * w2r;
        }
      }
    } else if (p === 5) {
      const c1 = Math.cos((2 * Math.PI) / 5), c2 = Math.cos((4 * Math.PI) / 5);
      const s1 = Math.sin((2 * Math.PI) / 5), s2 = Math.sin((4 * Math.PI) / 5);
      for (let j1 = 0; j1 < m; j1++) {
        const w1r = cos[j1 * tw]!, w1i = sin[j1 * tw]!;
        const w2r = cos[2 * j1 * tw]!, w2i = sin[2 * j1 * tw]!;
        const w3r = cos[3 * j1 * tw]!, w3i = sin[3 * j1 * tw]!;
        const w4r = cos[4 * j1 * tw]!, w4i = sin[4 * j1 * tw]!;
        for (let q = 0; q < s; q++) {
          const a = q + s * j1;
          const x0r = xr[a]!, x0i = xi[a]!;
          const x1r = xr[a + sm]!, x1i = xi[a + sm]!;
          const x2r = xr[a + 2 * sm]!, x2i = xi[a + 2 * sm]!;
          const x3r = xr[a + 3 * sm]!, x3i = xi[a + 3 * sm]!;
          const x4r = xr[a + 4 * sm]!, x4i = xi[a + 4 * sm]!;
          const t1r = x1r + x4r, t1i = x1i + x4i;
          const t2r = x2r + x3r, t2i = x2i + x3i;
          const t3r = x1r - x4r, t3i = x1i - x4i;
          const t4r = x2r - x3r, t4i = x2i - x3i;
          const a1r = x0r + c1 * t1r + c2 * t2r, a1i = x0i + c1 * t1i + c2 * t2i;
          const a2r = x0r + c2 * t1r + c1 * t2r, a2i = x0i + c2 * t1i + c1 * t2i;
          const b1r = s1 * t3r + s2 * t4r, b1i = s1 * t3i + s2 * t4i;
          const b2r = s2 * t3r - s1 * t4r, b2i = s2 * t3i - s1 * t4i;
          // X1 = a1 - i·b1, X4 = a1 + i·b1, X2 = a2 - i·b2, X3 = a2 + i·b2
          const y1r = a1r + b1i, y1i = a1i - b1r;
          const y4r = a1r - b1i, y4i = a1i + b1r;
          const y2r = a2r + b2i, y2i = a2i - b2r;
          const y3r = a2r - b2i, y3i = a2i + b2r;
          const o = q + sp * j1;
          yr[o] = x0r + t1r + t2r;
          yi[o] = x0i + t1i + t2i;
          yr[o + s] = y1r * w1r - y1i * w1i;
          yi[o + s] = y1r * w1i + y1i * w1r;
          yr[o + 2 * s] = y2r * w2r - y2i * w2i;
          yi[o + 2 * s] = y2r * w2i + y2i * w2r;
          yr[o + 3 * s] = y3r * w3r - y3i * w3i;
          yi[o + 3 * s] = y3r * w3i + y3i * w3r;
          yr[o + 4 * s] = y4r * w4r - y4i * w4i;
          yi[o + 4 * s] = y4r * w4i + y4i * w4r;
        }
      }
    } else {
      // Generic radix (7 and larger primes): a direct p-point DFT per butterfly.
      const tr = this.tmpRe;
      const ti = this.tmpIm;
      const step = n / p; // ω_p^t = ω_n^{t·n/p}
      for (let j1 = 0; j1 < m; j1++) {
        for (let q = 0; q < s; q++) {
          const a = q + s * j1;
          for (let j2 = 0; j2 < p; j2++) {
            tr[j2] = xr[a + sm * j2]!;
            ti[j2] = xi[a + sm * j2]!;
          }
          const o = q + sp * j1;
          for (let k2 = 0; k2 < p; k2++) {
            let accR = 0;
            let accI = 0;
            for (let j2 = 0; j2 < p; j2++) {
              const t = ((j2 * k2) % p) * step;
              const wr = cos[t]!, wi = sin[t]!;
              const vr = tr[j2]!, vi = ti[j2]!;
              accR += vr * wr - vi * wi;
              accI += vr * wi + vi * wr;
            }
            const t = (j1 * k2 * tw) % n;
            const wr = cos[t]!, wi = sin[t]!;
            yr[o + s * k2] = accR * wr - accI * wi;
            yi[o + s * k2] = accR * wi + accI * wr;
          }
        }
      }
    }
  }
}

/**
 * The one-sided power spectrum |X[k]|², k ≤ n/2, of real frames of length n (the half that
 * torch.stft(onesided=True) returns). An even n packs the frame into a complex sequence of
 * length n/2 (even samples real, odd imaginary), transforms that, and unpacks: half the work.
 */
export class RealFFT {
  readonly n: number;
  readonly bins: number;
  private readonly half: FFT | null;
  private readonly full: FFT | null;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  /** exp(-2πi·k/n) for k ≤ n/2, used to unpack the half-length transform. */
  private readonly wr: Float64Array;
  private readonly wi: Float64Array;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_FFT_LENGTH) {
      throw new StrataError('argument', 'RealFFT', `length must be an integer in [1, ${MAX_FFT_LENGTH}], got ${n}`);
    }
    this.n = n;
    this.bins = (n >> 1) + 1;
    const even = n % 2 === 0;
    this.half = even ? new FFT(n / 2) : null;
    this.full = even ? null : new FFT(n);
    const len = even ? n / 2 : n;
    this.re = new Float64Array(len);
    this.im = new Float64Array(len);
    this.wr = new Float64Array(this.bins);
    this.wi = new Float64Array(this.bins);
    for (let k = 0; k < this.bins; k++) {
      this.wr[k] = Math.cos((2 * Math.PI * k) / n);
      this.wi[k] = -Math.sin((2 * Math.PI * k) / n);
    }
  }

  /** Writes |X[k]|² for k < n/2 + 1 of the real `frame` (length n) into `out`. */
  powerSpectrum(frame: Float64Array, out: Float64Array): void {
    const { n, bins, re, im } = this;
    if (frame.length !== n || out.length < bins) {
      throw new StrataError('shape', 'RealFFT.powerSpectrum', `expected a frame of ${n} and an output of ${bins}, got ${frame.length} and ${out.length}`);
    }
    if (this.full) {
      re.set(frame);
      im.fill(0);
      this.full.forward(re, im);
      for (let k = 0; k < bins; k++) out[k] = re[k]! * re[k]! + im[k]! * im[k]!;
      return;
    }
    const h = n / 2;
    for (let j = 0; j < h; j++) {
      re[j] = frame[2 * j]!;
      im[j] = frame[2 * j + 1]!;
    }
    this.half!.forward(re, im);
    // E[k] = (Z[k] + conj Z[h-k]) / 2 (even samples), O[k] = (Z[k] - conj Z[h-k]) / 2i (odd);
    // X[k] = E[k] + ω_n^k·O[k], with Z[h] = Z[0].
    for (let k = 0; k < bins; k++) {
      const a = k === h ? 0 : k;
      const b = k === 0 ? 0 : h - k;
      const zr = re[a]!, zi = im[a]!;
      const cr = re[b]!, ci = -im[b]!;
      const er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
      // (Z - conj Z')/(2i) = -i/2·(Z - conj Z')
      const dr = zr - cr, di = zi - ci;
      const or = 0.5 * di, oi = -0.5 * dr;
      const xr = er + this.wr[k]! * or - this.wi[k]! * oi;
      const xi = ei + this.wr[k]! * oi + this.wi[k]! * or;
      out[k] = xr * xr + xi * xi;
    }
  }
}
