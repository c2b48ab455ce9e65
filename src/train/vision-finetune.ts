// Adapting a pretrained vision tower to image classification (issue 5: "fine-tuning and linear
// probes of the vision tower"): the tower of a CLIP checkpoint (or a ViT) gets a new linear head
// and is trained on labelled scenes by one of three methods:
//
//   linear-probe  the tower frozen; its features are computed once per image, and only the head
//                 trains on them (so a probe costs one forward pass per image, then almost nothing)
//   lora          LoRA adapters on the tower's attention projections, plus the head
//   full          every weight
//
// or, as the baseline the paradigm is measured against, the same architecture from a random
// initialization (`init: 'scratch'`, trained fully).
//
// The data is the user's own images, a folder of class folders (train/image-folder.ts: the layout of
// torchvision's ImageFolder and Hugging Face's imagefolder), or a task read off generated scenes
// (train/scenes.ts): 'shape' (3-way) and 'colour' (6-way) of a single object, 'count' (one or two
// objects), 'relation' (4-way: how the first object of a two-object scene stands to the second).
// Training scenes come from one seed and test scenes from another, both far from the seeds
// zoo/clip-scenes was pretrained on, and every colour+shape combination may appear.
//
// RUN ends as a Hugging Face image classifier: CLIPForImageClassification for a CLIP tower,
// ViTForImageClassification for a ViT (LoRA merged in), config.json with id2label/label2id,
// preprocessor_config.json, eval_results.json, metrics.jsonl and checkpoints/; a LoRA run also
// writes RUN/adapter/, the PEFT adapter (adapter_config.json, adapter_model.safetensors) that puts
// the same classifier on the base checkpoint (modules_to_save: the head).
//
// Shapes: N images, B batch, Ci image channels, H x W image, C hidden (feature size), L labels.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { readConfigJson } from '../io/hf.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveAdapter } from '../io/peft.js';
import { type ImageProcessorConfig, PREPROCESSOR_CONFIG_FILE, imageProcessorConfigToJson, readImageProcessorConfig } from '../io/preprocessor.js';
import { CLIPForImageClassification } from '../models/clip/classification.js';
import { type LoadedModel, loadModel, saveModel } from '../models/load.js';
import { type ModelConfig, createModel, parseModelConfig } from '../models/registry.js';
import { ViTForImageClassification } from '../models/vit.js';
import { type LoRAConfig, applyLora, unloadLora } from '../nn/lora.js';
import type { Linear } from '../nn/layers.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import { crossEntropy } from '../tensor/ops/loss.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { BatchSampler } from './data.js';
import { classificationMetrics } from './tasks.js';
import { Trainer, type TrainerCallbacks, type TrainResult, type TrainingTask } from './trainer.js';
import { type LabelledImages, type SceneTask, type VisionDataSummary, imageBatch, isSceneData, parseSceneTaskSpec, visionData, visionLabels } from './vision-data.js';

// the data side lives in vision-data.ts; these names are part of this module's API
export {
  type FloatImages,
  type LabelledImages,
  SCENE_TASKS,
  type SceneTask,
  TEST_SCENE_SEED,
  TRAIN_SCENE_SEED,
  imageBatch,
  isSceneData,
  parseSceneTaskSpec,
  sceneImageSet,
  sceneTaskLabel,
  sceneTaskLabels,
  takeImages,
} from './vision-data.js';

export const VISION_METHODS = ['linear-probe', 'lora', 'full'] as const;
export type VisionMethod = (typeof VISION_METHODS)[number];
export const VISION_INITS = ['pretrained', 'scratch'] as const;
export type VisionInit = (typeof VISION_INITS)[number];

/** A vision tower with a linear head: what the methods adapt. */
export type ImageClassifierModel = CLIPForImageClassification | ViTForImageClassification;

/**
 * pixels (B, Ci, H, W) -> features (B, C). 'head': what the classifier reads (CLIP's mean patch
 * state, ViT's final [CLS]). 'embedding': the tower's pooled [CLS] (for CLIP after post_layernorm:
 * the vector its contrastive loss trained, before the projection) — for probes that compare them.
 */
