// The decode steps on raw rows (src/models/llama-decode.ts, GPT-2's in src/models/gpt2.ts)
// against their models' forward through the ops, which is their definition: the same logits bit
// for bit, step after step, for every weight format they take; and the ops for everything else.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as S from '../../src/index.js';
import { loadGgufLlama } from '../../src/models/gguf.js';
import type { LlamaForCausalLM } from '../../src/models/llama.js';
import type { CausalLM, KVCache } from '../../src/models/types.js';
import { type GPT2LMHeadModel, gpt2DecodeStep } from '../../src/models/gpt2.js';
import { gpt2ToGguf, loadGgufGpt2 } from '../../src/models/gguf.js';
import { writeGguf } from '../../src/io/gguf.js';
import { llamaDecodeStep } from '../../src/models/llama-decode.js';
import { applyLora } from '../../src/nn/lora.js';
import { tinyByteLevelMetadata, tinyGpt2, tinyLlama, writeTinyLlamaGguf } from '../helpers/tiny-llama-gguf.js';
import { maxAbsDiff } from '../helpers/op-test.js';

const backends = S.nativeAvailable() ? (['reference', 'native'] as const) : (['reference'] as const);
const PROMPT = [1, 17, 93, 250, 4, 61];
const STEPS = 12;

/**
 * Logits of `rows` sequences (PROMPT, then PROMPT shifted for each further row) token by token
 * and then STEPS greedy tokens, one (rows, 1) forward at a time. `ops` passes each token's
 * position as positionIds (the positions the model gives itself, whose rotary tables are the same
 * floats), which the decode step leaves to the ops.
 */
function decode(model: CausalLM, ops: boolean, rows = 1): S.Tensor[] {
  const cache = model.createCache(rows, PROMPT.length + STEPS);
  const logits: S.Tensor[] = [];
  const step = (ids: number[]) => {
    const t = S.fromArray(Int32Array.from(ids), [rows, 1], { dtype: 'i32' });
    const positionIds = ops ? S.fromArray(new Int32Array(rows).fill(cache.length), [rows, 1], { dtype: 'i32' }) : undefined;
    const l = S.noGrad(() => model.forward(t, { cache, positionIds })); // (rows, 1, V)
    logits.push(l);
    return l;
  };
  let last: S.Tensor | null = null;
  for (const id of PROMPT) last = step(Array.from({ length: rows }, (_, r) => (id + 7 * r) % 300));
  for (let i = 0; i < STEPS; i++) last = step(last!.argmax(-1).toArray());
  return logits;
}

/**
 * That `step` takes the model (it runs a first token instead of declining) and that decoding
 * through it gives the ops' logits bit for bit, on every backend.
 */
