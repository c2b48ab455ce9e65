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
//
// Compute is held equal across the methods that run the tower: each trains for the same number
// of steps of 32 images at a given budget (--steps-small / --steps-large); a probe computes the
// tower's features once and then trains its head for --probe-steps cheap steps. Each run is an
// ordinary adaptImageClassifier call; the same runs can be made with `strata finetune --task
// image-classification --data scenes:TASK` (the command is printed). Writes DIR/results.json
// and prints the table.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setThreads } from '../src/backend/threads.js';
import {
  type AdaptOptions,
  type LabelledImages,
  type SceneTask,
  SCENE_TASKS,
  TEST_SCENE_SEED,
  TRAIN_SCENE_SEED,
  VISION_DEFAULT_LR,
  type VisionInit,
  type VisionMethod,
  adaptImageClassifier,
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
  name: string;
  method: VisionMethod;
  init: VisionInit;
  lr: number;
}

// the library's default learning rates, set once before any run was scored (no search)
const VARIANTS: Variant[] = [
  { name: 'linear probe', method: 'linear-probe', init: 'pretrained', lr: VISION_DEFAULT_LR['linear-probe'] },
  { name: 'LoRA (r=8, q/k/v/out)', method: 'lora', init: 'pretrained', lr: VISION_DEFAULT_LR.lora },
  { name: 'full fine-tuning', method: 'full', init: 'pretrained', lr: VISION_DEFAULT_LR.full },
  { name: 'from scratch', method: 'full', init: 'scratch', lr: VISION_DEFAULT_LR.scratch },
];

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
      const runDir = path.join(out, 'runs', `${task}-${budget}-${v.name.split(' ')[0]!.toLowerCase()}${v.init === 'scratch' ? '-scratch' : ''}`);
      fs.rmSync(runDir, { recursive: true, force: true });
      const o: AdaptOptions = { method: v.method, steps, batchSize: 32, lr: v.lr, weightDecay: 0.01, seed: 0, loraRank: 8, loraAlpha: 16, loraDropout: 0, evalEvery: 0, checkpointEvery: 0, runDir };
      const r = adaptImageClassifier(setup, subset, test, o);
      const row: Row = { task, budget, variant: v.name, method: v.method, init: v.init, accuracy: r.test['val_accuracy']!, f1: r.test['val_f1']!, steps, trainable: r.trainableParameters, seconds: r.seconds + r.featureSeconds };
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
