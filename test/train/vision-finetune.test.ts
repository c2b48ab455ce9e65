// Vision-tower fine-tuning: the classifier a CLIP or ViT checkpoint becomes (shapes, key names), a
// linear probe that leaves the tower bit-identical and reads colour off zoo/clip-scenes' features,
// LoRA that trains only adapters and head, the saved directory (transformers' layout, labels,
// preprocessor) reloading to identical logits, and the CLI paths (finetune, classify-image).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { loadModel } from '../../src/models/load.js';
import { CLIPForImageClassification } from '../../src/models/clip/classification.js';
import { ViTForImageClassification } from '../../src/models/vit.js';
import { imageProcessorConfig, imageProcessorConfigToJson } from '../../src/io/preprocessor.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { runCli } from '../../src/cli/program.js';
import { encodePng, generateScene, SCENE_COLOURS, SCENE_SHAPES } from '../../src/train/scenes.js';
import { classifyImage, loadImageClassificationPipeline } from '../../src/pipelines/image-classification.js';
import {
  type AdaptOptions,
  TEST_SCENE_SEED,
  TRAIN_SCENE_SEED,
  adaptImageClassifier,
  evaluateImages,
  loadImageClassifier,
  parseSceneTaskSpec,
  predictImages,
  sceneImageSet,
  sceneTaskLabel,
  visionFinetune,
} from '../../src/train/vision-finetune.js';

const ZOO = path.resolve('zoo/clip-scenes');
const FIXTURES = path.resolve('test/fixtures/models');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'strata-vision-ft-'));
}

/** A fixture checkpoint copied beside a preprocessor_config.json for its 32 x 32 images. */
function withProcessor(name: string, family: 'clip' | 'vit'): string {
  const dir = tempDir();
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIXTURES, name, f), path.join(dir, f));
  const size = family === 'clip' ? { size: { shortestEdge: 32, longestEdge: null }, cropSize: { height: 32, width: 32 } } : { size: { height: 32, width: 32 } };
  fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(imageProcessorConfigToJson(imageProcessorConfig(family, size))));
  return dir;
}

const snapshot = (m: { namedParameters(): [string, { toArray(): number[] }][] }) => new Map(m.namedParameters().map(([k, p]) => [k, p.toArray()]));

function options(method: AdaptOptions['method'], steps: number, extra: Partial<AdaptOptions> = {}): AdaptOptions {
  return { method, steps, batchSize: 8, lr: 1e-2, weightDecay: 0, seed: 0, loraRank: 4, loraAlpha: 8, loraDropout: 0, evalEvery: 0, checkpointEvery: 0, runDir: tempDir(), ...extra };
}

describe('scene tasks', () => {
  test('labels read off the scene; relation scenes hold two objects; unknown tasks are refused by name', () => {
    const one = generateScene(7, 3, { twoObjects: 0, holdOut: [] });
    assert.equal(sceneTaskLabel('colour', one), SCENE_COLOURS.indexOf(one.objects[0]!.colour));
    assert.equal(sceneTaskLabel('shape', one), SCENE_SHAPES.indexOf(one.objects[0]!.shape));
    assert.equal(sceneTaskLabel('count', one), 0);
    assert.throws(() => sceneTaskLabel('relation', one), StrataError);
    assert.equal(parseSceneTaskSpec('scenes:relation'), 'relation');
    assert.throws(() => parseSceneTaskSpec('scenes:size'), /scenes:TASK with TASK one of shape, colour, count, relation/);
    const processor = imageProcessorConfig('clip', { size: { shortestEdge: 32, longestEdge: null }, cropSize: { height: 32, width: 32 } });
    const rel = sceneImageSet('relation', { count: 24, seed: 1, processor, imageSize: 32 });
    assert.deepEqual(rel.imageShape, [3, 32, 32]);
    assert.equal(rel.pixels.length, 24 * 3 * 32 * 32);
    assert.ok(new Set(rel.labels).size >= 3, 'relations vary');
    const count = sceneImageSet('count', { count: 40, seed: 1, processor, imageSize: 32 });
    assert.deepEqual([...new Set(count.labels)].sort(), [0, 1]);
  });
});