export function imageFeatures(model: ImageClassifierModel, pixels: Tensor, pooling: 'head' | 'embedding' = 'head'): Tensor {
  if (model instanceof CLIPForImageClassification) return pooling === 'head' ? model.features(pixels) : model.encodeImage(pixels).pooled!;
  return model.encodeImage(pixels).lastHiddenState.select(1, 0); // (B, C)
}

interface TowerKind {
  architecture: 'CLIPForImageClassification' | 'ViTForImageClassification';
  family: 'clip' | 'vit';
  loraTargets: string[];
}

const TOWERS: Record<'clip' | 'vit', TowerKind> = {
  clip: { architecture: 'CLIPForImageClassification', family: 'clip', loraTargets: ['q_proj', 'k_proj', 'v_proj', 'out_proj'] },
  vit: { architecture: 'ViTForImageClassification', family: 'vit', loraTargets: ['attention.attention.query', 'attention.attention.key', 'attention.attention.value', 'attention.output.dense'] },
};

function towerOf(modelType: unknown, file: string): TowerKind {
  if (modelType === 'clip' || modelType === 'vit') return TOWERS[modelType];
  throw new StrataError('unsupported', file, `model_type '${String(modelType).slice(0, 40)}' has no vision tower to classify with (use a CLIP or ViT checkpoint)`);
}

const HEAD = /^classifier\./;

export interface ImageClassifierSetup {
  model: ImageClassifierModel;
  config: ModelConfig;
  architecture: string;
  tower: TowerKind;
  processor: ImageProcessorConfig;
  /** parameters initialized fresh (the head; everything with init 'scratch') */
  initializedKeys: string[];
}

/**
 * The vision tower of `dir` (CLIP or ViT) with a new head for `labels`: pretrained weights, or the
 * same architecture randomly initialized (`init: 'scratch'`). A checkpoint that already has a
 * classifier for the same labels keeps it; one for other labels gets a fresh head.
 */
export async function loadImageClassifier(dir: string, labels: readonly string[], options: { init?: VisionInit; seed?: number } = {}): Promise<ImageClassifierSetup> {
  const { raw, file } = readConfigJson(dir);
  const tower = towerOf(raw['model_type'], file);
  const processor = readImageProcessorConfig(dir, { family: tower.family });
  const id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  const sameLabels = JSON.stringify(raw['id2label']) === JSON.stringify(id2label) && String((raw['architectures'] as unknown[] | undefined)?.[0]) === tower.architecture;
  const overrides = { num_labels: labels.length, id2label, problem_type: 'single_label_classification' };
  const generator = new Generator(options.seed ?? 0);
  if (options.init === 'scratch') {
    const { config } = parseModelConfig({ ...raw, ...overrides }, file);
    const model = createModel(config, { architecture: tower.architecture, generator }) as ImageClassifierModel;
    return { model, config, architecture: tower.architecture, tower, processor, initializedKeys: model.namedParameters().map(([k]) => k) };
  }
  const isClassifier = String((raw['architectures'] as unknown[] | undefined)?.[0]).endsWith('ForImageClassification');
  if (isClassifier && !sameLabels) {
    // a head for other labels: the tower as it is, under a fresh head of the new shape
    const old = await loadModel(dir, { architecture: tower.architecture });
    const { config } = parseModelConfig({ ...raw, ...overrides }, file);
    const model = createModel(config, { architecture: tower.architecture, generator }) as ImageClassifierModel;
    model.loadStateDict(Object.fromEntries(old.model.namedParameters().filter(([k]) => !HEAD.test(k))), { strict: false });
    model.eval();
    const initializedKeys = model.namedParameters().map(([k]) => k).filter((k) => HEAD.test(k));
    return { model, config, architecture: tower.architecture, tower, processor, initializedKeys };
  }
  const loaded: LoadedModel = await loadModel(dir, {
    architecture: tower.architecture,
    // a CLIPModel's text tower and projections are not part of the classifier
    strict: false,
    configOverrides: overrides,
    initializeMissing: (k) => HEAD.test(k),
    generator,
  });
  return { model: loaded.model as ImageClassifierModel, config: loaded.config, architecture: loaded.architecture, tower, processor, initializedKeys: loaded.initializedKeys };
}

