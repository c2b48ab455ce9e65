// GGUF written by Strata, read back by Strata and by llama.cpp (node-llama-cpp 3.21.1): the same
// greedy 32-token continuation from the same prompt ids, and next-token probabilities that agree
// within each format's tolerance.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as S from '../../src/index.js';
import { generate } from '../../src/generation/index.js';
import { loadGgufLlama } from '../../src/models/gguf.js';
import { tinyLlama, writeTinyLlamaGguf } from '../helpers/tiny-llama-gguf.js';
import { type Llama, loadLlamaCpp } from '../helpers/llama-cpp.js';


let llama: Llama | null = null;
let skip: string | false = false;
let dir = '';
const PROMPT = [1, 100, 37, 250, 19, 77, 300, 5];
// max |p_strata - p_llama.cpp| over the top next-token probabilities, per stored format. Both
// run the same block arithmetic (activations quantized to q8_0 / q8_K, f16 activation scales,
// RMSNorm's mean square summed in f64), so the quantized formats agree to float rounding
// (measured ≤ 1.1e-6); f16 is looser because llama.cpp rounds the activations to f16 as well
// (measured 2.7e-4) and Strata keeps them in f32.
const TOLERANCE = { f32: 1e-4, f16: 2e-3, q8_0: 1e-4, q4_0: 1e-4, q4_k: 1e-4 } as const;

before(async () => {
  ({ llama, skip } = await loadLlamaCpp());
  dir = mkdtempSync(path.join(tmpdir(), 'strata-gguf-'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function softmax(row: Float32Array): Float64Array {
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  const out = new Float64Array(row.length);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += out[i] = Math.exp(row[i]! - m);
  for (let i = 0; i < row.length; i++) out[i]! /= z;
  return out;
}

describe('GGUF llama against llama.cpp', () => {
  const model = tinyLlama(3);
  for (const dtype of ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k'] as const) {
    test(`${dtype}: same greedy continuation and next-token probabilities`, async (t) => {
      if (skip || !llama) return t.skip(skip || 'node-llama-cpp did not load (a devDependency: npm ci installs it)');
      const file = path.join(dir, `tiny-${dtype}.gguf`);
      writeTinyLlamaGguf(file, model, dtype);
      const ours = loadGgufLlama(file);
      assert.equal(ours.config.rope_interleaved, true);
      const strata = generate(ours.model, PROMPT, { temperature: 0, maxTokens: 32 }).tokens;

      const lm = await llama.loadModel({ modelPath: file });
      // f32 KV cache and no flash attention on llama.cpp's side: its f16 cache and f16 flash-attention
      // accumulators add rounding that Strata's f32 attention does not have
      const ctx = await lm.createContext({ contextSize: 128, threads: 2, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false });
      try {
        const seq = ctx.getSequence();
        const theirs: number[] = [];
        let firstProbs: Map<number, number> | null = null;
        for await (const out of seq.evaluateWithMetadata([...PROMPT] as never[], { probabilities: true }, { temperature: 0, yieldEogToken: true })) {
          firstProbs ??= out.probabilities;
          theirs.push(out.token as number);
          if (theirs.length === 32) break;
        }
        const agree = strata.findIndex((tok, i) => tok !== theirs[i]);
        t.diagnostic(`${dtype}: greedy tokens agree for ${agree < 0 ? 32 : agree} of 32`);
        assert.deepEqual(strata, theirs, `${dtype}: greedy continuations differ`);
        // next-token distribution after the prompt
        const logits = S.noGrad(() => ours.model.forward(S.fromArray(Int32Array.from(PROMPT), [1, PROMPT.length], { dtype: 'i32' }), { lastOnly: true }));
        const p = softmax(logits.toFloat32Array());
        let worst = 0;
        let compared = 0;
        for (const [token, prob] of firstProbs!) {
          if (compared++ >= 20) break;
          worst = Math.max(worst, Math.abs(p[token as number]! - prob));
        }
        assert.ok(worst <= TOLERANCE[dtype], `${dtype}: max |Δp| over the top-20 tokens is ${worst.toExponential(2)} (tolerance ${TOLERANCE[dtype]})`);
        t.diagnostic(`${dtype}: max |Δp| top-20 = ${worst.toExponential(2)}`);
      } finally {
        await ctx.dispose();
        await lm.dispose();
      }
    });
  }
});

describe('GGUF gpt2', () => {
  test('Strata writes and reads gpt2 GGUF: logits equal the Hugging Face-layout model; llama.cpp agrees', async (t) => {
    const { tinyGpt2, tinyByteLevelMetadata } = await import('../helpers/tiny-llama-gguf.js');
    const { gpt2ToGguf, loadGgufGpt2 } = await import('../../src/models/gguf.js');
    const { writeGguf } = await import('../../src/io/gguf.js');
    const hf = tinyGpt2(5);
    const file = path.join(dir, 'tiny-gpt2-f32.gguf');
    writeGguf(file, gpt2ToGguf(hf, { dtype: 'f32', tokenizerMetadata: tinyByteLevelMetadata(320) }));
    const ours = loadGgufGpt2(file);
    assert.equal(ours.config.linear_weights, true);
    const ids = S.fromArray(Int32Array.from(PROMPT), [1, PROMPT.length], { dtype: 'i32' });
    const a = S.noGrad(() => hf.forward(ids)).toFloat32Array();
    const b = S.noGrad(() => ours.model.forward(ids)).toFloat32Array();
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      scale = Math.max(scale, Math.abs(a[i]!));
    }
    // the transposed weights change GEMM's summation order only: measured 1.2e-5 x scale on the
    // portable kernels, 1.9e-5 on AVX2, less on AVX-512 (this model's weights are large on purpose)
    assert.ok(worst <= 5e-5 * scale, `gguf vs hf layout: max |Δlogit| ${worst} (logits up to ${scale})`);
    if (skip || !llama) return t.skip(skip || 'node-llama-cpp did not load (a devDependency: npm ci installs it)');
    const strata = generate(ours.model, PROMPT, { temperature: 0, maxTokens: 32 }).tokens;
    const lm = await llama.loadModel({ modelPath: file });
    const ctx = await lm.createContext({ contextSize: 128, threads: 2, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false });
    try {
      const theirs: number[] = [];
      for await (const tok of ctx.getSequence().evaluate([...PROMPT] as never[], { temperature: 0, yieldEogToken: true })) {
        theirs.push(tok as number);
        if (theirs.length === 32) break;
      }
      assert.deepEqual(strata, theirs);
    } finally {
      await ctx.dispose();
      await lm.dispose();
    }
  });
});
