// CLIP against transformers 5 (scripts/fixtures/vit_clip.py), stage by stage and on every backend:
// the vision tower (final states, pooled class token), the text tower (final states, eos pooling
// with right padding, a row without eos, and the legacy argmax rule of eos_token_id 2), then the
// projected, normalized embeddings and the image–text logits. Max abs diff <= 1e-4 in f32; the
// observed diffs are in the test names' diagnostics (printed with STRATA_GOLDEN_REPORT=1).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { assertClose } from '../helpers/fixtures.js';
import { BACKENDS, expected, fixtureDir, report, tempDir } from './model-fixtures.js';

const TOL = { atol: 1e-4, rtol: 0 };
const INPUTS = ['pixel_values', 'input_ids', 'attention_mask'];

function rawConfig(): Record<string, unknown> & { text_config: Record<string, unknown>; vision_config: Record<string, unknown> } {
  return JSON.parse(fs.readFileSync(path.join(fixtureDir('clip'), 'config.json'), 'utf8')) as never;
}

describe('clip', async () => {
  const loaded = await S.loadModel(fixtureDir('clip'));
  const model = loaded.model as S.CLIPModel;
  const exp = expected('clip');
  const inputs = { pixelValues: exp.pixel_values!, inputIds: exp.input_ids!, attentionMask: exp.attention_mask! };
  // the same weights under a legacy config (eos_token_id 2: pool at the largest id)
  const legacyRaw = rawConfig();
  const legacyModel = (await S.loadModel(fixtureDir('clip'), { configOverrides: { text_config: { ...legacyRaw.text_config, eos_token_id: 2 } } })).model as S.CLIPModel;

  test('loads CLIPModel, in eval mode, as a dual encoder', () => {
    assert.equal(loaded.architecture, 'CLIPModel');
    assert.equal(loaded.modelType, 'clip');
    assert.equal(model.kind, 'dual-encoder');
    assert.ok(model instanceof S.CLIPModel);
    assert.ok(model.namedModules().every(([, m]) => !m.training));
    assert.equal(model.vocabSize, 100);
    assert.equal(model.maxPositions, 16);
    assert.deepEqual(model.imageSize, [32, 32]);
  });

  for (const backend of BACKENDS) {
    test(`every stage matches transformers on ${backend}`, (t) => {
      S.withBackend(backend, () =>
        S.noGrad(() => {
          const out = model.forward(inputs);
          const legacy = legacyModel.textModel.forward(inputs.inputIds, { attentionMask: inputs.attentionMask }).pooled;
          const got: Record<string, S.Tensor> = {
            vision_last_hidden_state: out.visionOutput.lastHiddenState,
            vision_pooled: out.visionOutput.pooled,
            text_last_hidden_state: out.textOutput.lastHiddenState,
            text_pooled: out.textOutput.pooled,
            legacy_text_pooled: legacy,
            image_embeds: out.imageEmbeds,
            text_embeds: out.textEmbeds,
            logits_per_image: out.logitsPerImage,
            logits_per_text: out.logitsPerText,
          };
          const wanted = Object.keys(exp).filter((k) => !INPUTS.includes(k));
          assert.deepEqual(Object.keys(got).sort(), wanted.sort(), 'every reference output is checked');
          for (const [key, x] of Object.entries(got)) {
            const d = assertClose(x, exp[key]!, TOL, `clip ${key} (${backend})`);
            t.diagnostic(`${key}: max abs diff ${d.toExponential(2)}`);
            report(`clip ${key} on ${backend}: max abs diff ${d.toExponential(2)}`);
          }
        }),
      );
    });
  }

  test('eos pooling: first eos, position 0 without one, largest id for legacy configs', () => {
    assert.deepEqual([...model.textModel.poolPositions(inputs.inputIds)], [4, 2, 0]);
    assert.deepEqual([...legacyModel.textModel.poolPositions(inputs.inputIds)], [4, 2, 2]);
  });

  test('image and text features are the projected pooled states; forward normalizes them', () => {
    S.noGrad(() => {
      const image = model.getImageFeatures(inputs.pixelValues); // (Bi, E)
      const text = model.getTextFeatures(inputs.inputIds, { attentionMask: inputs.attentionMask }); // (Bt, E)
      assert.deepEqual(image.shape, [2, 24]);
      assert.deepEqual(text.shape, [3, 24]);
      assertClose(S.l2Normalize(image), exp.image_embeds!, TOL, 'normalized image features');
      assertClose(S.l2Normalize(text), exp.text_embeds!, TOL, 'normalized text features');
      assertClose(model.similarity(S.l2Normalize(image), S.l2Normalize(text)), exp.logits_per_image!, TOL, 'similarity');
    });
  });

  test('a text alone, without padding, gives its padded row', () => {
    const ids = S.tensor([[98, 63, 99]], { dtype: 'i32' });
    const text = S.noGrad(() => model.textModel.forward(ids));
    assertClose(text.pooled, exp.text_pooled!.slice(0, 1, 2), TOL, 'unpadded text');
    assertClose(text.lastHiddenState, exp.text_last_hidden_state!.slice(0, 1, 2).slice(1, 0, 3), TOL, 'unpadded states');
  });

  test('every layer of both towers is returned (vision-language models read an inner one)', () => {
    const out = S.noGrad(() => model.visionModel.forward(inputs.pixelValues));
    assert.equal(out.layerStates.length, 2);
    assert.equal(out.layerStates[1], out.lastHiddenState);
    assert.deepEqual(out.layerStates[0]!.shape, [2, 17, 48]);
  });

  test('parameters are the checkpoint keys, logit_scale a scalar', () => {
    const keys = new Map(model.namedParameters());
    for (const k of ['text_model.embeddings.token_embedding.weight', 'text_model.encoder.layers.1.self_attn.out_proj.bias', 'text_model.final_layer_norm.weight', 'vision_model.embeddings.class_embedding', 'vision_model.embeddings.patch_embedding.weight', 'vision_model.pre_layrnorm.weight', 'vision_model.post_layernorm.bias', 'visual_projection.weight', 'text_projection.weight']) {
      assert.ok(keys.has(k), k);
    }
    assert.ok(!keys.has('vision_model.embeddings.patch_embedding.bias'));
    assert.deepEqual(keys.get('logit_scale')!.shape, []);
    assert.equal(model.logitScale.item(), 2);
  });

  test('save and load round trip', async () => {
    const dir = tempDir('strata-clip-save-');
    S.saveModel(dir, model, loaded.config);
    const again = (await S.loadModel(dir)).model as S.CLIPModel;
    const out = S.noGrad(() => again.forward(inputs));
    assertClose(out.logitsPerImage, exp.logits_per_image!, TOL, 'reloaded logits');
  });

  test('input errors: pixel size, ids, text length, mask shape', () => {
    assert.throws(() => model.getImageFeatures(S.randn([1, 3, 16, 16])), /CLIPVisionModel: image size 16x16 does not match the model's 32x32/);
    assert.throws(() => model.getTextFeatures(S.tensor([[1, 2]])), /CLIPTextModel: ids must be \(B, T\) i32/);
    assert.throws(() => model.getTextFeatures(S.zeros([1, 17], { dtype: 'i32' })), /17 tokens exceed the 16/);
    assert.throws(() => model.getTextFeatures(S.zeros([1, 4], { dtype: 'i32' }), { attentionMask: S.ones([1, 3]) }), /attentionMask must be \(B, T\) = \(1, 4\)/);
  });
});

describe('CLIP config and training', () => {
  const tiny = {
    model_type: 'clip',
    projection_dim: 8,
    text_config: { vocab_size: 20, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 6, eos_token_id: 19 },
    vision_config: { hidden_size: 12, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, image_size: 8, patch_size: 4 },
  };

  test("transformers' defaults fill absent tower fields; the legacy *_config_dict overrides", () => {
    const { config } = S.parseModelConfig({ ...tiny, text_config_dict: { hidden_size: 16 } }, 'config.json');
    const c = config as S.CLIPConfig;
    assert.equal(c.text_config.hidden_size, 16);
    assert.equal(c.text_config.hidden_act, 'quick_gelu');
    assert.equal(c.text_config.layer_norm_eps, 1e-5);
    assert.equal(c.vision_config.num_channels, 3);
    assert.equal(c.logit_scale_init_value, 2.6592);
  });

  test('a fresh model starts at logit_scale_init_value and trains: gradients reach both towers and the temperature', () => {
    const { config } = S.parseModelConfig(tiny, 'config.json');
    const model = S.createModel(config) as S.CLIPModel;
    assert.ok(Math.abs(model.logitScale.item() - 2.6592) < 1e-6);
    model.train();
    const out = model.forward({ pixelValues: S.randn([2, 3, 8, 8]), inputIds: S.tensor([[3, 4, 19], [5, 19, 0]], { dtype: 'i32' }), attentionMask: S.tensor([[1, 1, 1], [1, 1, 0]], { dtype: 'i32' }) });
    const labels = S.tensor([0, 1], { dtype: 'i32' });
    const loss = S.crossEntropy(out.logitsPerImage, labels).add(S.crossEntropy(out.logitsPerText, labels)).div(2);
    loss.backward();
    const grads = new Map(model.namedParameters().map(([k, p]) => [k, p.grad]));
    for (const key of ['logit_scale', 'visual_projection.weight', 'text_projection.weight', 'vision_model.embeddings.patch_embedding.weight', 'text_model.embeddings.token_embedding.weight']) {
      const g = grads.get(key);
      assert.ok(g && g.abs().sum().item() > 0, `${key} has a gradient`);
    }
  });

  test('bad config values are StrataErrors that name the field', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ vision_config: { ...tiny.vision_config, image_size: 10 } }, /field 'vision_config\.image_size' \(10\) must be a whole number of patches \(patch_size 4\)/],
      [{ vision_config: { ...tiny.vision_config, image_size: [8, 8] } }, /field 'vision_config\.image_size' and patch_size must be single integers/],
      [{ text_config: { ...tiny.text_config, num_attention_heads: 3 } }, /field 'text_config\.num_attention_heads' \(3\) must divide hidden_size \(8\)/],
      [{ text_config: { ...tiny.text_config, eos_token_id: [19, 18] } }, /field 'text_config\.eos_token_id' must be one token id/],
      [{ text_config: { ...tiny.text_config, eos_token_id: 20 } }, /field 'text_config\.eos_token_id' must be <= 19/],
      [{ text_config: { ...tiny.text_config, hidden_act: 'mish' } }, /field 'text_config\.hidden_act' must be one of/],
      [{ text_config: undefined }, /field 'text_config' is required/],
      [{ vision_config: 'big' }, /field 'vision_config' must be an object/],
    ];
    for (const [fields, message] of bad) {
      assert.throws(
        () => S.parseModelConfig({ ...tiny, ...fields }, 'config.json'),
        (e: unknown) => e instanceof S.StrataError && e.code === 'io' && message.test(e.message),
        JSON.stringify(fields),
      );
    }
  });

  test('mutated config.json files (top level and towers) parse into sane configs or fail with a StrataError naming the file', () => {
    const g = new S.Generator(11);
    const weird: unknown[] = [null, -1, 0, 1e300, 0.5, 'x', true, [], {}, [1, 2], [99, 98]];
    let parsed = 0;
    for (let i = 0; i < 600; i++) {
      const obj = rawConfig() as Record<string, unknown>;
      for (let f = 0; f < 1 + g.integer(0, 3); f++) {
        const where = [obj, obj['text_config'], obj['vision_config']][g.integer(0, 3)];
        if (typeof where !== 'object' || where === null || Array.isArray(where)) continue;
        const target = where as Record<string, unknown>;
        const keys = Object.keys(target);
        target[keys[g.integer(0, keys.length)]!] = weird[g.integer(0, weird.length)];
      }
      try {
        const { config } = S.parseModelConfig(obj, 'config.json');
        const c = config as S.CLIPConfig;
        for (const part of [c, c.text_config, c.vision_config]) for (const [k, v] of Object.entries(part)) if (typeof v === 'number') assert.ok(Number.isFinite(v), `${k} = ${v}`);
        parsed++;
      } catch (err) {
        assert.ok(err instanceof S.StrataError && err.code === 'io' && err.message.startsWith('config.json: '), `mutation ${i}: ${String(err)}`);
      }
    }
    assert.ok(parsed > 0 && parsed < 600, `parsed ${parsed}`);
  });

  test('the card: multi-modal, text and image in, zero-shot classification and retrieval', () => {
    assert.deepEqual(S.CLIP_CARD.families, ['multi-modal', 'foundation']);
    assert.deepEqual(S.CLIP_CARD.inputModalities, ['text', 'image']);
    assert.deepEqual(S.CLIP_CARD.outputModalities, ['embedding', 'label']);
    assert.ok(S.CLIP_CARD.applications.includes('zero-shot image classification'));
  });
});
