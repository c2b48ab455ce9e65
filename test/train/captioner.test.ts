// Captioner training: corpus BLEU-4 and exact match against hand-computed cases; teacher forcing
// (inputs and shifted targets, padding ignored); the task's loss equals the cross-entropy of the
// model's logits and falls when a tiny captioner trains; the CLIP vision tower -> ViT copy; a
// short trainCaptioner run saves a directory the caption pipeline loads; bad settings.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { corpusBleu, exactMatch } from '../../src/train/bleu.js';
import {
  CaptionerTask,
  TRAIN_CAPTIONER_DEFAULTS,
  type TrainCaptionerConfig,
  captionBatch,
  captionerModelConfig,
  captionerRunScenes,
  clipVisionToViT,
  sceneReferences,
  trainCaptioner,
  validateTrainCaptionerConfig,
} from '../../src/train/captioner.js';
import { sceneImageProcessor, trainCaptionTokenizer } from '../../src/train/clip.js';
import { type SceneObject, sceneDataset } from '../../src/train/scenes.js';
import type { VisionEncoderDecoderModel } from '../../src/models/vision-encoder-decoder.js';
import { loadCaptionPipeline } from '../../src/pipelines/caption.js';
import { crossEntropy } from '../../src/tensor/ops/loss.js';
import { tempDir } from '../models/model-fixtures.js';
import { Trainer } from '../../src/train/trainer.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('corpus BLEU-4 and exact match', () => {
  test('a perfect corpus scores 1; clipping stops a repeated word from counting more than the reference holds', () => {
    close(corpusBleu(['a red circle above a blue square'], ['a red circle above a blue square']).bleu, 1);
    // Papineni's example: "the" x7 against "the cat is on the mat" has unigram precision 2/7
    const r = corpusBleu(['the the the the the the the'], ['the cat is on the mat'], 1);
    close(r.precisions[0]!, 2 / 7);
    close(r.brevityPenalty, 1);
    close(r.bleu, 2 / 7);
  });

  test('one sentence: modified precisions 9/9, 7/8, 5/7, 4/6 and the brevity penalty e^(1 - 10/9)', () => {
    const r = corpusBleu(['a small red circle left of a blue square'], ['a small red circle left of a large blue square']);
    assert.deepEqual([r.candidateLength, r.referenceLength], [9, 10]);
    [1, 7 / 8, 5 / 7, 4 / 6].forEach((p, i) => close(r.precisions[i]!, p));
    close(r.brevityPenalty, Math.exp(1 - 10 / 9));
    close(r.bleu, Math.exp(1 - 10 / 9) * Math.pow(5 / 12, 1 / 4));
  });

  test('a corpus sums n-gram counts and lengths over sentences instead of averaging scores', () => {
    const r = corpusBleu(['a small red circle left of a blue square', 'a large green triangle'], ['a small red circle left of a large blue square', 'a large green triangle']);
    [13 / 13, 10 / 11, 7 / 9, 5 / 7].forEach((p, i) => close(r.precisions[i]!, p));
    close(r.bleu, Math.exp(1 - 14 / 13) * Math.pow((10 / 11) * (7 / 9) * (5 / 7), 1 / 4));
  });

  test('no 4-gram match, or nothing generated, scores 0; a longer candidate has no penalty', () => {
    assert.equal(corpusBleu(['a red circle'], ['a red circle']).bleu, 0, 'three words hold no 4-gram');
    assert.equal(corpusBleu([''], ['a red circle']).bleu, 0);
    const long = corpusBleu(['a small red circle left of a large blue square now'], ['a small red circle left of a large blue square']);
    assert.equal(long.brevityPenalty, 1);
    assert.throws(() => corpusBleu(['a'], []), S.StrataError);
  });

  test('several references: clipping by the most any one reference holds, r from the closest reference length', () => {
    close(corpusBleu(['a blue square right of a red circle'], [['a red circle left of a blue square', 'a blue square right of a red circle']]).bleu, 1);
    const r = corpusBleu(['the the the'], [['the cat', 'the the mat']], 1);
    close(r.precisions[0]!, 2 / 3);
    assert.equal(r.referenceLength, 3, 'the 3-word reference is the closest to the 3-word candidate');
    close(r.bleu, 2 / 3);
    assert.equal(corpusBleu(['a b c'], [['a b', 'a b c d']], 1).referenceLength, 2, 'a tie goes to the shorter reference');
    const short = corpusBleu(['a b c'], [['a b c d', 'a b c d e f']], 1);
    close(short.brevityPenalty, Math.exp(1 - 4 / 3));
    assert.throws(() => corpusBleu(['a'], [[]]), /has no reference/);
  });

  test('exact match compares whole captions, ignoring spacing at the ends and runs of spaces', () => {
    assert.equal(exactMatch(['a red circle', ' a  blue square ', 'a green circle'], ['a red circle', 'a blue square', 'a green triangle']), 2 / 3);
    assert.equal(exactMatch([], []), 0);
    assert.equal(exactMatch(['b below a', 'a above b'], [['a above b', 'b below a'], ['b below a']]), 1 / 2);
    assert.throws(() => exactMatch(['a'], ['a', 'b']), S.StrataError);
  });
});