function matchesOps(lm: CausalLM, step: (one: S.Tensor, cache: KVCache) => S.Tensor | null): void {
  const one = S.fromArray(Int32Array.of(3), [1, 1], { dtype: 'i32' });
  assert.ok(S.noGrad(() => step(one, lm.createCache(1, 4))), 'the step takes this model');
  for (const backend of backends) {
    // one sequence, and three at once (beams, an unpadded batch)
    for (const rows of [1, 3]) {
      S.withBackend(backend, () => {
        const fast = decode(lm, false, rows);
        const ops = decode(lm, true, rows);
        fast.forEach((l, i) => assert.equal(maxAbsDiff(l, ops[i]!), 0, `${backend}, ${rows} row(s), position ${i}`));
      });
    }
  }
}

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'strata-llama-decode-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('llama decode step', () => {
  for (const dtype of ['q8_0', 'q4_0', 'q4_k', 'q6_k', 'f16', 'f32'] as const) {
    test(`${dtype} GGUF: the same logits as the ops, bit for bit`, () => {
      const file = path.join(dir, `tiny-${dtype}.gguf`);
      writeTinyLlamaGguf(file, tinyLlama(5), dtype);
      const { model } = loadGgufLlama(file);
      const lm = model as LlamaForCausalLM;
      matchesOps(lm, (one, cache) => llamaDecodeStep(lm.model, one, { cache }));
    });
  }

  const configs = [
    { name: 'Qwen2 (q, k, v biases), f32 weights', overrides: { model_type: 'qwen2' } },
    // the window hides keys from position 8 on: the ops take over there
    { name: 'Mistral with a sliding window shorter than the run', overrides: { model_type: 'mistral', sliding_window: 8 } },
    { name: 'GQA with 1 KV head, silu replaced by gelu', overrides: { num_key_value_heads: 1, hidden_act: 'gelu' } },
    { name: 'PaLM-style: parallel block, multi-query attention, tied embeddings', overrides: { parallel_block: true, num_key_value_heads: 1, tie_word_embeddings: true } },
    { name: 'LayerNorm in place of RMSNorm', overrides: { norm_type: 'layer_norm' } },
  ];
  for (const { name, overrides } of configs) {
    test(`${name}: the same logits as the ops, bit for bit`, () => {
      const lm = tinyLlama(9, overrides);
      matchesOps(lm, (one, cache) => llamaDecodeStep(lm.model, one, { cache }));
    });
  }

  test('the step runs for a GGUF model and stands aside for what it does not cover', () => {
    const file = path.join(dir, 'tiny-cover.gguf');
    writeTinyLlamaGguf(file, tinyLlama(6), 'q8_0');
    const lm = loadGgufLlama(file).model as LlamaForCausalLM;
    const one = S.fromArray(Int32Array.of(3), [1, 1], { dtype: 'i32' });
    const cache = () => lm.createCache(1, 8);
    const stepOf = (ids: S.Tensor, options: Parameters<typeof llamaDecodeStep>[2]) => S.noGrad(() => llamaDecodeStep(lm.model, ids, options));
    assert.ok(stepOf(one, { cache: cache() }), 'one token of one sequence with a cache');
    assert.equal(stepOf(one, {}), null, 'no cache');
    assert.equal(stepOf(S.fromArray(Int32Array.of(3, 4), [1, 2], { dtype: 'i32' }), { cache: cache() }), null, 'two tokens');
    const column = (rows: number) => S.fromArray(new Int32Array(rows).fill(3), [rows, 1], { dtype: 'i32' });
    assert.ok(stepOf(column(8), { cache: lm.createCache(8, 4) }), 'eight sequences');
    assert.equal(stepOf(column(9), { cache: lm.createCache(9, 4) }), null, 'nine sequences (a linear would take a packed weight)');
    assert.equal(stepOf(column(2), { cache: cache() }), null, 'ids and cache of different batch sizes');
    assert.equal(stepOf(one, { cache: cache(), positionIds: S.fromArray(Int32Array.of(0), [1, 1], { dtype: 'i32' }) }), null, 'position ids');
    assert.equal(S.enableGrad(() => llamaDecodeStep(lm.model, one, { cache: cache() })), null, 'gradients enabled');
  });

  test('a module wrapped after the first step (LoRA) sends the next ones back to the ops', () => {
    const file = path.join(dir, 'tiny-lora.gguf');
    writeTinyLlamaGguf(file, tinyLlama(8), 'q8_0');
    const lm = loadGgufLlama(file).model as LlamaForCausalLM;
    const one = S.fromArray(Int32Array.of(3), [1, 1], { dtype: 'i32' });
    assert.ok(S.noGrad(() => llamaDecodeStep(lm.model, one, { cache: lm.createCache(1, 4) })));
    applyLora(lm, { targets: ['q_proj'], rank: 2, alpha: 4 });
    assert.equal(S.noGrad(() => llamaDecodeStep(lm.model, one, { cache: lm.createCache(1, 4) })), null);
  });
});

describe('GPT-2 decode step', () => {
  const formats = [
    { name: 'Hugging Face layout, f32 (Conv1D weights read transposed)', model: () => tinyGpt2(11) },
    ...(['q8_0', 'f16', 'f32'] as const).map((dtype) => ({
      name: `GGUF ${dtype} (linear layout)`,
      model: () => {
        const file = path.join(dir, `tiny-gpt2-${dtype}.gguf`);
        writeGguf(file, gpt2ToGguf(tinyGpt2(12), { dtype, tokenizerMetadata: tinyByteLevelMetadata(320) }));
        return loadGgufGpt2(file).model;
      },
    })),
  ];
  for (const { name, model } of formats) {
    test(`${name}: the same logits as the ops, bit for bit`, () => {
      const lm = model() as GPT2LMHeadModel;
      matchesOps(lm, (one, cache) => gpt2DecodeStep(lm.transformer, one, { cache }));
    });
  }
});
