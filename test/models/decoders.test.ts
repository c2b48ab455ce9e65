// Decoder-only models against the PyTorch references of scripts/fixtures/models.py, on every
// backend: logits of a full forward pass (max abs diff <= 1e-4 in f32), a KV-cache prefill plus
// incremental decode equal to the full pass, and a left-padded batch (attentionMask + positionIds)
// equal to each sequence run alone.
//
// Set STRATA_GOLDEN_REPORT=1 to print the observed max abs diffs.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import { assertClose, maxAbsDiff } from '../helpers/fixtures.js';
import { BACKENDS, expected, fixtureDir, report } from './model-fixtures.js';

const TOL = { atol: 1e-4, rtol: 0 };
const CASES = ['gpt2', 'llama-gqa', 'llama-tied', 'qwen2', 'mistral', 'palm'] as const;

async function loadDecoder(name: string): Promise<S.CausalLM> {
  const { model } = await S.loadModel(fixtureDir(name));
  assert.ok(S.isCausalLM(model), `${name} loads as a causal LM`);
  return model;
}

/** Row b of ids, positions [from, to), as a (1, to - from) tensor. */
function rowSlice(ids: S.Tensor, b: number, from: number, to: number): S.Tensor {
  return ids.slice(0, b, b + 1).slice(1, from, to).contiguous();
}

for (const name of CASES) {
  describe(`${name}`, async () => {
    const model = await loadDecoder(name);
    const exp = expected(name);
    const ids = exp.input_ids!; // (B, T)
    const [B, T] = ids.shape as [number, number];

    for (const backend of BACKENDS) {
      test(`logits match PyTorch on ${backend}`, () => {
        S.withBackend(backend, () =>
          S.noGrad(() => {
            const logits = model.forward(ids);
            const d = assertClose(logits, exp.logits!, TOL, `${name} logits (${backend})`);
            report(`${name} logits on ${backend}: max abs diff ${d.toExponential(2)}`);
          }),
        );
      });

      test(`KV cache: prefill + incremental decode equals the full pass on ${backend}`, () => {
        S.withBackend(backend, () =>
          S.noGrad(() => {
            const full = model.forward(ids); // (B, T, V)
            const cache = model.createCache(B, T);
            const prefill = 5;
            const last = model.forward(ids.slice(1, 0, prefill).contiguous(), { cache, lastOnly: true }); // (B, 1, V)
            assert.deepEqual(last.shape, [B, 1, model.vocabSize]);
            let worst = maxAbsDiff(last, full.slice(1, prefill - 1, prefill));
            for (let t = prefill; t < T; t++) {
              const step = model.forward(ids.slice(1, t, t + 1).contiguous(), { cache }); // (B, 1, V)
              worst = Math.max(worst, maxAbsDiff(step, full.slice(1, t, t + 1)));
            }
            assert.equal(cache.length, T);
            report(`${name} cache vs full on ${backend}: max abs diff ${worst.toExponential(2)}`);
            assert.ok(worst <= 1e-4, `${name}: cached decoding differs from the full pass by ${worst}`);
          }),
        );
      });

      test(`left-padded batch equals each sequence alone on ${backend}`, () => {
        S.withBackend(backend, () =>
          S.noGrad(() => {
            // row 0 keeps all T tokens; row 1 holds its last T - pad tokens behind `pad` padding tokens
            const pad = 4;
            const padded = ids.contiguous().clone();
            for (let t = 0; t < pad; t++) padded.data[T + t] = 0;
            const mask = S.tensor([Array(T).fill(1), [...Array(pad).fill(0), ...Array(T - pad).fill(1)]], { dtype: 'bool' });
            const positions = S.tensor([[...Array(T).keys()], [...Array(pad).fill(0), ...Array.from({ length: T - pad }, (_, i) => i)]], { dtype: 'i32' });
            const alone = [model.forward(rowSlice(ids, 0, 0, T)), model.forward(rowSlice(ids, 1, pad, T))]; // (1, T_b, V)

            // one pass over the padded batch
            const batch = model.forward(padded, { attentionMask: mask, positionIds: positions }); // (B, T, V)
            let worst = maxAbsDiff(batch.slice(0, 0, 1), alone[0]!);
            worst = Math.max(worst, maxAbsDiff(batch.slice(0, 1, 2).slice(1, pad, T), alone[1]!));

            // prefill the padded batch, then decode the last 3 tokens one at a time
            const cache = model.createCache(B, T);
            const split = T - 3;
            model.forward(padded.slice(1, 0, split).contiguous(), {
              cache,
              attentionMask: mask.slice(1, 0, split).contiguous(),
              positionIds: positions.slice(1, 0, split).contiguous(),
              lastOnly: true,
            });
            for (let t = split; t < T; t++) {
              const step = model.forward(padded.slice(1, t, t + 1).contiguous(), {
                cache,
                attentionMask: mask.slice(1, 0, t + 1).contiguous(),
                positionIds: positions.slice(1, t, t + 1).contiguous(),
              }); // (B, 1, V)
              worst = Math.max(worst, maxAbsDiff(step.slice(0, 0, 1), alone[0]!.slice(1, t, t + 1)));
              worst = Math.max(worst, maxAbsDiff(step.slice(0, 1, 2), alone[1]!.slice(1, t - pad, t - pad + 1)));
            }
            report(`${name} left-padded vs alone on ${backend}: max abs diff ${worst.toExponential(2)}`);
            assert.ok(worst <= 1e-4, `${name}: left-padded batch differs from the sequences alone by ${worst}`);
          }),
        );
      });
    }
  });
}

