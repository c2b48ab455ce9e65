// Rebuilds zoo/asr-espeak from scratch: a small Whisper (WhisperForConditionalGeneration) trained
// by Strata's own trainer on English sentences spoken by espeak-ng (src/train/speech.ts), with a
// byte-level BPE transcript tokenizer, saved as a Hugging Face directory with a model card that
// reports the word error rate on held-out sentences (never heard in training).
//
//   node --import tsx scripts/zoo/asr-espeak.ts [--steps N] [--run runs/asr-espeak] [--resume] [--out zoo/asr-espeak] [--train-only]
//
// Needs espeak-ng. Training takes about an hour on a 2-core machine (one thread, nice); the run
// folder keeps checkpoints, so an interrupted build continues with --resume.

import { parseArgs } from 'node:util';
import path from 'node:path';
import { TRAIN_ASR_DEFAULTS, type TrainAsrConfig, trainAsr } from '../../src/train/asr.js';
import type { MetricsRecord } from '../../src/train/metrics.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '800' },
    run: { type: 'string', default: 'runs/asr-espeak' },
    out: { type: 'string', default: 'zoo/asr-espeak' },
    resume: { type: 'boolean', default: false },
    'train-only': { type: 'boolean', default: false },
  },
});

export const ZOO_ASR_CONFIG: Omit<TrainAsrConfig, 'out' | 'steps'> = {
  ...TRAIN_ASR_DEFAULTS,
  renditions: 2,
  checkpointEvery: 50,
  evalEvery: 100,
};
const config: TrainAsrConfig = { ...ZOO_ASR_CONFIG, out: path.resolve(args.run!), steps: Number(args.steps) };

let last = 0;
const r = await trainAsr(config, {
  resume: args.resume,
  onLog: (m) => console.log(m),
  onCheckpoint: (dir) => console.log(`checkpoint ${dir}`),
  onStep: (m: MetricsRecord) => {
    const evaluated = typeof m['val_loss'] === 'number';
    if (Date.now() - last < 30_000 && !evaluated) return;
    last = Date.now();
    const wer = evaluated ? ` val ${Number(m['val_loss']).toFixed(3)} WER held-out ${(100 * Number(m['val_wer'])).toFixed(1)}% train ${(100 * Number(m['train_wer'])).toFixed(1)}%` : '';
    console.log(`step ${m.step}/${config.steps} loss ${m.loss.toFixed(3)}${wer} ${m.tokens_per_s.toFixed(1)} tokens/s ${Number(m['elapsed_s']).toFixed(0)} s`);
  },
});
console.log(`trained ${r.steps} steps in ${Math.round(r.seconds)} s`);
if (args['train-only']) process.exit(0);
