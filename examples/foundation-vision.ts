// The foundation paradigm beyond text, measured: the vision tower of zoo/clip-scenes (a CLIP
// pretrained here contrastively on generated scenes and their captions) adapted to four image
// classification tasks on scenes — shape (3-way), colour (6-way), count (one or two objects) and
// relation (4-way: left of / right of / above / below) — by a linear probe, by LoRA and by full
// fine-tuning, against the same tower architecture trained from scratch on the same labels.
// Two label budgets (default 200 and 2,000 labelled scenes, the smaller a prefix of the larger);
// every model is scored on the same held-out test scenes (another seed) per task.
//
//   STRATA_THREADS=1 nice node --import tsx examples/foundation-vision.ts [--out DIR]
//        [--tasks shape,colour,count,relation] [--budgets 200,2000] [--test N]
//        [--steps-small N] [--steps-large N] [--probe-steps N] [--quick]
//        [--variants probe,probe-cls,lora,full,scratch]
//
// Compute is held equal across the methods that run the tower: each trains for the same number
// of steps of 32 images at a given budget (--steps-small / --steps-large); a probe computes the
// tower's features once and then trains its head for --probe-steps cheap steps. 'probe-cls' probes
// the pooled [CLS] embedding instead of the mean patch state the saved classifier reads. Each run is an
// ordinary adaptImageClassifier call; the same runs can be made with `strata finetune --task
// image-classification --data scenes:TASK` (the command is printed). Writes DIR/results.json
// and prints the table.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setThreads } from '../src/backend/threads.js';
import { Linear } from '../src/nn/layers.js';
import { noGrad } from '../src/tensor/grad-mode.js';
import { Generator } from '../src/tensor/random.js';
import { Trainer } from '../src/train/trainer.js';
import {
  type AdaptOptions,
  FeatureProbeTask,
  type ImageClassifierSetup,
  type LabelledImages,
  type SceneTask,
  SCENE_TASKS,
  TEST_SCENE_SEED,
  TRAIN_SCENE_SEED,
  VISION_DEFAULT_LR,
  type VisionInit,
  type VisionMethod,
  adaptImageClassifier,
  imageSetFeatures,
  loadImageClassifier,
  sceneImageSet,
  sceneTaskLabels,
  takeImages,
} from '../src/train/vision-finetune.js';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'runs/foundation-vision' },
    model: { type: 'string', default: 'zoo/clip-scenes' },
    tasks: { type: 'string', default: SCENE_TASKS.join(',') },
    budgets: { type: 'string', default: '200,2000' },
    test: { type: 'string', default: '300' },
    'steps-small': { type: 'string', default: '25' },
    'steps-large': { type: 'string', default: '50' },
    'probe-steps': { type: 'string', default: '300' },
    variants: { type: 'string', default: 'probe,lora,full,scratch' },
    quick: { type: 'boolean', default: false },
  },
});
if (process.env['STRATA_THREADS']) setThreads(Number(process.env['STRATA_THREADS']));
const out = path.resolve(args.out!);
const quick = args.quick!;
const tasks = args.tasks!.split(',') as SceneTask[];
const budgets = (quick ? '32,64' : args.budgets!).split(',').map(Number);
const testCount = quick ? 64 : Number(args.test);
const stepsFor = (budget: number) => (quick ? 3 : budget === budgets[0] ? Number(args['steps-small']) : Number(args['steps-large']));
const probeSteps = quick ? 20 : Number(args['probe-steps']);
fs.mkdirSync(out, { recursive: true });

interface Variant {
  key: string;
  name: string;
  method: VisionMethod;
  init: VisionInit;
  lr: number;
}

// the library's default learning rates, set once before any run was scored (no search)
const ALL_VARIANTS: Variant[] = [
  { key: 'probe', name: 'linear probe', method: 'linear-probe', init: 'pretrained', lr: VISION_DEFAULT_LR['linear-probe'] },
  // the same probe on the pooled [CLS] after post_layernorm: the vector CLIP's contrastive loss trained
  { key: 'probe-cls', name: 'linear probe on the CLIP embedding', method: 'linear-probe', init: 'pretrained', lr: VISION_DEFAULT_LR['linear-probe'] },
  { key: 'lora', name: 'LoRA (r=8, q/k/v/out)', method: 'lora', init: 'pretrained', lr: VISION_DEFAULT_LR.lora },
  { key: 'full', name: 'full fine-tuning', method: 'full', init: 'pretrained', lr: VISION_DEFAULT_LR.full },
  { key: 'scratch', name: 'from scratch', method: 'full', init: 'scratch', lr: VISION_DEFAULT_LR.scratch },
];
const VARIANTS = args.variants!.split(',').map((k) => ALL_VARIANTS.find((v) => v.key === k) ?? fail(`unknown variant '${k}' (known: ${ALL_VARIANTS.map((v) => v.key).join(', ')})`));

function fail(message: string): never {
  throw new Error(message);
}

