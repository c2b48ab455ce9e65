// Whisper's log-mel front end, by its reference definition (openai/whisper audio.py and the
// Hugging Face WhisperFeatureExtractor compute the same thing):
//
//   1. pad with zeros / trim to `chunkSeconds` (30 s = 480000 samples at 16 kHz), unless disabled;
//   2. STFT, centered: reflect-pad n_fft/2 each side, frames every `hop` samples, periodic Hann
//      window of n_fft, one-sided; power |X|²; the last frame dropped (so 480000 → 3000 frames);
//   3. Slaney mel filterbank (librosa.filters.mel(sr=16000, n_fft, n_mels, htk=False,
//      norm='slaney'), in float32 as librosa returns it) times the power spectrum;
//   4. log10(max(mel, 1e-10)); clamp below at (global max - 8); then (x + 4) / 4.
//
// Letters: M mel bins, F one-sided frequency bins (n_fft/2 + 1), T frames.
// The STFT and the mel product run in float64, the logs are stored as f32: within ~1e-7 of the
// exact definition, where PyTorch's own float32 path is up to ~3e-5 from it on the test signals
// (test/audio/mel.test.ts reports both).

import { StrataError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { RealFFT } from './fft.js';
import { WHISPER_SAMPLE_RATE } from './resample.js';

export interface LogMelOptions {
  /** Mel bins: 80 (Whisper tiny … large-v2) or 128 (large-v3); any count in [1, 512] works. */
  readonly nMels: number;
  /** FFT and window size; Whisper uses 400 (25 ms). */
  readonly nFft?: number;
  /** Frame step; Whisper uses 160 (10 ms). */
  readonly hop?: number;
  /**
   * Pad with zeros or trim the audio to this many seconds before the STFT (Whisper: 30, giving
   * 3000 frames); `null` keeps the audio as it is (frames = floor(samples / hop)).
   */
  readonly chunkSeconds?: number | null;
}

export interface MelFilterOptions {
  readonly nMels: number;
  readonly nFft: number;
  readonly sampleRate?: number;
  readonly fMin?: number;
  /** Defaults to sampleRate / 2. */
  readonly fMax?: number;
}

// Slaney's mel scale (librosa htk=False): linear below 1 kHz, logarithmic above.
const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOG_STEP = Math.log(6.4) / 27;

export function hzToMelSlaney(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOG_STEP : hz / F_SP;
}

export function melToHzSlaney(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (mel - MIN_LOG_MEL)) : F_SP * mel;
}

/**
 * The Slaney-normalized triangular mel filterbank, row-major (M, F) with F = nFft/2 + 1,
 * rounded to float32 like librosa.filters.mel(..., htk=False, norm='slaney').
 */
export function melFilterbank(options: MelFilterOptions): Float32Array {
  const { nMels, nFft } = options;
  const sampleRate = options.sampleRate ?? WHISPER_SAMPLE_RATE;
  const fMin = options.fMin ?? 0;
  const fMax = options.fMax ?? sampleRate / 2;
  if (!Number.isInteger(nMels) || nMels < 1 || !Number.isInteger(nFft) || nFft < 2 || !(sampleRate > 0) || !(fMin >= 0 && fMax > fMin)) {
    throw new StrataError('argument', 'melFilterbank', `bad options: nMels ${nMels}, nFft ${nFft}, sampleRate ${sampleRate}, fMin ${fMin}, fMax ${fMax}`);
  }
  const nFreqs = (nFft >> 1) + 1;
  // M + 2 band edges evenly spaced in mel between fMin and fMax
  const melMin = hzToMelSlaney(fMin);
  const melMax = hzToMelSlaney(fMax);
  const edges = new Float64Array(nMels + 2);
  for (let i = 0; i < nMels + 2; i++) edges[i] = melToHzSlaney(melMin + ((melMax - melMin) * i) / (nMels + 1));
  const out = new Float32Array(nMels * nFreqs);
  for (let m = 0; m < nMels; m++) {
    const lo = edges[m]!, mid = edges[m + 1]!, hi = edges[m + 2]!;
    const norm = 2 / (hi - lo); // Slaney: equal area per band
    for (let k = 0; k < nFreqs; k++) {
      const f = (k * sampleRate) / nFft;
      const rising = (f - lo) / (mid - lo);
      const falling = (hi - f) / (hi - mid);
      // librosa stores the triangle in float32, then scales it (rounding twice); so do we
      const w = Math.fround(Math.max(0, Math.min(rising, falling)));
      out[m * nFreqs + k] = w * norm;
    }
  }
  return out;
}

