// Hugging Face directory loading: bad input gives a StrataError('io') naming the file and what is
// wrong; saveModel round-trips; f16 checkpoints load converted or kept; the fixtures really
// exercise the features they cover (changing the config changes the logits).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { assertClose, maxAbsDiff } from '../helpers/fixtures.js';
import { copyFixture, expected, fixtureDir, tempDir } from './model-fixtures.js';

/** Asserts that loading `dir` rejects with a StrataError('io') whose message matches every pattern. */
async function rejects(dir: string, patterns: RegExp[], options: S.LoadOptions = {}): Promise<void> {
  await assert.rejects(S.loadModel(dir, options), (err: unknown) => {
    assert.ok(err instanceof S.StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, 'io', err.message);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const file = path.join(dir, 'config.json');
  const c = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(c);
  fs.writeFileSync(file, JSON.stringify(c));
}

function editWeights(dir: string, edit: (t: Record<string, S.Tensor>) => void, file = 'model.safetensors'): void {
  const tensors = { ...S.readSafetensors(path.join(dir, file)).tensors };
  edit(tensors);
  S.writeSafetensors(path.join(dir, file), tensors);
}

describe('bad input', () => {
  test('missing directory, missing config.json, no weights', async () => {
    await rejects(path.join(tempDir(), 'nope'), [/nope/, /model directory not found/]);
    const noConfig = copyFixture('gpt2');
    fs.rmSync(path.join(noConfig, 'config.json'));
    await rejects(noConfig, [/config\.json/, /file not found/]);
    const noWeights = copyFixture('gpt2');
    fs.rmSync(path.join(noWeights, 'model.safetensors'));
    await rejects(noWeights, [/no model\.safetensors or model\.safetensors\.index\.json/]);
    fs.writeFileSync(path.join(noWeights, 'pytorch_model.bin'), 'x');
    await rejects(noWeights, [/found pytorch_model\.bin/]);
  });

  test('corrupt config.json', async () => {
    const dir = copyFixture('gpt2');
    fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "gpt2", "n_embd": 3');
    await rejects(dir, [/config\.json/, /not valid JSON/]);
    fs.writeFileSync(path.join(dir, 'config.json'), '[1, 2]');
    await rejects(dir, [/top level must be a JSON object/]);
  });

  test('wrong field types and ranges name the field', async () => {
    const cases: [string, (c: Record<string, unknown>) => void, RegExp][] = [
      ['gpt2', (c) => (c.n_embd = '32'), /field 'n_embd' must be an integer, got "32"/],
      ['gpt2', (c) => delete c.n_layer, /field 'n_layer' is required/],
      ['gpt2', (c) => (c.n_head = 5), /field 'n_head' \(5\) must divide n_embd \(32\)/],
      ['gpt2', (c) => (c.n_positions = -1), /field 'n_positions' must be >= 1, got -1/],
      ['gpt2', (c) => (c.activation_function = 'swish2'), /field 'activation_function' must be one of/],
      ['gpt2', (c) => (c.layer_norm_epsilon = 0), /field 'layer_norm_epsilon' must be > 0/],
      ['llama-gqa', (c) => (c.num_key_value_heads = 3), /field 'num_key_value_heads' \(3\) must divide num_attention_heads \(4\)/],
      ['llama-gqa', (c) => (c.rope_scaling = { rope_type: 'yarn', factor: 4 }), /field 'rope_scaling\.rope_type' 'yarn' is not supported \(supported: 'default', 'linear', 'llama3'\)/],
      ['llama-gqa', (c) => (c.rope_scaling = { rope_type: 'llama3', factor: 8 }), /field 'rope_scaling\.low_freq_factor' is required/],
      ['llama-gqa', (c) => (c.tie_word_embeddings = 'yes'), /field 'tie_word_embeddings' must be true or false/],
      ['bert', (c) => (c.hidden_size = 31.5), /field 'hidden_size' must be an integer, got 31\.5/],
      ['bert', (c) => (c.position_embedding_type = 'relative_key'), /'relative_key' is not supported/],
    ];
    for (const [fixture, edit, pattern] of cases) {
      const dir = copyFixture(fixture);
      editConfig(dir, edit);
      await rejects(dir, [/config\.json/, pattern]);
    }
  });

  test('unknown model_type and architecture name the supported ones', async () => {
    const dir = copyFixture('gpt2');
    editConfig(dir, (c) => (c.model_type = 't5'));
    await rejects(dir, [/model_type 't5' is not supported \(supported: gpt2, llama, mistral, qwen2, palm, bert, roberta, vit, clip, whisper, vision-encoder-decoder, llava\)/]);
    editConfig(dir, (c) => delete c.model_type);
    await rejects(dir, [/field 'model_type' is required/]);
    const arch = copyFixture('bert');
    editConfig(arch, (c) => (c.architectures = ['BertForTokenClassification']));
    await rejects(arch, [/'BertForTokenClassification' is not supported for model_type 'bert' \(supported: BertModel, BertForMaskedLM, BertForPreTraining/]);
    await rejects(fixtureDir('bert'), [/requested architecture 'GPT2LMHeadModel'/], { architecture: 'GPT2LMHeadModel' });
  });

  test('missing, unexpected and mis-shaped weights name the file and key', async () => {
    const missing = copyFixture('llama-gqa');
    editWeights(missing, (t) => delete t['model.layers.1.mlp.up_proj.weight']);
    await rejects(missing, [/model\.safetensors/, /missing tensor 'model\.layers\.1\.mlp\.up_proj\.weight' \(48, 32\)/, /LlamaForCausalLM/]);

    const extra = copyFixture('llama-gqa');
    editWeights(extra, (t) => (t['model.layers.0.self_attn.q_norm.weight'] = S.ones([8])));
    await rejects(extra, [/model\.safetensors/, /unexpected tensors 'model\.layers\.0\.self_attn\.q_norm\.weight'/, /strict: false/]);
    const lenient = await S.loadModel(extra, { strict: false });
    assert.equal(lenient.architecture, 'LlamaForCausalLM');

    const shaped = copyFixture('gpt2');
    editWeights(shaped, (t) => (t['h.0.attn.c_attn.weight'] = S.zeros([96, 32])));
    await rejects(shaped, [/model\.safetensors/, /tensor 'h\.0\.attn\.c_attn\.weight' has shape \(96, 32\) but .* expects \(32, 96\)/]);

    const ints = copyFixture('gpt2');
    editWeights(ints, (t) => (t['ln_f.weight'] = S.zeros([32], { dtype: 'i32' })));
    await rejects(ints, [/'ln_f\.weight' has dtype i32/]);

    const truncated = copyFixture('gpt2');
    const file = path.join(truncated, 'model.safetensors');
    fs.truncateSync(file, fs.statSync(file).size - 100);
    await rejects(truncated, [/model\.safetensors/, /truncated/]);
  });

  test('sharded checkpoints: missing shard, key missing from its shard, shard outside the directory', async () => {
    const missing = copyFixture('llama-sharded');
    fs.rmSync(path.join(missing, 'model-00002-of-00002.safetensors'));
    await rejects(missing, [/model\.safetensors\.index\.json/, /shard 'model-00002-of-00002\.safetensors' \(holding \d+ tensors/, /is missing/]);

    const absent = copyFixture('llama-sharded');
    editWeights(absent, (t) => delete t['model.norm.weight'], 'model-00002-of-00002.safetensors');
    await rejects(absent, [/model-00002-of-00002\.safetensors/, /'model\.norm\.weight' is listed in model\.safetensors\.index\.json but missing from this shard/]);

    const escape = copyFixture('llama-sharded');
    const index = path.join(escape, 'model.safetensors.index.json');
    const json = JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
    json.weight_map['model.norm.weight'] = '../model.safetensors';
    fs.writeFileSync(index, JSON.stringify(json));
    await rejects(escape, [/not a file name in the checkpoint directory/]);

    fs.writeFileSync(index, '{"metadata": {}}');
    await rejects(escape, [/field 'weight_map' is required/]);
  });

  test('a corrupt generation_config.json is reported too', async () => {
    const dir = copyFixture('llama-gqa');
    fs.writeFileSync(path.join(dir, 'generation_config.json'), '{"top_p": 3}');
    await rejects(dir, [/generation_config\.json/, /field 'top_p' must be <= 1/]);
  });
});

describe('saving and dtypes', () => {
  test('saveModel writes a directory loadModel reads back (GPT-2 gains the transformer. prefix)', async () => {
    const src = await S.loadModel(fixtureDir('gpt2'));
    const out = tempDir();
    S.saveModel(out, src.model, src.config);
    const keys = Object.keys(S.readSafetensors(path.join(out, 'model.safetensors')).tensors);
    assert.ok(keys.includes('transformer.wte.weight') && !keys.includes('lm_head.weight'), 'tied head saved once');
    const back = await S.loadModel(out);
    const ids = expected('gpt2').input_ids!;
    S.noGrad(() => assert.equal(maxAbsDiff((back.model as S.CausalLM).forward(ids), (src.model as S.CausalLM).forward(ids)), 0));
    assert.deepEqual(back.config, src.config);
  });

  test('a freshly created model saves and reloads (every registered type)', async () => {
    for (const name of ['llama-tied', 'palm', 'roberta-cls']) {
      const { config, architecture } = await S.loadModel(fixtureDir(name));
      const model = S.createModel(config, { generator: new S.Generator(3) });
      const out = tempDir();
      S.saveModel(out, model, config, { generationConfig: { eos_token_id: 2 } });
      const back = await S.loadModel(out);
      assert.equal(back.architecture, architecture);
      assert.deepEqual(back.generationConfig?.eos_token_id, [2]);
      const a = model.stateDict();
      for (const [k, t] of back.model.namedParameters()) assert.equal(maxAbsDiff(t, a[k]!), 0, k);
    }
  });

  test('f16 checkpoints: converted to f32 at load by default, or kept as f16', async () => {
    const src = await S.loadModel(fixtureDir('llama-gqa'));
    const half: Record<string, S.Tensor> = {};
    for (const [k, t] of src.model.namedParameters()) half[k] = t.to('f16');
    const dir = tempDir();
    S.writeHFDirectory(dir, src.config, half);
    const converted = await S.loadModel(dir);
    const kept = await S.loadModel(dir, { halfPrecision: 'keep' });
    assert.ok(converted.model.parameters().every((p) => p.dtype === 'f32'));
    assert.ok(kept.model.parameters().every((p) => p.dtype === 'f16'));
    const exp = expected('llama-gqa');
    S.noGrad(() => {
      const a = (converted.model as S.CausalLM).forward(exp.input_ids!);
      const b = (kept.model as S.CausalLM).forward(exp.input_ids!);
      assert.ok(maxAbsDiff(a, b) <= 1e-5, 'kept f16 computes like converted f16');
      assertClose(a, exp.logits!, { atol: 5e-2, rtol: 0 }, 'f16 weights vs f32 reference');
    });
  });
});

describe('the fixtures exercise what they cover', () => {
  // if a feature were ignored on both sides the parity tests would still pass; these show each matters
  const differs = async (fixture: string, edit: (c: Record<string, unknown>) => void) => {
    const dir = copyFixture(fixture);
    editConfig(dir, edit);
    const { model } = await S.loadModel(dir);
    const exp = expected(fixture);
    return S.noGrad(() => maxAbsDiff((model as S.CausalLM).forward(exp.input_ids!), exp.logits!));
  };

  test('sliding window, llama3 and linear rope scaling, qwen2 window switch', async () => {
    assert.ok((await differs('mistral', (c) => (c.sliding_window = null))) > 1e-2, 'mistral window');
    assert.ok((await differs('llama-gqa', (c) => delete c.rope_scaling)) > 1e-2, 'llama3 scaling');
    assert.ok((await differs('llama-tied', (c) => delete c.rope_scaling)) > 1e-2, 'linear scaling');
    assert.ok((await differs('qwen2', (c) => Object.assign(c, { use_sliding_window: true, max_window_layers: 1 }))) > 1e-2, 'qwen2 use_sliding_window');
  });
});