/** Accuracy and mean cross-entropy of logits rows against labels. */
function scoreLogits(logits: Float32Array | number[], labels: Int32Array, numLabels: number): Record<string, number> {
  const n = labels.length;
  const predictions: number[] = [];
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.from(logits.slice(i * numLabels, (i + 1) * numLabels));
    const max = Math.max(...row);
    const logSum = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    loss += logSum - row[labels[i]!]!;
    predictions.push(row.indexOf(max));
  }
  const m = classificationMetrics(predictions, Array.from(labels), numLabels);
  return { val_loss: loss / n, val_accuracy: m.accuracy, val_f1: m.f1 };
}

const EVAL_BATCH = 64;

/** Logits (N * L, row-major) of a whole image set, in eval batches, without gradients. */
export function predictImages(model: ImageClassifierModel, set: LabelledImages): Float32Array {
  const L = model.numLabels;
  const out = new Float32Array(set.count * L);
  noGrad(() => {
    for (let i = 0; i < set.count; i += EVAL_BATCH) {
      const idx = Array.from({ length: Math.min(EVAL_BATCH, set.count - i) }, (_, k) => i + k);
      out.set(model.forward(imageBatch(set, idx)).contiguous().toArray() as unknown as Float32Array, i * L); // (B, L)
    }
  });
  return out;
}

/** Accuracy, F1 and loss of a classifier on an image set. */
export function evaluateImages(model: ImageClassifierModel, set: LabelledImages): Record<string, number> {
  const was = model.training;
  model.eval();
  try {
    return scoreLogits(predictImages(model, set), set.labels, model.numLabels);
  } finally {
    model.train(was);
  }
}

/** Features (N, C) of a whole image set, computed once in eval mode for a linear probe. */
export function imageSetFeatures(model: ImageClassifierModel, set: LabelledImages, pooling: 'head' | 'embedding' = 'head'): { features: Float32Array; dim: number } {
  const was = model.training;
  model.eval();
  let features: Float32Array | null = null;
  let dim = 0;
  try {
    noGrad(() => {
      for (let i = 0; i < set.count; i += EVAL_BATCH) {
        const idx = Array.from({ length: Math.min(EVAL_BATCH, set.count - i) }, (_, k) => i + k);
        const f = imageFeatures(model, imageBatch(set, idx), pooling); // (B, C)
        dim = f.shape[1]!;
        features ??= new Float32Array(set.count * dim);
        features.set(f.contiguous().toArray() as unknown as Float32Array, i * dim);
      }
    });
  } finally {
    model.train(was);
  }
  return { features: features!, dim };
}

interface TaskState {
  sampler: { epoch: number; index: number };
}

/** Cross-entropy of the classifier on batches of training images (full fine-tuning, LoRA, scratch). */
export class ImageClassificationTask implements TrainingTask {
  private readonly sampler: BatchSampler;

  constructor(
    readonly model: ImageClassifierModel,
    readonly train: LabelledImages,
    readonly test: LabelledImages | null,
    readonly options: { batchSize: number; seed: number },
  ) {
    this.sampler = new BatchSampler(train.count, options.batchSize, options.seed);
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    const idx = this.sampler.next();
    const logits = this.model.forward(imageBatch(this.train, idx)); // (B, L)
    const labels = fromArray(Int32Array.from(idx, (i) => this.train.labels[i]!), [idx.length], { dtype: 'i32' });
    return { loss: crossEntropy(logits, labels), tokens: idx.length };
  }

  evaluate(): Record<string, number> {
    return this.test ? scoreLogits(predictImages(this.model, this.test), this.test.labels, this.model.numLabels) : {};
  }

  state(): TaskState {
    return { sampler: this.sampler.state };
  }

  restore(state: unknown): void {
    const s = state as TaskState | null;
    if (!s?.sampler) throw new StrataError('io', 'ImageClassificationTask', 'the checkpoint holds no data position for this task');
    this.sampler.restore(s.sampler);
  }
}

/** A linear probe: the head on features computed once (the tower never runs during training). */
export class FeatureProbeTask implements TrainingTask {
  private readonly sampler: BatchSampler;

