// ViT against transformers 5 (scripts/fixtures/vit_clip.py), on every backend: ViTModel's final
// hidden states and pooler output on square images, and ViTForImageClassification's hidden states
// and logits on non-square images without qkv biases. Max abs diff <= 1e-4 in f32; the observed
// diffs are in the test names' diagnostics (printed with STRATA_GOLDEN_REPORT=1).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { assertClose } from '../helpers/fixtures.js';
import { BACKENDS, copyFixture, expected, fixtureDir, report, tempDir } from './model-fixtures.js';

const TOL = { atol: 1e-4, rtol: 0 };

interface Case {
  name: string;
  architecture: string;
  outputs(model: S.StrataModel, pixels: S.Tensor): Record<string, S.Tensor>;
}

const CASES: Case[] = [
  {
    name: 'vit',
    architecture: 'ViTModel',
    outputs: (m, pixels) => {
      const out = (m as S.ViTModel).forward(pixels);
      return { last_hidden_state: out.lastHiddenState, pooler_output: out.pooled! };
    },
  },
  {
    name: 'vit-cls',
    architecture: 'ViTForImageClassification',
    outputs: (m, pixels) => {
      const model = m as S.ViTForImageClassification;
      return { last_hidden_state: model.encodeImage(pixels).lastHiddenState, logits: model.forward(pixels) };
    },
  },
];

for (const c of CASES) {
  describe(c.name, async () => {
    const loaded = await S.loadModel(fixtureDir(c.name));
    const exp = expected(c.name);

    test('loads the architecture config.json names, in eval mode, as a vision encoder', () => {
      assert.equal(loaded.architecture, c.architecture);
      assert.equal(loaded.modelType, 'vit');
      assert.equal(loaded.model.kind, 'vision-encoder');
      assert.ok(loaded.model.namedModules().every(([, m]) => !m.training));
    });

    for (const backend of BACKENDS) {
      test(`outputs match transformers on ${backend}`, (t) => {
        S.withBackend(backend, () =>
          S.noGrad(() => {
            const got = c.outputs(loaded.model, exp.pixel_values!);
            const wanted = Object.keys(exp).filter((k) => k !== 'pixel_values');
            assert.deepEqual(Object.keys(got).sort(), wanted.sort(), 'every reference output is checked');
            for (const [key, x] of Object.entries(got)) {
              const d = assertClose(x, exp[key]!, TOL, `${c.name} ${key} (${backend})`);
              t.diagnostic(`${key}: max abs diff ${d.toExponential(2)}`);
              report(`${c.name} ${key} on ${backend}: max abs diff ${d.toExponential(2)}`);
            }
          }),
        );
      });
    }
  });
}

