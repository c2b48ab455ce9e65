import fs from 'node:fs';
import type { Command } from 'commander';
import { StrataError } from '../../errors.js';
import { setThreads } from '../../backend/threads.js';
import { PRETRAIN_ARCHS, PRETRAIN_DEFAULTS, type PretrainConfig, pretrain } from '../../train/pretrain.js';
import { FINETUNE_DEFAULTS, FINETUNE_TASKS, type FinetuneConfig, finetune } from '../../train/finetune.js';
import { evaluateModel } from '../../train/evaluate.js';
import { SCENE_TASKS, VISION_FINETUNE_DEFAULTS, type VisionFinetuneConfig, isSceneData, visionFinetune } from '../../train/vision-finetune.js';
import type { ExportDType, ExportFormat } from '../../train/export.js';

// listed here so `strata --help` does not load the GGUF writer
const EXPORT_FORMATS = ['hf', 'gguf'] as const;
const EXPORT_DTYPES = ['f32', 'f16', 'q8_0'] as const;
import type { CliIO } from '../io.js';
import { fraction, nonNegativeInt, positiveInt, positiveNumber } from '../options.js';
import { TrainingProgress, formatDuration } from '../progress.js';




/**
 * A typed config from a JSON file (camelCase keys, as the library takes them) and the flags given
 * on the command line, which win. Unknown keys and wrong types are refused by name.
 */
function mergeConfig<T extends object>(command: string, defaults: Partial<T>, known: Record<string, 'number' | 'string' | 'boolean'>, file: string | undefined, flags: Record<string, unknown>): T {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    try {
      fromFile = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new StrataError('io', file, `cannot read the config (${err instanceof Error ? err.message : String(err)})`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) throw new StrataError('io', file, 'the config must be a JSON object');
    for (const [k, v] of Object.entries(fromFile)) {
      if (!(k in known)) throw new StrataError('argument', file, `unknown setting '${k}' for ${command} (known: ${Object.keys(known).join(', ')})`);
      if (typeof v !== known[k]) throw new StrataError('argument', file, `setting '${k}' must be a ${known[k]}, got ${JSON.stringify(v)}`);
    }
  }
  const given = Object.fromEntries(Object.entries(flags).filter(([k, v]) => v !== undefined && k in known));
  return { ...defaults, ...fromFile, ...given } as T;
}

const PRETRAIN_KEYS = {
  arch: 'string', data: 'string', field: 'string', tokenizer: 'string', out: 'string', dim: 'number', layers: 'number', heads: 'number', kvHeads: 'number',
  ffn: 'number', context: 'number', vocabSize: 'number', steps: 'number', batchSize: 'number', gradAccumulation: 'number', lr: 'number',
  warmupSteps: 'number', weightDecay: 'number', seed: 'number', checkpointEvery: 'number', evalEvery: 'number', valFraction: 'number',
} as const;

const FINETUNE_KEYS = {
  model: 'string', data: 'string', task: 'string', method: 'string', out: 'string', field: 'string', labelField: 'string', loraRank: 'number',
  loraAlpha: 'number', loraDropout: 'number', loraTargets: 'string', steps: 'number', epochs: 'number', batchSize: 'number', lr: 'number',
  warmupSteps: 'number', weightDecay: 'number', seed: 'number', maxLength: 'number', testFraction: 'number', trainLimit: 'number', checkpointEvery: 'number', evalEvery: 'number',
  init: 'string', testScenes: 'number',
} as const;

