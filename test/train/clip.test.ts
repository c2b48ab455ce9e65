// CLIP contrastive training: the symmetric InfoNCE loss against a hand computation; its gradient
// reaching both towers and logit_scale (central finite differences on a tiny CLIP); the clamp of
// logit_scale; the caption tokenizer; a resumable data position; and a short training run that
// lifts zero-shot accuracy on single-object scenes far above chance, saved as a Hugging Face
// directory that loads back to the same predictions.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import type { CLIPModel } from '../../src/models/clip/index.js';
import { createModel } from '../../src/models/registry.js';
import { loadClipPipeline } from '../../src/pipelines/zero-shot-image.js';
import { fromArray } from '../../src/tensor/ops/creation.js';
import { noGrad } from '../../src/tensor/grad-mode.js';
import { markModified } from '../../src/tensor/version.js';
import { Generator } from '../../src/tensor/random.js';
import { hfTokenizerFromJson } from '../../src/tokenizers/hf.js';
import { readMetrics } from '../../src/train/metrics.js';
import {
  ClipContrastiveTask,
  MAX_LOGIT_SCALE,
  TRAIN_CLIP_DEFAULTS,
  type TrainClipConfig,
  clipContrastiveLoss,
  clipModelConfig,
  clipRunScenes,
  sceneImageProcessor,
  sceneZeroShotAccuracy,
  trainCaptionTokenizer,
  trainClip,
  validateTrainClipConfig,
} from '../../src/train/clip.js';
import { SCENE_COMBOS, comboLabel, sceneCaption, sceneDataset } from '../../src/train/scenes.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-clip-train-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function captionTokenizer(imageSize = 16) {
  const scenes = [...sceneDataset({ count: 300, seed: 0, imageSize })];
  const trained = trainCaptionTokenizer(
    scenes.flatMap((s) => [s.caption, sceneCaption(s, { size: false })]),
    { maxLength: 32 },
  );
  return hfTokenizerFromJson({ tokenizer: trained.tokenizerJson, config: trained.tokenizerConfig });
}

/** A tiny CLIP (16 px images, 8 wide, one layer per tower) and a task over 16 px scenes. */
function tinySetup(seed = 0) {
  const tokenizer = captionTokenizer();
  const c: TrainClipConfig = { ...TRAIN_CLIP_DEFAULTS, out: tmp, imageSize: 16, patchSize: 8, dim: 8, layers: 1, heads: 2, projectionDim: 8, textContext: 16 };
  const model = createModel(clipModelConfig(c, tokenizer), { generator: new Generator(seed) }) as CLIPModel;
  const train = sceneDataset({ count: 64, seed: 1, imageSize: 16 });
  const task = new ClipContrastiveTask(model, tokenizer, sceneImageProcessor(16), train, { batchSize: 4, seed: 3 });
  return { model, tokenizer, task, train };
}

