// `strata finetune` as a library call: adapt a pretrained Hugging Face directory to a downstream
// task — sequence classification or regression (a new head), supervised instruction tuning on chat
// JSONL, or continued causal-LM training — by full fine-tuning, LoRA, or a linear probe (frozen
// base, only the head trains). RUN ends as a Hugging Face directory of the adapted model (LoRA
// merged in), plus RUN/adapter (a PEFT adapter) for LoRA, eval_results.json, metrics.jsonl and
// checkpoints/.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { copyTokenizerFiles, readConfigJson } from '../io/hf.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveAdapter } from '../io/peft.js';
import { type LoadedModel, loadModel, saveModel } from '../models/load.js';
import type { ModelConfig } from '../models/registry.js';
import type { CausalLM } from '../models/types.js';
import { applyLora, unloadLora } from '../nn/lora.js';
import type { Module } from '../nn/module.js';
import { Generator } from '../tensor/random.js';
import { loadTokenizer } from '../tokenizers/index.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { TokenWindows, packCorpus, splitLabelled } from './data.js';
import { readDocuments, sourceFingerprint } from './sources.js';
import { buildSftExample, padTokenId, readChatExamples } from './sft.js';
import { CausalLMTask, type Classifier, ClassificationTask, type LabelledExample, SftTask, encodeExample } from './tasks.js';
import { Trainer, type TrainerCallbacks, type TrainResult, type TrainingTask } from './trainer.js';

export const FINETUNE_TASKS = ['classification', 'regression', 'sft', 'causal-lm'] as const;
export type FinetuneTask = (typeof FINETUNE_TASKS)[number];
export const FINETUNE_METHODS = ['full', 'lora', 'linear-probe'] as const;
export type FinetuneMethod = (typeof FINETUNE_METHODS)[number];

export interface FinetuneConfig {
  /** a pretrained Hugging Face directory */
  model: string;
  data: string;
  task: FinetuneTask;
  method: FinetuneMethod;
  out: string;
  /** JSONL text / label fields */
  field?: string;
  labelField?: string;
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  /** a regex over module names, or a comma-separated list of module name suffixes */
  loraTargets?: string;
  /** optimizer steps; default: `epochs` passes over the training split */
  steps?: number;
  epochs: number;
  batchSize: number;
  lr: number;
  warmupSteps?: number;
  weightDecay: number;
  seed: number;
  /** tokens per example (longer ones are truncated) */
  maxLength: number;
  /** held-out share (classification/regression/sft) or validation share (causal-lm) */
  testFraction: number;
  /** classification/regression: train on a seeded random subset of this many examples of the training split (the held-out split is unchanged) */
  trainLimit?: number;
  checkpointEvery: number;
  evalEvery: number;
}

export const FINETUNE_DEFAULTS = {
  method: 'full',
  loraRank: 8,
  loraAlpha: 16,
  loraDropout: 0,
  epochs: 1,
  batchSize: 16,
  lr: 1e-3,
  weightDecay: 0.01,
  seed: 0,
  maxLength: 128,
  testFraction: 0.2,
  checkpointEvery: 0,
  evalEvery: 0,
} as const satisfies Partial<FinetuneConfig>;

export interface FinetuneCallbacks extends TrainerCallbacks {
  onLog?(message: string): void;
}

export interface FinetuneResult extends TrainResult {
  out: string;
  /** metrics on the held-out split, computed after training */
  test: Record<string, number>;
  trainExamples: number;
  testExamples: number;
  trainableParameters: number;
  totalParameters: number;
}

/** Sequence-classification architecture and head modules for each model_type. */
const CLASSIFIER_OF: Record<string, { architecture: string; head: RegExp; modulesToSave: string[] }> = {
  llama: { architecture: 'LlamaForSequenceClassification', head: /^score\./, modulesToSave: ['score'] },
  mistral: { architecture: 'MistralForSequenceClassification', head: /^score\./, modulesToSave: ['score'] },
  qwen2: { architecture: 'Qwen2ForSequenceClassification', head: /^score\./, modulesToSave: ['score'] },
  palm: { architecture: 'PalmForSequenceClassification', head: /^score\./, modulesToSave: ['score'] },
  gpt2: { architecture: 'GPT2ForSequenceClassification', head: /^score\./, modulesToSave: ['score'] },
  bert: { architecture: 'BertForSequenceClassification', head: /^(classifier\.|bert\.pooler\.)/, modulesToSave: ['classifier', 'pooler'] },
  roberta: { architecture: 'RobertaForSequenceClassification', head: /^classifier\./, modulesToSave: ['classifier'] },
};

