// Image–text commands: `strata train-clip` (a small CLIP trained from scratch on generated scenes),
// `strata classify-image` (zero-shot classification against labels given as text) and
// `strata similarity` (image–text similarity and retrieval both ways).

import type { Command } from 'commander';
import { StrataError } from '../../errors.js';
import { setThreads } from '../../backend/threads.js';
import { loadImage } from '../../io/image.js';
import { TRAIN_CLIP_DEFAULTS, type TrainClipConfig, trainClip } from '../../train/clip.js';
import { imageTextSimilarity, loadClipPipeline, zeroShotClassify } from '../../pipelines/zero-shot-image.js';
import { classifyImage, isImageClassifierArchitecture, loadImageClassificationPipeline } from '../../pipelines/image-classification.js';
import { readConfigJson } from '../../io/hf.js';
import type { CliIO } from '../io.js';
import { nonNegativeInt, positiveInt, positiveNumber, unitFraction } from '../options.js';
import { formatDuration } from '../progress.js';
import { configFromFlags, runWithProgress, withRunOptions } from '../training-run.js';




/** "a red circle, a blue square" -> ['a red circle', 'a blue square'] */
export function parseLabels(list: string): string[] {
  const labels = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (!labels.length) throw new StrataError('argument', 'classify-image', '--labels needs at least one label (a comma-separated list, e.g. "a red circle,a blue square")');
  return labels;
}

type TrainClipFlags = Partial<Omit<TrainClipConfig, 'out'>> & { out: string; resume: boolean; threads?: number; json: boolean };

