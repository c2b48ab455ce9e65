// A speech-recognition directory's language_model/ (src/pipelines/speech-lm.ts): written and read
// back with its attrs, bad folders refused with the file named, and transcription with it — in the
// library, `strata transcribe` (the default) and `--no-lm` — on the tiny random Whisper of
// scripts/fixtures/whisper.py, whose byte-level tokens spell words a letter or a piece at a time.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { loadSpeechLanguageModel, saveSpeechLanguageModel, SPEECH_LM_DIR } from '../../src/pipelines/speech-lm.js';
import { loadSpeechRecognizer, transcribe } from '../../src/pipelines/transcribe.js';
import { trainKneserNey } from '../../src/text/ngram.js';
import { expected, fixtureDir, tempDir } from '../models/model-fixtures.js';
import { strata } from '../helpers/cli.js';
import { pcm16Wav as wav } from '../helpers/wav.js';

const SENTENCES = ['the cat is in the hat', 'a cat and a hat', 'it is the end', 'to be or not to be'];
const LEXICON = new Set(SENTENCES.flatMap((s) => s.split(' ')));

/** Every word is a lexicon word, but the last may be cut short by the token limit. */
function assertLexicon(text: string): void {
  const words = text.split(' ').filter(Boolean);
  const last = words.pop();
  for (const w of words) assert.ok(LEXICON.has(w), `"${w}" in "${text}"`);
  if (last) assert.ok([...LEXICON].some((w) => w.startsWith(last)), `"${last}" in "${text}" starts no lexicon word`);
}

describe('language_model/ of a speech recognizer', () => {
  const dir = tempDir('strata-speech-lm-');
  fs.cpSync(fixtureDir('whisper'), dir, { recursive: true });
  const lm = trainKneserNey(SENTENCES, { order: 2 });
  saveSpeechLanguageModel(dir, { lm, alpha: 0.3, beta: 2, numBeams: 3 });
  const samples = expected('whisper').waveforms!.select(0, 1).toFloat32Array(); // 1 s of the fixture's audio

  test('written and read back: the ARPA model scores alike, attrs.json gives alpha, beta and the beams', () => {
    const back = loadSpeechLanguageModel(dir)!;
    assert.deepEqual({ alpha: back.alpha, beta: back.beta, numBeams: back.numBeams }, { alpha: 0.3, beta: 2, numBeams: 3 });
    assert.deepEqual(back.lm.words, lm.words);
    for (const [ctx, w] of [[['<s>'], 'the'], [['the'], 'cat'], [['cat'], 'hat'], [['be'], '</s>']] as const) {
      assert.ok(Math.abs(back.lm.logProb(ctx, w) - lm.logProb(ctx, w)) < 1e-5, `${ctx} ${w}`);
    }
    assert.equal(loadSpeechLanguageModel(fixtureDir('whisper')), null, 'no folder, no LM');
  });

  test('a broken folder is a StrataError naming the file', () => {
    const bad = tempDir('strata-speech-lm-bad-');
    fs.mkdirSync(path.join(bad, SPEECH_LM_DIR));
    assert.throws(() => loadSpeechLanguageModel(bad), (e: unknown) => e instanceof StrataError && /has no lm\.arpa/.test(e.message));
    fs.writeFileSync(path.join(bad, SPEECH_LM_DIR, 'lm.arpa'), '\\data\\\nngram 1=2\n');
    assert.throws(() => loadSpeechLanguageModel(bad), (e: unknown) => e instanceof StrataError && e.message.includes('lm.arpa'));
    saveSpeechLanguageModel(bad, { lm, alpha: 0.5, beta: 1, numBeams: 4 });
    fs.writeFileSync(path.join(bad, SPEECH_LM_DIR, 'attrs.json'), '{"alpha": -2}');
    assert.throws(() => loadSpeechLanguageModel(bad), (e: unknown) => e instanceof StrataError && /alpha/.test(e.message) && e.message.includes('attrs.json'));
  });

  test('transcription with it spells only lexicon words; --no-lm gives the model its own tokens', async () => {
    const r = await loadSpeechRecognizer(dir);
    assert.ok(r.languageModel);
    const base = { generationConfig: r.generationConfig, features: r.features, language: 'en', maxTokens: 24 };
    const withLm = transcribe(r.model, r.tokenizer, samples, { ...base, languageModel: r.languageModel });
    assertLexicon(withLm.text);
    assert.ok(withLm.text.length > 0);
    const greedy = transcribe(r.model, r.tokenizer, samples, base);
    assert.notEqual(withLm.text, greedy.text, 'the random model alone does not spell lexicon words');
    assert.throws(() => transcribe(r.model, r.tokenizer, samples, { ...base, languageModel: r.languageModel, temperature: 0.5 }), /takes no temperature/);

    const file = path.join(tempDir('strata-speech-lm-wav-'), 'speech.wav');
    fs.writeFileSync(file, wav(samples));
    const cli = await strata('transcribe', '--model', dir, file, '--language', 'en', '--max-tokens', '24', '--json');
    assert.equal(cli.status, 0, cli.stderr);
    const fromCli = transcribe(r.model, r.tokenizer, samples, { ...base, languageModel: r.languageModel });
    assert.equal((JSON.parse(cli.stdout) as { text: string }).text, fromCli.text);
    const noLm = await strata('transcribe', '--model', dir, file, '--language', 'en', '--max-tokens', '24', '--no-lm', '--json');
    assert.equal(noLm.status, 0, noLm.stderr);
    assert.equal((JSON.parse(noLm.stdout) as { text: string }).text, greedy.text);
  });
});