describe('ViT details', () => {
  test('parameters are the checkpoint keys; a ViTModel saved alone has no prefix', async () => {
    const cls = (await S.loadModel(fixtureDir('vit-cls'))).model;
    const keys = cls.namedParameters().map(([k]) => k);
    assert.ok(keys.includes('vit.embeddings.patch_embeddings.projection.weight'));
    assert.ok(keys.includes('vit.encoder.layer.1.attention.attention.query.weight'));
    assert.ok(!keys.includes('vit.encoder.layer.1.attention.attention.query.bias'), 'qkv_bias: false');
    assert.ok(keys.includes('classifier.weight'));
    const base = (await S.loadModel(fixtureDir('vit'))).model;
    assert.ok(base.namedParameters().every(([k]) => /^(embeddings|encoder|layernorm|pooler)\./.test(k)));
  });

  test('a classifier checkpoint loads as ViTModel (strict: false skips the head), without a pooler', async () => {
    const { model, unusedKeys } = await S.loadModel(fixtureDir('vit-cls'), { architecture: 'ViTModel', strict: false });
    assert.deepEqual(unusedKeys, ['classifier.bias', 'classifier.weight']);
    const vit = model as S.ViTModel;
    assert.equal(vit.pooler, null);
    const exp = expected('vit-cls');
    const out = S.noGrad(() => vit.encodeImage(exp.pixel_values!));
    assertClose(out.lastHiddenState, exp.last_hidden_state!, TOL, 'ViTModel over the classifier checkpoint');
  });

  test('save and load round trip (image_size as [height, width] survives)', async () => {
    const { model, config } = await S.loadModel(fixtureDir('vit-cls'));
    const dir = tempDir('strata-vit-save-');
    S.saveModel(dir, model, config);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(saved['image_size'], [32, 24]);
    const again = await S.loadModel(dir);
    const exp = expected('vit-cls');
    const logits = S.noGrad(() => (again.model as S.ViTForImageClassification).forward(exp.pixel_values!));
    assertClose(logits, exp.logits!, TOL, 'reloaded logits');
  });

  test('a fresh model from a config: shapes, pooler, positions', () => {
    const config = S.parseViTConfig({ model_type: 'vit', hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, image_size: 16, patch_size: 4, num_labels: 3 }, 'config.json');
    const vit = S.createModel(config, { architecture: 'ViTModel' }) as S.ViTModel;
    assert.equal(vit.maxPositions, 17);
    assert.ok(vit.pooler, 'a fresh ViTModel has a pooler, as transformers adds one by default');
    const out = S.noGrad(() => vit.encodeImage(S.randn([2, 3, 16, 16])));
    assert.deepEqual(out.lastHiddenState.shape, [2, 17, 16]);
    assert.deepEqual(out.pooled!.shape, [2, 16]);
    const cls = S.createModel(config) as S.ViTModel;
    assert.ok(cls instanceof S.ViTModel, 'ViTModel is the default architecture');
    const head = S.createModel(config, { architecture: 'ViTForImageClassification' }) as S.ViTForImageClassification;
    assert.deepEqual(S.noGrad(() => head.forward(S.randn([1, 3, 16, 16]))).shape, [1, 3]);
  });

  test('gradients reach the patch embedding and the class token', () => {
    const config = S.parseViTConfig({ model_type: 'vit', hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, image_size: 8, patch_size: 4, num_labels: 2 }, 'config.json');
    const model = S.createModel(config, { architecture: 'ViTForImageClassification' }) as S.ViTForImageClassification;
    model.train();
    const loss = S.crossEntropy(model.forward(S.randn([2, 3, 8, 8])), S.tensor([0, 1], { dtype: 'i32' }));
    loss.backward();
    const grads = new Map(model.namedParameters().map(([k, p]) => [k, p.grad]));
    for (const key of ['vit.embeddings.patch_embeddings.projection.weight', 'vit.embeddings.cls_token', 'vit.embeddings.position_embeddings', 'classifier.weight']) {
      const g = grads.get(key);
      assert.ok(g && g.abs().sum().item() > 0, `${key} has a gradient`);
    }
  });

  test('bad config values are StrataErrors that name the field', () => {
    const base = { model_type: 'vit', hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32 };
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ image_size: 30, patch_size: 8 }, /field 'image_size' \(30x30\) must be a whole number of patches \(patch_size 8x8\)/],
      [{ image_size: [32, 20], patch_size: 8 }, /field 'image_size' \(32x20\) must be a whole number of patches/],
      [{ image_size: [32], patch_size: 8 }, /field 'image_size' must be a positive integer or a list \[height, width\]/],
      [{ patch_size: 0 }, /field 'patch_size' must be >= 1/],
      [{ num_attention_heads: 3 }, /field 'num_attention_heads' \(3\) must divide hidden_size \(16\)/],
      [{ hidden_act: 'swish2' }, /field 'hidden_act' must be one of/],
      [{ layer_norm_eps: 0 }, /field 'layer_norm_eps' must be > 0/],
    ];
    for (const [fields, message] of bad) {
      assert.throws(
        () => S.parseModelConfig({ ...base, ...fields }, 'config.json'),
        (e: unknown) => e instanceof S.StrataError && e.code === 'io' && message.test(e.message),
        JSON.stringify(fields),
      );
    }
  });

  test('a checkpoint whose tensors disagree with config.json is refused by name', async () => {
    const dir = copyFixture('vit');
    const file = path.join(dir, 'config.json');
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...raw, image_size: 40 }));
    await assert.rejects(S.loadModel(dir), /tensor 'embeddings\.position_embeddings' has shape \(1, 17, 32\) but ViTModel .* expects \(1, 26, 32\)/);
  });

  test('input errors: rank, channels, image size', async () => {
    const model = (await S.loadModel(fixtureDir('vit'))).model as S.ViTModel;
    assert.throws(() => model.encodeImage(S.randn([3, 32, 32])), /pixel values must be \(B, 3, 32, 32\) f32/);
    assert.throws(() => model.encodeImage(S.zeros([1, 3, 32, 32], { dtype: 'i32' })), /pixel values must be \(B, 3, 32, 32\) f32/);
    assert.throws(() => model.encodeImage(S.randn([1, 1, 32, 32])), /pixel values have 1 channels but the model takes 3/);
    assert.throws(() => model.encodeImage(S.randn([1, 3, 64, 64])), (e: unknown) => e instanceof S.StrataError && /image size 64x64 does not match the model's 32x32/.test(e.message));
  });

  test('the card: a vision foundation model, image in, embedding or label out', async () => {
    const { model } = await S.loadModel(fixtureDir('vit'));
    assert.deepEqual(model.card.families, ['foundation']);
    assert.deepEqual(model.card.inputModalities, ['image']);
    assert.ok(model.card.outputModalities.includes('label') && model.card.outputModalities.includes('embedding'));
  });

  test('mutated config.json files parse into sane configs or fail with a StrataError naming the file', () => {
    const g = new S.Generator(7);
    const weird: unknown[] = [null, -1, 0, 1e300, 0.5, 'x', true, [], {}, [1, 2], [8, 0], [3, 5, 7]];
    let parsed = 0;
    for (let i = 0; i < 600; i++) {
      const obj = JSON.parse(fs.readFileSync(path.join(fixtureDir(i % 2 ? 'vit' : 'vit-cls'), 'config.json'), 'utf8')) as Record<string, unknown>;
      const keys = Object.keys(obj);
      for (let f = 0; f < 1 + g.integer(0, 3); f++) obj[keys[g.integer(0, keys.length)]!] = weird[g.integer(0, weird.length)];
      try {
        const { config } = S.parseModelConfig(obj, 'config.json');
        for (const [k, v] of Object.entries(config)) if (typeof v === 'number') assert.ok(Number.isFinite(v), `${k} = ${v}`);
        parsed++;
      } catch (err) {
        assert.ok(err instanceof S.StrataError && err.code === 'io' && err.message.startsWith('config.json: '), `mutation ${i}: ${String(err)}`);
      }
    }
    assert.ok(parsed > 0 && parsed < 600, `parsed ${parsed}`);
  });
});
