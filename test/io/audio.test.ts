// The WAV reader: every encoding against the samples scripts/fixtures/audio_wav.py expects, and
// hostile input (wrong magic, truncation, absurd header values, unsupported encodings, mutated
// bytes), which must end in a StrataError, never a crash or an allocation beyond the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { readWav } from '../../src/io/audio.js';
import { FIXTURES_DIR, loadFixture } from '../helpers/fixtures.js';

const AUDIO_DIR = path.join(FIXTURES_DIR, 'audio');

interface FileFacts {
  file: string;
  sampleRate: number;
  channels: number;
  frames: number;
  encoding: 'pcm' | 'float';
  bitsPerSample: number;
  formatTag: number;
}

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function u16(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff];
}

function ascii(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0));
}

function chunk(id: string, body: ArrayLike<number>, declared?: number): number[] {
  const bytes = Array.from(body);
  return [...ascii(id), ...u32(declared ?? bytes.length), ...bytes, ...(bytes.length % 2 ? [0] : [])];
}

interface FmtFields {
  tag?: number;
  channels?: number;
  rate?: number;
  bits?: number;
  align?: number;
  extra?: number[];
}

function fmtBody(f: FmtFields = {}): number[] {
  const channels = f.channels ?? 1;
  const bits = f.bits ?? 16;
  const rate = f.rate ?? 16000;
  const align = f.align ?? (channels * bits) / 8;
  return [...u16(f.tag ?? 1), ...u16(channels), ...u32(rate), ...u32(rate * align), ...u16(align), ...u16(bits), ...(f.extra ?? [])];
}

const GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

function extensibleExtra(subtag: number, valid = 16, guidTail = GUID_TAIL): number[] {
  return [...u16(22), ...u16(valid), ...u32(0x4), ...u16(subtag), ...guidTail];
}

function wav(chunks: number[][], riffSize?: number): Uint8Array {
  const body = [...ascii('WAVE'), ...chunks.flat()];
  return Uint8Array.from([...ascii('RIFF'), ...u32(riffSize ?? body.length), ...body]);
}

/** Mono 16-bit PCM with the given sample values. */
function pcm16(values: number[], fmt: FmtFields = {}): Uint8Array {
  return wav([chunk('fmt ', fmtBody(fmt)), chunk('data', values.flatMap((v) => u16(v & 0xffff)))]);
}

function assertWavError(fn: () => unknown, code: 'io' | 'unsupported', pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

test('every fixture encoding decodes to the expected samples, from a path and from bytes', () => {
  const fx = loadFixture('audio/wav');
  const files = JSON.parse(fx.metadata.files!) as FileFacts[];
  assert.equal(files.length, 8);
  for (const facts of files) {
    const file = path.join(AUDIO_DIR, facts.file);
    const raw = fs.readFileSync(file);
    // a copy at an odd byte offset: nothing may assume alignment
    const shifted = new Uint8Array(raw.byteLength + 1).subarray(1);
    shifted.set(raw);
    for (const input of [file, shifted]) {
      const w = readWav(input);
      assert.equal(w.sampleRate, facts.sampleRate, facts.file);
      assert.equal(w.channels, facts.channels, facts.file);
      assert.equal(w.frames, facts.frames, facts.file);
      assert.equal(w.format.encoding, facts.encoding, facts.file);
      assert.equal(w.format.bitsPerSample, facts.bitsPerSample, facts.file);
      assert.equal(w.format.formatTag, facts.formatTag, facts.file);
      assert.deepEqual(Array.from(w.samples), Array.from(fx.tensors[`${facts.file}.samples`]!.toArray()), facts.file);
    }
  }
  const ext = readWav(path.join(AUDIO_DIR, 'wav-ext-pcm24.wav'));
  assert.equal(ext.format.validBitsPerSample, 20);
  assert.equal(ext.format.channelMask, 3);
  // 8-bit is unsigned around 128; the extremes land on -1 and 127/128
  const u8 = readWav(path.join(AUDIO_DIR, 'wav-pcm8.wav'));
  assert.equal(u8.samples[0], -1);
  assert.equal(u8.samples[1], 127 / 128);
});

test('hand-built files: odd-sized chunks before fmt, data before fmt, untrusted RIFF size, partial frames', () => {
  const samples = [0, 16384, -32768, 32767];
  const expected = samples.map((v) => v / 32768);
  const odd = chunk('abcd', [1, 2, 3]); // 3 bytes + pad
  for (const bytes of [
    wav([odd, chunk('fmt ', fmtBody()), chunk('data', samples.flatMap((v) => u16(v & 0xffff)))]),
    wav([chunk('data', samples.flatMap((v) => u16(v & 0xffff))), chunk('fmt ', fmtBody())]),
    wav([chunk('fmt ', fmtBody()), chunk('data', samples.flatMap((v) => u16(v & 0xffff)))], 0),
    wav([chunk('fmt ', fmtBody()), chunk('data', samples.flatMap((v) => u16(v & 0xffff)))], 0xffffffff),
  ]) {
    assert.deepEqual(Array.from(readWav(bytes).samples), expected);
  }
  // a data chunk of 9 bytes in 16-bit stereo: two whole frames, the rest ignored
  const partial = wav([chunk('fmt ', fmtBody({ channels: 2 })), chunk('data', [0, 64, 0, 192, 1, 0, 255, 255, 7])]);
  const w = readWav(partial);
  assert.equal(w.frames, 2);
  assert.deepEqual(Array.from(w.samples), [0.5, -0.5, 1 / 32768, -1 / 32768]);
});

test('zero-length audio reads as an empty result', () => {
  for (const bytes of [pcm16([]), wav([chunk('fmt ', fmtBody({ channels: 2 })), chunk('data', [1])])]) {
    const w = readWav(bytes);
    assert.equal(w.frames, 0);
    assert.equal(w.samples.length, 0);
  }
});

test('not a WAV file, or too short for one', () => {
  assertWavError(() => readWav(new Uint8Array(0)), 'io', /0 bytes is too short/);
  assertWavError(() => readWav(Uint8Array.from(ascii('RIFF\x00\x00'))), 'io', /too short/);
  assertWavError(() => readWav(Uint8Array.from(ascii('OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00'))), 'io', /not a WAV file: starts with 'OggS'/);
  assertWavError(() => readWav(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, ...new Array(20).fill(0)])), 'io', /not a WAV file: starts with '\\xff\\xd8\\xff\\xe0'/);
  assertWavError(() => readWav(Uint8Array.from([...ascii('RIFF'), ...u32(4), ...ascii('AVI ')])), 'io', /form 'AVI ', expected 'WAVE'/);
  assertWavError(() => readWav(Uint8Array.from([...ascii('RIFX'), ...u32(4), ...ascii('WAVE')])), 'unsupported', /'RIFX' files are not supported/);
  assertWavError(() => readWav(Uint8Array.from([...ascii('RF64'), ...u32(4), ...ascii('WAVE')])), 'unsupported', /'RF64'/);
  assertWavError(() => readWav(wav([])), 'io', /no fmt chunk/);
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody())])), 'io', /no data chunk/);
  assertWavError(() => readWav(wav([chunk('data', [0, 0])])), 'io', /no fmt chunk/);
});

