// LLaVA against transformers 5.18 (scripts/fixtures/llava.py), stage by stage: the processor's
// pixel values, the chat template and the token ids with <image> expanded, the projected image
// features, the logits (max abs diff <= 1e-4 in f32, every backend), then greedy generation ids
// equal to transformers' generate. Two configurations: feature layer -2 with the class token
// dropped (llava), and layers [-3, -1] concatenated with it kept, tied embeddings, a bias-free relu
// projector (llava-full). The transformers 4 / in-memory key layouts load to the same logits.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { LlavaForConditionalGeneration, parseLlavaConfig } from '../../src/models/llava.js';
import { VisualChatPipeline } from '../../src/pipelines/visual-chat.js';
import { assertClose } from '../helpers/fixtures.js';
import { BACKENDS, copyFixture, expected, fixtureDir, report, tempDir } from './model-fixtures.js';

const TOL = { atol: 1e-4, rtol: 0 };

function idsOf(t: S.Tensor): number[] {
  return (t.toArray() as number[]).map(Number);
}

const MESSAGES = (image: S.RgbImage): S.VisualChatMessage[] => [
  { role: 'system', content: 'You describe pictures.' },
  { role: 'user', content: [{ type: 'image', image }, { type: 'text', text: 'What is in the picture?' }] },
];

async function load(name: string): Promise<LlavaForConditionalGeneration> {
  const m = (await S.loadModel(fixtureDir(name))).model;
  assert.ok(m instanceof LlavaForConditionalGeneration);
  return m;
}

