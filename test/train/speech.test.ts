// The spoken-sentence dataset: transcript normalisation; the sentence pool (only ordinary words,
// 3..12 of them) and its seeded split (no held-out sentence in training, every held-out word heard
// in training); voice settings drawn deterministically within their ranges; the streamed WAV's
// sizes fixed; and espeak-ng synthesis cached by content hash, byte-identical when re-synthesized,
// with long utterances dropped (skipped, with the reason, where espeak-ng is absent).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { readWav } from '../../src/io/audio.js';
import {
  DEFAULT_SPEECH_VARIATION,
  checkVariation,
  espeakVersion,
  fixStreamedWav,
  normalizeTranscript,
  sentencePool,
  speak,
  speechDataset,
  splitSentences,
  utteranceSamples,
  voiceFor,
} from '../../src/train/speech.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-speech-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const noEspeak = espeakVersion() === null ? 'espeak-ng is not installed (apt-get install espeak-ng)' : false;

describe('normalizeTranscript', () => {
  test('lower case, punctuation gone, inner apostrophes kept, spaces collapsed', () => {
    assert.equal(normalizeTranscript('Call me Ishmael.'), 'call me ishmael');
    assert.equal(normalizeTranscript("  It's the WHALE's   turn -- isn't it?  "), "it's the whale's turn isn't it");
    assert.equal(normalizeTranscript("'Tis said, ‘so’"), 'tis said so');
    assert.equal(normalizeTranscript('...'), '');
  });
});

describe('sentence pool and split', () => {
  const pool = sentencePool({ vocabularyWords: 2000 });

  test('sentences of 3..12 ordinary words, distinct and sorted', () => {
    const words = new Set(pool.words);
    assert.equal(pool.words.length, 2000);
    assert.ok(pool.sentences.length > 4000, `only ${pool.sentences.length} sentences`);
    for (const s of pool.sentences) {
      const ws = s.split(' ');
      assert.ok(ws.length >= 3 && ws.length <= 12, s);
      assert.equal(normalizeTranscript(s), s);
      for (const w of ws) assert.ok(words.has(w), `${w} in "${s}"`);
    }
    assert.equal(new Set(pool.sentences).size, pool.sentences.length);
    assert.deepEqual([...pool.sentences].sort(), pool.sentences);
  });

  test('the split is seeded, disjoint, and held-out words are all heard in training', () => {
    const a = splitSentences(pool.sentences, { heldOutFraction: 0.05, seed: 0 });
    const b = splitSentences(pool.sentences, { heldOutFraction: 0.05, seed: 0 });
    const c = splitSentences(pool.sentences, { heldOutFraction: 0.05, seed: 1 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.heldOut, c.heldOut);
    const train = new Set(a.train);
    assert.ok(a.heldOut.length > 100, `${a.heldOut.length} held out`);
    // about 5% are drawn; a few are dropped for an unheard word
    assert.ok(a.heldOut.length / pool.sentences.length > 0.03 && a.heldOut.length / pool.sentences.length < 0.07);
    const heard = new Set(a.train.flatMap((s) => s.split(' ')));
    for (const s of a.heldOut) {
      assert.ok(!train.has(s), s);
      for (const w of s.split(' ')) assert.ok(heard.has(w), w);
    }
    assert.throws(() => splitSentences(pool.sentences, { heldOutFraction: 1, seed: 0 }), StrataError);
  });

  test('bad pool options are StrataErrors', () => {
    assert.throws(() => sentencePool({ minWords: 5, maxWords: 4 }), /minWords <= maxWords/);
    assert.throws(() => sentencePool({ corpora: ['nope' as 'sotu'] }), /unknown corpus 'nope'/);
  });
});

describe('voice settings', () => {
  test('a pure function of (sentence, seed, rendition), within the ranges', () => {
    const v = DEFAULT_SPEECH_VARIATION;
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = voiceFor(`sentence ${i}`, 3, v);
      assert.deepEqual(voiceFor(`sentence ${i}`, 3, v), s);
      assert.ok(v.voices.includes(s.voice));
      assert.ok(s.speed >= v.speed[0] && s.speed <= v.speed[1]);
      assert.ok(s.pitch >= v.pitch[0] && s.pitch <= v.pitch[1]);
      seen.add(s.voice);
    }
    assert.equal(seen.size, v.voices.length, 'every voice is used');
    const renditions = new Set(Array.from({ length: 8 }, (_, k) => JSON.stringify(voiceFor('the same words', 0, v, k))));
    assert.ok(renditions.size > 4, 'renditions differ');
    assert.throws(() => checkVariation({ ...v, voices: ['en; rm -rf'] }), /not an espeak-ng voice name/);
    assert.throws(() => checkVariation({ ...v, pitch: [50, 120] }), /pitch must be/);
  });
});

