// PEFT adapters against the real `peft` library (scripts/fixtures/lora.py): adapters PEFT saved load
// here and give PEFT's logits (adapted and merged); adapters saved here hold the same tensors under
// the same keys with a config PEFT reads; malformed adapters are clear errors that leave the model
// as it was.
//
// Set STRATA_GOLDEN_REPORT=1 to print the observed max abs diffs, and STRATA_PEFT_EXPORT=DIR to
// keep an adapter saved by Strata in DIR (check it with `scripts/fixtures/lora.py --check DIR`).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, loadAdapter, readAdapterConfig, saveAdapter } from '../../src/io/peft.js';
import { applyLora, loraModules, mergeLora, unloadLora } from '../../src/nn/lora.js';
import { FIXTURES_DIR, assertClose } from '../helpers/fixtures.js';
import { report, tempDir } from '../models/model-fixtures.js';

const LORA_DIR = path.join(FIXTURES_DIR, 'lora');
const ADAPTER = path.join(LORA_DIR, 'adapter');
const RSLORA = path.join(LORA_DIR, 'adapter-rslora');
const TOL = { atol: 1e-4, rtol: 0 };
const expected = S.readSafetensors(path.join(LORA_DIR, 'expected.safetensors')).tensors;
const ids = expected.input_ids!; // (B, T)

async function base(): Promise<S.LlamaForCausalLM> {
  return (await S.loadModel(path.join(LORA_DIR, 'base'))).model as S.LlamaForCausalLM;
}

function logits(model: S.LlamaForCausalLM): S.Tensor {
  return S.noGrad(() => model.forward(ids)); // (B, T, V)
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function bytesOf(t: S.Tensor): Uint8Array {
  const c = t.contiguous();
  const d = c.data as Float32Array;
  return new Uint8Array(d.buffer, d.byteOffset + c.offset * 4, c.size * 4);
}

/** A copy of a fixture adapter directory, with its config and tensors edited. */
function editedAdapter(from: string, edit: { config?: (c: Record<string, unknown>) => void; tensors?: (t: Record<string, S.Tensor>) => void }): string {
  const dir = tempDir('strata-peft-');
  const config = readJson(path.join(from, ADAPTER_CONFIG_FILE));
  edit.config?.(config);
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(config));
  const tensors = { ...S.readSafetensors(path.join(from, ADAPTER_WEIGHTS_FILE)).tensors };
  edit.tensors?.(tensors);
  S.writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors);
  return dir;
}