describe('symmetric InfoNCE', () => {
  test('equals a hand computation: mean of the image->text and text->image cross-entropies', () => {
    const L = [
      [2.0, 1.8, -1.0],
      [0.1, 1.5, 0.3],
      [-0.5, 0.2, 0.9],
    ];
    const ce = (row: number[], target: number) => Math.log(row.reduce((s, x) => s + Math.exp(x), 0)) - row[target]!;
    const perImage = L.map((row, i) => ce(row, i)).reduce((a, b) => a + b) / 3;
    const perText = L.map((_, j) => ce(L.map((row) => row[j]!), j)).reduce((a, b) => a + b) / 3;
    const expected = (perImage + perText) / 2;
    const got = clipContrastiveLoss(fromArray(Float32Array.from(L.flat()), [3, 3])).item();
    assert.ok(Math.abs(got - expected) < 1e-6, `${got} vs ${expected}`);
    // an asymmetric matrix: the two directions differ, and both count
    assert.ok(Math.abs(perImage - perText) > 1e-2);
    // a confident, right batch costs almost nothing; uniform logits cost log B
    assert.ok(clipContrastiveLoss(fromArray(Float32Array.from([30, 0, 0, 30]), [2, 2])).item() < 1e-9);
    assert.ok(Math.abs(clipContrastiveLoss(fromArray(new Float32Array(16), [4, 4])).item() - Math.log(4)) < 1e-6);
  });

  test('refuses logits that are not square', () => {
    assert.throws(() => clipContrastiveLoss(fromArray(new Float32Array(6), [2, 3])), StrataError);
  });

  test('its gradient reaches both towers and logit_scale, equal to finite differences', () => {
    const { model, task, train } = tinySetup();
    const scenes = [0, 1, 2, 3].map((i) => train.get(i));
    const captions = scenes.map((s) => s.caption);
    const loss = () => noGrad(() => task.lossOf(scenes, captions).item());
    task.lossOf(scenes, captions).backward();
    const params = new Map(model.namedParameters());
    // every parameter the batch uses has a gradient (unused token rows and positions are zero)
    for (const [name, p] of params) assert.ok(p.grad, `${name} has a gradient`);
    const checked = [
      'logit_scale',
      'visual_projection.weight',
      'vision_model.embeddings.patch_embedding.weight',
      'vision_model.embeddings.class_embedding',
      'vision_model.encoder.layers.0.self_attn.q_proj.weight',
      'vision_model.encoder.layers.0.mlp.fc1.weight',
      'text_projection.weight',
      'text_model.embeddings.token_embedding.weight',
      'text_model.encoder.layers.0.self_attn.v_proj.weight',
      'text_model.final_layer_norm.weight',
    ];
    const eps = 1e-3;
    for (const name of checked) {
      const p = params.get(name);
      assert.ok(p, `${name} exists`);
      const g = p.grad!.contiguous().toArray();
      // the element with the largest gradient, so f32 rounding stays small beside it
      const i = g.reduce((best, v, k) => (Math.abs(v) > Math.abs(g[best]!) ? k : best), 0);
      assert.ok(Math.abs(g[i]!) > 1e-4, `${name}: the gradient is not zero (${g[i]})`);
      const data = p.data as Float32Array;
      const orig = data[i]!;
      // direct writes into a parameter: markModified drops what was cached from its values
      data[i] = orig + eps;
      markModified(p);
      const up = loss();
      data[i] = orig - eps;
      markModified(p);
      const down = loss();
      data[i] = orig;
      markModified(p);
      const numeric = (up - down) / (2 * eps);
      assert.ok(Math.abs(numeric - g[i]!) <= 2e-3 + 0.03 * Math.abs(g[i]!), `${name}[${i}]: analytic ${g[i]} vs numeric ${numeric}`);
    }
  });
});

describe('ClipContrastiveTask', () => {
  test('clamps logit_scale into [0, ln 100] before each forward', () => {
    const { model, task } = tinySetup();
    const set = (v: number) => ((model.logitScale.data as Float32Array)[0] = v);
    set(9);
    task.nextBatch();
    assert.ok(Math.abs(model.logitScale.item() - MAX_LOGIT_SCALE) < 1e-6);
    set(-2);
    task.nextBatch();
    assert.equal(model.logitScale.item(), 0);
    set(1.5);
    task.nextBatch();
    assert.equal(model.logitScale.item(), 1.5);
  });

  test('a restored data position repeats the same batches', () => {
    const a = tinySetup().task;
    a.nextBatch();
    a.nextBatch();
    const state = JSON.parse(JSON.stringify(a.state())) as unknown;
    const next = [a.nextBatch().loss.item(), a.nextBatch().loss.item()];
    const b = tinySetup().task;
    b.restore(state);
    assert.deepEqual([b.nextBatch().loss.item(), b.nextBatch().loss.item()], next);
    assert.throws(() => b.restore({}), StrataError);
  });

  test('the caption tokenizer wraps texts in <|startoftext|> ... <|endoftext|>, lowercases, and keeps each caption word one token', () => {
    const tok = captionTokenizer();
    assert.equal(tok.special.bos, 0);
    assert.equal(tok.special.eos, 1);
    assert.equal(tok.special.pad, 1);
    for (const text of ['a small red circle left of a large blue square', 'a purple triangle', 'orange square']) {
      const ids = tok.encode(text);
      assert.equal(ids[0], 0);
      assert.equal(ids[ids.length - 1], 1);
      assert.equal(ids.length, text.split(' ').length + 2, `${text}: ${ids.map((i) => tok.idToToken(i)).join(' ')}`);
    }
    assert.deepEqual(tok.encode('A Red CIRCLE'), tok.encode('a red circle'));
    assert.deepEqual(tok.encode('red circle').slice(1), tok.encode('a red circle').slice(2), 'a first word is the token it is mid-caption');
  });

  test('bad training settings are StrataErrors', () => {
    const base: TrainClipConfig = { ...TRAIN_CLIP_DEFAULTS, out: tmp };
    assert.throws(() => validateTrainClipConfig({ ...base, patchSize: 7 }), /patchSize/);
    assert.throws(() => validateTrainClipConfig({ ...base, heads: 3 }), /heads/);
    assert.throws(() => validateTrainClipConfig({ ...base, batchSize: 1 }), /batchSize/);
    assert.throws(() => validateTrainClipConfig({ ...base, holdOut: 'pink hexagon' }), /pink hexagon/);
    assert.throws(() => validateTrainClipConfig({ ...base, dropSizes: 2 }), /dropSizes/);
  });
});