describe('the classifier of a vision tower', () => {
  test('zoo/clip-scenes becomes a CLIPForImageClassification: its tower, a new head, transformers key names', async () => {
    const setup = await loadImageClassifier(ZOO, SCENE_COLOURS);
    const clip = await loadModel(ZOO);
    assert.ok(setup.model instanceof CLIPForImageClassification);
    assert.equal(setup.architecture, 'CLIPForImageClassification');
    assert.deepEqual(setup.initializedKeys, ['classifier.weight', 'classifier.bias']);
    assert.deepEqual(setup.model.classifier.weight.shape, [6, 128]);
    const keys = setup.model.namedParameters().map(([k]) => k);
    assert.ok(keys.every((k) => k.startsWith('vision_model.') || k.startsWith('classifier.')));
    const tower = new Map(clip.model.namedParameters());
    for (const [k, p] of setup.model.namedParameters()) if (k.startsWith('vision_model.')) assert.deepEqual(p.toArray(), tower.get(k)!.toArray(), k);
  });

  test('a ViTModel checkpoint becomes a ViTForImageClassification under vit.; other models are refused', async () => {
    const dir = withProcessor('vit', 'vit');
    const setup = await loadImageClassifier(dir, SCENE_SHAPES);
    assert.ok(setup.model instanceof ViTForImageClassification);
    assert.deepEqual(setup.model.classifier.weight.shape, [3, 32]);
    assert.ok(setup.model.namedParameters().every(([k]) => k.startsWith('vit.') || k.startsWith('classifier.')));
    const set = sceneImageSet('shape', { count: 4, seed: 2, processor: setup.processor, imageSize: 32 });
    assert.equal(predictImages(setup.model, set).length, 4 * 3);
    await assert.rejects(loadImageClassifier(path.join(FIXTURES, 'gpt2'), SCENE_SHAPES), /has no vision tower/);
  });
});

describe('methods', () => {
  test('a linear probe leaves the tower bit-identical and reads colour off the pretrained features', async () => {
    const setup = await loadImageClassifier(ZOO, SCENE_COLOURS);
    const before = snapshot(setup.model);
    const train = sceneImageSet('colour', { count: 96, seed: TRAIN_SCENE_SEED, processor: setup.processor, imageSize: 64 });
    const test = sceneImageSet('colour', { count: 48, seed: TEST_SCENE_SEED, processor: setup.processor, imageSize: 64 });
    const r = adaptImageClassifier(setup, train, test, options('linear-probe', 150, { batchSize: 32 }));
    assert.equal(r.trainableParameters, 6 * 128 + 6);
    for (const [k, p] of setup.model.namedParameters()) {
      const same = JSON.stringify(p.toArray()) === JSON.stringify(before.get(k));
      assert.equal(same, !k.startsWith('classifier.'), k);
    }
    // 6 colours, chance 1/6; the probe's own test score is the model's (features were exact)
    assert.ok(r.test['val_accuracy']! >= 0.9, `accuracy ${r.test['val_accuracy']}`);
    assert.ok(Math.abs(evaluateImages(setup.model, test)['val_loss']! - r.test['val_loss']!) < 1e-4);
  });

  test('LoRA trains only the adapters and the head', async () => {
    const setup = await loadImageClassifier(withProcessor('clip-cls', 'clip'), SCENE_SHAPES);
    assert.deepEqual(setup.initializedKeys, [], 'the fixture already has a head for these labels');
    const before = snapshot(setup.model);
    const train = sceneImageSet('shape', { count: 16, seed: 3, processor: setup.processor, imageSize: 32 });
    const r = adaptImageClassifier(setup, train, train, options('lora', 3));
    const params = setup.model.namedParameters();
    const adapters = params.filter(([k]) => k.includes('.lora_'));
    assert.equal(adapters.length, 2 * 4 * 2, '2 layers x q/k/v/out, A and B');
    assert.equal(r.trainableParameters, adapters.reduce((n, [, p]) => n + p.size, 0) + 3 * 32 + 3);
    for (const [k, p] of params) {
      if (k.includes('.lora_A.')) continue;
      const moved = !before.has(k) || JSON.stringify(p.toArray()) !== JSON.stringify(before.get(k));
      assert.equal(moved, k.includes('.lora_B.') || k.startsWith('classifier.'), k);
    }
  });
});