const DEFAULT_LORA_TARGETS: Record<string, string[]> = {
  bert: ['query', 'key', 'value', 'attention.output.dense'],
  roberta: ['query', 'key', 'value', 'attention.output.dense'],
};

function check(cond: boolean, message: string): void {
  if (!cond) throw new StrataError('argument', 'finetune', message);
}

export function validateFinetuneConfig(c: FinetuneConfig): FinetuneConfig {
  check((FINETUNE_TASKS as readonly string[]).includes(c.task), `--task must be one of ${FINETUNE_TASKS.join(', ')}, got '${c.task}'`);
  check((FINETUNE_METHODS as readonly string[]).includes(c.method), `the method must be one of ${FINETUNE_METHODS.join(', ')}, got '${c.method}'`);
  check(c.method !== 'linear-probe' || c.task === 'classification' || c.task === 'regression', 'a linear probe trains a head: use it with --task classification or regression');
  for (const k of ['loraRank', 'epochs', 'batchSize', 'maxLength'] as const) check(Number.isInteger(c[k]) && c[k] >= 1, `${k} must be an integer >= 1, got ${c[k]}`);
  check(c.steps === undefined || (Number.isInteger(c.steps) && c.steps >= 1), `steps must be an integer >= 1, got ${c.steps}`);
  check(c.loraAlpha > 0, `loraAlpha must be > 0, got ${c.loraAlpha}`);
  check(c.loraDropout >= 0 && c.loraDropout < 1, `loraDropout must be in [0, 1), got ${c.loraDropout}`);
  check(c.lr > 0 && Number.isFinite(c.lr), `lr must be > 0, got ${c.lr}`);
  check(c.testFraction > 0 && c.testFraction < 1, `testFraction must be in (0, 1), got ${c.testFraction}`);
  check(c.trainLimit === undefined || (Number.isInteger(c.trainLimit) && c.trainLimit >= 2), `trainLimit must be an integer >= 2, got ${c.trainLimit}`);
  return c;
}

/** A --lora-targets value: a plain comma list of names, or a regular expression over whole module names. */
export function parseLoraTargets(spec: string | undefined, modelType: string): string[] | RegExp {
  if (!spec) return DEFAULT_LORA_TARGETS[modelType] ?? (modelType === 'gpt2' ? ['c_attn'] : ['q_proj', 'k_proj', 'v_proj', 'o_proj']);
  if (/^[\w.]+(,[\w.]+)*$/.test(spec)) return spec.split(',');
  try {
    return new RegExp(`^(?:${spec})$`);
  } catch (err) {
    throw new StrataError('argument', 'finetune', `--lora-targets '${spec}' is not a valid regular expression (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Labelled examples of a dataset and the label names (sorted) they use. */
function labelledExamples(c: FinetuneConfig, tokenizer: Tokenizer, labelNames: string[] | null): { train: LabelledExample[]; test: LabelledExample[]; labels: string[] } {
  const docs = [...readDocuments(c.data, { field: c.field, labelField: c.labelField })];
  const unlabelled = docs.findIndex((d) => d.label === undefined);
  if (unlabelled >= 0) throw new StrataError('argument', c.data, `document ${unlabelled + 1} has no label (set the label field with --label-field)`);
  const labels = labelNames ?? [...new Set(docs.map((d) => String(d.label)))].sort();
  if (c.task === 'classification' && labels.length < 2) throw new StrataError('argument', c.data, `classification needs at least 2 labels, found ${labels.length} (${labels.join(', ')})`);
  const index = new Map(labels.map((l, i) => [l, i]));
  const encode = (d: { text: string; label?: string }): LabelledExample => {
    let label: number;
    if (c.task === 'regression') {
      label = Number(d.label);
      if (!Number.isFinite(label)) throw new StrataError('argument', c.data, `regression needs numeric labels, got '${String(d.label).slice(0, 40)}'`);
    } else {
      const i = index.get(String(d.label));
      if (i === undefined) throw new StrataError('argument', c.data, `label '${String(d.label).slice(0, 40)}' is not one of the model's labels (${labels.join(', ')})`);
      label = i;
    }
    return { ids: encodeExample(tokenizer, d.text, c.maxLength), label };
  };
  const { train, test } = c.task === 'regression' ? seededSplit(docs, Math.round(docs.length * (1 - c.testFraction)), c.seed) : splitLabelled(docs, { testFraction: c.testFraction, seed: c.seed });
  const kept = c.trainLimit !== undefined && c.trainLimit < train.length ? seededSplit(train, c.trainLimit, c.seed).train : train;
  return { train: kept.map(encode), test: test.map(encode), labels };
}

