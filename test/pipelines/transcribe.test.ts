// Speech recognition end to end on the tiny random Whisper of scripts/fixtures/whisper.py (its
// window is 1 s: 100 mel frames): one window against transformers' generate() ids, long audio cut
// into overlapping windows and merged by the documented rule, timed segments, language detection,
// the `strata transcribe` command, and bad input.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { encodeInputs, generateEncoderDecoder } from '../../src/generation/encoder-decoder.js';
import { alignOverlap, loadSpeechRecognizer, mergeWindowTokens, transcribe, windowFeatures, windowStarts, type TranscribeOptions } from '../../src/pipelines/transcribe.js';
import { expected, fixtureDir, tempDir } from '../models/model-fixtures.js';
import { strata } from '../helpers/cli.js';
import { pcm16Wav as wav } from '../helpers/wav.js';

const DIR = fixtureDir('whisper');

describe('transcribe', async () => {
  const r = await loadSpeechRecognizer(DIR);
  const exp = expected('whisper');
  const eot = 320;
  const tb = 334;
  const waves = [exp.waveforms!.select(0, 0).toFloat32Array().subarray(0, 12800), exp.waveforms!.select(0, 1).toFloat32Array()];
  const base: TranscribeOptions = { generationConfig: r.generationConfig, features: r.features };
  // the fixture's generate() calls made at most 16 new tokens
  const asFixture: TranscribeOptions = { ...base, maxTokens: 16 };
  // 3.6 s: the two waveforms twice, so windows see different audio
  const long = new Float32Array(57600);
  long.set(waves[0]!, 0);
  long.set(waves[1]!, 12800);
  long.set(waves[0]!, 28800);
  long.set(waves[1]!, 41600);
  const genRow = (name: string, b: number, promptLength: number): number[] => {
    const t = exp[`generated_${name}`]!;
    const n = t.shape[1]!;
    const row = t.toArray().slice(b * n, (b + 1) * n).filter((x) => x >= 0);
    const end = row.indexOf(eot, promptLength);
    return row.slice(promptLength, end < 0 ? undefined : end);
  };

  test('loads the directory: model, tokenizer, generation_config.json, preprocessor_config.json', () => {
    assert.ok(r.model instanceof S.WhisperForConditionalGeneration);
    assert.deepEqual(r.features, { nFft: 400, hop: 160 });
    assert.equal(r.generationConfig?.no_timestamps_token_id, 333);
  });

  test('one window: the text of transformers\' generate() ids (our front end feeding the model)', () => {
    for (const b of [0, 1]) {
      const out = transcribe(r.model, r.tokenizer, waves[b]!, { ...asFixture, language: 'en' });
      const ids = genRow('en_notimestamps', b, 4).filter((t) => t < tb);
      assert.equal(out.text, r.tokenizer.decode(ids, { skipSpecialTokens: true }).trim(), `row ${b}`);
      assert.equal(out.language, 'en');
      assert.equal(out.languageProbability, null);
      assert.equal(out.windows, 1);
      assert.equal(out.segments, undefined);
    }
  });

  test('one window with timestamps: segments from transformers\' ids', () => {
    const out = transcribe(r.model, r.tokenizer, waves[1]!, { ...asFixture, language: 'english', timestamps: true });
    const ids = genRow('en_timestamps', 1, 3);
    const segs = S.timedSegments(ids, tb, 1).map((s) => ({ start: Math.round(s.start * 100) / 100, end: Math.round(s.end * 100) / 100, text: r.tokenizer.decode(s.tokens, { skipSpecialTokens: true }).trim() }));
    assert.deepEqual(out.segments, segs.filter((s) => s.text));
    assert.ok(out.segments!.length > 0);
  });

  test('the language is detected from the first window when not given', () => {
    const settings = S.whisperDecodingConfig(r.model.config, r.generationConfig, r.tokenizer);
    const byId = new Map([...settings.tokens.languages].map(([code, id]) => [id, code]));
    const detected = byId.get(exp.detected_language!.toArray()[0]!)!;
    const out = transcribe(r.model, r.tokenizer, waves[0]!, asFixture);
    assert.equal(out.language, detected);
    assert.ok(out.languageProbability! > 0 && out.languageProbability! <= 1);
    assert.equal(out.text, r.tokenizer.decode(genRow('detect', 0, 4).filter((t) => t < tb), { skipSpecialTokens: true }).trim());
    // long audio: only the first window decides
    assert.equal(transcribe(r.model, r.tokenizer, long, { ...base, maxTokens: 4 }).language, detected);
  });

  test('translation uses <|translate|>', () => {
    const out = transcribe(r.model, r.tokenizer, waves[0]!, { ...asFixture, language: 'de', task: 'translate' });
    assert.equal(out.text, r.tokenizer.decode(genRow('translate', 0, 4).filter((t) => t < tb), { skipSpecialTokens: true }).trim());
  });

  test('windows: 1 s windows overlapping by 2 x stride (1/6 s), the last reaching the end', () => {
    assert.deepEqual(windowStarts(57600, 16000, 2667), [0, 10666, 21332, 31998, 42664]);
    assert.deepEqual(windowStarts(16000, 16000, 2667), [0]);
    assert.deepEqual(windowStarts(16001, 16000, 0), [0, 16000]);
  });

  test('long audio: each window decoded as alone, the tokens merged at the overlaps', () => {
    const out = transcribe(r.model, r.tokenizer, long, { ...base, language: 'en', batchSize: 2 });
    assert.equal(out.windows, 5);
    const starts = windowStarts(long.length, 16000, Math.round(16000 / 6));
    const perWindow = starts.map((s) => {
      const feats = windowFeatures(long.subarray(s, s + 16000), 16000, 80, r.features).unsqueeze(0);
      const [res] = generateEncoderDecoder(r.model, encodeInputs(r.model, feats), [[321, 322, 329, 333]], { stopTokens: [eot], rules: S.decodingRules(S.whisperDecodingConfig(r.model.config, r.generationConfig, r.tokenizer), false), temperature: 0 });
      return res!.tokens.filter((t) => t < tb);
    });
    assert.equal(out.text, r.tokenizer.decode(mergeWindowTokens(perWindow), { skipSpecialTokens: true }).trim());
    assert.equal(transcribe(r.model, r.tokenizer, long, { ...base, language: 'en', batchSize: 1 }).text, out.text, 'batching windows changes nothing');
  });

  test('long audio with timestamps: segments in order, within the audio, each from the window that owns its midpoint', () => {
    const out = transcribe(r.model, r.tokenizer, long, { ...base, language: 'en', timestamps: true });
    const segs = out.segments!;
    assert.ok(segs.length > 0);
    for (let i = 0; i < segs.length; i++) {
      assert.ok(segs[i]!.start <= segs[i]!.end && segs[i]!.end <= 3.6 + 1e-9, JSON.stringify(segs[i]));
      if (i) assert.ok(segs[i]!.start >= segs[i - 1]!.start);
    }
    // the text is the segments' texts, in order
    let at = 0;
    for (const seg of segs) {
      const found = out.text.indexOf(seg.text, at);
      assert.ok(found >= at, seg.text);
      at = found + seg.text.length;
    }
  });

  test('the merge rule: overlaps cut in the middle, mismatches and no overlap concatenated', () => {
    assert.deepEqual(alignOverlap([1, 2, 3, 4, 5], [3, 4, 5, 6, 7]), { overlap: 3, score: 3 });
    assert.deepEqual(mergeWindowTokens([[1, 2, 3, 4, 5], [3, 4, 5, 6, 7]]), [1, 2, 3, 4, 5, 6, 7]);
    // one mismatch inside the overlap: the first half from the previous window, the rest from the next
    assert.deepEqual(alignOverlap([1, 2, 3, 9, 5, 8], [3, 4, 5, 8, 6]), { overlap: 4, score: 2 });
    assert.deepEqual(mergeWindowTokens([[1, 2, 3, 9, 5, 8], [3, 4, 5, 8, 6]]), [1, 2, 3, 9, 5, 8, 6]);
    // a single shared token is no evidence of an overlap
    assert.deepEqual(mergeWindowTokens([[1, 2, 3], [3, 4]]), [1, 2, 3, 3, 4]);
    assert.deepEqual(mergeWindowTokens([[1, 2], [7, 8], []]), [1, 2, 7, 8]);
    // three windows: the third aligns with the second's tokens that survived the first merge
    assert.deepEqual(mergeWindowTokens([[1, 2, 3, 4], [3, 4, 5, 6], [5, 6, 7]]), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(mergeWindowTokens([]), []);
  });

  test('sampling with a temperature is reproducible by seed', () => {
    const a = transcribe(r.model, r.tokenizer, waves[1]!, { ...base, language: 'en', temperature: 1, seed: 7 });
    const b = transcribe(r.model, r.tokenizer, waves[1]!, { ...base, language: 'en', temperature: 1, seed: 7 });
    assert.equal(a.text, b.text);
  });

  test('bad input: empty audio, unknown language, options out of range, a model that is not Whisper', async () => {
    assert.throws(() => transcribe(r.model, r.tokenizer, new Float32Array(0), base), /transcribe: the audio is empty/);
    assert.throws(() => transcribe(r.model, r.tokenizer, waves[0]!, { ...base, language: 'klingon' }), /language 'klingon' is not one this model knows/);
    assert.throws(() => transcribe(r.model, r.tokenizer, waves[0]!, { ...base, language: 'en', strideSeconds: 0.5 }), /strideSeconds must be >= 0 and less than half the 1 s window/);
    assert.throws(() => transcribe(r.model, r.tokenizer, waves[0]!, { ...base, language: 'en', maxTokens: 61 }), /maxTokens must be an integer in \[1, 60\]/);
    const nan = new Float32Array(1000).fill(Number.NaN);
    assert.throws(() => transcribe(r.model, r.tokenizer, nan, { ...base, language: 'en' }), /sample 0 is NaN; audio must be finite/);
    await assert.rejects(loadSpeechRecognizer(fixtureDir('gpt2')), /GPT2LMHeadModel \(gpt2\) is not a speech-recognition model/);
  });
});

describe('strata transcribe', () => {
  const exp = expected('whisper');
  const tmp = tempDir('strata-transcribe-');
  const speech = path.join(tmp, 'speech.wav');
  // at 8 kHz: the command resamples to 16 kHz
  fs.writeFileSync(speech, wav(exp.waveforms!.select(0, 1).toFloat32Array().filter((_, i) => i % 2 === 0), 8000));

  test('--json prints text and language; --timestamps adds segments', async () => {
    const a = await strata('transcribe', '--model', DIR, speech, '--language', 'en', '--json');
    assert.equal(a.status, 0, a.stderr);
    const j = JSON.parse(a.stdout) as { text: string; language: string; segments?: unknown };
    assert.deepEqual(Object.keys(j), ['text', 'language']);
    assert.equal(j.language, 'en');
    assert.equal(typeof j.text, 'string');
    const b = await strata('transcribe', '--model', DIR, speech, '--timestamps', '--json');
    assert.equal(b.status, 0, b.stderr);
    const k = JSON.parse(b.stdout) as { text: string; language: string; segments: { start: number; end: number; text: string }[] };
    assert.deepEqual(Object.keys(k), ['text', 'language', 'segments']);
    assert.ok(Array.isArray(k.segments));
    for (const s of k.segments) assert.deepEqual(Object.keys(s), ['start', 'end', 'text']);
    const c = await strata('transcribe', '--model', DIR, speech, '--language', 'de', '--translate', '--timestamps');
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /^(\[\d+\.\d\d → \d+\.\d\d\] .*\n)*$/);
  });

  test('bad audio and bad flags: the reader\'s clear errors, exit status 2', async () => {
    const text = path.join(tmp, 'notes.wav');
    fs.writeFileSync(text, 'just some text, not audio');
    const a = await strata('transcribe', '--model', DIR, text);
    assert.equal(a.status, 2);
    assert.match(a.stderr, /^strata: .*notes\.wav.*RIFF/m);
    const truncated = path.join(tmp, 'cut.wav');
    fs.writeFileSync(truncated, fs.readFileSync(speech).subarray(0, 100));
    const b = await strata('transcribe', '--model', DIR, truncated);
    assert.equal(b.status, 2);
    assert.match(b.stderr, /^strata: .*cut\.wav/m);
    const empty = path.join(tmp, 'empty.wav');
    fs.writeFileSync(empty, wav(new Float32Array(0)));
    const c = await strata('transcribe', '--model', DIR, empty);
    assert.equal(c.status, 2);
    assert.match(c.stderr, /^strata: .*(empty|no audio|zero)/m);
    const d = await strata('transcribe', '--model', DIR, speech, '--language', 'xx');
    assert.equal(d.status, 2);
    assert.match(d.stderr, /language 'xx' is not one this model knows/);
    const e = await strata('transcribe', '--model', path.join(tmp, 'nowhere'), speech);
    assert.equal(e.status, 2);
    const f = await strata('transcribe', speech);
    assert.equal(f.status, 2);
    assert.match(f.stderr, /--model/);
  });
});
