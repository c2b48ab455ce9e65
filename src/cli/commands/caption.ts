// Captioning commands: `strata caption` (a caption for an image from a VisionEncoderDecoderModel)
// and `strata train-captioner` (a ViT + GPT-2 captioner trained on generated scenes with
// teacher-forced cross-entropy; RUN ends as a Hugging Face directory).

import type { Command } from 'commander';
import { setThreads } from '../../backend/threads.js';
import { loadImage } from '../../io/image.js';
import { captionImages, loadCaptionPipeline } from '../../pipelines/caption.js';
import { TRAIN_CAPTIONER_DEFAULTS, type TrainCaptionerConfig, trainCaptioner } from '../../train/captioner.js';
import type { CliIO } from '../io.js';
import { nonNegativeInt, positiveInt, positiveNumber, unitFraction } from '../options.js';
import { formatDuration } from '../progress.js';
import { configFromFlags, runWithProgress, withRunOptions } from '../training-run.js';

type TrainCaptionerFlags = Partial<Omit<TrainCaptionerConfig, 'out'>> & { out: string; resume: boolean; threads?: number; json: boolean };

const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(1)}%`);

export function registerCaption(program: Command, io: CliIO): void {
  program
    .command('caption')
    .description('caption images with a vision encoder-decoder model (ViT + GPT-2), greedy or by beam search')
    .argument('<IMG...>', 'image files (PNG, JPEG, WebP, ...)')
    .requiredOption('--model <PATH>', 'a VisionEncoderDecoderModel Hugging Face directory (config.json, weights, tokenizer.json, preprocessor_config.json)')
    .option('--max-tokens <N>', 'most caption tokens (default: what the decoder positions leave)', positiveInt(1 << 16))
    .option('--num-beams <N>', 'beam search with N beams (default 1: greedy)', positiveInt(64))
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line per image: {"text": ...}', false)
    .action(async (files: string[], f: { model: string; maxTokens?: number; numBeams?: number; threads?: number; json: boolean }) => {
      if (f.threads) setThreads(f.threads);
      const parts = await loadCaptionPipeline(f.model);
      const images = [];
      for (const file of files) images.push(await loadImage(file));
      const captions = captionImages(parts, images, { maxTokens: f.maxTokens, numBeams: f.numBeams });
      captions.forEach((c, i) => {
        if (f.json) io.out(`${JSON.stringify({ text: c.text, ...(files.length > 1 ? { image: files[i] } : {}), tokens: c.tokens.length, finish_reason: c.finishReason })}\n`);
        else io.out(files.length > 1 ? `${files[i]}: ${c.text}\n` : `${c.text}\n`);
      });
    });

  const d = TRAIN_CAPTIONER_DEFAULTS;
  const trainCaptionerCommand = program
    .command('train-captioner')
    .description('train a ViT + GPT-2 captioner on generated scenes (teacher-forced cross-entropy); RUN ends as a Hugging Face directory')
    .requiredOption('--out <RUN>', 'the run folder: checkpoints, metrics.jsonl and the final model')
    .option('--steps <N>', `optimizer steps (default ${d.steps})`, positiveInt(1e9))
    .option('--batch-size <B>', `image–caption pairs per step (default ${d.batchSize})`, positiveInt(1 << 14))
    .option('--lr <X>', `peak learning rate (default ${d.lr})`, positiveNumber)
    .option('--warmup-steps <N>', 'linear warmup steps (default 5% of steps)', nonNegativeInt)
    .option('--weight-decay <X>', `AdamW weight decay (default ${d.weightDecay})`, Number)
    .option('--image-size <PX>', `image side (default ${d.imageSize})`, positiveInt(1024))
    .option('--patch-size <PX>', `ViT patch side (default ${d.patchSize})`, positiveInt(1024))
    .option('--encoder-dim <D>', `ViT width (default ${d.encoderDim})`, positiveInt(1 << 14))
    .option('--encoder-layers <L>', `ViT layers (default ${d.encoderLayers})`, positiveInt(256))
    .option('--encoder-heads <H>', `ViT heads (default ${d.encoderHeads})`, positiveInt(256))
    .option('--decoder-dim <D>', `GPT-2 width (default ${d.decoderDim})`, positiveInt(1 << 14))
    .option('--decoder-layers <L>', `GPT-2 layers (default ${d.decoderLayers})`, positiveInt(256))
    .option('--decoder-heads <H>', `GPT-2 heads (default ${d.decoderHeads})`, positiveInt(256))
    .option('--text-context <T>', `decoder positions (default ${d.textContext})`, positiveInt(4096))
    .option('--train-scenes <N>', `training scenes, drawn lazily from the seed (default ${d.trainScenes})`, positiveInt(1e9))
    .option('--two-objects <X>', `share of two-object scenes (default ${d.twoObjects})`, unitFraction)
    .option('--hold-out <LIST>', `colour+shape combinations kept out of training, comma-separated (default "${d.holdOut}"; "" for none)`)
    .option('--eval-scenes <N>', `scenes per exact-match / BLEU-4 evaluation, seen and held-out each (default ${d.evalScenes})`, positiveInt(1e6))
    .option('--init-encoder <CLIP>', 'start the ViT encoder from this CLIP directory\'s vision tower (e.g. zoo/clip-scenes)');
  withRunOptions(trainCaptionerCommand, d).action(async (f: TrainCaptionerFlags) => {
    const c: TrainCaptionerConfig = configFromFlags(d, f);
    const r = await runWithProgress(io, f, (callbacks) => trainCaptioner(c, callbacks));
    const e = r.eval ?? {};
    const summary = {
      out: r.out, steps: r.steps, loss: r.lastLoss, eval: r.eval, parameters: r.parameters, exact_match_seen: e['val_exact_seen'] ?? null, exact_match_held_out: e['val_exact_heldout'] ?? null,
      bleu4_seen: e['val_bleu4_seen'] ?? null, bleu4_held_out: e['val_bleu4_heldout'] ?? null, seconds: r.seconds, resumed_from: r.resumedFrom,
    };
    if (f.json) io.out(`${JSON.stringify(summary)}\n`);
    else {
      io.out(`trained ${r.steps} steps in ${formatDuration(r.seconds)}: loss ${r.lastLoss.toFixed(4)}${e['val_loss'] !== undefined ? `, val_loss ${e['val_loss'].toFixed(4)}` : ''}\n`);
      io.out(`greedy captions: exact match seen ${pct(e['val_exact_seen'])}, held-out ${pct(e['val_exact_heldout'])}; BLEU-4 seen ${pct(e['val_bleu4_seen'])}, held-out ${pct(e['val_bleu4_heldout'])}\n`);
      io.out(`model: ${r.out} (strata caption --model ${r.out} IMG)\n`);
    }
  });
}