function required<T extends object>(c: T, keys: (keyof T)[], command: string): void {
  const missing = keys.filter((k) => c[k] === undefined);
  if (missing.length) throw new StrataError('argument', command, `missing ${missing.map((k) => `--${String(k).replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`).join(', ')} (give it as a flag or in --config)`);
}

interface CommonFlags {
  config?: string;
  resume: boolean;
  threads?: number;
  json: boolean;
}

const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`;

/** `strata finetune --task image-classification`: a vision tower adapted on a folder of images or a scene task (train/vision-finetune.ts). */
async function runVisionFinetune(io: CliIO, given: Partial<FinetuneConfig & VisionFinetuneConfig>, flags: CommonFlags): Promise<void> {
  const textOnly = (['field', 'labelField', 'maxLength'] as const).filter((k) => given[k] !== undefined);
  if (textOnly.length) throw new StrataError('argument', 'finetune', `${textOnly.map(flagName).join(', ')} apply to text tasks, not image-classification`);
  required(given, ['model', 'data', 'out'], 'finetune');
  const scenes = isSceneData(given.data!);
  const misplaced = scenes ? given.testFraction !== undefined && '--test-fraction' : given.testScenes !== undefined && '--test-scenes';
  if (misplaced) throw new StrataError('argument', 'finetune', `${misplaced} applies to ${scenes ? 'a folder of images' : 'scenes:TASK data'}, not to ${scenes ? given.data : 'a folder'}`);
  // --train-limit is the label budget: scenes to generate, or a seeded subset of the folder's training images
  const { trainLimit, ...rest } = given;
  const c = { ...VISION_FINETUNE_DEFAULTS, ...rest, ...(trainLimit !== undefined ? (scenes ? { trainScenes: trainLimit } : { trainLimit }) : {}) } as VisionFinetuneConfig;
  const progress = new TrainingProgress(io, { quiet: flags.json });
  try {
    const r = await visionFinetune(c, {
      resume: flags.resume,
      onLog: (m) => progress.log(m),
      onStart: (s) => progress.start(s.startStep, s.totalSteps, `${c.init === 'scratch' ? 'from scratch' : c.method} (image-classification, ${c.data}): ${s.trainableParameters.toLocaleString('en-US')} trainable parameters, ${s.totalSteps} steps`),
      onStep: (rec) => progress.step(rec),
    });
    progress.stop();
    const d = r.data;
    const summary = {
      out: r.out, task: r.task, data: c.data, labels: r.labels, steps: r.steps, loss: r.lastLoss, test: r.test, train_examples: r.trainExamples, test_examples: r.testExamples,
      counts: d.counts, test_source: d.testSource, skipped: d.skipped.length, skipped_files: d.skipped.map((s) => s.file), ignored: d.ignored, adapter: r.adapter,
      trainable_parameters: r.trainableParameters, total_parameters: r.totalParameters, seconds: r.seconds + r.featureSeconds,
    };
    if (flags.json) io.out(`${JSON.stringify(summary)}\n`);
    else {
      const scored = scenes ? `held-out (${r.testExamples} scenes)` : d.testSource === 'held-out' ? `held-out (${r.testExamples} images)` : `${d.testSource}/ (${r.testExamples} images)`;
      io.out(
        `trained ${r.steps} steps in ${formatDuration(r.seconds + r.featureSeconds)} (${r.trainableParameters.toLocaleString('en-US')} of ${r.totalParameters.toLocaleString('en-US')} parameters) on ${r.trainExamples} images of ${r.labels.length} labels\n` +
          (d.skipped.length ? `skipped ${d.skipped.length} unreadable file${d.skipped.length > 1 ? 's' : ''} (listed in --json's skipped_files)\n` : '') +
          `${scored}: accuracy ${(100 * r.test['val_accuracy']!).toFixed(1)}%, f1 ${r.test['val_f1']!.toFixed(4)}\nmodel: ${r.out} (strata classify-image --model ${r.out} IMG)${r.adapter ? `\nPEFT adapter: ${r.adapter}` : ''}\n`,
      );
    }
  } finally {
    progress.stop();
  }
}