describe('checkpoint variants', () => {
  test('a sharded checkpoint (index + 2 shards) loads to the same logits', async () => {
    const { model, architecture } = await S.loadModel(fixtureDir('llama-sharded'));
    assert.equal(architecture, 'LlamaForCausalLM');
    const exp = expected('llama-gqa');
    const d = S.noGrad(() => assertClose((model as S.CausalLM).forward(exp.input_ids!), exp.logits!, TOL, 'sharded llama logits'));
    report(`llama-sharded logits: max abs diff ${d.toExponential(2)}`);
  });

  test('generation_config.json is read alongside', async () => {
    const loaded = await S.loadModel(fixtureDir('llama-gqa'));
    assert.deepEqual(loaded.generationConfig?.eos_token_id, [2, 3]);
    assert.equal(loaded.generationConfig?.temperature, 0.7);
    assert.equal(loaded.generationConfig?.top_p, 0.9);
    assert.equal(loaded.modelType, 'llama');
    const gpt2 = await S.loadModel(fixtureDir('gpt2'));
    assert.equal(gpt2.generationConfig, null);
  });

  test('weights are adopted from the file, not copied into fresh parameters', async () => {
    const dir = fixtureDir('llama-gqa');
    const { model } = await S.loadModel(dir);
    const params = model.namedParameters();
    const buffers = new Set(params.map(([, t]) => t.data.buffer));
    // every parameter is a view of one file buffer (the reader's aligned zero-copy path)
    assert.equal(buffers.size, 1, `parameters live in ${buffers.size} buffers`);
    assert.ok(params.every(([k]) => !k.startsWith('lm_head') || k === 'lm_head.weight'));
  });

  test('configurations: Qwen2 has q/k/v bias only, PaLM a parallel block with one shared norm and MQA', async () => {
    const qwen = (await S.loadModel(fixtureDir('qwen2'))).model;
    const qwenKeys = new Set(qwen.namedParameters().map(([k]) => k));
    assert.ok(qwenKeys.has('model.layers.0.self_attn.q_proj.bias') && !qwenKeys.has('model.layers.0.self_attn.o_proj.bias'));
    assert.ok(!qwenKeys.has('lm_head.weight'), 'qwen2 fixture ties embeddings');
    const palm = (await S.loadModel(fixtureDir('palm'))).model;
    const palmKeys = palm.namedParameters().map(([k]) => k);
    assert.ok(!palmKeys.some((k) => k.includes('post_attention_layernorm') || k.endsWith('.bias')), 'one norm per layer, no biases');
    assert.deepEqual(palm.stateDict()['model.layers.0.self_attn.k_proj.weight']!.shape, [8, 32], 'one key/value head of size 8');
  });
});