describe('the saved classifier', () => {
  test('visionFinetune writes a transformers-layout directory that reloads with identical logits; classify-image reads it', async () => {
    const model = withProcessor('clip-cls', 'clip');
    const out = tempDir();
    const r = await visionFinetune({ model, data: 'scenes:colour', method: 'full', init: 'pretrained', out, trainScenes: 16, testScenes: 12, steps: 2, epochs: 1, batchSize: 8, weightDecay: 0, seed: 1, loraRank: 4, loraAlpha: 8, loraDropout: 0, checkpointEvery: 0, evalEvery: 0 });
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(config['architectures'], ['CLIPForImageClassification']);
    assert.deepEqual(config['id2label'], Object.fromEntries(SCENE_COLOURS.map((c, i) => [String(i), c])));
    assert.deepEqual(config['label2id'], Object.fromEntries(SCENE_COLOURS.map((c, i) => [c, i])));
    assert.ok(fs.existsSync(path.join(out, 'preprocessor_config.json')));
    // transformers 5 refuses an int where its config classes declare a float
    assert.match(fs.readFileSync(path.join(out, 'config.json'), 'utf8'), /"initializer_factor": 1\.0,/);
    const keys = Object.keys(readSafetensors(path.join(out, 'model.safetensors')).tensors);
    assert.ok(keys.includes('classifier.weight') && keys.every((k) => k.startsWith('vision_model.') || k.startsWith('classifier.')));
    // the reloaded model scores the test scenes exactly as the trained one did
    const again = await loadImageClassifier(out, SCENE_COLOURS);
    assert.deepEqual(again.initializedKeys, []);
    const test = sceneImageSet('colour', { count: 12, seed: TEST_SCENE_SEED + 1, processor: again.processor, imageSize: 32 });
    assert.deepEqual(evaluateImages(again.model, test), r.test);
    // the pipeline: probabilities over the saved labels, best first
    const p = await loadImageClassificationPipeline(out);
    const scene = generateScene(TEST_SCENE_SEED + 1, 0, { imageSize: 32, twoObjects: 0, holdOut: [] });
    const c = classifyImage(p, scene.image);
    assert.deepEqual([...c.labels].sort(), [...SCENE_COLOURS].sort());
    assert.ok(Math.abs(c.scores.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    assert.ok(c.scores.every((s, i) => i === 0 || s <= c.scores[i - 1]!));
    const logits = predictImages(again.model, { ...test, pixels: test.pixels.subarray(0, 3 * 32 * 32), labels: test.labels.subarray(0, 1), count: 1 });
    assert.equal(c.labels[0], SCENE_COLOURS[logits.indexOf(Math.max(...logits))]);
  });

  test('CLI: finetune --task image-classification --method lora, then classify-image prints {labels, scores}; bad input is named', async () => {
    const model = withProcessor('clip-cls', 'clip');
    const out = tempDir();
    let stdout = '';
    let stderr = '';
    const io = { out: (t: string) => void (stdout += t), err: (t: string) => void (stderr += t) };
    const args = ['finetune', '--model', model, '--task', 'image-classification', '--data', 'scenes:count', '--method', 'lora', '--train-limit', '16', '--test-scenes', '8', '--steps', '2', '--batch-size', '8', '--out', out, '--json'];
    assert.equal(await runCli(['node', 'strata', ...args], io), 0, stderr);
    const summary = JSON.parse(stdout) as { labels: string[]; test: Record<string, number>; train_examples: number };
    assert.deepEqual(summary.labels, ['one', 'two']);
    assert.equal(summary.train_examples, 16);
    const keys = Object.keys(readSafetensors(path.join(out, 'model.safetensors')).tensors);
    assert.ok(!keys.some((k) => k.includes('lora_')), 'LoRA is merged into the saved weights');
    assert.ok(fs.existsSync(path.join(out, 'adapter', 'adapter_model.safetensors')), 'and saved apart as a PEFT adapter (vision-finetune-folder.test.ts checks it)');
    const png = path.join(out, 'scene.png');
    fs.writeFileSync(png, await encodePng(generateScene(5, 0, { imageSize: 32 }).image));
    stdout = '';
    assert.equal(await runCli(['node', 'strata', 'classify-image', '--model', out, png, '--json'], io), 0, stderr);
    const r = JSON.parse(stdout) as { labels: string[]; scores: number[] };
    assert.deepEqual([...r.labels].sort(), ['one', 'two']);
    assert.ok(r.scores[0]! >= r.scores[1]!);
    stderr = '';
    assert.notEqual(await runCli(['node', 'strata', 'classify-image', '--model', out, png, '--labels', 'a,b'], io), 0);
    assert.match(stderr, /has a classification head with its own labels/);
    stderr = '';
    assert.notEqual(await runCli(['node', 'strata', 'finetune', '--model', model, '--task', 'image-classification', '--data', 'scenes:size', '--out', tempDir()], io), 0);
    assert.match(stderr, /scenes:TASK/);
    stderr = '';
    assert.notEqual(await runCli(['node', 'strata', 'finetune', '--model', model, '--task', 'image-classification', '--data', 'scenes:shape', '--method', 'lora', '--init', 'scratch', '--out', tempDir()], io), 0);
    assert.match(stderr, /from scratch trains every weight/);
  });
});