export function registerTrain(program: Command, io: CliIO): void {
  program
    .command('pretrain')
    .description('pretrain a model from scratch on a text corpus (trains a tokenizer first when none is given)')
    .option('--arch <ARCH>', `architecture: ${PRETRAIN_ARCHS.join(', ')} (default ${PRETRAIN_DEFAULTS.arch})`)
    .option('--data <SPEC>', 'a text file, folder, JSONL file or corpus:moby-dick | corpus:sotu | corpus:spam-assassin')
    .option('--field <NAME>', 'JSONL field holding the text (default text)')
    .option('--tokenizer <DIR>', 'a folder with tokenizer.json to use instead of training one')
    .option('--out <RUN>', 'the run folder: checkpoints, metrics.jsonl and the final model')
    .option('--dim <D>', `hidden size (default ${PRETRAIN_DEFAULTS.dim})`, positiveInt(1 << 16))
    .option('--layers <L>', `layers (default ${PRETRAIN_DEFAULTS.layers})`, positiveInt(1024))
    .option('--heads <H>', `attention heads (default ${PRETRAIN_DEFAULTS.heads})`, positiveInt(1024))
    .option('--kv-heads <K>', 'key/value heads, llama (default: heads)', positiveInt(1024))
    .option('--ffn <F>', 'MLP width (default 4·dim; llama 8/3·dim)', positiveInt(1 << 18))
    .option('--context <T>', `tokens per training window (default ${PRETRAIN_DEFAULTS.context})`, positiveInt(1 << 16))
    .option('--vocab-size <V>', `tokenizer vocabulary when one is trained (default ${PRETRAIN_DEFAULTS.vocabSize})`, positiveInt(1 << 20))
    .option('--steps <N>', `optimizer steps (default ${PRETRAIN_DEFAULTS.steps})`, positiveInt(1e9))
    .option('--batch-size <B>', `windows per step (default ${PRETRAIN_DEFAULTS.batchSize})`, positiveInt(1 << 16))
    .option('--grad-accumulation <N>', 'micro-batches per step (default 1)', positiveInt(1024))
    .option('--lr <X>', `peak learning rate (default ${PRETRAIN_DEFAULTS.lr})`, positiveNumber)
    .option('--warmup-steps <N>', 'linear warmup steps (default 5% of steps)', nonNegativeInt)
    .option('--weight-decay <X>', `AdamW weight decay (default ${PRETRAIN_DEFAULTS.weightDecay})`, Number)
    .option('--seed <S>', 'seed for init, data order and dropout (default 0)', nonNegativeInt)
    .option('--checkpoint-every <N>', `steps between checkpoints (default ${PRETRAIN_DEFAULTS.checkpointEvery}; 0 = end only)`, nonNegativeInt)
    .option('--eval-every <N>', `steps between evaluations (default ${PRETRAIN_DEFAULTS.evalEvery}; 0 = end only)`, nonNegativeInt)
    .option('--val-fraction <X>', `share of windows held out for validation (default ${PRETRAIN_DEFAULTS.valFraction})`, fraction)
    .option('--config <FILE>', 'settings as a JSON object (camelCase keys); flags override it')
    .option('--resume', 'continue the run in --out from its latest checkpoint', false)
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line with the result (no progress)', false)
    .action(async (flags: Record<string, unknown> & CommonFlags) => {
      if (flags.threads) setThreads(flags.threads);
      const c = mergeConfig<PretrainConfig>('pretrain', PRETRAIN_DEFAULTS, PRETRAIN_KEYS, flags.config, flags);
      required(c, ['data', 'out'], 'pretrain');
      const progress = new TrainingProgress(io, { quiet: flags.json });
      try {
        const r = await pretrain(c, {
          resume: flags.resume,
          onLog: (m) => progress.log(m),
          onStart: (s) => progress.start(s.startStep, s.totalSteps, `${s.resumedFrom ? `resuming from ${s.resumedFrom}` : 'training from step 0'}: ${s.trainableParameters.toLocaleString('en-US')} parameters, ${s.totalSteps} steps`),
          onStep: (rec) => progress.step(rec),
        });
        progress.stop();
        const summary = { out: r.out, steps: r.steps, loss: r.lastLoss, eval: r.eval, parameters: r.parameters, tokens_seen: r.tokensSeen, corpus_tokens: r.corpusTokens, seconds: r.seconds, resumed_from: r.resumedFrom };
        if (flags.json) io.out(`${JSON.stringify(summary)}\n`);
        else io.out(`trained ${r.steps} steps in ${formatDuration(r.seconds)}: loss ${r.lastLoss.toFixed(4)}${r.eval?.['val_loss'] !== undefined ? `, val_loss ${r.eval['val_loss'].toFixed(4)} (perplexity ${r.eval['val_perplexity']?.toFixed(2)})` : ''}\nmodel: ${r.out} (${c.arch === 'bert' ? 'strata fill-mask' : 'strata generate'} --model ${r.out})\n`);
      } finally {
        progress.stop();
      }
    });

  program
    .command('finetune')
    .description('adapt a pretrained model: classification/regression head, instruction tuning (sft) or causal-LM; full, LoRA or linear probe')
    .option('--model <PATH>', 'a pretrained Hugging Face directory')
    .option('--data <SPEC>', 'labelled JSONL (text, label), corpus:spam-assassin, chat JSONL (sft), text (causal-lm), or for image-classification a folder of class folders (DIR/cat/*.jpg, or DIR/train/cat/... with DIR/test/)')
    .option('--task <TASK>', `${FINETUNE_TASKS.join(' | ')} | image-classification (a vision tower: CLIP or ViT; --data DIR or scenes:${SCENE_TASKS.join('|')})`)
    .option('--method <M>', 'full | lora | linear-probe (same as --lora / --linear-probe)')
    .option('--init <I>', 'image-classification: pretrained (default) | scratch (the same architecture, randomly initialized; a baseline)')
    .option('--test-scenes <N>', `image-classification: held-out test scenes (default ${VISION_FINETUNE_DEFAULTS.testScenes})`, positiveInt(1e6))
    .option('--out <RUN>', 'the run folder; ends as a Hugging Face directory of the adapted model')
    .option('--lora', 'train LoRA adapters instead of every weight', false)
    .option('--linear-probe', 'train only the new head on frozen features', false)
    .option('--lora-rank <R>', `LoRA rank (default ${FINETUNE_DEFAULTS.loraRank})`, positiveInt(4096))
    .option('--lora-alpha <A>', `LoRA alpha (default ${FINETUNE_DEFAULTS.loraAlpha})`, positiveNumber)
    .option('--lora-dropout <P>', 'dropout on the LoRA input (default 0)', fraction)
    .option('--lora-targets <REGEX>', 'modules to adapt: a regex over module names or a comma list (default attention projections)')
    .option('--field <NAME>', 'JSONL text field (default text)')
    .option('--label-field <NAME>', 'JSONL label field (default label)')
    .option('--steps <N>', 'optimizer steps (default: --epochs over the training split)', positiveInt(1e9))
    .option('--epochs <N>', `passes over the training split (default ${FINETUNE_DEFAULTS.epochs})`, positiveInt(1e6))
    .option('--batch-size <B>', `examples per step (default ${FINETUNE_DEFAULTS.batchSize})`, positiveInt(1 << 16))
    .option('--lr <X>', `peak learning rate (default ${FINETUNE_DEFAULTS.lr})`, positiveNumber)
    .option('--warmup-steps <N>', 'linear warmup steps (default 5% of steps)', nonNegativeInt)
    .option('--weight-decay <X>', `AdamW weight decay (default ${FINETUNE_DEFAULTS.weightDecay})`, Number)
    .option('--max-length <T>', `tokens per example (default ${FINETUNE_DEFAULTS.maxLength})`, positiveInt(1 << 16))
    .option('--test-fraction <X>', `held-out share (default ${FINETUNE_DEFAULTS.testFraction}; an image folder: of each class, when it has no test/)`, fraction)
    .option('--train-limit <N>', 'train on a seeded subset of N examples of the training split (a labelled-data budget)', positiveInt(1e9))
    .option('--seed <S>', 'seed (default 0)', nonNegativeInt)
    .option('--checkpoint-every <N>', 'steps between checkpoints (default: end only)', nonNegativeInt)
    .option('--eval-every <N>', 'steps between evaluations (default: end only)', nonNegativeInt)
    .option('--config <FILE>', 'settings as a JSON object (camelCase keys); flags override it')
    .option('--resume', 'continue the run in --out from its latest checkpoint', false)
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line with the result (no progress)', false)
    .action(async (flags: Record<string, unknown> & CommonFlags & { lora: boolean; linearProbe: boolean }) => {
      if (flags.threads) setThreads(flags.threads);
      if (flags.lora && flags.linearProbe) throw new StrataError('argument', 'finetune', 'choose one of --lora and --linear-probe');
      if ((flags.lora || flags.linearProbe) && flags['method'] !== undefined) throw new StrataError('argument', 'finetune', 'give the method once: --method, --lora or --linear-probe');
      const method = flags.lora ? 'lora' : flags.linearProbe ? 'linear-probe' : (flags['method'] as string | undefined);
      const given = mergeConfig<Partial<FinetuneConfig & VisionFinetuneConfig>>('finetune', {}, FINETUNE_KEYS, flags.config, { ...flags, method });
      if ((given.task as string | undefined) === 'image-classification') {
        await runVisionFinetune(io, given, flags);
        return;
      }
      const c = { ...FINETUNE_DEFAULTS, ...given } as FinetuneConfig;
      required(c, ['model', 'data', 'task', 'out'], 'finetune');
      const progress = new TrainingProgress(io, { quiet: flags.json });
      try {
        const r = await finetune(c, {
          resume: flags.resume,
          onLog: (m) => progress.log(m),
          onStart: (s) => progress.start(s.startStep, s.totalSteps, `${c.method} fine-tuning (${c.task}): ${s.trainableParameters.toLocaleString('en-US')} trainable parameters, ${s.totalSteps} steps`),
          onStep: (rec) => progress.step(rec),
        });
        progress.stop();
        const summary = { out: r.out, steps: r.steps, loss: r.lastLoss, test: r.test, train_examples: r.trainExamples, test_examples: r.testExamples, trainable_parameters: r.trainableParameters, total_parameters: r.totalParameters, seconds: r.seconds };
        if (flags.json) io.out(`${JSON.stringify(summary)}\n`);
        else io.out(`trained ${r.steps} steps in ${formatDuration(r.seconds)} (${r.trainableParameters.toLocaleString('en-US')} of ${r.totalParameters.toLocaleString('en-US')} parameters)\nheld-out (${r.testExamples}): ${Object.entries(r.test).map(([k, v]) => `${k.replace(/^val_/, '')} ${v.toFixed(4)}`).join(', ')}\nmodel: ${r.out}\n`);
      } finally {
        progress.stop();
      }
    });

  program
    .command('eval')
    .description("a model's metrics on a dataset: accuracy/F1 (classifiers), perplexity (language models)")
    .requiredOption('--model <PATH>', 'a Hugging Face directory (a run folder works)')
    .requiredOption('--data <SPEC>', 'labelled JSONL / corpus for classifiers, text for language models, a folder of class folders of images for image classifiers')
    .option('--field <NAME>', 'JSONL text field (default text)')
    .option('--label-field <NAME>', 'JSONL label field (default label)')
    .option('--batch-size <B>', 'examples per batch (default 16)', positiveInt(1 << 16))
    .option('--max-length <T>', 'tokens per example or window (default 128)', positiveInt(1 << 16))
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line', false)
    .action(async (f: { model: string; data: string; field?: string; labelField?: string; batchSize?: number; maxLength?: number; threads?: number; json: boolean }) => {
      if (f.threads) setThreads(f.threads);
      const r = await evaluateModel(f.model, f.data, { field: f.field, labelField: f.labelField, batchSize: f.batchSize, maxLength: f.maxLength, onLog: f.json ? undefined : (m) => io.err(`strata: ${m}\n`) });
      if (f.json) io.out(`${JSON.stringify(r)}\n`);
      else {
        const what = r.kind.endsWith('lm') ? 'windows' : r.kind === 'image-classification' ? `images (${r.split === 'all' ? 'every class folder' : `the ${r.split} split`})` : 'examples';
        io.out(`${r.kind} on ${r.examples} ${what}: ${Object.entries(r.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}\n`);
        if (r.skipped?.length) io.err(`strata: ${r.skipped.length} unreadable image(s) skipped, e.g. ${r.skipped[0]!.file}: ${r.skipped[0]!.reason}\n`);
      }
    });

  program
    .command('export')
    .description('write a model as a Hugging Face directory or a GGUF file (llama.cpp, Ollama)')
    .argument('<RUN>', 'a run folder or Hugging Face directory')
    .requiredOption('--format <FMT>', EXPORT_FORMATS.join(' | '))
    .option('--dtype <T>', `${EXPORT_DTYPES.join(' | ')} (default f32 for hf, f16 for gguf)`)
    .requiredOption('--out <PATH>', 'a folder (hf) or a .gguf file')
    .option('--json', 'print one JSON line', false)
    .action(async (run: string, f: { format: string; dtype?: string; out: string; json: boolean }) => {
      const { exportModel } = await import('../../train/export.js');
      const r = await exportModel(run, { format: f.format as ExportFormat, dtype: f.dtype as ExportDType | undefined, out: f.out });
      if (f.json) io.out(`${JSON.stringify({ format: f.format, files: r.files, bytes: r.bytes })}\n`);
      else io.out(`wrote ${r.files.join(', ')} (${(r.bytes / 1e6).toFixed(1)} MB)\n`);
    });
}
