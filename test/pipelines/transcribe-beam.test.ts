// `transcribe` with numBeams and `strata transcribe --beams N` on the tiny random Whisper of
// scripts/fixtures/whisper.py: one window gives the text of transformers' generate(num_beams)
// ids (scripts/fixtures/whisper_beam.py), with and without timestamps; long audio runs the beam
// search in each window and merges as greedy does; the CLI prints what the library returns, in
// the same JSON shape; bad counts are errors.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { encodeInputs } from '../../src/generation/encoder-decoder.js';
import { beamSearchEncoderDecoder } from '../../src/generation/encoder-decoder-beam.js';
import { loadSpeechRecognizer, mergeWindowTokens, transcribe, windowFeatures, windowStarts, type TranscribeOptions } from '../../src/pipelines/transcribe.js';
import { readWav } from '../../src/io/audio.js';
import { toMono16k } from '../../src/audio/resample.js';
import { loadFixture } from '../helpers/fixtures.js';
import { expected, fixtureDir, tempDir } from '../models/model-fixtures.js';
import { strata } from '../helpers/cli.js';
import { pcm16Wav as wav } from '../helpers/wav.js';

const DIR = fixtureDir('whisper');
const EOT = 320;
const TB = 334;

describe('transcribe with beam search', async () => {
  const r = await loadSpeechRecognizer(DIR);
  const waves = expected('whisper').waveforms!;
  const first = waves.select(0, 0).toFloat32Array().subarray(0, 12800); // 0.8 s: beam fixture input 0
  const second = waves.select(0, 1).toFloat32Array(); // 1 s: input 1
  const beam = loadFixture('whisper-beam').tensors;
  const base: TranscribeOptions = { generationConfig: r.generationConfig, features: r.features, language: 'en', maxTokens: 12 };
  const settings = S.whisperDecodingConfig(r.model.config, r.generationConfig, r.tokenizer);
  /** Row `b` of a fixture case: the ids after the prompt, up to <|endoftext|>. */
  const fixtureRow = (name: string, b: number): number[] => {
    const t = beam[`tokens_${name}`]!;
    const n = t.shape[1]!;
    return t
      .toArray()
      .slice(b * n, (b + 1) * n)
      .filter((x) => x >= 0 && x !== EOT);
  };
  const text = (ids: number[]) => r.tokenizer.decode(ids.filter((t) => t < TB), { skipSpecialTokens: true }).trim();

  test("one window: the text of transformers' generate(num_beams) ids (3 and 4 beams), which greedy does not give", () => {
    for (const [name, numBeams] of [
      ['b3', 3],
      ['b4', 4],
    ] as const) {
      for (const [b, samples] of [first, second].entries()) {
        const out = transcribe(r.model, r.tokenizer, samples, { ...base, numBeams });
        assert.equal(out.text, text(fixtureRow(name, b)), `${name} input ${b}`);
      }
    }
    assert.notEqual(transcribe(r.model, r.tokenizer, second, base).text, text(fixtureRow('b4', 1)));
    assert.equal(transcribe(r.model, r.tokenizer, second, { ...base, numBeams: 1 }).text, transcribe(r.model, r.tokenizer, second, base).text, 'numBeams 1 is greedy');
  });

  test("one window with timestamps: segments from transformers' beam ids", () => {
    for (const [b, samples] of [first, second].entries()) {
      const out = transcribe(r.model, r.tokenizer, samples, { ...base, timestamps: true, numBeams: 4 });
      const segs = S.timedSegments(fixtureRow('b4_ts', b), TB, samples.length / 16000).map((s) => ({ start: Math.round(s.start * 100) / 100, end: Math.round(s.end * 100) / 100, text: r.tokenizer.decode(s.tokens, { skipSpecialTokens: true }).trim() }));
      assert.deepEqual(out.segments, segs, `input ${b}`);
      assert.ok(out.segments!.length > 0);
    }
  });

  test('long audio: the beam search runs in each window alone, and the windows merge as greedy ones do', () => {
    const long = new Float32Array(44800);
    long.set(first, 0);
    long.set(second, 12800);
    long.set(first, 28800);
    const out = transcribe(r.model, r.tokenizer, long, { ...base, numBeams: 3, batchSize: 2 });
    const starts = windowStarts(long.length, 16000, Math.round(16000 / 6));
    assert.equal(out.windows, starts.length);
    const perWindow = starts.map((s) => {
      const feats = windowFeatures(long.subarray(s, s + 16000), 16000, 80, r.features).unsqueeze(0); // (1, M, F)
      const [hyps] = beamSearchEncoderDecoder(r.model, encodeInputs(r.model, feats), [[321, 322, 329, 333]], { numBeams: 3, maxTokens: 12, stopTokens: [EOT], rules: S.decodingRules(settings, false) });
      return hyps![0]!.tokens.filter((t) => t < TB);
    });
    assert.equal(out.text, r.tokenizer.decode(mergeWindowTokens(perWindow), { skipSpecialTokens: true }).trim());
    assert.equal(transcribe(r.model, r.tokenizer, long, { ...base, numBeams: 3, batchSize: 1 }).text, out.text, 'batching windows changes nothing');
  });

  test('bad options: numBeams out of range or with a temperature', () => {
    for (const numBeams of [0, -1, 2.5, 65]) assert.throws(() => transcribe(r.model, r.tokenizer, first, { ...base, numBeams }), (e: unknown) => e instanceof S.StrataError && /numBeams must be an integer in \[1, 64\]/.test(e.message));
    assert.throws(() => transcribe(r.model, r.tokenizer, first, { ...base, numBeams: 2, temperature: 0.5 }), (e: unknown) => e instanceof S.StrataError && /takes no temperature/.test(e.message));
  });

  test('strata transcribe --beams N prints the library text, --json in the same shape; bad counts exit 2', async () => {
    const tmp = tempDir('strata-transcribe-beam-');
    const file = path.join(tmp, 'speech.wav');
    fs.writeFileSync(file, wav(second));
    const samples = toMono16k(readWav(file));
    const lib = transcribe(r.model, r.tokenizer, samples, { generationConfig: r.generationConfig, features: r.features, language: 'en', numBeams: 4 });
    const a = await strata('transcribe', '--model', DIR, file, '--language', 'en', '--beams', '4', '--json');
    assert.equal(a.status, 0, a.stderr);
    const j = JSON.parse(a.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(j), ['text', 'language']);
    assert.deepEqual(j, { text: lib.text, language: 'en' });
    const plain = await strata('transcribe', '--model', DIR, file, '--language', 'en', '--beams', '4');
    assert.equal(plain.stdout, `${lib.text}\n`);
    const ts = await strata('transcribe', '--model', DIR, file, '--language', 'en', '--beams', '2', '--timestamps', '--json');
    assert.equal(ts.status, 0, ts.stderr);
    assert.deepEqual(Object.keys(JSON.parse(ts.stdout) as object), ['text', 'language', 'segments']);
    for (const bad of ['0', '17', '2.5', 'four', '-3']) {
      const e = await strata('transcribe', '--model', DIR, file, '--beams', bad);
      assert.equal(e.status, 2, `--beams ${bad}`);
      assert.match(e.stderr, /--beams.*must be an integer in \[1, 16\]/, `--beams ${bad}`);
      assert.equal(e.stdout, '');
    }
    const t = await strata('transcribe', '--model', DIR, file, '--beams', '3', '--temperature', '0.7');
    assert.equal(t.status, 2);
    assert.match(t.stderr, /takes no temperature/);
  });
});