const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(1)}%`);

export function registerClip(program: Command, io: CliIO): void {
  const d = TRAIN_CLIP_DEFAULTS;
  const trainClipCommand = program
    .command('train-clip')
    .description('train a small CLIP from scratch on generated scenes (contrastive image–text pretraining); RUN ends as a Hugging Face directory')
    .requiredOption('--out <RUN>', 'the run folder: checkpoints, metrics.jsonl and the final model')
    .option('--steps <N>', `optimizer steps (default ${d.steps})`, positiveInt(1e9))
    .option('--batch-size <B>', `image–caption pairs per step (default ${d.batchSize})`, positiveInt(1 << 14))
    .option('--lr <X>', `peak learning rate (default ${d.lr})`, positiveNumber)
    .option('--warmup-steps <N>', 'linear warmup steps (default 5% of steps)', nonNegativeInt)
    .option('--weight-decay <X>', `AdamW weight decay (default ${d.weightDecay})`, Number)
    .option('--image-size <PX>', `image side (default ${d.imageSize})`, positiveInt(1024))
    .option('--patch-size <PX>', `ViT patch side (default ${d.patchSize})`, positiveInt(1024))
    .option('--dim <D>', `hidden size of both towers (default ${d.dim})`, positiveInt(1 << 14))
    .option('--layers <L>', `layers of each tower (default ${d.layers})`, positiveInt(256))
    .option('--heads <H>', `attention heads (default ${d.heads})`, positiveInt(256))
    .option('--projection-dim <E>', `shared embedding size (default ${d.projectionDim})`, positiveInt(1 << 14))
    .option('--text-context <T>', `text positions (default ${d.textContext})`, positiveInt(4096))
    .option('--train-scenes <N>', `training scenes, drawn lazily from the seed (default ${d.trainScenes})`, positiveInt(1e9))
    .option('--two-objects <X>', `share of two-object scenes (default ${d.twoObjects})`, unitFraction)
    .option('--hold-out <LIST>', `colour+shape combinations kept out of training, comma-separated (default "${d.holdOut}"; "" for none)`)
    .option('--drop-sizes <X>', `share of captions written without sizes (default ${d.dropSizes})`, unitFraction)
    .option('--eval-scenes <N>', `single-object scenes per zero-shot evaluation (default ${d.evalScenes})`, positiveInt(1e6));
  withRunOptions(trainClipCommand, d).action(async (f: TrainClipFlags) => {
    const c: TrainClipConfig = configFromFlags(d, f);
    const r = await runWithProgress(io, f, (callbacks) => trainClip(c, callbacks));
    const summary = {
      out: r.out, steps: r.steps, loss: r.lastLoss, eval: r.eval, parameters: r.parameters, zero_shot_seen: r.zeroShot.seen, zero_shot_held_out: r.zeroShot.heldOut,
      eval_scenes: r.zeroShot.scenes, seconds: r.seconds, resumed_from: r.resumedFrom,
    };
    if (f.json) io.out(`${JSON.stringify(summary)}\n`);
    else {
      io.out(`trained ${r.steps} steps in ${formatDuration(r.seconds)}: loss ${r.lastLoss.toFixed(4)}${r.eval?.['val_loss'] !== undefined ? `, val_loss ${r.eval['val_loss'].toFixed(4)}` : ''}\n`);
      io.out(`zero-shot accuracy on ${r.zeroShot.scenes} single-object scenes: seen ${pct(r.zeroShot.seen)}, held-out ${pct(r.zeroShot.heldOut)}\n`);
      io.out(`model: ${r.out} (strata classify-image --model ${r.out} IMG --labels "a red circle,a blue square")\n`);
    }
  });

  program
    .command('classify-image')
    .description('image classification: zero-shot with a CLIP model against --labels, or by the head of an image classifier (ViTForImageClassification, CLIPForImageClassification, e.g. a `strata finetune --task image-classification` run)')
    .argument('<IMG>', 'an image file (PNG, JPEG, WebP, ...)')
    .requiredOption('--model <PATH>', 'a CLIP or image-classifier Hugging Face directory (config.json, weights, preprocessor_config.json; tokenizer.json for zero-shot)')
    .option('--labels <LIST>', 'zero-shot: candidate labels, comma-separated ("a red circle,a blue square"); omit for a model with a classification head')
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line: {"labels": [...], "scores": [...]}, best first', false)
    .action(async (img: string, f: { model: string; labels?: string; threads?: number; json: boolean }) => {
      if (f.threads) setThreads(f.threads);
      const { raw } = readConfigJson(f.model);
      const headed = isImageClassifierArchitecture(String((raw['architectures'] as unknown[] | undefined)?.[0]));
      if (headed && f.labels !== undefined) throw new StrataError('argument', 'classify-image', `${f.model} has a classification head with its own labels; omit --labels`);
      if (!headed && f.labels === undefined) throw new StrataError('argument', 'classify-image', `${f.model} has no classification head: give --labels for zero-shot classification`);
      const image = await loadImage(img);
      let r: { labels: string[]; scores: number[] };
      if (headed) r = classifyImage(await loadImageClassificationPipeline(f.model), image);
      else {
        const p = await loadClipPipeline(f.model);
        r = zeroShotClassify(p.clip, p.tokenizer, p.processor, image, parseLabels(f.labels!));
      }
      if (f.json) io.out(`${JSON.stringify({ labels: r.labels, scores: r.scores })}\n`);
      else r.labels.forEach((label, i) => io.out(`${r.scores[i]!.toFixed(4)}  ${label}\n`));
    });

  program
    .command('similarity')
    .description('image–text similarity with a CLIP model, and retrieval both ways (texts ranked for each image, images for each text)')
    .requiredOption('--model <PATH>', 'a CLIP Hugging Face directory')
    .requiredOption('--image <IMG...>', 'one or more image files')
    .requiredOption('--text <TEXT...>', 'one or more texts')
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line: images, texts, similarity (cosine), logits_per_image, text_ranking, image_ranking', false)
    .action(async (f: { model: string; image: string[]; text: string[]; threads?: number; json: boolean }) => {
      if (f.threads) setThreads(f.threads);
      const images = [];
      for (const file of f.image) images.push(await loadImage(file));
      const p = await loadClipPipeline(f.model);
      const r = imageTextSimilarity(p.clip, p.tokenizer, p.processor, images, f.text);
      if (f.json) {
        io.out(`${JSON.stringify({ images: f.image, texts: f.text, similarity: r.similarity, logits_per_image: r.logitsPerImage, text_ranking: r.textRanking, image_ranking: r.imageRanking })}\n`);
        return;
      }
      io.out('cosine similarity (rows: images, columns: texts)\n');
      f.text.forEach((t, j) => io.out(`  [${j}] ${t}\n`));
      f.image.forEach((file, i) => io.out(`${r.similarity[i]!.map((s) => s.toFixed(4).padStart(8)).join(' ')}  ${file}  -> ${f.text[r.textRanking[i]![0]!]}\n`));
      f.text.forEach((t, j) => io.out(`best image for "${t}": ${f.image[r.imageRanking[j]![0]!]}\n`));
    });
}
