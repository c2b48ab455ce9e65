// `strata eval`: a model's metrics on a dataset — accuracy, F1 and loss for classifiers (labels
// named as in config.json's id2label; image classifiers on a folder of labelled images, see
// evaluate-images.ts), mean absolute error for regression, loss and perplexity for language
// models (masked-token accuracy for masked LMs).

import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { BertForMaskedLM, BertForSequenceClassification } from '../models/bert.js';
import { loadModel } from '../models/load.js';
import { loadTokenizer } from '../tokenizers/index.js';
import { TokenWindows, packCorpus } from './data.js';
import { readDocuments } from './sources.js';
import { CausalLMTask, type Classifier, ClassificationTask, type LabelledExample, type MaskedLM, MaskedLMTask, encodeExample, maskingOf } from './tasks.js';
import { padTokenId } from './sft.js';
import { evaluateImageFolder } from './evaluate-images.js';
import { isImageClassifier } from '../pipelines/image-classification.js';

export interface EvaluateOptions {
  field?: string;
  labelField?: string;
  batchSize?: number;
  /** tokens per example or window (default 128, at most the model's context) */
  maxLength?: number;
  /** language models: most windows scored (default 512) */
  maxWindows?: number;
  seed?: number;
  /** progress lines (decoding an image folder) */
  onLog?: (message: string) => void;
}

export interface EvaluateResult {
  model: string;
  data: string;
  kind: 'classification' | 'regression' | 'causal-lm' | 'masked-lm' | 'image-classification';
  examples: number;
  metrics: Record<string, number>;
  /** image classifiers: which images of the folder were scored, and the files that could not be read */
  split?: string;
  skipped?: { file: string; reason: string }[];
}

/** Scores the model in `modelDir` on `data`. */
export async function evaluateModel(modelDir: string, data: string, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const loaded = await loadModel(modelDir);
  if (isImageClassifier(loaded.model)) {
    const { id2label } = loaded.config as { id2label?: Record<string, string> | null };
    const r = await evaluateImageFolder(modelDir, loaded.model, id2label ?? null, data, options.onLog);
    return { model: modelDir, data, kind: 'image-classification', examples: r.examples, metrics: rename(r.metrics), split: r.split, skipped: r.skipped };
  }
  const tokenizer = await loadTokenizer(modelDir);
  const model = loaded.model;
  const batchSize = options.batchSize ?? 16;
  const maxLength = Math.min(options.maxLength ?? 128, model.maxPositions);
  const seed = options.seed ?? 0;
  if (model.kind === 'decoder-classifier' || model instanceof BertForSequenceClassification) {
    const config = loaded.config as { id2label: Record<string, string> | null; num_labels: number; problem_type?: string | null };
    const regression = config.problem_type === 'regression';
    const names = config.id2label ? Object.entries(config.id2label).sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => v) : Array.from({ length: config.num_labels }, (_, i) => String(i));
    const index = new Map(names.map((n, i) => [n, i]));
    const examples: LabelledExample[] = [];
    for (const d of readDocuments(data, { field: options.field, labelField: options.labelField })) {
      if (d.label === undefined) throw new StrataError('argument', data, `document ${examples.length + 1} has no label (set the label field with --label-field)`);
      const label = regression ? Number(d.label) : index.get(String(d.label));
      if (label === undefined || !Number.isFinite(label)) throw new StrataError('argument', data, `label '${String(d.label).slice(0, 40)}' is not one of the model's labels (${names.join(', ')})`);
      examples.push({ ids: encodeExample(tokenizer, d.text, maxLength), label });
    }
    if (!examples.length) throw new StrataError('argument', data, 'holds no documents');
    const task = new ClassificationTask(model as unknown as Classifier, examples, examples, {
      batchSize, seed, padId: padTokenId(tokenizer), numLabels: regression ? 1 : names.length, problem: regression ? 'regression' : 'classification',
    });
    return { model: modelDir, data, kind: regression ? 'regression' : 'classification', examples: examples.length, metrics: rename(task.evaluate()) };
  }
  const cacheDir = path.join(os.tmpdir(), 'strata-eval-cache', createHash('sha256').update(path.resolve(modelDir)).digest('hex').slice(0, 12));
  const packed = packCorpus(data, { tokenizer, cacheDir, source: { field: options.field } });
  const windows = new TokenWindows(packed, { context: maxLength, valFraction: 0, seed });
  const maxBatches = Math.ceil((options.maxWindows ?? 512) / batchSize);
  const examples = Math.min(windows.trainCount, maxBatches * batchSize);
  if (model.kind === 'decoder-only') {
    const task = new CausalLMTask(model, windows, { batchSize, seed });
    return { model: modelDir, data, kind: 'causal-lm', examples, metrics: rename(task.evaluate('train', maxBatches)) };
  }
  if (model instanceof BertForMaskedLM) {
    const task = new MaskedLMTask(model as unknown as MaskedLM, windows, { batchSize, seed, ...maskingOf(tokenizer, modelDir) });
    return { model: modelDir, data, kind: 'masked-lm', examples, metrics: rename(task.evaluate('train', maxBatches)) };
  }
  throw new StrataError('unsupported', 'eval', `${loaded.architecture} has no evaluation (classifiers and language models do)`);
}

/** val_loss -> loss: `strata eval` scores the whole dataset it is given. */
function rename(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k.replace(/^val_/, ''), v]));
}