  constructor(
    readonly head: Linear,
    readonly train: { features: Float32Array; dim: number; labels: Int32Array },
    readonly test: { features: Float32Array; dim: number; labels: Int32Array } | null,
    readonly options: { batchSize: number; seed: number },
  ) {
    this.sampler = new BatchSampler(train.labels.length, options.batchSize, options.seed);
  }

  private rows(set: { features: Float32Array; dim: number }, idx: readonly number[]): Tensor {
    const out = new Float32Array(idx.length * set.dim);
    idx.forEach((i, b) => out.set(set.features.subarray(i * set.dim, (i + 1) * set.dim), b * set.dim));
    return fromArray(out, [idx.length, set.dim]); // (B, C)
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    const idx = this.sampler.next();
    const logits = this.head.forward(this.rows(this.train, idx)); // (B, L)
    return { loss: crossEntropy(logits, fromArray(Int32Array.from(idx, (i) => this.train.labels[i]!), [idx.length], { dtype: 'i32' })), tokens: idx.length };
  }

  evaluate(): Record<string, number> {
    if (!this.test) return {};
    const n = this.test.labels.length;
    const logits = this.head.forward(this.rows(this.test, Array.from({ length: n }, (_, i) => i))); // (N, L)
    return scoreLogits(logits.contiguous().toArray() as unknown as Float32Array, this.test.labels, logits.shape[1]!);
  }

  state(): TaskState {
    return { sampler: this.sampler.state };
  }

  restore(state: unknown): void {
    const s = state as TaskState | null;
    if (!s?.sampler) throw new StrataError('io', 'FeatureProbeTask', 'the checkpoint holds no data position for this task');
    this.sampler.restore(s.sampler);
  }
}

export interface AdaptOptions {
  method: VisionMethod;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps?: number;
  weightDecay: number;
  seed: number;
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  /** module-name suffixes to adapt (default: the tower's attention projections) */
  loraTargets?: string[];
  evalEvery: number;
  checkpointEvery: number;
  runDir: string;
  resume?: boolean;
  configDigest?: string;
}

export interface AdaptResult extends TrainResult {
  /** metrics on the test images after training */
  test: Record<string, number>;
  trainableParameters: number;
  totalParameters: number;
  /** seconds spent computing probe features (0 for the other methods) */
  featureSeconds: number;
  /** what applyLora was given (method 'lora'; null otherwise): the adapter's config */
  lora: LoRAConfig | null;
}

/**
 * Trains `setup.model` on `train` by `method` and scores it on `test`. LoRA adapters stay in the
 * model (unloadLora merges them); the tower of a linear probe is left exactly as it was.
 */
export function adaptImageClassifier(setup: Pick<ImageClassifierSetup, 'model' | 'tower'>, train: LabelledImages, test: LabelledImages, o: AdaptOptions, callbacks: TrainerCallbacks = {}): AdaptResult {
  const model = setup.model;
  const generator = new Generator(o.seed);
  let task: TrainingTask;
  let featureSeconds = 0;
  let lora: LoRAConfig | null = null;
  if (o.method === 'linear-probe') {
    for (const [name, p] of model.namedParameters()) p.requiresGrad_(HEAD.test(name));
    const t0 = performance.now();
    const trainFeatures = { ...imageSetFeatures(model, train), labels: train.labels };
    const testFeatures = { ...imageSetFeatures(model, test), labels: test.labels };
    featureSeconds = (performance.now() - t0) / 1000;
    task = new FeatureProbeTask(model.classifier, trainFeatures, testFeatures, { batchSize: o.batchSize, seed: o.seed });
  } else {
    if (o.method === 'lora') {
      lora = { rank: o.loraRank, alpha: o.loraAlpha, dropout: o.loraDropout, targets: o.loraTargets ?? setup.tower.loraTargets, modulesToSave: ['classifier'] };
      applyLora(model, { ...lora, generator });
    } else for (const p of model.parameters()) p.requiresGrad_(true);
    task = new ImageClassificationTask(model, train, test, { batchSize: o.batchSize, seed: o.seed });
  }
  const trainable = model.parameters().filter((p) => p.requiresGrad).reduce((n, p) => n + p.size, 0);
  const trainer = new Trainer(
    model,
    task,
    { steps: o.steps, lr: o.lr, warmupSteps: o.warmupSteps, weightDecay: o.weightDecay, seed: o.seed, evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, runDir: o.runDir, resume: o.resume, configDigest: o.configDigest },
    callbacks,
  );
  const result = trainer.run();
  model.eval();
  const testMetrics = o.method === 'linear-probe' ? noGrad(() => task.evaluate!()) : evaluateImages(model, test);
  return { ...result, test: testMetrics, trainableParameters: trainable, totalParameters: model.numParameters(), featureSeconds, lora };
}

