// Word error rate of a speech model trained by `strata train-asr` (zoo/asr-espeak) on its
// held-out sentences, greedy decoding against beam search of several widths, each utterance
// transcribed by the transcribe pipeline as `strata transcribe --no-lm [--beams N]` runs it; with
// --lm, also with the model's language_model/ (lexicon + word LM) at each width.
//
//   node --import tsx scripts/asr-beam-wer.ts --model zoo/asr-espeak --data runs/asr-espeak/data [--beams 1,4,8] [--lm] [--limit N] [--threads 1] [--json]
//
// The held-out sentences come from the model directory's train_config.json (the same seeded split
// and voices the run used, as asrRunData draws them); their WAVs are read from --data, the cache
// the run synthesized. Nothing is written: a held-out WAV missing from the cache is an error, not
// synthesized. Times are wall-clock per utterance of the transcribe call alone (audio already read).

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { StrataError } from '../src/errors.js';
import { setThreads } from '../src/backend/threads.js';
import { loadSpeechRecognizer, transcribe } from '../src/pipelines/transcribe.js';
import { TRAIN_ASR_DEFAULTS, type TrainAsrConfig, asrSentences, speechVariationOf } from '../src/train/asr.js';
import { utteranceFile, utteranceSamples, voiceFor } from '../src/train/speech.js';
import { wordErrorRate } from '../src/train/wer.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'zoo/asr-espeak' },
    data: { type: 'string', default: 'runs/asr-espeak/data' },
    beams: { type: 'string', default: '1,4,8' },
    limit: { type: 'string' },
    threads: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    // also decode with the model's language_model/ (lexicon + word LM) at each width
    lm: { type: 'boolean', default: false },
  },
});

const widths = args.beams!.split(',').map((s) => Number(s.trim()));
for (const w of widths) if (!Number.isInteger(w) || w < 1 || w > 16) throw new StrataError('argument', '--beams', `each width must be an integer in [1, 16], got ${w}`);
setThreads(Number(args.threads));
const configFile = path.join(args.model!, 'train_config.json');
if (!fs.existsSync(configFile)) throw new StrataError('io', configFile, 'not found: the held-out split is read from the run settings saved beside the model');
const config = { ...TRAIN_ASR_DEFAULTS, ...(JSON.parse(fs.readFileSync(configFile, 'utf8')) as Partial<TrainAsrConfig>) } as TrainAsrConfig;

const variation = speechVariationOf(config);
const limit = args.limit === undefined ? Infinity : Number(args.limit);
const heldOut = asrSentences(config)
  .heldOut.slice(0, limit)
  .map((text) => {
    const file = utteranceFile(args.data!, text, voiceFor(text, config.seed, variation, 0));
    if (!fs.existsSync(file)) throw new StrataError('io', file, `the held-out sentence '${text}' has no WAV in ${args.data}; this script reads the run's cache and never synthesizes`);
    return { text, samples: utteranceSamples({ file }) };
  })
  // the run leaves out utterances longer than its window, as asrRunData does
  .filter((u) => u.samples.length <= config.chunkSeconds * 16000);

const rec = await loadSpeechRecognizer(args.model!);
if (args.lm && !rec.languageModel) throw new StrataError('argument', '--lm', `${args.model} has no language_model/ folder`);
const runs = widths.flatMap((numBeams) => [{ numBeams, lm: false }, ...(args.lm ? [{ numBeams, lm: true }] : [])]);
const results = runs.map(({ numBeams, lm }) => {
  const hyps: string[] = [];
  const started = performance.now();
  const languageModel = lm ? rec.languageModel : null;
  heldOut.forEach((u, i) => {
    hyps.push(transcribe(rec.model, rec.tokenizer, u.samples, { generationConfig: rec.generationConfig, features: rec.features, numBeams, languageModel }).text);
    if ((i + 1) % 50 === 0) process.stderr.write(`beams ${numBeams}${lm ? ' + LM' : ''}: ${i + 1}/${heldOut.length}\n`);
  });
  const seconds = (performance.now() - started) / 1000;
  const wer = wordErrorRate(
    heldOut.map((u) => u.text),
    hyps,
  );
  const exact = hyps.filter((h, i) => h === heldOut[i]!.text).length;
  return { beams: numBeams, lm, wer: wer.wer, errors: wer.errors, words: wer.words, utterances: heldOut.length, exact_sentences: exact, ms_per_utterance: (1000 * seconds) / heldOut.length };
});

if (args.json) console.log(JSON.stringify({ model: args.model, threads: Number(args.threads), results }));
else for (const r of results) console.log(`beams ${r.beams}${r.lm ? ' + word LM' : ''}: held-out WER ${(100 * r.wer).toFixed(2)}% (${r.errors}/${r.words} words, ${r.utterances} utterances, ${r.exact_sentences} exact), ${r.ms_per_utterance.toFixed(0)} ms per utterance`);
