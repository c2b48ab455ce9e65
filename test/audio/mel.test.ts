// Whisper's log-mel front end, stage by stage against scripts/fixtures/audio_mel.py: the Slaney
// filterbank, then whole spectrograms of WAV inputs (read through readWav) for 80 and 128 mel
// bins, with and without the 30 s window; its errors; and the time a full 30 s window takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { readWav } from '../../src/io/audio.js';
import { hannWindow, hzToMelSlaney, logMelSpectrogram, melFilterbank, melToHzSlaney } from '../../src/audio/mel.js';
import { FIXTURES_DIR, loadFixture } from '../helpers/fixtures.js';

interface MelCase {
  name: string;
  signal: string;
  samples: number;
  nMels: number;
  chunkSeconds: number | null;
  frames: number;
  head?: number;
  float32_vs_float64: number;
}

const TOLERANCE = 1e-4;
const fx = loadFixture('audio/mel');
const cases = JSON.parse(fx.metadata.cases!) as MelCase[];

function signal(name: string): Float32Array {
  const w = readWav(path.join(FIXTURES_DIR, 'audio', `mel-${name}.wav`));
  assert.equal(w.sampleRate, 16000);
  assert.equal(w.channels, 1);
  return w.samples;
}

function assertArgumentError(fn: () => unknown, pattern: RegExp, code = 'argument'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, /^logMelSpectrogram: /);
    assert.match(err.message, pattern);
    return true;
  });
}

test('Slaney mel scale: the values librosa documents', () => {
  assert.ok(Math.abs(hzToMelSlaney(60) - 0.9) < 1e-12);
  assert.deepEqual([110, 220, 440].map((f) => Number(hzToMelSlaney(f).toFixed(12))), [1.65, 3.3, 6.6]);
  assert.ok(Math.abs(melToHzSlaney(3) - 200) < 1e-9);
  assert.ok(Math.abs(hzToMelSlaney(1000) - 15) < 1e-12);
  for (const hz of [0, 500, 999.9, 1000, 4000, 8000]) assert.ok(Math.abs(melToHzSlaney(hzToMelSlaney(hz)) - hz) < 1e-9, `round trip at ${hz} Hz`);
});

test('the mel filterbank equals the reference (librosa.filters.mel, slaney) for 80 bins', (t) => {
  const ours = melFilterbank({ nMels: 80, nFft: 400 });
  const ref = fx.tensors['filters.n80']!;
  assert.deepEqual(ref.shape, [80, 201]);
  const expected = ref.toArray();
  let worst = 0;
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - expected[i]!));
  t.diagnostic(`filters (80, 201): max |diff| ${worst.toExponential(2)}`);
  assert.ok(worst <= 1e-7, `filterbank differs by ${worst}`);
  // 128 bins (large-v3): no band falls between two FFT bins and comes out empty
  const wide = melFilterbank({ nMels: 128, nFft: 400 });
  for (let m = 0; m < 128; m++) {
    let peak = 0;
    for (let k = 0; k < 201; k++) peak = Math.max(peak, wide[m * 201 + k]!);
    assert.ok(peak > 0, `128-bin filter ${m} is empty`);
  }
});

test('the periodic Hann window', () => {
  const w = hannWindow(400);
  assert.equal(w[0], 0);
  assert.ok(Math.abs(w[200]! - 1) < 1e-15);
  assert.ok(Math.abs(w[100]! - 0.5) < 1e-15);
  assert.ok(Math.abs(w[399]! - w[1]!) < 1e-15); // periodic: symmetric about n/2, not (n-1)/2
});

test(`log-mel spectrograms equal the PyTorch reference within ${TOLERANCE}`, (t) => {
  assert.ok(cases.length >= 5);
  for (const c of cases) {
    const x = signal(c.signal).subarray(0, c.samples);
    assert.equal(x.length, c.samples, c.name);
    const mel = logMelSpectrogram(x, { nMels: c.nMels, chunkSeconds: c.chunkSeconds });
    assert.deepEqual(mel.shape, [c.nMels, c.frames], c.name);
    assert.equal(mel.dtype, 'f32');
    const ours = mel.toArray();
    const T = c.frames;
    let worst = 0;
    if (c.head !== undefined) {
      const head = fx.tensors[`${c.name}.head`]!.toArray();
      const tail = fx.tensors[`${c.name}.tail`]!.toArray()[0]!;
      for (let m = 0; m < c.nMels; m++) {
        for (let f = 0; f < T; f++) {
          const expected = f < c.head ? head[m * c.head + f]! : tail;
          worst = Math.max(worst, Math.abs(ours[m * T + f]! - expected));
        }
      }
    } else {
      const full = fx.tensors[`${c.name}.full`]!.toArray();
      for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - full[i]!));
    }
    t.diagnostic(
      `${c.name} (${c.nMels}, ${T}): max |diff| ${worst.toExponential(2)} vs the float64 reference ` +
        `(PyTorch's float32 path is ${c.float32_vs_float64.toExponential(2)} from it)`,
    );
    assert.ok(worst <= TOLERANCE, `${c.name}: max |diff| ${worst} exceeds ${TOLERANCE}`);
  }
});