describe('fixStreamedWav', () => {
  test('sets the RIFF and data sizes of a streamed WAV', () => {
    const header = Buffer.alloc(44);
    header.write('RIFF', 0, 'latin1');
    header.writeUInt32LE(0x7fffffff, 4);
    header.write('WAVEfmt ', 8, 'latin1');
    header.writeUInt32LE(16, 16);
    header.writeUInt16LE(1, 20);
    header.writeUInt16LE(1, 22);
    header.writeUInt32LE(22050, 24);
    header.writeUInt32LE(44100, 28);
    header.writeUInt16LE(2, 32);
    header.writeUInt16LE(16, 34);
    header.write('data', 36, 'latin1');
    header.writeUInt32LE(0x7fffffff, 40);
    const pcm = Buffer.alloc(6);
    pcm.writeInt16LE(16384, 0);
    pcm.writeInt16LE(-16384, 2);
    const wav = readWav(fixStreamedWav(Buffer.concat([header, pcm])));
    assert.equal(wav.frames, 3);
    assert.deepEqual([...wav.samples], [0.5, -0.5, 0]);
    assert.throws(() => fixStreamedWav(Buffer.alloc(50)), /did not write a RIFF\/WAVE stream/);
  });
});

describe('espeak-ng synthesis', { skip: noEspeak }, () => {
  const sentences = ['the sea was calm', 'we must work together for a better future', 'call me when the ship comes in'];

  test('cached by content hash, deterministic, long utterances dropped', async () => {
    const cacheDir = path.join(tmp, 'a');
    const first = await speechDataset(sentences, { cacheDir, seed: 0, renditions: 2 });
    assert.equal(first.utterances.length, 6);
    assert.equal(first.dropped, 0);
    for (const u of first.utterances) {
      assert.ok(u.duration > 0.5 && u.duration < 5, `${u.text}: ${u.duration} s`);
      const samples = utteranceSamples(u);
      assert.ok(Math.abs(samples.length - u.duration * 16000) <= 1, `${samples.length} samples for ${u.duration} s`);
      assert.ok(Math.max(...samples.map(Math.abs)) > 0.05, 'audible');
    }
    assert.notEqual(first.utterances[0]!.file, first.utterances[1]!.file, 'two renditions, two files');
    const mtimes = first.utterances.map((u) => fs.statSync(u.file).mtimeMs);
    const again = await speechDataset(sentences, { cacheDir, seed: 0, renditions: 2 });
    assert.deepEqual(again.utterances, first.utterances);
    assert.deepEqual(again.utterances.map((u) => fs.statSync(u.file).mtimeMs), mtimes, 'the cache is reused, not rewritten');
    // a fresh cache synthesizes the same bytes
    const fresh = await speechDataset(sentences.slice(0, 1), { cacheDir: path.join(tmp, 'b'), seed: 0 });
    assert.ok(fs.readFileSync(fresh.utterances[0]!.file).equals(fs.readFileSync(first.utterances[0]!.file)));
    const short = await speechDataset(sentences, { cacheDir, seed: 0, maxSeconds: 1.6 });
    assert.ok(short.dropped >= 1 && short.utterances.every((u) => u.duration <= 1.6));
    assert.equal(short.utterances.length + short.dropped, 3);
  });

  test('bad input to espeak-ng is a StrataError', () => {
    assert.throws(() => speak('hello', { voice: 'xx-no-such-voice', speed: 150, pitch: 50 }), StrataError);
    assert.throws(() => speak('  ', { voice: 'en-us', speed: 150, pitch: 50 }), /the text must be words/);
  });
});