describe('loading adapters saved by PEFT', () => {
  test('r=4 on q_proj/v_proj with lm_head in modules_to_save: logits equal PEFT', async () => {
    const model = await base();
    const { config, adapted, modulesToSave } = loadAdapter(ADAPTER, model);
    assert.deepEqual(adapted, ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj']);
    assert.deepEqual(modulesToSave, ['lm_head']);
    assert.equal(config.rank, 4);
    assert.equal(config.alpha, 8);
    assert.equal(config.dropout, 0.05);
    assert.equal(config.taskType, 'CAUSAL_LM');
    assert.ok(model.parameters().every((p) => !p.requiresGrad), 'loaded for inference, like PEFT without is_trainable');
    const d = assertClose(logits(model), expected.logits!, TOL, 'adapted logits vs PEFT');
    report(`PEFT adapter logits: max abs diff ${d.toExponential(2)}`);

    mergeLora(model);
    const dm = assertClose(logits(model), expected.merged_logits!, TOL, 'merged logits vs PEFT merge_and_unload');
    unloadLora(model);
    const du = assertClose(logits(model), expected.merged_logits!, TOL, 'unloaded logits vs PEFT merge_and_unload');
    report(`PEFT merged logits: max abs diff ${dm.toExponential(2)} (merged), ${du.toExponential(2)} (unloaded)`);
  });

  test('rsLoRA with a regex target_modules (k_proj, o_proj, down_proj): logits equal PEFT', async () => {
    const model = await base();
    const { config, adapted } = loadAdapter(RSLORA, model);
    assert.ok(config.rsLora);
    assert.ok(config.targets instanceof RegExp);
    assert.equal(adapted.length, 6);
    assert.equal(loraModules(model)[0]![1].scaling, 4 / Math.sqrt(2));
    const d = assertClose(logits(model), expected.rslora_logits!, TOL, 'rsLoRA logits vs PEFT');
    report(`PEFT rsLoRA logits: max abs diff ${d.toExponential(2)}`);
  });

  test('trainable: true keeps the adapter (and modules_to_save) trainable', async () => {
    const model = await base();
    loadAdapter(ADAPTER, model, { trainable: true });
    const trainable = model.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
    assert.equal(trainable.length, 9);
    assert.ok(trainable.every((n) => n.includes('.lora_') || n === 'lm_head.weight'));
  });
});

describe('saving adapters', () => {
  for (const [name, dir] of [
    ['adapter', ADAPTER],
    ['adapter-rslora', RSLORA],
  ] as const) {
    test(`${name}: load then save gives PEFT's keys, identical tensor bytes and PEFT's config values`, async () => {
      const model = await base();
      const { config } = loadAdapter(dir, model);
      const out = process.env.STRATA_PEFT_EXPORT && name === 'adapter' ? process.env.STRATA_PEFT_EXPORT : path.join(tempDir('strata-peft-save-'), 'nested', 'adapter');
      saveAdapter(out, model, config);

      const theirs = S.readSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE));
      const ours = S.readSafetensors(path.join(out, ADAPTER_WEIGHTS_FILE));
      assert.deepEqual(Object.keys(ours.tensors).sort(), Object.keys(theirs.tensors).sort());
      for (const [k, t] of Object.entries(theirs.tensors)) {
        assert.deepEqual(ours.tensors[k]!.shape, t.shape, k);
        assert.ok(Buffer.from(bytesOf(ours.tensors[k]!)).equals(Buffer.from(bytesOf(t))), `${k}: bytes differ`);
      }
      assert.deepEqual(ours.metadata, { format: 'pt' });

      const peftConfig = readJson(path.join(dir, ADAPTER_CONFIG_FILE));
      const ourConfig = readJson(path.join(out, ADAPTER_CONFIG_FILE));
      const unknown = Object.keys(ourConfig).filter((k) => !(k in peftConfig));
      assert.deepEqual(unknown, [], 'every key written is one PEFT writes');
      for (const [k, v] of Object.entries(ourConfig)) {
        const want = peftConfig[k];
        if (k === 'target_modules' && Array.isArray(v)) assert.deepEqual([...v].sort(), [...(want as string[])].sort(), k);
        else assert.deepEqual(v, want, `adapter_config.json '${k}'`);
      }

      const again = await base();
      loadAdapter(out, again);
      const want = name === 'adapter' ? expected.logits! : expected.rslora_logits!;
      assertClose(logits(again), want, TOL, `${name} saved and reloaded`);
    });
  }

  test('an adapter trained here saves, reloads and reproduces its logits', async () => {
    const model = await base();
    const config = { rank: 2, alpha: 4, targets: ['o_proj', 'up_proj'], modulesToSave: ['lm_head'] };
    applyLora(model, { ...config, generator: new S.Generator(9) });
    S.noGrad(() => {
      for (const [, m] of loraModules(model)) m.loraB.weight.data.set(S.randn(m.loraB.weight.shape, { generator: new S.Generator(4), std: 0.2 }).data as Float32Array);
    });
    const want = logits(model);
    const dir = tempDir('strata-peft-trained-');
    saveAdapter(dir, model, { ...config, taskType: 'CAUSAL_LM', baseModel: 'tiny-llama' });
    const read = readAdapterConfig(dir);
    assert.deepEqual(read, { rank: 2, alpha: 4, dropout: 0, rsLora: false, targets: ['o_proj', 'up_proj'], modulesToSave: ['lm_head'], taskType: 'CAUSAL_LM', baseModel: 'tiny-llama' });
    const again = await base();
    loadAdapter(dir, again);
    assertClose(logits(again), want, { atol: 0, rtol: 0 }, 'reloaded logits');
  });

  test('the config must describe the model: rank, targets, a model without adapters', async () => {
    const model = await base();
    const dir = tempDir('strata-peft-bad-');
    assert.throws(() => saveAdapter(dir, model, { rank: 2, alpha: 2, targets: ['q_proj'] }), /no LoRA layers/);
    applyLora(model, { rank: 2, alpha: 2, targets: ['q_proj'] });
    assert.throws(() => saveAdapter(dir, model, { rank: 4, alpha: 2, targets: ['q_proj'] }), /'model\.layers\.0\.self_attn\.q_proj' has rank 2 \(config: 4\)/);
    assert.throws(() => saveAdapter(dir, model, { rank: 2, alpha: 2, targets: ['q_proj', 'v_proj'] }), /select 'model\.layers\.0\.self_attn\.v_proj', which has no LoRA adapter/);
    assert.throws(() => saveAdapter(dir, model, { rank: 2, alpha: 2, targets: /.*q_proj/i }), /has flags/);
    assert.deepEqual(fs.readdirSync(dir), [], 'nothing written');
  });
});