/** A probe of the pooled [CLS] embedding: a fresh linear head trained on features computed once. */
function embeddingProbe(setup: ImageClassifierSetup, train: LabelledImages, test: LabelledImages, steps: number, lr: number, runDir: string): { accuracy: number; f1: number; seconds: number; trainable: number } {
  const t0 = performance.now();
  const trainFeatures = { ...imageSetFeatures(setup.model, train, 'embedding'), labels: train.labels };
  const testFeatures = { ...imageSetFeatures(setup.model, test, 'embedding'), labels: test.labels };
  const head = new Linear(trainFeatures.dim, setup.model.numLabels, { generator: new Generator(0) });
  const task = new FeatureProbeTask(head, trainFeatures, testFeatures, { batchSize: 32, seed: 0 });
  new Trainer(head, task, { steps, lr, weightDecay: 0.01, seed: 0, runDir }).run();
  const m = noGrad(() => task.evaluate());
  return { accuracy: m['val_accuracy']!, f1: m['val_f1']!, seconds: (performance.now() - t0) / 1000, trainable: head.numParameters() };
}

interface Row {
  task: SceneTask;
  budget: number;
  variant: string;
  method: VisionMethod;
  init: VisionInit;
  accuracy: number;
  f1: number;
  steps: number;
  trainable: number;
  seconds: number;
}

const rows: Row[] = [];
const started = performance.now();
for (const task of tasks) {
  const labels = sceneTaskLabels(task);
  const probe = await loadImageClassifier(args.model!, labels);
  const imageSize = probe.model.imageSize[0];
  const t0 = performance.now();
  const maxBudget = Math.max(...budgets);
  const train = sceneImageSet(task, { count: maxBudget, seed: TRAIN_SCENE_SEED, processor: probe.processor, imageSize });
  const test = sceneImageSet(task, { count: testCount, seed: TEST_SCENE_SEED, processor: probe.processor, imageSize });
  console.log(`[${task}] ${maxBudget} training and ${testCount} test scenes rendered in ${((performance.now() - t0) / 1000).toFixed(1)} s; labels ${labels.join(', ')}`);
  for (const budget of budgets) {
    const subset: LabelledImages = takeImages(train, budget);
    for (const v of VARIANTS) {
      const setup = await loadImageClassifier(args.model!, labels, { init: v.init, seed: 0 });
      const steps = v.method === 'linear-probe' ? probeSteps : stepsFor(budget);
      const runDir = path.join(out, 'runs', `${task}-${budget}-${v.key}`);
      fs.rmSync(runDir, { recursive: true, force: true });
      const o: AdaptOptions = { method: v.method, steps, batchSize: 32, lr: v.lr, weightDecay: 0.01, seed: 0, loraRank: 8, loraAlpha: 16, loraDropout: 0, evalEvery: 0, checkpointEvery: 0, runDir };
      let row: Row;
      if (v.key === 'probe-cls') {
        const e = embeddingProbe(setup, subset, test, steps, v.lr, runDir);
        row = { task, budget, variant: v.name, method: v.method, init: v.init, ...e, steps };
      } else {
        const r = adaptImageClassifier(setup, subset, test, o);
        row = { task, budget, variant: v.name, method: v.method, init: v.init, accuracy: r.test['val_accuracy']!, f1: r.test['val_f1']!, steps, trainable: r.trainableParameters, seconds: r.seconds + r.featureSeconds };
      }
      rows.push(row);
      console.log(`[${task} ${budget}] ${v.name}: accuracy ${(100 * row.accuracy).toFixed(1)}%, ${steps} steps, ${row.trainable.toLocaleString('en-US')} trainable, ${row.seconds.toFixed(0)} s`);
      fs.writeFileSync(path.join(out, 'results.json'), `${JSON.stringify({ testScenes: testCount, budgets, rows, elapsedSeconds: (performance.now() - started) / 1000 }, null, 2)}\n`);
    }
  }
  console.log(`  same run by the CLI: strata finetune --model ${args.model} --task image-classification --data scenes:${task} --method lora --train-limit ${budgets[0]} --steps ${stepsFor(budgets[0]!)} --out RUN`);
}

const elapsed = (performance.now() - started) / 1000;
console.log(`\nheld-out accuracy (${testCount} test scenes per task), ${elapsed.toFixed(0)} s in all\n`);
const header = `| task | labels | ${VARIANTS.map((v) => v.name).join(' | ')} |`;
console.log(header);
console.log(`|${'---|'.repeat(VARIANTS.length + 2)}`);
for (const task of tasks) {
  for (const budget of budgets) {
    const cells = VARIANTS.map((v) => rows.find((r) => r.task === task && r.budget === budget && r.variant === v.name)).map((r) => (r ? `${(100 * r.accuracy).toFixed(1)}%` : '-'));
    console.log(`| ${task} | ${budget} | ${cells.join(' | ')} |`);
  }
}
