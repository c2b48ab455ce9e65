// LoRA layers: the PEFT formula, merge / unmerge, applying adapters to real models (names, frozen
// base, fields repointed), and a few AdamW steps that train only the adapter.
//
// Set STRATA_GOLDEN_REPORT=1 to print the observed max abs diffs.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as S from '../../src/index.js';
import { Linear } from '../../src/nn/layers.js';
import { LoRALinear, applyLora, loraModules, loraParameters, loraScaling, mergeLora, trainableParameters, unloadLora, unmergeLora } from '../../src/nn/lora.js';
import { FIXTURES_DIR, assertClose, maxAbsDiff } from '../helpers/fixtures.js';
import { expected as modelExpected, fixtureDir, report } from '../models/model-fixtures.js';

const LORA_DIR = path.join(FIXTURES_DIR, 'lora');

async function tinyLlama(): Promise<S.LlamaForCausalLM> {
  const { model } = await S.loadModel(path.join(LORA_DIR, 'base'));
  return model as S.LlamaForCausalLM;
}

function inputIds(): S.Tensor {
  return S.readSafetensors(path.join(LORA_DIR, 'expected.safetensors')).tensors.input_ids!;
}

/** Random values in every lora_B, so the adapters change the output. */
function randomizeB(model: S.nn.Module, seed: number): void {
  const g = new S.Generator(seed);
  S.noGrad(() => {
    for (const [, m] of loraModules(model)) m.loraB.weight.data.set(S.randn(m.loraB.weight.shape, { generator: g, std: 0.3 }).data as Float32Array);
  });
}

function snapshot(ts: readonly S.Tensor[]): Float32Array[] {
  return ts.map((t) => Float32Array.from(t.data as Float32Array));
}