test('the 30 s window: padding, trimming, and the frame count', () => {
  const x = signal('tones');
  const short = logMelSpectrogram(x, { nMels: 80 });
  assert.deepEqual(short.shape, [80, 3000]);
  // 40 s of audio is trimmed to its first 30 s: equal to the spectrogram of those 30 s
  const long = new Float32Array(16000 * 40);
  for (let i = 0; i < long.length; i++) long[i] = 0.2 * Math.sin(i * 0.05) * Math.sin(i * 1e-4);
  const trimmed = logMelSpectrogram(long, { nMels: 80 });
  assert.deepEqual(trimmed.shape, [80, 3000]);
  assert.deepEqual(trimmed.toArray(), logMelSpectrogram(long.subarray(0, 480000), { nMels: 80 }).toArray());
  // no window: floor(samples / hop) frames; other window lengths
  assert.deepEqual(logMelSpectrogram(x, { nMels: 128, chunkSeconds: null }).shape, [128, 100]);
  assert.deepEqual(logMelSpectrogram(x.subarray(0, 1759), { nMels: 80, chunkSeconds: null }).shape, [80, 10]);
  assert.deepEqual(logMelSpectrogram(x, { nMels: 80, chunkSeconds: 10 }).shape, [80, 1000]);
  // silence: every value is log10(1e-10) = -10, which is also the max, so (-10 + 4) / 4
  const silent = logMelSpectrogram(new Float32Array(1000), { nMels: 80 }).toArray();
  assert.ok(silent.every((v) => v === -1.5));
  // the dynamic range is clamped to 8 decades below the loudest value
  const values = short.toArray();
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.ok(Math.abs(hi - lo - 2) < 1e-6, `range ${hi - lo}, expected 8 / 4 = 2`);
});

test('bad input: empty, too short, non-finite, bad options', () => {
  assertArgumentError(() => logMelSpectrogram(new Float32Array(0), { nMels: 80 }), /no samples: the audio is empty \(zero-length\)/);
  assertArgumentError(() => logMelSpectrogram(new Float32Array(200), { nMels: 80, chunkSeconds: null }), /200 samples are too few for a centered STFT of 400: it needs more than 200/);
  assert.deepEqual(logMelSpectrogram(new Float32Array(201), { nMels: 80, chunkSeconds: null }).shape, [80, 1]);
  const nan = new Float32Array(1000);
  nan[321] = NaN;
  assertArgumentError(() => logMelSpectrogram(nan, { nMels: 80 }), /sample 321 is NaN; audio must be finite/, 'numeric');
  nan[321] = Infinity;
  assertArgumentError(() => logMelSpectrogram(nan, { nMels: 80 }), /sample 321 is Infinity/, 'numeric');
  const x = new Float32Array(1000);
  assertArgumentError(() => logMelSpectrogram(x, { nMels: 0 }), /nMels must be an integer in \[1, 512\], got 0/);
  assertArgumentError(() => logMelSpectrogram(x, { nMels: 80.5 }), /nMels must be an integer/);
  assertArgumentError(() => logMelSpectrogram(x, { nMels: 80, nFft: 401 }), /nFft must be even, got 401/);
  assertArgumentError(() => logMelSpectrogram(x, { nMels: 80, hop: 0 }), /hop must be an integer/);
  assertArgumentError(() => logMelSpectrogram(x, { nMels: 80, chunkSeconds: -1 }), /chunkSeconds must be null or/);
  assertArgumentError(() => logMelSpectrogram(x, { nMels: 80, chunkSeconds: 1e9 }), /chunkSeconds must be null or/);
});

test('timing: a full 30 s window, 80 and 128 mel bins', (t) => {
  const x = new Float32Array(480000);
  for (let i = 0; i < x.length; i++) x[i] = 0.3 * Math.sin(i * 0.05 + 1e-5 * i * i * 1e-3);
  logMelSpectrogram(x.subarray(0, 32000), { nMels: 80, chunkSeconds: null }); // warm up the JIT
  const times: string[] = [];
  for (const nMels of [80, 128]) {
    const t0 = performance.now();
    const mel = logMelSpectrogram(x, { nMels });
    const ms = performance.now() - t0;
    assert.deepEqual(mel.shape, [nMels, 3000]);
    times.push(`${nMels} bins ${ms.toFixed(0)} ms`);
    // generous, for a loaded machine; the figure is in the diagnostic
    assert.ok(ms < 5000, `a 30 s window took ${ms} ms`);
  }
  t.diagnostic(`30 s window (480000 samples → 3000 frames): ${times.join(', ')}`);
});
