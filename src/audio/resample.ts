// Band-limited resampling by a Kaiser-windowed sinc, and the mono 16 kHz input Whisper needs.
//
// Output sample n sits at time t = n·from/to input samples; it is Σ_k x[k]·h(t - k), with the
// samples outside the signal taken as 0. The kernel is an ideal low-pass at fc (cycles per input
// sample) times a Kaiser window of half-width T:
//
//   h(τ) = 2·fc·sinc(2·fc·τ) · I0(β·sqrt(1 - (τ/T)²)) / I0(β)   for |τ| < T, else 0.
//
// Quality, in units of the lower of the two Nyquist frequencies (8 kHz when going to 16 kHz):
// flat to 0.9 (7.2 kHz), stopband from 1.0 on, so nothing above the new Nyquist aliases back
// above the stopband level. The cutoff fc = 0.95 sits mid-transition. Kaiser's formulas for
// 86 dB across a 0.1-wide transition give β = 8.52 and about 109 taps at the lower rate; the
// half-width is 56 of those. Measured (test/audio/resample.test.ts): passband ripple within
// ±0.0004 dB, stopband at least 86 dB down (worst just past the edge), for 22.05 to 96 kHz in.
//
// When the ratio to/from reduces to small integers (every common rate: 8k, 11.025k, 22.05k,
// 32k, 44.1k, 48k, 96k ...) the kernel is tabulated once per phase (polyphase); otherwise
// (e.g. 44101 Hz) it is read from a table 512 points a sample, linearly interpolated (error
// below 1e-5 of the peak, i.e. under -100 dB).

import { StrataError } from '../errors.js';
import type { WavAudio } from '../io/audio.js';

/** The resampler's design figures (see the file comment). */
export const RESAMPLER_DESIGN = Object.freeze({
  window: 'kaiser',
  /** Kaiser β for 86 dB: 0.1102·(86 - 8.7). */
  beta: 0.1102 * (86 - 8.7),
  /** Half-width of the kernel, in samples at the lower rate. */
  halfWidth: 56,
  /** Flat up to this fraction of the lower Nyquist frequency. */
  passband: 0.9,
  /** Attenuated from this fraction of the lower Nyquist frequency on. */
  stopband: 1.0,
  /** Stopband attenuation the tests hold it to (designed for 86). */
  attenuationDb: 85,
});

/** Whisper's (and most speech models') input rate. */
export const WHISPER_SAMPLE_RATE = 16000;

/** Largest output, in samples (1 GiB of f32; 4.6 hours at 16 kHz). */
export const MAX_RESAMPLE_OUTPUT = 2 ** 28;

/** Polyphase tables larger than this (entries) switch to the interpolated kernel. */
const MAX_POLYPHASE_ENTRIES = 1 << 20;
/** Points per input sample of the interpolated kernel table. */
const KERNEL_OVERSAMPLE = 512;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The modified Bessel function of the first kind, order 0 (power series; x ≤ ~20 here). */
function besselI0(x: number): number {
  const q = (x * x) / 4;
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 200 && term > sum * 1e-17; k++) {
    term *= q / (k * k);
    sum += term;
  }
  return sum;
}

interface Kernel {
  /** Cutoff in cycles per input sample. */
  fc: number;
  /** Half-width in input samples. */
  halfWidth: number;
  /** h(τ) for τ in input samples. */
  at(tau: number): number;
}

function makeKernel(fromRate: number, toRate: number): Kernel {
  const rho = Math.min(1, toRate / fromRate); // lower rate / input rate
  const fc = 0.5 * rho * ((RESAMPLER_DESIGN.passband + RESAMPLER_DESIGN.stopband) / 2);
  const halfWidth = RESAMPLER_DESIGN.halfWidth / rho;
  const beta = RESAMPLER_DESIGN.beta;
  const norm = 1 / besselI0(beta);
  return {
    fc,
    halfWidth,
    at(tau: number): number {
      const u = tau / halfWidth;
      if (!(Math.abs(u) < 1)) return 0;
      const x = 2 * fc * tau;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      return 2 * fc * sinc * besselI0(beta * Math.sqrt(1 - u * u)) * norm;
    },
  };
}

/** Number of output samples: ceil(frames·to/from), exactly (the product may pass 2^53). */
function outputLength(frames: number, fromRate: number, toRate: number): number {
  const num = BigInt(frames) * BigInt(toRate);
  const den = BigInt(fromRate);
  const n = (num + den - 1n) / den;
  if (n > BigInt(MAX_RESAMPLE_OUTPUT)) {
    throw new StrataError(
      'argument',
      'resample',
      `${frames} samples at ${fromRate} Hz would become ${n} samples at ${toRate} Hz, more than the ${MAX_RESAMPLE_OUTPUT} allowed`,
    );
  }
  return Number(n);
}