/** A tiny captioner (16 px images, 16 wide, one layer each) on 16 px scenes. */
function tinySetup(out = tempDir('strata-captioner-')) {
  const c: TrainCaptionerConfig = {
    ...TRAIN_CAPTIONER_DEFAULTS, out, imageSize: 16, patchSize: 8, encoderDim: 16, encoderLayers: 1, encoderHeads: 2, decoderDim: 16, decoderLayers: 1, decoderHeads: 2,
    trainScenes: 64, evalScenes: 4, batchSize: 8,
  };
  const scenes = captionerRunScenes(c);
  const trained = trainCaptionTokenizer([...Array(64).keys()].map((i) => scenes.train.get(i).caption), { maxLength: c.textContext });
  const tokenizer = S.hfTokenizerFromJson({ tokenizer: trained.tokenizerJson, config: trained.tokenizerConfig });
  const config = captionerModelConfig(c, tokenizer);
  const model = S.createModel(config, { generator: new S.Generator(0) }) as VisionEncoderDecoderModel;
  const processor = sceneImageProcessor(16);
  const task = new CaptionerTask(model, tokenizer, processor, scenes.train, { batchSize: 8, seed: 0 }, { val: scenes.val });
  return { c, scenes, tokenizer, model, processor, task };
}

describe('teacher-forced captioner training', () => {
  test('captionBatch feeds <|startoftext|> + caption and targets caption + <|endoftext|>, padding ignored', () => {
    const { tokenizer } = tinySetup();
    const captions = ['a small red circle left of a large blue square', 'a large green triangle'];
    const ids = captions.map((t) => tokenizer.encode(t));
    assert.equal(ids[0]![0], 0);
    assert.equal(ids[0]!.at(-1), 1);
    const b = captionBatch(tokenizer, captions, 24, 1);
    const T = ids[0]!.length - 1;
    assert.deepEqual(b.inputs.shape, [2, T]);
    const inputs = b.inputs.tolist() as number[][];
    const labels = b.labels.tolist() as number[][];
    assert.deepEqual(inputs[0], ids[0]!.slice(0, -1));
    assert.deepEqual(labels[0], ids[0]!.slice(1));
    const n = ids[1]!.length - 1;
    assert.deepEqual(inputs[1], [...ids[1]!.slice(0, -1), ...Array<number>(T - n).fill(1)]);
    assert.deepEqual(labels[1], [...ids[1]!.slice(1), ...Array<number>(T - n).fill(-100)]);
    assert.equal(b.tokens, T + n);
    assert.throws(() => captionBatch(tokenizer, captions, 5, 1), /needs \d+ decoder positions but the decoder has 5/);
  });

  test("the task's loss is the cross-entropy of the model's next-token logits, and training lowers it", (t) => {
    const { model, tokenizer, processor, task, scenes } = tinySetup();
    const batch = Array.from({ length: 8 }, (_, i) => scenes.train.get(i));
    const b = captionBatch(tokenizer, batch.map((s) => s.caption), model.maxPositions, 1);
    const want = S.noGrad(() => crossEntropy(model.forward(S.preprocessImages(batch.map((s) => s.image), processor), b.inputs).logits, b.labels).item());
    close(S.noGrad(() => task.lossOf(batch).loss.item()), want, 1e-6);
    const before = task.evaluate()['val_loss']!;
    const trainer = new Trainer(model, task, { steps: 40, lr: 1e-2, warmupSteps: 2, seed: 0, runDir: tempDir('strata-captioner-run-') });
    trainer.run();
    const after = task.evaluate()['val_loss']!;
    t.diagnostic(`validation loss ${before.toFixed(3)} -> ${after.toFixed(3)}`);
    assert.ok(after < 0.6 * before, `validation loss ${before.toFixed(3)} -> ${after.toFixed(3)}`);
  });

  test('a two-object scene has two correct captions: its own and the converse with the objects swapped', () => {
    const scenes = sceneDataset({ count: 40, seed: 3, imageSize: 32, twoObjects: 0.5 });
    const inverse: Record<string, string> = { 'left of': 'right of', 'right of': 'left of', above: 'below', below: 'above' };
    let pairs = 0;
    for (const s of scenes) {
      const refs = sceneReferences(s);
      assert.equal(refs[0], s.caption);
      if (s.objects.length === 1) {
        assert.deepEqual(refs, [s.caption]);
        continue;
      }
      pairs++;
      const [a, b] = s.objects as [SceneObject, SceneObject];
      assert.equal(refs[1], `a ${b.size} ${b.colour} ${b.shape} ${inverse[s.relation!]} a ${a.size} ${a.colour} ${a.shape}`);
    }
    assert.ok(pairs > 5);
  });

  test('a restored data position repeats the same batches', () => {
    const a = tinySetup().task;
    a.nextBatch();
    const state = JSON.parse(JSON.stringify(a.state())) as unknown;
    const next = S.noGrad(() => a.nextBatch().loss.item());
    const b = tinySetup().task;
    b.restore(state);
    assert.equal(S.noGrad(() => b.nextBatch().loss.item()), next);
    assert.throws(() => b.restore(null), S.StrataError);
  });

  test('clipVisionToViT copies every layer of a CLIP vision tower of the same shape into the encoder', () => {
    const { model } = tinySetup();
    const raw = {
      model_type: 'clip',
      projection_dim: 8,
      text_config: { vocab_size: 16, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8, eos_token_id: 15 },
      vision_config: { hidden_size: 16, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, image_size: 16, patch_size: 8 },
    };
    const clip = S.createModel(S.parseModelConfig(raw, 'clip').config, { generator: new S.Generator(3) }) as S.CLIPModel;
    const copied = clipVisionToViT(clip, model);
    assert.equal(copied, 5 + 16 + 1);
    const src = new Map(clip.namedParameters());
    const dst = new Map(model.namedParameters());
    const same = (a: string, b: string) => assert.deepEqual(Array.from(dst.get(b)!.toFloat32Array()), Array.from(src.get(a)!.toFloat32Array()), b);
    same('vision_model.encoder.layers.0.self_attn.k_proj.weight', 'encoder.encoder.layer.0.attention.attention.key.weight');
    same('vision_model.encoder.layers.0.mlp.fc2.bias', 'encoder.encoder.layer.0.output.dense.bias');
    same('vision_model.embeddings.class_embedding', 'encoder.embeddings.cls_token');
    same('vision_model.post_layernorm.weight', 'encoder.layernorm.weight');
    assert.ok(dst.get('encoder.embeddings.patch_embeddings.projection.bias')!.toFloat32Array().every((x) => x === 0));
    const wider = { ...raw, vision_config: { ...raw.vision_config, hidden_size: 24, num_attention_heads: 2 } };
    const other = S.createModel(S.parseModelConfig(wider, 'clip').config) as S.CLIPModel;
    assert.throws(() => clipVisionToViT(other, model), /does not match the encoder/);
  });

  test('a short trainCaptioner run saves a directory the caption pipeline loads and reports exact match and BLEU-4', async () => {
    const out = tempDir('strata-captioner-out-');
    const { c } = tinySetup(out);
    const r = await trainCaptioner({ ...c, steps: 3, evalEvery: 0, checkpointEvery: 0 });
    assert.equal(r.steps, 3);
    for (const f of ['config.json', 'model.safetensors', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json', 'metrics.jsonl', 'train_config.json']) assert.ok(fs.existsSync(path.join(out, f)), f);
    for (const k of ['val_loss', 'val_exact_seen', 'val_bleu4_seen', 'val_exact_heldout', 'val_bleu4_heldout']) assert.ok(Number.isFinite(r.eval![k]), k);
    const parts = await loadCaptionPipeline(out);
    assert.equal(parts.model.config.decoder_start_token_id, 0);
    assert.equal(parts.model.config.eos_token_id, 1);
    const scene = sceneDataset({ count: 1, seed: 5, imageSize: 16 }).get(0);
    const cap = S.noGrad(() => parts.model.forward(S.preprocessImages([scene.image], parts.processor), S.tensor([[0]], { dtype: 'i32' })).logits);
    assert.deepEqual(cap.shape, [1, 1, parts.tokenizer.vocabSize]);
  });

  test('bad training settings are StrataErrors naming the setting', () => {
    const base: TrainCaptionerConfig = { ...TRAIN_CAPTIONER_DEFAULTS, out: tempDir() };
    const bad = (over: Partial<TrainCaptionerConfig>, re: RegExp) => assert.throws(() => validateTrainCaptionerConfig({ ...base, ...over }), (e: unknown) => e instanceof S.StrataError && re.test(e.message));
    bad({ patchSize: 7 }, /patchSize \(7\) must divide imageSize/);
    bad({ decoderHeads: 3 }, /decoderHeads \(3\) must divide decoderDim/);
    bad({ textContext: 8 }, /textContext must be at least 16/);
    bad({ holdOut: 'pink hexagon' }, /'pink hexagon' is not a colour\+shape combination/);
    bad({ initEncoder: '/nonexistent/clip' }, /initEncoder: .* has no config.json/);
    bad({ lr: 0 }, /lr must be > 0/);
  });
});