describe('llava', async () => {
  const exp = expected('llava');
  const expFull = expected('llava-full');
  const model = await load('llava');
  const full = await load('llava-full');
  const pipe = await VisualChatPipeline.load(fixtureDir('llava'));
  const image = await S.loadImage(path.join(fixtureDir('llava'), 'image.png'));

  test('loads LlavaForConditionalGeneration as a generating model with a multi-modal card', async () => {
    const loaded = await S.loadModel(fixtureDir('llava'));
    assert.equal(loaded.architecture, 'LlavaForConditionalGeneration');
    assert.equal(loaded.modelType, 'llava');
    assert.equal(model.kind, 'decoder-only');
    assert.deepEqual(model.card.inputModalities, ['text', 'image']);
    assert.deepEqual(model.card.outputModalities, ['text']);
    assert.ok(model.card.families.includes('multi-modal'));
    assert.ok(model.card.applications.includes('visual chat'));
    assert.equal(model.imageSeqLength, 16);
    assert.equal(full.imageSeqLength, 17);
    assert.equal(full.lmHead, null);
    assert.ok(model.namedModules().every(([, m]) => !m.training));
  });

  test('stage 1: the processor gives transformers’ pixel values', () => {
    const { pixelValues } = pipe.prepare(MESSAGES(image));
    const d = assertClose(pixelValues!, exp.pixel_values!, { atol: 1e-5, rtol: 0 }, 'pixel_values');
    report(`llava pixel_values: max abs diff ${d.toExponential(2)}`);
  });

  test('stage 2: the chat template and the token ids, <image> expanded to 16 tokens', () => {
    const p = pipe.prepare(MESSAGES(image));
    assert.equal(p.text, Buffer.from(Uint8Array.from(exp.prompt_text!.toArray() as number[])).toString('utf8'));
    assert.deepEqual(p.ids, idsOf(exp.input_ids!));
    assert.equal(p.ids.filter((t) => t === model.imageTokenId).length, 16);
    assert.equal(p.images, 1);
  });

  for (const backend of BACKENDS) {
    test(`stage 3: image features and logits match transformers on ${backend}`, (t) => {
      S.withBackend(backend, () =>
        S.noGrad(() => {
          for (const [name, m, e] of [['llava', model, exp], ['llava-full', full, expFull]] as const) {
            const ids = e.input_ids!.to('i32');
            const features = m.getImageFeatures(e.pixel_values!);
            const logits = m.forwardWithImages(ids, e.pixel_values!);
            for (const [key, got] of [['image_features', features], ['logits', logits]] as const) {
              const d = assertClose(got, e[key]!, TOL, `${name} ${key} (${backend})`);
              t.diagnostic(`${name} ${key}: max abs diff ${d.toExponential(2)}`);
              report(`${name} ${key} on ${backend}: max abs diff ${d.toExponential(2)}`);
            }
          }
        }),
      );
    });
  }

  test('stage 4: greedy generation equals transformers’ generate (prefill with image embeddings, then the KV cache)', () => {
    for (const [m, e] of [[model, exp], [full, expFull]] as const) {
      const want = idsOf(e.generated!);
      const bound = S.noGrad(() => m.withImages(e.pixel_values!));
      const r = S.generate(bound, idsOf(e.input_ids!), { temperature: 0, maxTokens: want.length });
      assert.deepEqual(r.tokens, want);
    }
  });

  test('two images in one turn: pixels, ids (32 image tokens), last logits and greedy ids match transformers', () => {
    // the second image is the first mirrored left to right, as the fixture script makes it
    const W = image.width;
    const mirrored = S.rgbImage(W, image.height, Uint8Array.from({ length: image.data.length }, (_, i) => {
      const [p, c] = [Math.floor(i / 3), i % 3];
      const [y, x] = [Math.floor(p / W), p % W];
      return image.data[(y * W + (W - 1 - x)) * 3 + c]!;
    }));
    const p = pipe.prepare([{ role: 'user', content: [{ type: 'image', image }, { type: 'text', text: 'Left' }, { type: 'image', image: mirrored }, { type: 'text', text: ' or right?' }] }]);
    assertClose(p.pixelValues!, exp.two_pixel_values!, { atol: 1e-5, rtol: 0 }, 'two pixel_values');
    assert.deepEqual(p.ids, idsOf(exp.two_input_ids!));
    const ids = S.tensor([p.ids], { dtype: 'i32' });
    const last = S.noGrad(() => model.forwardWithImages(ids, p.pixelValues!, { lastOnly: true })).reshape(1, -1); // (1, V)
    const d = assertClose(last, exp.two_last_logits!, TOL, 'two images, last logits');
    report(`llava two images last logits: max abs diff ${d.toExponential(2)}`);
    const want = idsOf(exp.two_generated!);
    const bound = S.noGrad(() => model.withImages(p.pixelValues!));
    assert.deepEqual(S.generate(bound, p.ids, { temperature: 0, maxTokens: want.length }).tokens, want);
  });

  test('the pipeline end to end: the reply is the greedy ids decoded', () => {
    const want = idsOf(exp.generated!);
    // the fixture's model ends no turn within 12 tokens; eos would stop it earlier
    const r = pipe.chat(MESSAGES(image), { temperature: 0, maxTokens: want.length });
    assert.deepEqual(r.tokens, want.slice(0, r.tokens.length));
    assert.equal(r.text, pipe.tokenizer.decode(r.tokens, { skipSpecialTokens: true }));
  });

  test('a batch of n rows of one prompt gives each row the images (n samples of one request)', () => {
    const p = pipe.prepare(MESSAGES(image));
    const rows = pipe.start(p, { temperature: 0, maxTokens: 4 }, 3).finish();
    const one = pipe.start(p, { temperature: 0, maxTokens: 4 }).finish()[0]!;
    for (const r of rows) assert.deepEqual(r.tokens, one.tokens);
  });

  test('the transformers 4 and in-memory key layouts load to the same logits', async () => {
    const source = S.readSafetensors(path.join(fixtureDir('llava'), 'model.safetensors')).tensors;
    const layouts: Record<string, (k: string) => string> = {
      v4: (k) => k.replace(/^vision_tower\./, 'vision_tower.vision_model.'),
      memory: (k) => k.replace(/^vision_tower\./, 'model.vision_tower.').replace(/^multi_modal_projector\./, 'model.multi_modal_projector.').replace(/^language_model\.model\./, 'model.language_model.').replace(/^language_model\.lm_head\./, 'lm_head.'),
    };
    for (const [name, rename] of Object.entries(layouts)) {
      const dir = copyFixture('llava');
      S.writeSafetensors(path.join(dir, 'model.safetensors'), Object.fromEntries(Object.entries(source).map(([k, v]) => [rename(k), v])));
      const m = (await S.loadModel(dir)).model as LlavaForConditionalGeneration;
      const logits = S.noGrad(() => m.forwardWithImages(exp.input_ids!.to('i32'), exp.pixel_values!));
      assertClose(logits, exp.logits!, TOL, `${name} layout`);
    }
  });

  test('save and load round trip', async () => {
    const dir = tempDir('strata-llava-save-');
    const loaded = await S.loadModel(fixtureDir('llava-full'));
    S.saveModel(dir, loaded.model, loaded.config);
    const again = (await S.loadModel(dir)).model as LlavaForConditionalGeneration;
    const logits = S.noGrad(() => again.forwardWithImages(expFull.input_ids!.to('i32'), expFull.pixel_values!));
    assertClose(logits, expFull.logits!, TOL, 'reloaded logits');
  });

  test('bad input: image tokens and features that disagree, wrong pixel size', () => {
    const ids = exp.input_ids!.to('i32');
    const short = S.tensor([idsOf(exp.input_ids!).slice(0, 20)], { dtype: 'i32' });
    assert.throws(() => S.noGrad(() => model.forwardWithImages(short, exp.pixel_values!)), (e: unknown) => e instanceof S.StrataError && /image tokens/.test(e.message));
    assert.throws(() => S.noGrad(() => model.forwardWithImages(ids, S.zeros([1, 3, 16, 16]))), S.StrataError);
    const textOnly = pipe.prepare([{ role: 'user', content: 'Hello' }]);
    assert.equal(textOnly.pixelValues, null);
    assert.ok(!textOnly.ids.includes(model.imageTokenId));
    assert.throws(() => pipe.prepare([{ role: 'user', content: [{ type: 'video' } as never] }]), S.StrataError);
  });

  test('bad config: image_seq_length, vision_feature_layer, vision tower type, image token', () => {
    const raw = JSON.parse(fs.readFileSync(path.join(fixtureDir('llava'), 'config.json'), 'utf8')) as Record<string, unknown>;
    const bad = (patch: Record<string, unknown>, re: RegExp) => assert.throws(() => parseLlavaConfig({ ...raw, ...patch }, 'config.json'), (e: unknown) => e instanceof S.StrataError && re.test(e.message));
    bad({ image_seq_length: 576 }, /image_seq_length/);
    bad({ vision_feature_layer: -5 }, /vision_feature_layer/);
    bad({ vision_feature_layer: [] }, /vision_feature_layer/);
    bad({ vision_config: { ...(raw.vision_config as object), model_type: 'siglip_vision_model' } }, /siglip_vision_model/);
    bad({ image_token_index: 9999 }, /image_token_index/);
    bad({ text_config: 'llama' }, /text_config/);
    assert.equal(parseLlavaConfig({ ...raw, image_token_index: undefined, image_token_id: 5 }, 'config.json').image_token_index, 5);
  });

  test('a hub config that writes only what differs from the defaults (llava-hf/llava-1.5-7b-hf’s shape)', () => {
    const c = parseLlavaConfig(
      {
        model_type: 'llava',
        architectures: ['LlavaForConditionalGeneration'],
        image_token_index: 32000,
        projector_hidden_act: 'gelu',
        vision_feature_layer: -2,
        vision_feature_select_strategy: 'default',
        text_config: { architectures: ['LlamaForCausalLM'], max_position_embeddings: 4096, model_type: 'llama', rms_norm_eps: 1e-5, torch_dtype: 'float16', vocab_size: 32064 },
        vision_config: { hidden_size: 1024, image_size: 336, intermediate_size: 4096, model_type: 'clip_vision_model', num_attention_heads: 16, num_hidden_layers: 24, patch_size: 14, projection_dim: 768, vocab_size: 32000 },
      },
      'config.json',
    );
    assert.deepEqual([c.text_config.hidden_size, c.text_config.intermediate_size, c.text_config.num_hidden_layers, c.text_config.num_attention_heads, c.text_config.vocab_size], [4096, 11008, 32, 32, 32064]);
    assert.equal(c.image_seq_length, 576);
    assert.equal(c.vision_config.image_size, 336);
    assert.equal(c.vision_config.hidden_act, 'quick_gelu');
    // no vision_config at all: LlavaConfig's default tower (CLIP ViT-L/14 at 336 pixels)
    const bare = parseLlavaConfig({ model_type: 'llava', image_token_index: 5, text_config: { vocab_size: 64 } }, 'config.json');
    assert.deepEqual([bare.vision_config.hidden_size, bare.vision_config.patch_size, bare.image_seq_length], [1024, 14, 576]);
  });
});