describe('malformed adapters', () => {
  const cases: [string, Parameters<typeof editedAdapter>[1], RegExp][] = [
    ['a missing tensor', { tensors: (t) => delete t['base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight'] }, /adapter_model\.safetensors: missing tensors 'base_model\.model\.model\.layers\.1\.self_attn\.v_proj\.lora_B\.weight'/],
    ['an extra tensor', { tensors: (t) => (t['base_model.model.model.layers.0.mlp.up_proj.lora_A.weight'] = S.zeros([4, 32])) }, /unexpected tensors 'base_model\.model\.model\.layers\.0\.mlp\.up_proj\.lora_A\.weight'/],
    ['a rank that differs from r', { config: (c) => (c.r = 8) }, /'base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight' \(4, 32\) has rank 4, but adapter_config\.json says r = 8/],
    ['a wrongly shaped tensor', { tensors: (t) => (t['base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight'] = S.zeros([32, 4])) }, /v_proj\.lora_B\.weight' is \(32, 4\), but lora_B of model\.layers\.0\.self_attn\.v_proj \(out_features, r\) is \(16, 4\)/],
    ['a target the model lacks', { config: (c) => (c.target_modules = ['q_proj', 'c_attn']), tensors: () => {} }, /unexpected tensors.*v_proj/],
    ['no target in the model', { config: (c) => (c.target_modules = ['c_attn']) }, /adapter_config\.json: no module matches targets \['c_attn'\]; the model's Linear modules are named q_proj/],
    ['another PEFT method', { config: (c) => (c.peft_type = 'IA3') }, /peft_type 'IA3' is not supported/],
    ['DoRA', { config: (c) => (c.use_dora = true) }, /'use_dora' is true: DoRA is not supported/],
    ['Conv1D layout', { config: (c) => (c.fan_in_fan_out = true) }, /'fan_in_fan_out' is true/],
    ['trained biases', { config: (c) => (c.bias = 'all') }, /'bias' is "all": trained biases/],
    ['per-module ranks', { config: (c) => (c.rank_pattern = { q_proj: 8 }) }, /'rank_pattern' is an object: per-module ranks/],
    ['all-linear', { config: (c) => (c.target_modules = 'all-linear') }, /'all-linear' is not supported/],
    ['a missing r', { config: (c) => delete c.r }, /field 'r' is required/],
    ['integer weights', { tensors: (t) => (t['base_model.model.lm_head.weight'] = S.zeros([64, 32], { dtype: 'i32' })) }, /dtype i32; adapter weights must be floating point/],
  ];
  for (const [what, edit, message] of cases) {
    test(`${what}: a StrataError, and the model is left unchanged`, async () => {
      const model = await base();
      const before = model.namedParameters().map(([n]) => n);
      const dir = editedAdapter(ADAPTER, edit);
      assert.throws(
        () => loadAdapter(dir, model),
        (e: unknown) => e instanceof S.StrataError && message.test(e.message),
      );
      assert.deepEqual(
        model.namedParameters().map(([n]) => n),
        before,
      );
    });
  }

  test('a directory without an adapter', async () => {
    const model = await base();
    assert.throws(() => loadAdapter(tempDir('strata-peft-empty-'), model), /adapter_config\.json: file not found/);
  });
});
