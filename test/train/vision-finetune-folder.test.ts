// Vision fine-tuning on a folder of the user's images: a linear probe of a tiny ViT learns red vs
// blue from class folders with a held-out share, the run saves the sorted labels and its counts,
// LoRA runs (ViT and CLIP) write a PEFT adapter that, put back on the base checkpoint by the PEFT
// loader, gives the merged model's logits, and the CLI reports labels, counts and skipped files and
// names bad input.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadAdapter } from '../../src/io/peft.js';
import { imageProcessorConfig, imageProcessorConfigToJson } from '../../src/io/preprocessor.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { runCli } from '../../src/cli/program.js';
import { loadImageEntries, scanImageFolder } from '../../src/train/image-folder.js';
import { evaluateModel } from '../../src/train/evaluate.js';
import { type VisionFinetuneConfig, VISION_FINETUNE_DEFAULTS, loadImageClassifier, predictImages, visionFinetune } from '../../src/train/vision-finetune.js';

const FIXTURES = path.resolve('test/fixtures/models');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'strata-vision-folder-'));
}

/** A fixture checkpoint (a random tiny ViTModel or CLIPModel) beside a preprocessor_config.json for 32 x 32 images. */
function withProcessor(name: 'vit' | 'clip'): string {
  const dir = tempDir();
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIXTURES, name, f), path.join(dir, f));
  const size = name === 'clip' ? { size: { shortestEdge: 32, longestEdge: null }, cropSize: { height: 32, width: 32 } } : { size: { height: 32, width: 32 } };
  fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(imageProcessorConfigToJson(imageProcessorConfig(name, size))));
  return dir;
}

/** `n` noisy images of a colour in `dir`, 40 x 36 so that preprocessing resizes them. */
async function writeColour(dir: string, colour: [number, number, number], n: number, seed: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  let s = seed;
  for (let k = 0; k < n; k++) {
    const data = Buffer.alloc(40 * 36 * 3);
    for (let i = 0; i < data.length; i++) {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      data[i] = Math.max(0, Math.min(255, colour[i % 3]! + (s % 81) - 40));
    }
    await sharp(data, { raw: { width: 40, height: 36, channels: 3 } }).png().toFile(path.join(dir, `${seed}-${k}.png`));
  }
}

const RED: [number, number, number] = [210, 40, 40];
const BLUE: [number, number, number] = [40, 40, 210];

function config(model: string, data: string, extra: Partial<VisionFinetuneConfig>): VisionFinetuneConfig {
  return { ...VISION_FINETUNE_DEFAULTS, model, data, out: tempDir(), batchSize: 8, ...extra };
}