test('unsupported encodings name their format tag', () => {
  const cases: [FmtFields, RegExp][] = [
    [{ tag: 6, bits: 8 }, /format tag 0x0006 \(A-law\) is not supported/],
    [{ tag: 7, bits: 8 }, /format tag 0x0007 \(µ-law\) is not supported/],
    [{ tag: 2, bits: 4, align: 256, extra: [...u16(0)] }, /format tag 0x0002 \(Microsoft ADPCM\)/],
    [{ tag: 0x11, bits: 4, align: 256 }, /format tag 0x0011 \(IMA ADPCM\)/],
    [{ tag: 0x55, bits: 0, align: 1 }, /format tag 0x0055 \(MPEG layer 3\)/],
    [{ tag: 0x1234 }, /format tag 0x1234 is not supported; Strata reads PCM integer \(0x0001\) and IEEE float \(0x0003\)/],
    [{ tag: 0xfffe, extra: extensibleExtra(7) }, /WAVE_FORMAT_EXTENSIBLE subformat 0x0007 \(µ-law\)/],
    [{ tag: 0xfffe, extra: extensibleExtra(1, 16, [...GUID_TAIL.slice(0, 13), 0]) }, /non-standard subformat GUID/],
    [{ bits: 12, align: 2 }, /PCM with 12 bits per sample/],
    [{ tag: 3, bits: 16 }, /IEEE float with 16 bits per sample/],
  ];
  for (const [fmt, pattern] of cases) {
    assertWavError(() => readWav(wav([chunk('fmt ', fmtBody(fmt)), chunk('data', [0, 0, 0, 0])])), 'unsupported', pattern);
  }
});

test('absurd header values', () => {
  const data = chunk('data', [0, 0, 0, 0]);
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody({ channels: 0, align: 0 })), data])), 'io', /0 channels/);
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody({ rate: 0 })), data])), 'io', /sample rate of 0 Hz/);
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody({ channels: 2, align: 2 })), data])), 'io', /block align 2 does not match 2 channel\(s\) × 2 bytes = 4/);
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody().slice(0, 14)), data])), 'io', /fmt chunk is 14 bytes; it needs at least 16/);
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody({ tag: 0xfffe, extra: [...u16(0)] })), data])), 'io', /EXTENSIBLE fmt chunk is 18 bytes; it needs 40/);
  const shortCb = [...u16(10), ...extensibleExtra(1).slice(2)];
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody({ tag: 0xfffe, extra: shortCb })), data])), 'io', /cbSize 10; it needs 22/);
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody({ tag: 0xfffe, extra: extensibleExtra(1, 24) })), data])), 'io', /24 valid bits do not fit a 16-bit container/);
  // a chunk that claims more than the file holds (before fmt and data are both found)
  assertWavError(() => readWav(wav([chunk('LIST', [1, 2], 1_000_000), chunk('fmt ', fmtBody()), data])), 'io', /chunk 'LIST' at byte 12 declares 1000000 bytes but only \d+ remain/);
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody(), 0xffffffff)])), 'io', /chunk 'fmt ' at byte 12 declares 4294967295 bytes/);
  assertWavError(() => readWav(wav([data, data, chunk('fmt ', fmtBody())])), 'io', /a second data chunk at byte 24/);
  assertWavError(() => readWav(wav([chunk('fmt ', fmtBody()), chunk('fmt ', fmtBody()), data])), 'io', /a second fmt chunk/);
});