describe('LoRALinear', () => {
  const make = (options: Partial<S.nn.LoRAOptions> = {}) => {
    const g = new S.Generator(7);
    const base = new Linear(6, 5, { generator: g });
    return { base, lora: new LoRALinear(base, { rank: 3, alpha: 6, generator: g, ...options }) };
  };

  test('keeps the base weight and bias under their names, adopted and frozen; adds lora_A and lora_B', () => {
    const { base, lora } = make();
    assert.deepEqual(
      lora.namedParameters().map(([n, t]) => [n, [...t.shape]]),
      [
        ['weight', [5, 6]],
        ['bias', [5]],
        ['lora_A.weight', [3, 6]],
        ['lora_B.weight', [5, 3]],
      ],
    );
    assert.equal(lora.weight, base.weight, 'the base weight is shared, not copied');
    assert.equal(lora.bias, base.bias);
    assert.equal(lora.weight.requiresGrad, false);
    assert.equal(lora.bias!.requiresGrad, false);
    assert.equal(lora.loraA.weight.requiresGrad, true);
    assert.equal(lora.loraB.weight.requiresGrad, true);
    assert.ok(lora instanceof Linear, 'stands wherever a Linear is expected');
  });

  test('initializes like PEFT: lora_A uniform within ±1/sqrt(in), lora_B zero, so forward equals the base', () => {
    const { base, lora } = make();
    const a = lora.loraA.weight.toArray();
    const bound = 1 / Math.sqrt(6);
    assert.ok(a.every((v) => Math.abs(v) <= bound) && a.some((v) => v !== 0));
    assert.ok(lora.loraB.weight.toArray().every((v) => v === 0));
    const x = S.randn([2, 4, 6], { generator: new S.Generator(1) });
    assert.equal(maxAbsDiff(lora.forward(x), base.forward(x)), 0);
  });

  test('forward is base(x) + alpha/r · B(A(x)); rsLoRA scales by alpha/sqrt(r)', () => {
    for (const rsLora of [false, true]) {
      const { base, lora } = make({ rsLora });
      randomizeB(lora, 3);
      const scaling = rsLora ? 6 / Math.sqrt(3) : 6 / 3;
      assert.equal(lora.scaling, scaling);
      assert.equal(loraScaling(3, 6, rsLora), scaling);
      const x = S.randn([2, 4, 6], { generator: new S.Generator(1) });
      const want = base.forward(x).add(x.matmul(lora.loraA.weight.T).matmul(lora.loraB.weight.T).mul(scaling));
      assertClose(lora.forward(x), want, { atol: 1e-6, rtol: 0 }, `forward (rsLora ${rsLora})`);
    }
  });

  test('dropout acts on the adapter input in training only', () => {
    const { base, lora } = make({ dropout: 0.5 });
    randomizeB(lora, 3);
    const x = S.randn([4, 6], { generator: new S.Generator(2) });
    lora.eval();
    const evalOut = lora.forward(x);
    const noDrop = base.forward(x).add(x.matmul(lora.loraA.weight.T).matmul(lora.loraB.weight.T).mul(lora.scaling));
    assertClose(evalOut, noDrop, { atol: 1e-6, rtol: 0 }, 'eval: no dropout');
    lora.train();
    assert.ok(maxAbsDiff(lora.forward(x), evalOut) > 1e-3, 'training: the adapter path is dropped out');
  });

  test('merge folds scaling·B·A into the weight; unmerge restores it', () => {
    const { lora } = make({ rsLora: true });
    randomizeB(lora, 4);
    const before = lora.weight.clone();
    const x = S.randn([3, 6], { generator: new S.Generator(5) });
    const unmerged = lora.forward(x);
    lora.merge();
    assert.ok(lora.merged);
    const merged = lora.forward(x);
    assertClose(lora.weight, before.add(lora.deltaWeight()), { atol: 1e-7, rtol: 0 }, 'merged weight');
    lora.merge(); // merging twice changes nothing
    const dMerged = assertClose(merged, unmerged, { atol: 1e-5, rtol: 0 }, 'merged forward');
    lora.unmerge();
    assert.ok(!lora.merged);
    const dWeight = assertClose(lora.weight, before, { atol: 1e-6, rtol: 0 }, 'unmerged weight');
    report(`LoRALinear merged forward ${dMerged.toExponential(2)}, merge→unmerge weight ${dWeight.toExponential(2)}`);
  });

  test('over a quantized base weight (QLoRA-style): forward works, the base stays frozen, merge refuses', () => {
    const g = new S.Generator(8);
    const dense = S.randn([8, 64], { generator: g, std: 0.1 });
    const base = new Linear(64, 8, { weight: dense.to('q8_0'), bias: false });
    const lora = new LoRALinear(base, { rank: 2, alpha: 4, generator: g });
    randomizeB(lora, 6);
    const x = S.randn([3, 64], { generator: g });
    const y = lora.forward(x);
    const want = base.forward(x).add(x.matmul(lora.loraA.weight.T).matmul(lora.loraB.weight.T).mul(2));
    assertClose(y, want, { atol: 1e-5, rtol: 0 }, 'q8_0 base + adapter');
    y.sum().backward();
    assert.ok(lora.loraA.weight.grad && lora.loraB.weight.grad);
    assert.throws(() => lora.merge(), (e: unknown) => e instanceof S.StrataError && e.code === 'unsupported' && /q8_0/.test(e.message));
    assert.ok(!lora.merged);
  });

  test('rejects bad settings', () => {
    const base = new Linear(4, 4);
    assert.throws(() => new LoRALinear(base, { rank: 0, alpha: 1 }), /rank must be a positive integer/);
    assert.throws(() => new LoRALinear(base, { rank: 2, alpha: NaN }), /alpha must be a finite number/);
    assert.throws(() => new LoRALinear(base, { rank: 2, alpha: 1, dropout: 1 }), /dropout must be in \[0, 1\)/);
  });
});

describe('Module.replaceModule', () => {
  test('swaps the child in place (parameter order kept), repoints fields and arrays, and names a bad path', () => {
    class Holder extends S.nn.Module {
      readonly group: S.ModuleGroup;
      readonly direct: Linear;
      readonly list: Linear[];
      constructor() {
        super();
        this.group = this.module('group', new S.ModuleGroup());
        this.direct = this.group.add('inner', new Linear(2, 2));
        this.group.add('last', new Linear(2, 2));
        this.list = [this.direct];
      }
    }
    const h = new Holder();
    const before = h.namedParameters().map(([n]) => n);
    const old = h.direct;
    const next = new Linear(2, 2);
    assert.equal(h.replaceModule('group.inner', next), old);
    assert.equal(h.direct, next);
    assert.equal(h.list[0], next);
    assert.deepEqual(h.namedParameters().map(([n]) => n), before);
    assert.equal(h.namedModules().find(([n]) => n === 'group.inner')![1], next);
    assert.throws(() => h.replaceModule('group.nope', next), /no module 'group\.nope'/);
    assert.throws(() => h.replaceModule('nope.inner', next), /no module 'nope\.inner' \(no child 'nope'\)/);
  });
});