/** A seeded split without strata (regression targets are numbers; chat examples have no label). */
function seededSplit<T>(docs: readonly T[], trainCount: number, seed: number): { train: T[]; test: T[] } {
  const order = docs.map((_, i) => i);
  const g = new Generator(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = g.integer(0, i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const trainSet = new Set(order.slice(0, trainCount));
  return { train: docs.filter((_, i) => trainSet.has(i)), test: docs.filter((_, i) => !trainSet.has(i)) };
}

function freezeAllBut(model: Module, keep: RegExp): number {
  let n = 0;
  for (const [name, p] of model.namedParameters()) {
    const train = keep.test(name);
    p.requiresGrad_(train);
    if (train) n += p.size;
  }
  return n;
}

/** Fine-tunes `c.model` on `c.data` and writes RUN (see the file comment). */
export async function finetune(given: FinetuneConfig, options: { resume?: boolean } & FinetuneCallbacks = {}): Promise<FinetuneResult> {
  const c = validateFinetuneConfig(given);
  const resume = options.resume ?? false;
  fs.mkdirSync(c.out, { recursive: true });
  writeFileAtomic(path.join(c.out, 'finetune_config.json'), [Buffer.from(`${JSON.stringify({ ...c, out: undefined }, null, 2)}\n`)]);
  const tokenizer = await loadTokenizer(c.model);
  const { raw, file } = readConfigJson(c.model);
  const modelType = String(raw['model_type']);
  const generator = new Generator(c.seed);
  const classify = c.task === 'classification' || c.task === 'regression';

  let loaded: LoadedModel;
  let task: TrainingTask;
  let trainCount: number;
  let testCount: number;
  let evaluateTest: () => Record<string, number>;
  let head: RegExp | null = null;
  let modulesToSave: string[] = [];
  if (classify) {
    const cls = CLASSIFIER_OF[modelType];
    if (!cls) throw new StrataError('unsupported', file, `no sequence-classification head for model_type '${modelType}'`);
    const existing = raw['id2label'] && typeof raw['id2label'] === 'object' && String((raw['architectures'] as string[] | undefined)?.[0]).endsWith('ForSequenceClassification') ? Object.values(raw['id2label'] as Record<string, string>) : null;
    const data = labelledExamples(c, tokenizer, c.task === 'classification' ? existing : null);
    options.onLog?.(`${data.train.length} training and ${data.test.length} held-out examples${c.task === 'classification' ? `, labels ${data.labels.join(', ')}` : ''}`);
    const overrides = c.task === 'regression'
      ? { num_labels: 1, id2label: { 0: 'value' }, label2id: { value: 0 }, problem_type: 'regression' }
      : { num_labels: data.labels.length, id2label: Object.fromEntries(data.labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(data.labels.map((l, i) => [l, i])), problem_type: 'single_label_classification' };
    loaded = await loadModel(c.model, { architecture: cls.architecture, strict: false, initializeMissing: (k) => cls.head.test(k), configOverrides: overrides, generator });
    if (loaded.initializedKeys.length) options.onLog?.(`new head: ${loaded.initializedKeys.join(', ')}`);
    head = cls.head;
    modulesToSave = cls.modulesToSave;
    const taskOptions = { batchSize: c.batchSize, seed: c.seed, padId: padTokenId(tokenizer), numLabels: c.task === 'regression' ? 1 : data.labels.length, problem: c.task === 'regression' ? ('regression' as const) : ('classification' as const), evalLimit: 512 };
    const ct = new ClassificationTask(loaded.model as unknown as Classifier, data.train, data.test, taskOptions);
    task = ct;
    trainCount = data.train.length;
    testCount = data.test.length;
    evaluateTest = () => new ClassificationTask(loaded.model as unknown as Classifier, data.train, data.test, { ...taskOptions, evalLimit: undefined }).evaluate();
  } else if (c.task === 'sft') {
    loaded = await loadModel(c.model);
    const examples = [...readChatExamples(c.data)].map((m) => buildSftExample(tokenizer, m, { maxLength: c.maxLength })).filter((e) => e.labels.some((l) => l !== -100));
    if (examples.length < 2) throw new StrataError('argument', c.data, `needs at least 2 chat examples with an assistant answer, found ${examples.length}`);
    const { train, test } = seededSplit(examples, Math.max(1, Math.round(examples.length * (1 - c.testFraction))), c.seed);
    const st = new SftTask(loaded.model as CausalLM, train, test, { batchSize: c.batchSize, seed: c.seed, padId: padTokenId(tokenizer) });
    task = st;
    trainCount = train.length;
    testCount = test.length;
    evaluateTest = () => st.evaluate();
  } else {
    loaded = await loadModel(c.model);
    const lm = loaded.model as CausalLM;
    const packed = packCorpus(c.data, { tokenizer, cacheDir: path.join(c.out, 'data-cache'), source: { field: c.field } });
    const windows = new TokenWindows(packed, { context: Math.min(c.maxLength, lm.maxPositions), valFraction: c.testFraction, seed: c.seed });
    const lt = new CausalLMTask(lm, windows, { batchSize: c.batchSize, seed: c.seed });
    task = lt;
    trainCount = windows.trainCount;
    testCount = windows.valCount;
    evaluateTest = () => lt.evaluate();
  }
  const model = loaded.model as unknown as Module;
  const lora = { rank: c.loraRank, alpha: c.loraAlpha, dropout: c.loraDropout, targets: parseLoraTargets(c.loraTargets, modelType), modulesToSave };
  if (c.method === 'lora') {
    const { adapted } = applyLora(model, { ...lora, generator });
    options.onLog?.(`LoRA r=${c.loraRank} alpha=${c.loraAlpha} on ${adapted.length} modules`);
  } else if (c.method === 'linear-probe') {
    freezeAllBut(model, head!);
  }
  const trainable = model.parameters().filter((p) => p.requiresGrad).reduce((n, p) => n + p.size, 0);
  const total = model.numParameters();
  const steps = c.steps ?? Math.max(1, Math.ceil((trainCount * c.epochs) / c.batchSize));
  const configDigest = createHash('sha256')
    .update(JSON.stringify({ c: { ...c, steps: undefined, out: undefined }, data: sourceFingerprint(c.data, { field: c.field, labelField: c.labelField }) }))
    .digest('hex')
    .slice(0, 16);
  const trainer = new Trainer(model, task, { steps, lr: c.lr, warmupSteps: c.warmupSteps, weightDecay: c.weightDecay, seed: c.seed, checkpointEvery: c.checkpointEvery, evalEvery: c.evalEvery, runDir: c.out, resume, configDigest }, options);
  const result = trainer.run();
  model.eval();
  const test = evaluateTest();
  if (c.method === 'lora') {
    saveAdapter(path.join(c.out, 'adapter'), model, { ...lora, baseModel: c.model, taskType: classify ? 'SEQ_CLS' : 'CAUSAL_LM' });
    unloadLora(model, { merge: true });
  }
  saveModel(c.out, model, loaded.config as ModelConfig, { architecture: loaded.architecture, generationConfig: loaded.generationConfig });
  copyTokenizerFiles(c.model, c.out);
  writeFileAtomic(path.join(c.out, 'eval_results.json'), [Buffer.from(`${JSON.stringify({ split: 'test', examples: testCount, ...test }, null, 2)}\n`)]);
  return { ...result, out: c.out, test, trainExamples: trainCount, testExamples: testCount, trainableParameters: trainable, totalParameters: total };
}