test('a truncated data chunk is an error, or decodes the whole frames present when asked', () => {
  // stereo 16-bit: declares 4000 bytes, holds 10 (two whole frames and a half)
  const bytes = wav([chunk('fmt ', fmtBody({ channels: 2 })), chunk('data', [0, 64, 0, 192, 0, 32, 0, 224, 9, 9], 4000)]);
  assertWavError(() => readWav(bytes), 'io', /data chunk declares 4000 bytes but only 10 remain \(file truncated\?\); pass \{ truncated: 'read' \}/);
  const w = readWav(bytes, { truncated: 'read' });
  assert.equal(w.frames, 2);
  assert.deepEqual(Array.from(w.samples), [0.5, -0.5, 0.25, -0.25]);
  // a streaming writer's 0xFFFFFFFF placeholder: nothing is allocated for the 4 GiB it declares
  const streamed = wav([chunk('fmt ', fmtBody()), chunk('data', [0, 64], 0xffffffff)]);
  assertWavError(() => readWav(streamed), 'io', /declares 4294967295 bytes but only 2 remain/);
  assert.deepEqual(Array.from(readWav(streamed, { truncated: 'read' }).samples), [0.5]);
  // the same file cut off mid-header of the data chunk
  const cut = pcm16([1, 2, 3]);
  assertWavError(() => readWav(cut.subarray(0, 40)), 'io', /no data chunk/);
});

test('paths: a missing file and a directory are io errors that name the path', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-wav-'));
  try {
    const missing = path.join(dir, 'missing.wav');
    assertWavError(() => readWav(missing), 'io', /missing\.wav: cannot read/);
    assertWavError(() => readWav(dir), 'io', /not a regular file/);
    const file = path.join(dir, 'ok.wav');
    fs.writeFileSync(file, pcm16([100, -100]));
    assert.equal(readWav(file).frames, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** xorshift32: a fixed sequence, so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

test('fuzz: 3000 mutated files parse or throw StrataError, and never allocate past the file', () => {
  const bases = ['wav-pcm24.wav', 'wav-ext-pcm24.wav', 'wav-float64.wav', 'wav-pcm8.wav'].map((f) => new Uint8Array(fs.readFileSync(path.join(AUDIO_DIR, f))));
  const r = rng(1234);
  const pick = (n: number) => Math.floor(r() * n);
  const evil = [0, 1, 2, 3, 0x7fffffff, 0xffffffff, 0x80000000, 0xfffe, 0xffff, 40, 16];
  let parsed = 0;
  for (let iter = 0; iter < 3000; iter++) {
    const base = bases[iter % bases.length]!;
    let b = base.slice();
    const headerEnd = Math.min(b.length, 80);
    switch (pick(4)) {
      case 0:
        for (let i = 0, n = 1 + pick(4); i < n; i++) b[pick(headerEnd)] = pick(256);
        break;
      case 1:
        b = b.slice(0, pick(b.length));
        break;
      case 2: {
        const at = pick(headerEnd - 4);
        const v = evil[pick(evil.length)]!;
        if (r() < 0.5) new DataView(b.buffer).setUint32(at, v, true);
        else new DataView(b.buffer).setUint16(at, v & 0xffff, true);
        break;
      }
      default: {
        const at = pick(headerEnd);
        const cut = 1 + pick(8);
        b = r() < 0.5 ? Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + cut)]) : Uint8Array.from([...b.subarray(0, at), ...new Array(cut).fill(pick(256)), ...b.subarray(at)]);
      }
    }
    for (const truncated of ['error', 'read'] as const) {
      try {
        const w = readWav(b, { truncated });
        parsed++;
        assert.equal(w.samples.length, w.frames * w.channels);
        assert.ok(w.samples.length * (w.format.bitsPerSample / 8) <= b.length, `iteration ${iter}: ${w.samples.length} samples from ${b.length} bytes`);
        assert.ok(w.channels > 0 && w.sampleRate > 0);
      } catch (err) {
        assert.ok(err instanceof StrataError, `iteration ${iter}: ${String(err)}`);
      }
    }
  }
  assert.ok(parsed > 100, `only ${parsed} mutated files parsed; the fuzz is not reaching the decoder`);
});