describe('fine-tuning on a folder of images', () => {
  test('a linear probe of a random ViT separates red from blue; labels, counts and the held-out split are saved', async () => {
    const data = tempDir();
    // class names out of order on disk; sorted they are blue (0), red (1)
    await writeColour(path.join(data, 'red'), RED, 16, 1);
    await writeColour(path.join(data, 'blue'), BLUE, 16, 2);
    fs.writeFileSync(path.join(data, 'red', 'notes.txt'), 'not an image');
    const logs: string[] = [];
    const c = config(withProcessor('vit'), data, { method: 'linear-probe', steps: 60, lr: 5e-2, weightDecay: 0 });
    const r = await visionFinetune(c, { onLog: (m) => logs.push(m) });
    assert.deepEqual(r.labels, ['blue', 'red']);
    assert.equal(r.task, null);
    assert.deepEqual(r.data.counts, { train: { blue: 13, red: 13 }, test: { blue: 3, red: 3 } }, 'round(0.2 * 16) = 3 of each class held out');
    assert.equal(r.data.testSource, 'held-out');
    assert.equal(r.data.ignored, 1);
    assert.deepEqual(r.data.skipped, []);
    assert.equal(r.test['val_accuracy'], 1, `held-out accuracy ${r.test['val_accuracy']}`);
    assert.ok(r.lastLoss < 0.2, `loss ${r.lastLoss}`);
    assert.ok(logs.some((m) => /2 classes \(blue, red\), 26 training and 6 test images \(held-out\)/.test(m)), logs.join('\n'));
    assert.ok(logs.some((m) => m === 'decoding images: 32/32'), logs.join('\n'));
    const saved = JSON.parse(fs.readFileSync(path.join(c.out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(saved['id2label'], { 0: 'blue', 1: 'red' });
    assert.deepEqual(saved['label2id'], { blue: 0, red: 1 });
    const evalResults = JSON.parse(fs.readFileSync(path.join(c.out, 'eval_results.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(evalResults['test_source'], 'held-out');
    assert.equal(evalResults['examples'], 6);
    assert.equal(r.adapter, null);
    assert.ok(!fs.existsSync(path.join(c.out, 'adapter')));
  });

  test('strata eval scores a saved image classifier on a folder: its test split gives the fine-tune\'s held-out metrics', async () => {
    const data = tempDir();
    await writeColour(path.join(data, 'train', 'red'), RED, 10, 11);
    await writeColour(path.join(data, 'train', 'blue'), BLUE, 10, 12);
    await writeColour(path.join(data, 'test', 'red'), RED, 3, 13);
    await writeColour(path.join(data, 'test', 'blue'), BLUE, 3, 14);
    const c = config(withProcessor('vit'), data, { method: 'linear-probe', steps: 20, lr: 5e-2, weightDecay: 0 });
    const r = await visionFinetune(c);
    const e = await evaluateModel(c.out, data);
    assert.equal(e.kind, 'image-classification');
    assert.equal(e.split, 'test');
    assert.equal(e.examples, 6);
    for (const k of ['accuracy', 'f1', 'loss']) assert.ok(Math.abs(e.metrics[k]! - r.test[`val_${k}`]!) < 1e-6, `${k}: eval ${e.metrics[k]} vs fine-tune ${r.test[`val_${k}`]}`);
    // class folders only: every image is scored; a class the model does not know is named
    const flat = tempDir();
    await writeColour(path.join(flat, 'red'), RED, 4, 15);
    await writeColour(path.join(flat, 'blue'), BLUE, 4, 16);
    assert.equal((await evaluateModel(c.out, flat)).examples, 8);
    await writeColour(path.join(flat, 'green'), [40, 210, 40], 2, 17);
    await assert.rejects(evaluateModel(c.out, flat), /class folder 'green' is not one of the model's labels \(blue, red\)/);
  });

  for (const family of ['vit', 'clip'] as const) {
    test(`${family}: a LoRA run's PEFT adapter on the base checkpoint gives the merged model's logits (max |diff| <= 1e-5)`, async () => {
      const data = tempDir();
      await writeColour(path.join(data, 'train', 'cat'), RED, 6, 3);
      await writeColour(path.join(data, 'train', 'dog'), BLUE, 6, 4);
      await writeColour(path.join(data, 'test', 'cat'), RED, 2, 5);
      await writeColour(path.join(data, 'test', 'dog'), BLUE, 2, 6);
      const base = withProcessor(family);
      const c = config(base, data, { method: 'lora', steps: 4, lr: 2e-2, loraRank: 4, loraAlpha: 8, seed: 2 });
      const r = await visionFinetune(c);
      assert.equal(r.data.testSource, 'test');
      assert.deepEqual(r.data.counts, { train: { cat: 6, dog: 6 }, test: { cat: 2, dog: 2 } });
      assert.equal(r.adapter, path.join(c.out, 'adapter'));
      const adapterConfig = JSON.parse(fs.readFileSync(path.join(c.out, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(adapterConfig['peft_type'], 'LORA');
      assert.equal(adapterConfig['r'], 4);
      assert.equal(adapterConfig['lora_alpha'], 8);
      assert.deepEqual(adapterConfig['modules_to_save'], ['classifier']);
      assert.equal(adapterConfig['task_type'], null);
      assert.equal(adapterConfig['base_model_name_or_path'], base);
      const keys = Object.keys(readSafetensors(path.join(c.out, 'adapter', 'adapter_model.safetensors')).tensors).sort();
      const tower = family === 'vit' ? 'vit.encoder.layer.0.attention.attention.query' : 'vision_model.encoder.layers.0.self_attn.q_proj';
      assert.ok(keys.includes(`base_model.model.${tower}.lora_A.weight`) && keys.includes(`base_model.model.${tower}.lora_B.weight`), keys.slice(0, 4).join(', '));
      assert.ok(keys.includes('base_model.model.classifier.weight') && keys.includes('base_model.model.classifier.bias'));
      assert.equal(keys.length, 2 * 4 * 2 + 2, '2 layers x 4 projections x (A, B), and the head');

      // the run's test images, preprocessed as the saved classifier's processor says
      const merged = await loadImageClassifier(c.out, r.labels);
      const folder = scanImageFolder(data);
      const images = (await loadImageEntries(folder.test, merged.processor)).images;
      const expected = predictImages(merged.model, images); // (N * L)
      // the base checkpoint with a fresh head, then the adapter
      const adapted = await loadImageClassifier(base, r.labels, { seed: 99 });
      const before = predictImages(adapted.model, images);
      const loaded = loadAdapter(c.out + '/adapter', adapted.model);
      assert.equal(loaded.adapted.length, 8);
      assert.deepEqual(loaded.modulesToSave, ['classifier']);
      const after = predictImages(adapted.model, images);
      const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
      assert.ok(maxDiff(after, expected) <= 1e-5, `adapter vs merged: max |diff| ${maxDiff(after, expected)}`);
      assert.ok(maxDiff(before, expected) > 1e-3, 'without the adapter the logits differ');
    });
  }
});

describe('strata finetune --task image-classification --data DIR', () => {
  test('--json reports labels, counts and skipped files; bad input is named', async () => {
    const data = tempDir();
    await writeColour(path.join(data, 'red'), RED, 5, 7);
    await writeColour(path.join(data, 'blue'), BLUE, 5, 8);
    fs.writeFileSync(path.join(data, 'blue', 'broken.jpg'), Buffer.from('JFIF but not really'));
    const model = withProcessor('vit');
    let stdout = '';
    let stderr = '';
    const io = { out: (t: string) => void (stdout += t), err: (t: string) => void (stderr += t) };
    const out = tempDir();
    const args = ['finetune', '--model', model, '--task', 'image-classification', '--data', data, '--linear-probe', '--steps', '3', '--test-fraction', '0.4', '--out', out, '--json'];
    assert.equal(await runCli(['node', 'strata', ...args], io), 0, stderr);
    const summary = JSON.parse(stdout) as Record<string, unknown>;
    assert.deepEqual(summary['labels'], ['blue', 'red']);
    assert.deepEqual(summary['counts'], { train: { blue: 4, red: 3 }, test: { blue: 1, red: 2 } }, 'the broken file was held out (round(0.4 * 6) = 2 of blue) and skipped');
    assert.equal(summary['skipped'], 1);
    assert.deepEqual(summary['skipped_files'], [path.join(data, 'blue', 'broken.jpg')]);
    assert.equal(summary['test_source'], 'held-out');
    assert.equal(summary['train_examples'], 7);
    assert.equal(summary['test_examples'], 3);
    assert.equal(summary['adapter'], null);
    // without --json: the skip is told on stderr with the file's name
    stdout = '';
    stderr = '';
    assert.equal(await runCli(['node', 'strata', ...args.slice(0, -3), '--out', tempDir()], io), 0, stderr);
    assert.match(stderr, /skipped 1 unreadable file of 11: .*broken\.jpg: not a readable image/);
    assert.match(stdout, /held-out \(3 images\): accuracy/);
    const fail = async (extra: string[], re: RegExp) => {
      stderr = '';
      assert.notEqual(await runCli(['node', 'strata', 'finetune', '--model', model, '--task', 'image-classification', '--out', tempDir(), ...extra], io), 0);
      assert.match(stderr, re);
    };
    await fail(['--data', data, '--test-scenes', '10'], /--test-scenes applies to scenes:TASK data, not to a folder/);
    await fail(['--data', 'scenes:colour', '--test-fraction', '0.3'], /--test-fraction applies to a folder of images/);
    await fail(['--data', path.join(data, 'nowhere')], /nowhere: not found \(image-classification data is a folder/);
    await fail(['--data', path.join(data, 'red')], /has no class folders/);
    const one = tempDir();
    await writeColour(path.join(one, 'only'), RED, 2, 9);
    await fail(['--data', one], /one class folder \('only'\)/);
  });
});