export interface VisionFinetuneConfig {
  /** a CLIP or ViT Hugging Face directory */
  model: string;
  /** a folder of class folders (train/image-folder.ts), or scenes:shape | scenes:colour | scenes:count | scenes:relation */
  data: string;
  method: VisionMethod;
  init: VisionInit;
  out: string;
  /** scenes: labelled training scenes (the label budget) */
  trainScenes: number;
  /** scenes: test scenes */
  testScenes: number;
  /** a folder without a test split: the share of each class held out (default 0.2) */
  testFraction?: number;
  /** a folder: train on a seeded subset of this many training images (the label budget) */
  trainLimit?: number;
  /** optimizer steps; default: `epochs` passes over the training images */
  steps?: number;
  epochs: number;
  batchSize: number;
  /** peak learning rate; default by method (VISION_DEFAULT_LR) */
  lr?: number;
  warmupSteps?: number;
  weightDecay: number;
  seed: number;
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  /** comma-separated module-name suffixes (default: the tower's attention projections) */
  loraTargets?: string;
  checkpointEvery: number;
  evalEvery: number;
}

export const VISION_FINETUNE_DEFAULTS = {
  method: 'full',
  init: 'pretrained',
  trainScenes: 2000,
  testScenes: 500,
  epochs: 3,
  batchSize: 32,
  weightDecay: 0.01,
  seed: 0,
  loraRank: 8,
  loraAlpha: 16,
  loraDropout: 0,
  checkpointEvery: 0,
  evalEvery: 0,
} as const satisfies Partial<VisionFinetuneConfig>;

/**
 * Learning rates by what trains: a head alone and LoRA's low-rank updates take larger steps than
 * every weight of a pretrained tower; a random tower sits between.
 */
export const VISION_DEFAULT_LR: Readonly<Record<VisionMethod | 'scratch', number>> = { 'linear-probe': 1e-2, lora: 2e-3, full: 5e-4, scratch: 1e-3 };

function check(cond: boolean, message: string): void {
  if (!cond) throw new StrataError('argument', 'finetune', message);
}

export function validateVisionFinetuneConfig(c: VisionFinetuneConfig): VisionFinetuneConfig {
  check((VISION_METHODS as readonly string[]).includes(c.method), `the method must be one of ${VISION_METHODS.join(', ')}, got '${c.method}'`);
  check((VISION_INITS as readonly string[]).includes(c.init), `init must be one of ${VISION_INITS.join(', ')}, got '${c.init}'`);
  check(c.init === 'pretrained' || c.method === 'full', `a model trained from scratch trains every weight: use init 'scratch' with method 'full', not '${c.method}'`);
  for (const k of ['trainScenes', 'testScenes', 'epochs', 'batchSize', 'loraRank'] as const) check(Number.isSafeInteger(c[k]) && c[k] >= 1 && c[k] <= 1e7, `${k} must be an integer in [1, 1e7], got ${c[k]}`);
  check(c.steps === undefined || (Number.isSafeInteger(c.steps) && c.steps >= 1), `steps must be an integer >= 1, got ${c.steps}`);
  check(c.lr === undefined || (c.lr > 0 && Number.isFinite(c.lr)), `lr must be > 0, got ${c.lr}`);
  check(c.loraAlpha > 0, `loraAlpha must be > 0, got ${c.loraAlpha}`);
  check(c.loraDropout >= 0 && c.loraDropout < 1, `loraDropout must be in [0, 1), got ${c.loraDropout}`);
  check(Number.isSafeInteger(c.seed) && c.seed >= 0 && c.seed < 1e9, `seed must be an integer in [0, 1e9), got ${c.seed}`);
  check(typeof c.data === 'string' && c.data.length > 0, 'data must be a folder of class folders or scenes:TASK');
  if (isSceneData(c.data)) {
    parseSceneTaskSpec(c.data);
    check(c.testFraction === undefined && c.trainLimit === undefined, 'testFraction and trainLimit apply to a folder of images; scenes take trainScenes and testScenes');
  } else {
    check(c.testFraction === undefined || (c.testFraction > 0 && c.testFraction < 1), `testFraction must be in (0, 1), got ${c.testFraction}`);
    check(c.trainLimit === undefined || (Number.isSafeInteger(c.trainLimit) && c.trainLimit >= 1), `trainLimit must be an integer >= 1, got ${c.trainLimit}`);
  }
  return c;
}