function checkRate(rate: number, name: string): void {
  if (!Number.isInteger(rate) || rate < 1 || rate > 0xffffffff) {
    throw new StrataError('argument', 'resample', `${name} must be a positive integer number of Hz, got ${rate}`);
  }
}

/**
 * Resamples one channel from `fromRate` to `toRate` Hz with the band-limited Kaiser-windowed
 * sinc above (see RESAMPLER_DESIGN). The result has ceil(n·to/from) samples; sample n is the
 * signal at time n/toRate seconds. Equal rates return a copy.
 */
export function resample(samples: Float32Array, fromRate: number, toRate: number): Float32Array {
  checkRate(fromRate, 'fromRate');
  checkRate(toRate, 'toRate');
  if (fromRate === toRate) return samples.slice();
  const frames = samples.length;
  const outLen = outputLength(frames, fromRate, toRate);
  const out = new Float32Array(outLen);
  if (outLen === 0) return out;
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  const kernel = makeKernel(fromRate, toRate);
  // Taps reach D input samples either side of floor(t): τ = t - k lies in (-T, T).
  const D = Math.ceil(kernel.halfWidth);
  const width = 2 * D + 1;
  const downQ = Math.floor(down / up);
  const downR = down % up;
  if (up * width <= MAX_POLYPHASE_ENTRIES) {
    // table[r·width + j] = h(D - j + r/up): the taps for output phase r, input k = i - D + j.
    const table = new Float64Array(up * width);
    for (let r = 0; r < up; r++) {
      for (let j = 0; j < width; j++) table[r * width + j] = kernel.at(D - j + r / up);
    }
    let i = 0; // floor(n·down/up)
    let r = 0; // n·down mod up
    for (let n = 0; n < outLen; n++) {
      const k0 = i - D;
      const jStart = Math.max(0, -k0);
      const jEnd = Math.min(width, frames - k0);
      const base = r * width;
      let acc = 0;
      for (let j = jStart; j < jEnd; j++) acc += samples[k0 + j]! * table[base + j]!;
      out[n] = acc;
      i += downQ;
      r += downR;
      if (r >= up) {
        r -= up;
        i += 1;
      }
    }
    return out;
  }
  // Interpolated kernel: grid[m] = h(m / KERNEL_OVERSAMPLE) for m ≥ 0 (h is even).
  const gridLen = Math.ceil(kernel.halfWidth * KERNEL_OVERSAMPLE) + 2;
  const grid = new Float64Array(gridLen);
  for (let m = 0; m < gridLen; m++) grid[m] = kernel.at(m / KERNEL_OVERSAMPLE);
  const T = kernel.halfWidth;
  let i = 0;
  let r = 0;
  for (let n = 0; n < outLen; n++) {
    const frac = r / up;
    const kStart = Math.max(0, i - D);
    const kEnd = Math.min(frames, i + D + 1);
    let acc = 0;
    for (let k = kStart; k < kEnd; k++) {
      const tau = Math.abs(i - k + frac);
      if (tau >= T) continue;
      const pos = tau * KERNEL_OVERSAMPLE;
      const m = Math.floor(pos);
      const w = pos - m;
      acc += samples[k]! * (grid[m]! + w * (grid[m + 1]! - grid[m]!));
    }
    out[n] = acc;
    i += downQ;
    r += downR;
    if (r >= up) {
      r -= up;
      i += 1;
    }
  }
  return out;
}

/** The average of the channels of interleaved audio: one sample per frame. */
export function mixToMono(samples: Float32Array, channels: number): Float32Array {
  if (!Number.isInteger(channels) || channels < 1) {
    throw new StrataError('argument', 'mixToMono', `channels must be a positive integer, got ${channels}`);
  }
  if (channels === 1) return samples.slice();
  const frames = Math.floor(samples.length / channels);
  const out = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    let acc = 0;
    for (let c = 0; c < channels; c++) acc += samples[f * channels + c]!;
    out[f] = acc / channels;
  }
  return out;
}

/**
 * Whisper's input from decoded WAV: the channel average, resampled to 16 kHz. The result is
 * empty for empty audio (the log-mel front end then refuses it with a clear error).
 */
export function toMono16k(wav: Pick<WavAudio, 'sampleRate' | 'channels' | 'samples'>): Float32Array {
  const mono = mixToMono(wav.samples, wav.channels);
  return resample(mono, wav.sampleRate, WHISPER_SAMPLE_RATE);
}
