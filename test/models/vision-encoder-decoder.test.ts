// VisionEncoderDecoderModel (ViT + GPT-2 with cross-attention) against transformers 5.18
// (scripts/fixtures/vision_encoder_decoder.py), stage by stage: the preprocessor on a PNG, the
// tokenizer's ids, the encoder states before and after enc_to_dec_proj, the teacher-forced logits
// and loss, then greedy generation token for token. Max abs diff <= 1e-4 in f32 (observed <= 2.3e-6,
// printed with STRATA_GOLDEN_REPORT=1). Then the layout both ways: what we save has transformers'
// keys and shapes and loads back to the same logits.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { VisionEncoderDecoderModel } from '../../src/models/vision-encoder-decoder.js';
import { captionIds, loadCaptionPipeline, caption } from '../../src/pipelines/caption.js';
import { crossEntropy } from '../../src/tensor/ops/loss.js';
import { assertClose } from '../helpers/fixtures.js';
import { BACKENDS, copyFixture, expected, fixtureDir, report, tempDir } from './model-fixtures.js';

const NAME = 'vision-encoder-decoder';
const TOL = { atol: 1e-4, rtol: 0 };

function rows(t: S.Tensor): number[][] {
  return t.tolist() as number[][];
}

describe('vision-encoder-decoder', async () => {
  const dir = fixtureDir(NAME);
  const parts = await loadCaptionPipeline(dir);
  const model = parts.model;
  const exp = expected(NAME);

  test('loads as an encoder-decoder with the nested configs, projection and tied head', () => {
    assert.ok(model instanceof VisionEncoderDecoderModel);
    assert.equal(model.kind, 'encoder-decoder');
    assert.equal(model.config.encoder.hidden_size, 32);
    assert.equal(model.config.decoder.n_embd, 24);
    assert.ok(model.encToDecProj, 'hidden sizes differ, so enc_to_dec_proj is loaded');
    assert.equal(model.decoderStartTokenId, 0);
    assert.equal(model.config.eos_token_id, 1);
    assert.equal(model.config.pad_token_id, 1);
    assert.deepEqual(model.imageSize, [32, 32]);
    assert.equal(model.card.families[0], 'multi-modal');
    assert.deepEqual(model.card.inputModalities, ['image']);
    assert.deepEqual(model.card.outputModalities, ['text']);
    assert.ok(model.card.applications.includes('image captioning'));
    assert.ok(model.namedModules().every(([, m]) => !m.training));
  });

  test('preprocessor: the PNG becomes the pixel values ViTImageProcessor gives', async () => {
    const image = await S.loadImage(path.join(dir, 'image.png'));
    const pixels = S.preprocessImages([image], parts.processor);
    const d = assertClose(pixels, exp.pixel_values!, { atol: 1e-6, rtol: 0 }, 'pixel_values');
    report(`${NAME} pixel_values: max abs diff ${d.toExponential(2)}`);
  });

  test('tokenizer: caption ids equal the tokenizers library', () => {
    const lengths = exp.caption_lengths!.toArray() as number[];
    const want = rows(exp.caption_ids!).map((r, i) => r.slice(0, lengths[i]));
    const got = ['a small red circle left of a large blue square', 'a large green triangle'].map((c) => parts.tokenizer.encode(c, { addSpecialTokens: false }));
    assert.deepEqual(got, want);
  });

  for (const backend of BACKENDS) {
    test(`encoder states, logits and loss match transformers on ${backend}`, (t) => {
      S.withBackend(backend, () =>
        S.noGrad(() => {
          const pixels = exp.batch_pixel_values!;
          const enc = model.encoder.encodeImage(pixels).lastHiddenState; // (B, N, Ce)
          const out = model.forward(pixels, exp.decoder_input_ids!);
          // transformers' labels: the decoder inputs shifted left, eos last
          const ids = rows(exp.decoder_input_ids!);
          const labels = S.tensor(
            ids.map((r) => [...r.slice(1), 1]),
            { dtype: 'i32' },
          );
          const loss = crossEntropy(out.logits, labels);
          const got: Record<string, S.Tensor> = { encoder_last_hidden_state: enc, encoder_states: out.encoderStates, logits: out.logits, loss };
          for (const [key, x] of Object.entries(got)) {
            const d = assertClose(x, exp[key]!, TOL, `${NAME} ${key} (${backend})`);
            t.diagnostic(`${key}: max abs diff ${d.toExponential(2)}`);
            report(`${NAME} ${key} on ${backend}: max abs diff ${d.toExponential(2)}`);
          }
        }),
      );
    });
  }

  test('greedy generation equals transformers generate, token for token', () => {
    const want = rows(exp.generated_ids!)[0]!;
    assert.equal(want[0], model.decoderStartTokenId);
    const [r] = captionIds(model, exp.pixel_values!, { maxTokens: want.length - 1 });
    assert.deepEqual(r!.tokens, want.slice(1));
    assert.equal(r!.finishReason, 'length');
  });

  test('incremental decoding with the KV cache equals the full teacher-forced pass', () => {
    S.noGrad(() => {
      const pixels = exp.batch_pixel_values!;
      const ids = exp.decoder_input_ids!;
      const full = model.forward(pixels, ids).logits; // (B, T, V)
      const cross = model.crossAttention(model.encode(pixels));
      const cache = model.createCache(2, 8);
      const T = ids.shape[1]!;
      for (let i = 0; i < T; i++) {
        const step = model.decode(ids.slice(1, i, i + 1), cross, { cache }); // (B, 1, V)
        assertClose(step, full.slice(1, i, i + 1), { atol: 1e-5, rtol: 0 }, `step ${i}`);
      }
    });
  });

  test('beam search with one beam is greedy; more beams never score below greedy', async () => {
    const image = await S.loadImage(path.join(dir, 'image.png'));
    const greedy = caption(parts, image, { maxTokens: 6 });
    assert.deepEqual(caption(parts, image, { maxTokens: 6, numBeams: 1 }).tokens, greedy.tokens);
    const beam = caption(parts, image, { maxTokens: 6, numBeams: 4 });
    const score = (tokens: number[]) =>
      S.noGrad(() => {
        const ids = S.tensor([[0, ...tokens]], { dtype: 'i32' });
        const logits = model.forward(S.preprocessImages([image], parts.processor), ids.slice(1, 0, tokens.length)).logits; // (1, T, V)
        return -crossEntropy(logits, S.tensor([tokens], { dtype: 'i32' })).item() * tokens.length;
      });
    assert.equal(beam.finishReason, 'length');
    assert.ok(score(beam.tokens) >= score(greedy.tokens) - 1e-4, `beam ${score(beam.tokens)} vs greedy ${score(greedy.tokens)}`);
  });

  test('saves transformers’ keys and shapes, and what it saves loads back to the same logits', async () => {
    const out = tempDir('strata-ved-');
    S.saveModel(out, model, model.config);
    const theirs = S.readSafetensors(path.join(dir, 'model.safetensors')).tensors;
    const ours = S.readSafetensors(path.join(out, 'model.safetensors')).tensors;
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
    for (const [k, v] of Object.entries(theirs)) assert.deepEqual(ours[k]!.shape, v.shape, k);
    const saved = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown> & { encoder: { model_type: string }; decoder: { model_type: string; add_cross_attention: boolean } };
    assert.equal(saved['model_type'], 'vision-encoder-decoder');
    assert.deepEqual(saved['architectures'], ['VisionEncoderDecoderModel']);
    assert.equal(saved['decoder_start_token_id'], 0);
    assert.equal(saved.encoder.model_type, 'vit');
    assert.equal(saved.decoder.model_type, 'gpt2');
    assert.equal(saved.decoder.add_cross_attention, true);
    const again = (await S.loadModel(out)).model as VisionEncoderDecoderModel;
    S.noGrad(() => {
      const a = model.forward(exp.batch_pixel_values!, exp.decoder_input_ids!).logits;
      const b = again.forward(exp.batch_pixel_values!, exp.decoder_input_ids!).logits;
      assertClose(b, a, { atol: 0, rtol: 0 }, 'reloaded logits');
    });
  });

  test('a fresh model (no projection when widths match) has the checkpoint layout', () => {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    const { config } = S.parseModelConfig({ ...raw, encoder: { ...raw['encoder'], hidden_size: 24, num_attention_heads: 4 } }, 'config.json');
    const fresh = S.createModel(config) as VisionEncoderDecoderModel;
    assert.equal(fresh.encToDecProj, null);
    const names = fresh.namedParameters().map(([n]) => n);
    assert.ok(names.includes('decoder.transformer.h.1.crossattention.q_attn.weight'));
    assert.ok(names.includes('decoder.transformer.h.0.ln_cross_attn.bias'));
    assert.ok(names.includes('encoder.encoder.layer.1.output.dense.weight'));
    assert.ok(!names.some((n) => n.startsWith('enc_to_dec_proj') || n.includes('lm_head')));
  });

  test('bad configs and checkpoints are StrataErrors naming the field', async () => {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    const bad = (over: Record<string, unknown>, re: RegExp) => assert.throws(() => S.parseModelConfig({ ...raw, ...over }, 'config.json'), (e: unknown) => e instanceof S.StrataError && re.test(e.message));
    bad({ decoder_start_token_id: null }, /decoder_start_token_id' is required/);
    bad({ decoder_start_token_id: 5000 }, /outside the decoder's vocabulary/);
    bad({ decoder: { ...raw['decoder'], add_cross_attention: false } }, /add_cross_attention' must be true/);
    bad({ encoder: { ...raw['encoder'], model_type: 'deit' } }, /encoder.model_type' must be 'vit'/);
    bad({ decoder: undefined }, /'decoder' is required/);
    const broken = copyFixture(NAME);
    const cfg = JSON.parse(fs.readFileSync(path.join(broken, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    fs.writeFileSync(path.join(broken, 'config.json'), JSON.stringify({ ...cfg, decoder: { ...cfg['decoder'], n_layer: 3 } }));
    await assert.rejects(S.loadModel(broken), (e: unknown) => e instanceof S.StrataError && /missing tensor 'decoder\.transformer\.h\.2\./.test(e.message));
    assert.throws(() => captionIds(model, exp.pixel_values!, { maxTokens: 999 }), S.StrataError);
    assert.throws(() => captionIds(model, exp.pixel_values!, { numBeams: 0 }), S.StrataError);
    assert.throws(() => captionIds(model, S.zeros([1, 3, 16, 16])), /image size 16x16/);
  });
});