describe('trainClip', () => {
  test('a short run lifts zero-shot accuracy far above chance and saves a loadable HF directory', async () => {
    const out = path.join(tmp, 'run');
    const config: TrainClipConfig = {
      ...TRAIN_CLIP_DEFAULTS, out, imageSize: 32, patchSize: 8, dim: 32, layers: 2, heads: 2, projectionDim: 32,
      trainScenes: 5000, evalScenes: 90, steps: 200, batchSize: 32, lr: 5e-3, checkpointEvery: 100, evalEvery: 0, seed: 0,
    };
    const scenes = clipRunScenes(config);
    const r = await trainClip(config);
    const chance = 1 / SCENE_COMBOS.length;
    // the untrained model, drawn from the same seed, on the same evaluation scenes
    const untrained = createModel(r.config, { generator: new Generator(config.seed) }) as CLIPModel;
    untrained.eval();
    const p = await loadClipPipeline(out);
    const before = sceneZeroShotAccuracy(untrained, p.tokenizer, p.processor, scenes.seen).accuracy;
    console.log(`zero-shot accuracy on ${config.evalScenes} single-object scenes: seen ${r.zeroShot.seen.toFixed(3)} (untrained ${before.toFixed(3)}, chance ${chance.toFixed(3)}), held-out ${r.zeroShot.heldOut?.toFixed(3)}; ${r.seconds.toFixed(1)} s`);
    assert.ok(r.zeroShot.seen >= 0.25, `seen zero-shot accuracy ${r.zeroShot.seen} (chance ${chance.toFixed(3)})`);
    assert.ok(r.zeroShot.seen >= before + 0.15, `trained ${r.zeroShot.seen} vs untrained ${before}`);
    assert.ok(r.zeroShot.heldOut !== null && r.zeroShot.heldOut >= 0);

    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json', 'metrics.jsonl', 'train_config.json']) {
      assert.ok(fs.existsSync(path.join(out, f)), `${f} written`);
    }
    assert.ok(fs.existsSync(path.join(out, 'checkpoints', 'step-000100')));
    const metrics = readMetrics(path.join(out, 'metrics.jsonl'));
    assert.equal(metrics.length, 200);
    assert.ok(metrics[199]!.loss < metrics[0]!.loss, 'the loss falls');
    assert.equal(metrics[199]!['val_zeroshot_seen'], r.zeroShot.seen);
    const scale = p.clip.logitScale.item();
    assert.ok(scale >= 0 && scale <= MAX_LOGIT_SCALE + 1e-6);

    // the saved directory predicts what the trained model predicted
    assert.equal(sceneZeroShotAccuracy(p.clip, p.tokenizer, p.processor, scenes.seen).accuracy, r.zeroShot.seen);
    assert.deepEqual(p.processor.cropSize, { height: 32, width: 32 });
    assert.equal(comboLabel('red circle'), 'a red circle');
  });
});