export interface VisionFinetuneResult extends AdaptResult {
  out: string;
  /** the scene task; null for a folder */
  task: SceneTask | null;
  labels: readonly string[];
  trainExamples: number;
  testExamples: number;
  data: Omit<VisionDataSummary, 'train' | 'test' | 'labels' | 'fingerprint'>;
  /** RUN/adapter for a LoRA run; null otherwise */
  adapter: string | null;
}

/** Fine-tunes (or probes) the vision tower of `c.model` on a folder of images or a scene task and writes RUN (see the file comment). */
export async function visionFinetune(given: VisionFinetuneConfig, options: { resume?: boolean; onLog?(message: string): void } & TrainerCallbacks = {}): Promise<VisionFinetuneResult> {
  const c = validateVisionFinetuneConfig(given);
  const task = isSceneData(c.data) ? parseSceneTaskSpec(c.data) : null;
  // the labels of a folder are its class folders: read before the model is built around them
  const { labels, folder } = visionLabels(c);
  fs.mkdirSync(c.out, { recursive: true });
  writeFileAtomic(path.join(c.out, 'finetune_config.json'), [Buffer.from(`${JSON.stringify({ ...c, task: 'image-classification', out: undefined }, null, 2)}\n`)]);
  const setup = await loadImageClassifier(c.model, labels, { init: c.init, seed: c.seed });
  if (c.init === 'pretrained' && setup.initializedKeys.length) options.onLog?.(`new head: ${setup.initializedKeys.join(', ')}`);
  const { train, test, fingerprint, ...data } = await visionData(c, setup.processor, setup.model.imageSize[0], { folder, onLog: options.onLog });
  const steps = c.steps ?? Math.max(1, Math.ceil((train.count * c.epochs) / c.batchSize));
  const configDigest = createHash('sha256').update(JSON.stringify({ ...c, steps: undefined, out: undefined, fingerprint })).digest('hex').slice(0, 16);
  const r = adaptImageClassifier(
    setup,
    train,
    test,
    { ...c, steps, lr: c.lr ?? VISION_DEFAULT_LR[c.init === 'scratch' ? 'scratch' : c.method], loraTargets: c.loraTargets?.split(',').filter(Boolean), runDir: c.out, resume: options.resume, configDigest },
    options,
  );
  let adapter: string | null = null;
  if (r.lora) {
    // PEFT has no image-classification task type; its image-classification recipe leaves task_type unset
    adapter = path.join(c.out, 'adapter');
    saveAdapter(adapter, setup.model, { ...r.lora, baseModel: c.model, taskType: null });
    unloadLora(setup.model, { merge: true });
  }
  const label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  saveModel(c.out, setup.model, { ...setup.config, label2id } as unknown as ModelConfig, { architecture: setup.architecture });
  writeFileAtomic(path.join(c.out, PREPROCESSOR_CONFIG_FILE), [Buffer.from(`${JSON.stringify(imageProcessorConfigToJson(setup.processor), null, 2)}\n`)]);
  const evalResults = { split: 'test', ...(task ? { task } : { data: c.data, test_source: data.testSource }), examples: test.count, ...r.test };
  writeFileAtomic(path.join(c.out, 'eval_results.json'), [Buffer.from(`${JSON.stringify(evalResults, null, 2)}\n`)]);
  return { ...r, out: c.out, task, labels, trainExamples: train.count, testExamples: test.count, data: { ...data }, adapter };
}