/** The periodic Hann window (torch.hann_window(n), periodic=True): 0.5 - 0.5·cos(2πi/n). */
export function hannWindow(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/** Each filter's nonzero span [start, end) and weights, so the product skips the zeros. */
interface SparseFilters {
  starts: Int32Array;
  ends: Int32Array;
  weights: Float64Array; // (M, F), as float32 values
  nFreqs: number;
}

const filterCache = new Map<string, SparseFilters>();

function sparseFilters(nMels: number, nFft: number): SparseFilters {
  const key = `${nMels}/${nFft}`;
  const hit = filterCache.get(key);
  if (hit) return hit;
  const dense = melFilterbank({ nMels, nFft });
  const nFreqs = (nFft >> 1) + 1;
  const starts = new Int32Array(nMels);
  const ends = new Int32Array(nMels);
  for (let m = 0; m < nMels; m++) {
    let s = 0;
    while (s < nFreqs && dense[m * nFreqs + s] === 0) s++;
    let e = nFreqs;
    while (e > s && dense[m * nFreqs + e - 1] === 0) e--;
    starts[m] = s;
    ends[m] = e;
  }
  const built = { starts, ends, weights: Float64Array.from(dense), nFreqs };
  filterCache.set(key, built);
  return built;
}

function checkPositiveInt(value: number, name: string, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new StrataError('argument', 'logMelSpectrogram', `${name} must be an integer in [1, ${max}], got ${value}`);
  }
}

/**
 * Whisper's log-mel spectrogram of 16 kHz mono audio: an f32 tensor (nMels, frames). With the
 * default 30 s chunk the audio is zero-padded or trimmed to 480000 samples and frames = 3000;
 * with `chunkSeconds: null`, frames = floor(samples / hop) and the audio needs more than
 * nFft/2 samples (the reflect padding mirrors that many). Empty audio is an error.
 */
export function logMelSpectrogram(samples16k: Float32Array, options: LogMelOptions): Tensor {
  const op = 'logMelSpectrogram';
  const nMels = options.nMels;
  const nFft = options.nFft ?? 400;
  const hop = options.hop ?? 160;
  const chunkSeconds = options.chunkSeconds === undefined ? 30 : options.chunkSeconds;
  checkPositiveInt(nMels, 'nMels', 512);
  checkPositiveInt(nFft, 'nFft', 1 << 16);
  checkPositiveInt(hop, 'hop', 1 << 16);
  if (nFft % 2 !== 0) throw new StrataError('argument', op, `nFft must be even, got ${nFft}`);
  if (samples16k.length === 0) throw new StrataError('argument', op, 'no samples: the audio is empty (zero-length)');

  let length = samples16k.length;
  if (chunkSeconds !== null) {
    if (!(chunkSeconds > 0) || !Number.isInteger(chunkSeconds * WHISPER_SAMPLE_RATE) || chunkSeconds > 3600) {
      throw new StrataError('argument', op, `chunkSeconds must be null or a positive number of seconds ≤ 3600 that is a whole number of 16 kHz samples, got ${chunkSeconds}`);
    }
    length = chunkSeconds * WHISPER_SAMPLE_RATE;
  }
  const pad = nFft / 2;
  if (length <= pad) {
    throw new StrataError('argument', op, `${length} samples are too few for a centered STFT of ${nFft}: it needs more than ${pad} (or a chunkSeconds window)`);
  }
  const frames = Math.floor(length / hop); // 1 + floor(length / hop) frames, the last dropped
  if (frames === 0) throw new StrataError('argument', op, `${length} samples give no frame at hop ${hop}`);

  // x(i) for i in [-pad, length + pad): the (padded or trimmed) audio, reflected at both ends.
  const used = Math.min(samples16k.length, length);
  for (let i = 0; i < used; i++) {
    if (!Number.isFinite(samples16k[i]!)) throw new StrataError('numeric', op, `sample ${i} is ${samples16k[i]}; audio must be finite`);
  }
  const padded = new Float32Array(length + 2 * pad);
  for (let i = 0; i < used; i++) padded[pad + i] = samples16k[i]!;
  for (let i = 1; i <= pad; i++) {
    padded[pad - i] = padded[pad + i]!;
    padded[pad + length - 1 + i] = padded[pad + length - 1 - i]!;
  }

  const window = hannWindow(nFft);
  const plan = new RealFFT(nFft);
  const { starts, ends, weights, nFreqs } = sparseFilters(nMels, nFft);
  const frame = new Float64Array(nFft);
  const power = new Float64Array(nFreqs);
  const out = new Float32Array(nMels * frames); // (M, T): log10 first, normalized in place below
  let maxLog = -Infinity;
  for (let t = 0; t < frames; t++) {
    const start = t * hop;
    for (let i = 0; i < nFft; i++) frame[i] = padded[start + i]! * window[i]!;
    plan.powerSpectrum(frame, power); // (F,)
    for (let m = 0; m < nMels; m++) {
      let acc = 0;
      const row = m * nFreqs;
      for (let k = starts[m]!; k < ends[m]!; k++) acc += weights[row + k]! * power[k]!;
      const v = Math.log10(Math.max(acc, 1e-10));
      out[m * frames + t] = v;
      if (v > maxLog) maxLog = v;
    }
  }
  const floor = maxLog - 8;
  for (let i = 0; i < out.length; i++) out[i] = (Math.max(out[i]!, floor) + 4) / 4;
  return new Tensor(out, 'f32', [nMels, frames]);
}