describe('applyLora on a llama model', () => {
  test('adds lora_A / lora_B beside unchanged base keys and repoints the typed fields', async () => {
    const model = await tinyLlama();
    const baseKeys = model.namedParameters().map(([n]) => n);
    const { adapted } = applyLora(model, { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] });
    assert.deepEqual(adapted, ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj']);
    const keys = model.namedParameters().map(([n]) => n);
    assert.deepEqual(
      keys.filter((k) => !k.includes('.lora_')),
      baseKeys,
      'base checkpoint keys unchanged, in order',
    );
    assert.deepEqual(
      keys.filter((k) => k.includes('.lora_')).slice(0, 2),
      ['model.layers.0.self_attn.q_proj.lora_A.weight', 'model.layers.0.self_attn.q_proj.lora_B.weight'],
    );
    assert.ok(model.model.layers[0]!.selfAttn.qProj instanceof LoRALinear, 'the attention reads the LoRA layer through its field');
    assert.equal(model.model.layers[0]!.selfAttn.qProj.training, false, 'a LoRA layer follows the eval mode of the layer it replaced');
    assert.ok(!(model.model.layers[0]!.selfAttn.kProj instanceof LoRALinear));
    const trainable = model.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
    assert.deepEqual(trainable, keys.filter((k) => k.includes('.lora_')), 'only the adapter trains');
    assert.deepEqual(loraParameters(model).length, 8);
  });

  test('a RegExp must match the whole module name', async () => {
    const model = await tinyLlama();
    const { adapted } = applyLora(model, { rank: 2, alpha: 2, targets: /model\.layers\.1\..*_proj/ });
    assert.equal(adapted.length, 7);
    assert.ok(adapted.every((n) => n.startsWith('model.layers.1.')));
    const other = await tinyLlama();
    assert.throws(() => applyLora(other, { rank: 2, alpha: 2, targets: /q_proj/ }), /no module matches targets \/q_proj\/; the model's Linear modules are named q_proj, k_proj/);
  });

  test('errors: no match, a non-Linear target, a target adapted twice, a bad modulesToSave', async () => {
    const model = await tinyLlama();
    assert.throws(() => applyLora(model, { rank: 2, alpha: 2, targets: ['qkv'] }), (e: unknown) => e instanceof S.StrataError && /no module matches targets \['qkv'\].*q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head/.test(e.message));
    assert.throws(() => applyLora(model, { rank: 2, alpha: 2, targets: ['self_attn'] }), /match modules that are not Linear: model\.layers\.0\.self_attn \(LlamaAttention\)/);
    assert.throws(() => applyLora(model, { rank: 2, alpha: 2, targets: ['embed_tokens'] }), /not Linear: model\.embed_tokens \(Embedding\)/);
    assert.throws(() => applyLora(model, { rank: 2, alpha: 2, targets: ['q_proj'], modulesToSave: ['nothing'] }), /no module matches modulesToSave/);
    assert.throws(() => applyLora(model, { rank: 2, alpha: 2, targets: ['q_proj'], modulesToSave: ['q_proj'] }), /both a LoRA target and a module to save/);
    assert.equal(loraModules(model).length, 0, 'a failed applyLora leaves the model unchanged');
    applyLora(model, { rank: 2, alpha: 2, targets: ['q_proj'] });
    assert.throws(() => applyLora(model, { rank: 2, alpha: 2, targets: ['q_proj'] }), /already carry a LoRA adapter/);
    // one Linear under two names
    const shared = new Linear(4, 4);
    const twice = new S.ModuleGroup();
    twice.add('a', shared);
    twice.add('b', shared);
    assert.throws(() => applyLora(twice, { rank: 2, alpha: 2, targets: ['a', 'b'] }), /'b' shares its weight with 'a'/);
  });

  test('mergeLora / unmergeLora / unloadLora: the same logits, weights restored, a plain model after unload', async () => {
    const model = await tinyLlama();
    const ids = inputIds();
    const base = S.noGrad(() => model.forward(ids));
    const weights = snapshot(model.parameters());
    applyLora(model, { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'], rsLora: true });
    randomizeB(model, 11);
    const adapted = S.noGrad(() => model.forward(ids));
    assert.ok(maxAbsDiff(adapted, base) > 1e-2, 'the adapter changes the logits');
    mergeLora(model);
    const merged = S.noGrad(() => model.forward(ids));
    unmergeLora(model);
    const restored = model.parameters().filter((p) => !loraParameters(model).includes(p));
    let dWeights = 0;
    restored.forEach((p, i) => (dWeights = Math.max(dWeights, maxAbsDiff(p, S.tensor(Array.from(weights[i]!)).reshape(p.shape)))));
    const dMerged = assertClose(merged, adapted, { atol: 1e-5, rtol: 0 }, 'merged logits');
    assert.ok(dWeights <= 1e-6, `merge→unmerge moved the base weights by ${dWeights}`);
    report(`llama mergeLora logits ${dMerged.toExponential(2)}, merge→unmerge weights ${dWeights.toExponential(2)}`);

    const unloaded = unloadLora(model);
    assert.equal(unloaded.length, 6);
    assert.equal(loraModules(model).length, 0);
    assert.ok(model.model.layers[0]!.selfAttn.qProj.constructor === Linear, 'a plain Linear is back in the field');
    assert.deepEqual(
      model.namedParameters().map(([n]) => n).sort(),
      Object.keys(S.readSafetensors(path.join(LORA_DIR, 'base', 'model.safetensors')).tensors).sort(),
      'the unloaded model has exactly the base checkpoint keys',
    );
    assertClose(S.noGrad(() => model.forward(ids)), adapted, { atol: 1e-5, rtol: 0 }, 'unloaded logits');
  });

  test('training: AdamW on the adapter lowers the loss; the base stays bit-identical and gets no grads', async () => {
    const model = await tinyLlama();
    const ids = inputIds(); // (B, T)
    const T = ids.shape[1]!;
    const inputs = ids.slice(1, 0, T - 1).contiguous();
    const targets = ids.slice(1, 1, T).contiguous();
    const g = new S.Generator(3);
    applyLora(model, { rank: 4, alpha: 8, dropout: 0.1, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], generator: g });
    const frozen = model.parameters().filter((p) => !p.requiresGrad);
    const before = snapshot(frozen);
    const params = trainableParameters(model);
    assert.deepEqual(params, loraParameters(model));
    const opt = new S.optim.AdamW(params, { lr: 2e-2, weightDecay: 0 });
    const evalLoss = () => S.noGrad(() => S.crossEntropy(model.eval().forward(inputs), targets).item());
    const losses = [evalLoss()];
    for (let step = 0; step < 8; step++) {
      model.train();
      opt.zeroGrad();
      const loss = S.crossEntropy(model.forward(inputs), targets);
      loss.backward();
      for (const p of frozen) assert.equal(p.grad, null, 'a frozen parameter got a gradient');
      for (const p of params) assert.ok(p.grad, 'every LoRA parameter gets a gradient');
      opt.step();
      losses.push(evalLoss());
    }
    report(`LoRA training losses ${losses.map((l) => l.toFixed(4)).join(' ')}`);
    assert.ok(losses.at(-1)! < losses[0]! - 0.05, `loss did not fall: ${losses.join(', ')}`);
    const after = snapshot(frozen);
    before.forEach((b, i) => assert.deepEqual(after[i], b, 'a frozen base weight changed'));
  });
});

describe('applyLora on BERT (fields held above the registering module)', () => {
  test('query/value read through BertAttention get the adapter; the classifier stays trainable as a module to save', async () => {
    const { model } = await S.loadModel(fixtureDir('bert-cls'));
    const clf = model as S.BertForSequenceClassification;
    const exp = modelExpected('bert-cls');
    const run = () => S.noGrad(() => clf.forward(exp.input_ids!, { attentionMask: exp.attention_mask! }));
    const base = run();
    const { adapted, modulesToSave } = applyLora(model, { rank: 2, alpha: 4, targets: ['query', 'value'], modulesToSave: ['classifier'] });
    assert.equal(adapted.length, 4);
    assert.deepEqual(modulesToSave, ['classifier']);
    const trainable = model.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
    assert.ok(trainable.includes('classifier.weight') && trainable.includes('classifier.bias'));
    assert.ok(trainable.every((n) => n.includes('.lora_') || n.startsWith('classifier.')));
    randomizeB(model, 5);
    const adaptedOut = run();
    assert.ok(maxAbsDiff(adaptedOut, base) > 1e-4, 'the encoder reads the LoRA layers through its fields');
    mergeLora(model);
    assertClose(run(), adaptedOut, { atol: 1e-5, rtol: 0 }, 'bert merged logits');
  });
});
