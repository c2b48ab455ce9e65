// `strata train-asr`: a small Whisper trained from scratch on English sentences spoken by espeak-ng;
// RUN ends as a Hugging Face directory that `strata transcribe` and `strata serve` run unchanged.

import type { Command } from 'commander';
import { TRAIN_ASR_DEFAULTS, type TrainAsrConfig, trainAsr } from '../../train/asr.js';
import type { CliIO } from '../io.js';
import { fraction, nonNegativeInt, positiveInt, positiveNumber } from '../options.js';
import { formatDuration } from '../progress.js';
import { configFromFlags, runWithProgress, withRunOptions } from '../training-run.js';

type TrainAsrFlags = Partial<Omit<TrainAsrConfig, 'out'>> & { out: string; resume: boolean; threads?: number; json: boolean };

const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(1)}%`);

export function registerAsr(program: Command, io: CliIO): void {
  const d = TRAIN_ASR_DEFAULTS;
  const trainAsrCommand = program
    .command('train-asr')
    .description('train a small Whisper from scratch on sentences spoken by espeak-ng (speech recognition); RUN ends as a Hugging Face directory')
    .requiredOption('--out <RUN>', 'the run folder: checkpoints, metrics.jsonl, the WAV cache (data/) and the final model')
    .option('--data-dir <DIR>', 'where synthesized WAVs are cached (default RUN/data; runs may share one)')
    .option('--steps <N>', `optimizer steps (default ${d.steps})`, positiveInt(1e9))
    .option('--batch-size <B>', `utterances per step (default ${d.batchSize})`, positiveInt(1 << 14))
    .option('--lr <X>', `peak learning rate (default ${d.lr})`, positiveNumber)
    .option('--warmup-steps <N>', 'linear warmup steps (default 5% of steps)', nonNegativeInt)
    .option('--weight-decay <X>', `AdamW weight decay (default ${d.weightDecay})`, Number)
    .option('--corpora <LIST>', `embedded corpora the sentences come from (default "${d.corpora}")`)
    .option('--vocabulary-words <N>', `the most frequent words that count as ordinary (default ${d.vocabularyWords})`, positiveInt(1e6))
    .option('--min-words <N>', `shortest sentence in words (default ${d.minWords})`, positiveInt(1000))
    .option('--max-words <N>', `longest sentence in words (default ${d.maxWords})`, positiveInt(1000))
    .option('--held-out-fraction <X>', `share of sentences kept out of training (default ${d.heldOutFraction})`, fraction)
    .option('--train-sentences <N>', 'training sentences used (default all)', nonNegativeInt)
    .option('--renditions <N>', `spoken versions of each training sentence (default ${d.renditions})`, positiveInt(100))
    .option('--voices <LIST>', `espeak-ng voices, comma-separated (default "${d.voices}")`)
    .option('--speed-min <WPM>', `slowest speech, words per minute (default ${d.speedMin})`, positiveInt(450))
    .option('--speed-max <WPM>', `fastest speech (default ${d.speedMax})`, positiveInt(450))
    .option('--pitch-min <P>', `lowest espeak-ng pitch, 0..99 (default ${d.pitchMin})`, nonNegativeInt)
    .option('--pitch-max <P>', `highest pitch (default ${d.pitchMax})`, nonNegativeInt)
    .option('--chunk-seconds <S>', `the encoder's window in seconds (default ${d.chunkSeconds})`, positiveNumber)
    .option('--hop-length <N>', `mel frame step in samples (default ${d.hopLength})`, positiveInt(1 << 16))
    .option('--mel-bins <M>', `mel bins (default ${d.melBins})`, positiveInt(512))
    .option('--d-model <C>', `hidden size (default ${d.dModel})`, positiveInt(1 << 14))
    .option('--encoder-layers <L>', `encoder layers (default ${d.encoderLayers})`, positiveInt(256))
    .option('--decoder-layers <L>', `decoder layers (default ${d.decoderLayers})`, positiveInt(256))
    .option('--heads <H>', `attention heads (default ${d.heads})`, positiveInt(256))
    .option('--ffn-dim <N>', `MLP width (default ${d.ffnDim})`, positiveInt(1 << 16))
    .option('--max-target-positions <T>', `decoder positions (default ${d.maxTargetPositions})`, positiveInt(4096))
    .option('--vocab-size <V>', `upper bound of the transcript tokenizer's vocabulary (default ${d.vocabSize})`, positiveInt(1 << 20))
    .option('--dropout <P>', `dropout on the residual branches while training (default ${d.dropout})`, fraction)
    .option('--freq-masks <N>', `SpecAugment: frequency bands masked per training utterance (default ${d.freqMasks} = off)`, nonNegativeInt)
    .option('--freq-mask-width <N>', `SpecAugment: widest band, mel bins (default ${d.freqMaskWidth})`, nonNegativeInt)
    .option('--time-masks <N>', `SpecAugment: time spans masked per training utterance (default ${d.timeMasks} = off)`, nonNegativeInt)
    .option('--time-mask-width <N>', `SpecAugment: longest span, frames (default ${d.timeMaskWidth}; at most a fifth of the speech)`, nonNegativeInt)
    .option('--init <DIR>', 'start from the weights of a model this command trained (a RUN folder or zoo/asr-espeak) with a fresh optimizer and schedule: a second stage with other settings')
    .option('--lm-order <N>', `word n-gram LM written to RUN/language_model/ from the training transcripts, used by transcribe (2 or 3; 0 = none; default ${d.lmOrder})`, nonNegativeInt)
    .option('--eval-sentences <N>', `held-out and training utterances per evaluation (default ${d.evalSentences})`, positiveInt(1e6));
  withRunOptions(trainAsrCommand, d).action(async (f: TrainAsrFlags) => {
    const c: TrainAsrConfig = configFromFlags(d, f);
    const r = await runWithProgress(io, f, (callbacks) => trainAsr(c, callbacks));
    const summary = {
      out: r.out, steps: r.steps, loss: r.lastLoss, eval: r.eval, parameters: r.parameters, held_out_wer: r.eval?.['val_wer'] ?? null, train_wer: r.eval?.['train_wer'] ?? null,
      train_utterances: r.data.train.length, held_out_utterances: r.data.heldOut.length, seconds: r.seconds, resumed_from: r.resumedFrom,
    };
    if (f.json) io.out(`${JSON.stringify(summary)}\n`);
    else {
      io.out(`trained ${r.steps} steps in ${formatDuration(r.seconds)}: loss ${r.lastLoss.toFixed(4)}${r.eval?.['val_loss'] !== undefined ? `, val_loss ${r.eval['val_loss'].toFixed(4)}` : ''}\n`);
      io.out(`word error rate: held-out ${pct(r.eval?.['val_wer'])}, training ${pct(r.eval?.['train_wer'])}\n`);
      io.out(`model: ${r.out} (strata transcribe --model ${r.out} AUDIO.wav)\n`);
    }
  });
}
