// The resampler against (1) a float64 numpy implementation of the same Kaiser-windowed sinc
// (scripts/fixtures/audio_wav.py), (2) the analytic answer: a band-limited signal sampled
// directly at 16 kHz, and (3) its stated quality: flat passband, >= 80 dB stopband.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { readWav } from '../../src/io/audio.js';
import { MAX_RESAMPLE_OUTPUT, RESAMPLER_DESIGN, mixToMono, resample, toMono16k } from '../../src/audio/resample.js';
import { FIXTURES_DIR, loadFixture } from '../helpers/fixtures.js';

interface ResampleCase {
  file: string;
  sampleRate: number;
  channels: number;
  outSamples: number;
}

function tone(freq: number, rate: number, n: number, phase = 0, amp = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate + phase);
  return x;
}

/** RMS over [from, to): away from the ends, where the kernel runs off the signal. */
function rms(x: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / (to - from));
}

function db(ratio: number): number {
  return 20 * Math.log10(ratio);
}

test('toMono16k equals the float64 reference of the same method on every fixture file', (t) => {
  const fx = loadFixture('audio/resample');
  const cases = JSON.parse(fx.metadata.cases!) as ResampleCase[];
  assert.equal(Number(fx.metadata.halfWidth), RESAMPLER_DESIGN.halfWidth);
  assert.equal(Number(fx.metadata.beta), RESAMPLER_DESIGN.beta);
  for (const c of cases) {
    const wav = readWav(path.join(FIXTURES_DIR, 'audio', c.file));
    assert.equal(wav.sampleRate, c.sampleRate);
    assert.equal(wav.channels, c.channels);
    const out = toMono16k(wav);
    const expected = fx.tensors[`${c.file}.out`]!.toArray();
    assert.equal(out.length, c.outSamples, c.file);
    let worst = 0;
    for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i]! - expected[i]!));
    t.diagnostic(`${c.file}: ${c.sampleRate} Hz × ${c.channels} → 16 kHz, max |diff| ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5, `${c.file}: max |diff| ${worst} exceeds 1e-5`);
  }
});

test('a band-limited signal resampled equals the same signal sampled at 16 kHz', (t) => {
  // tones up to 0.85 of the lower Nyquist: inside the flat passband
  const parts = [
    { f: 200, a: 0.3, p: 0.1 },
    { f: 1234.5, a: 0.25, p: 1.3 },
    { f: 3000, a: 0.2, p: 2.0 },
  ];
  for (const rate of [8000, 11025, 22050, 32000, 44100, 48000, 44101, 96000]) {
    const top = 0.85 * (Math.min(rate, 16000) / 2);
    const all = [...parts, { f: top, a: 0.15, p: 0.7 }];
    const seconds = 0.5;
    const make = (sr: number): Float32Array => {
      const n = Math.round(sr * seconds);
      const x = new Float32Array(n);
      for (const { f, a, p } of all) {
        const s = tone(f, sr, n, p, a);
        for (let i = 0; i < n; i++) x[i] = x[i]! + s[i]!;
      }
      return x;
    };
    const out = resample(make(rate), rate, 16000);
    const truth = make(16000);
    assert.equal(out.length, Math.ceil((Math.round(rate * seconds) * 16000) / rate));
    // skip the ends, where the kernel runs off the signal (its half-width at the lower rate)
    const margin = Math.ceil((RESAMPLER_DESIGN.halfWidth * 16000) / Math.min(rate, 16000)) + 2;
    let worst = 0;
    for (let i = margin; i < truth.length - margin; i++) worst = Math.max(worst, Math.abs(out[i]! - truth[i]!));
    t.diagnostic(`${rate} Hz → 16 kHz: max |error| ${worst.toExponential(2)} against the analytic signal (peak ≤ 0.9)`);
    assert.ok(worst < 3e-4, `${rate} Hz: max error ${worst}`);
  }
});

test('quality: flat to 0.9 of the lower Nyquist, at least 85 dB down from 1.0 of it', (t) => {
  const n = 16000;
  const report: string[] = [];
  for (const rate of [44100, 48000, 22050, 32000, 44101]) {
    const nyq = 8000;
    for (const frac of [0.2, 0.5, 0.9]) {
      const y = resample(tone(frac * nyq, rate, Math.round((rate * n) / 16000)), rate, 16000);
      const gain = rms(y, 1000, y.length - 1000) / Math.SQRT1_2;
      assert.ok(Math.abs(db(gain)) < 0.002, `${rate} Hz: passband gain at ${frac}·Nyquist is ${db(gain)} dB`);
    }
    let worstStop = -Infinity;
    for (const frac of [1.0025, 1.01, 1.05, 1.2, 1.5, 2.5]) {
      const f = frac * nyq;
      if (f >= rate / 2) continue;
      const y = resample(tone(f, rate, Math.round((rate * n) / 16000)), rate, 16000);
      const level = db(rms(y, 1000, y.length - 1000) / Math.SQRT1_2);
      worstStop = Math.max(worstStop, level);
      assert.ok(level < -RESAMPLER_DESIGN.attenuationDb, `${rate} Hz: a tone at ${f} Hz leaks at ${level.toFixed(1)} dB`);
    }
    report.push(`${rate}: worst stopband leak ${worstStop.toFixed(1)} dB`);
  }
  // upsampling: the image of a 3.5 kHz tone at 4.5 kHz (above the input's Nyquist) is removed
  const up = resample(tone(3500, 8000, 8000), 8000, 16000);
  assert.equal(up.length, 16000);
  const gain = rms(up, 1000, 15000) / Math.SQRT1_2;
  assert.ok(Math.abs(db(gain)) < 0.002, `8 kHz → 16 kHz gain at 3.5 kHz is ${db(gain)} dB`);
  // an image would show as a beat against the pure tone sampled at 16 kHz
  const clean = tone(3500, 16000, 16000);
  let worst = 0;
  for (let i = 1000; i < 15000; i++) worst = Math.max(worst, Math.abs(up[i]! - clean[i]!));
  assert.ok(worst < 3e-4, `8 kHz → 16 kHz near-Nyquist tone error ${worst}`);
  t.diagnostic(report.join('; '));
});

test('exact ratios, lengths, copies and empty input', () => {
  const x = Float32Array.from({ length: 101 }, (_, i) => Math.sin(i / 7));
  const same = resample(x, 16000, 16000);
  assert.deepEqual(same, x);
  assert.notEqual(same, x);
  assert.equal(resample(x, 32000, 16000).length, 51);
  assert.equal(resample(x, 48000, 16000).length, 34);
  assert.equal(resample(x, 44100, 16000).length, Math.ceil((101 * 160) / 441));
  assert.equal(resample(x, 8000, 16000).length, 202);
  assert.equal(resample(new Float32Array(0), 44100, 16000).length, 0);
  assert.equal(toMono16k({ sampleRate: 44100, channels: 2, samples: new Float32Array(0) }).length, 0);
  // 2:1 decimation keeps the sample instants: a DC signal stays DC away from the ends
  const dc = resample(new Float32Array(4000).fill(0.5), 32000, 16000);
  for (let i = 60; i < dc.length - 60; i++) assert.ok(Math.abs(dc[i]! - 0.5) < 1e-4, `dc at ${i}: ${dc[i]}`);
});

test('mixToMono averages the channels of interleaved samples', () => {
  assert.deepEqual(Array.from(mixToMono(Float32Array.from([1, 0, 0.5, -0.5, -1, -1]), 2)), [0.5, 0, -1]);
  assert.deepEqual(Array.from(mixToMono(Float32Array.from([0.25, 0.5, 0.75, 1, 1, 1]), 3)), [0.5, 1]);
  const mono = Float32Array.from([0.1, 0.2]);
  assert.deepEqual(mixToMono(mono, 1), mono);
  assert.throws(() => mixToMono(mono, 0), StrataError);
});

test('bad rates and outputs too large are argument errors, not allocations', () => {
  const x = new Float32Array(10);
  for (const [from, to] of [
    [0, 16000],
    [16000, 0],
    [44100.5, 16000],
    [-8000, 16000],
    [NaN, 16000],
  ] as const) {
    assert.throws(() => resample(x, from, to), (err: unknown) => err instanceof StrataError && err.code === 'argument' && /positive integer number of Hz/.test(err.message));
  }
  // 1 Hz "audio" of 20 000 samples would become 320 million samples at 16 kHz
  assert.throws(
    () => toMono16k({ sampleRate: 1, channels: 1, samples: new Float32Array(20_000) }),
    (err: unknown) => err instanceof StrataError && err.code === 'argument' && err.message.includes(`more than the ${MAX_RESAMPLE_OUTPUT} allowed`),
  );
});

test('timing: 30 s of 44.1 kHz stereo to 16 kHz mono', (t) => {
  const frames = 44100 * 30;
  const samples = new Float32Array(frames * 2);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.sin(i * 0.013) * 0.5;
  toMono16k({ sampleRate: 44100, channels: 2, samples: samples.subarray(0, 44100 * 2) }); // warm up
  const t0 = performance.now();
  const out = toMono16k({ sampleRate: 44100, channels: 2, samples });
  const ms = performance.now() - t0;
  assert.equal(out.length, 480000);
  t.diagnostic(`30 s 44.1 kHz stereo → 16 kHz mono in ${ms.toFixed(0)} ms`);
});
