// Captioning: the committed zoo/captioner-scenes captions generated test scenes (the first scenes
// of the card's own test sets) with the card's exact match, within sampling tolerance; then
// `strata caption` (text and --json, greedy and beam) agrees with the library; bad input is a
// StrataError or a non-zero exit, never a crash.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { createModel, parseModelConfig, saveModel } from '../../src/models/index.js';
import { loadImage } from '../../src/io/image.js';
import { caption, captionImages, loadCaptionPipeline } from '../../src/pipelines/caption.js';
import { evaluateCaptions } from '../../src/train/captioner.js';
import { parseHoldOut } from '../../src/train/clip.js';
import { encodePng, sceneDataset } from '../../src/train/scenes.js';
import { fixtureDir, tempDir } from '../models/model-fixtures.js';
import { strata } from '../helpers/cli.js';

const ZOO = path.join(import.meta.dirname, '..', '..', 'zoo', 'captioner-scenes');
const FIXTURE = fixtureDir('vision-encoder-decoder');
/** test scenes re-captioned per set: the first N of the card's test scenes */
const N = 48;

describe('zoo/captioner-scenes', () => {
  test('captions the first test scenes of its card with the card’s exact match (within 3 standard errors)', async () => {
    const results = JSON.parse(fs.readFileSync(path.join(ZOO, 'results.json'), 'utf8')) as { seen: { exact_match: number }; held_out: { exact_match: number } };
    const train = JSON.parse(fs.readFileSync(path.join(ZOO, 'train_config.json'), 'utf8')) as { seed: number; imageSize: number; holdOut: string; twoObjects: number };
    const card = fs.readFileSync(path.join(ZOO, 'README.md'), 'utf8');
    const parts = await loadCaptionPipeline(ZOO);
    const common = { count: N, imageSize: train.imageSize, holdOut: parseHoldOut(train.holdOut), twoObjects: train.twoObjects };
    for (const [name, want, set] of [
      ['seen', results.seen.exact_match, sceneDataset({ ...common, seed: train.seed + 7_000_001 })],
      ['held-out', results.held_out.exact_match, sceneDataset({ ...common, seed: train.seed + 8_000_009, combos: 'held-out' })],
    ] as const) {
      assert.ok(card.includes(`exact match ${(100 * want).toFixed(1)}%`), `the card states the ${name} exact match of results.json`);
      const got = evaluateCaptions(parts.model, parts.tokenizer, parts.processor, set).exactMatch;
      const se = Math.sqrt(Math.max(want * (1 - want), 0.05) / N);
      assert.ok(Math.abs(got - want) <= 3 * se, `${name}: exact match ${got.toFixed(3)} on ${N} scenes vs the card's ${want.toFixed(3)}`);
    }
  });
});

describe('strata caption', () => {
  const dir = tempDir('strata-caption-');
  const png = path.join(FIXTURE, 'image.png');

  test('prints the caption, and {"text": ...} with --json, as the library writes it (greedy and beam)', async () => {
    const parts = await loadCaptionPipeline(FIXTURE);
    const image = await loadImage(png);
    for (const beams of [1, 3]) {
      const lib = caption(parts, image, { maxTokens: 8, numBeams: beams });
      const r = await strata('caption', '--model', FIXTURE, png, '--max-tokens', '8', '--num-beams', String(beams), '--json');
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { text: string; tokens: number; finish_reason: string };
      assert.equal(out.text, lib.text);
      assert.equal(out.tokens, lib.tokens.length);
      const plain = await strata('caption', '--model', FIXTURE, png, '--max-tokens', '8', '--num-beams', String(beams));
      assert.equal(plain.status, 0, plain.stderr);
      assert.equal(plain.stdout, `${lib.text}\n`);
    }
  });

  test('several images: one line each, in order, equal to captioning them one at a time', async () => {
    const scenes = sceneDataset({ count: 3, seed: 11, imageSize: 32 });
    const files: string[] = [];
    for (const s of scenes) {
      const f = path.join(dir, `scene-${s.index}.png`);
      fs.writeFileSync(f, await encodePng(s.image));
      files.push(f);
    }
    const parts = await loadCaptionPipeline(FIXTURE);
    const batch = captionImages(parts, [...scenes].map((s) => s.image), { maxTokens: 6 });
    const single = [...scenes].map((s) => caption(parts, s.image, { maxTokens: 6 }).text);
    assert.deepEqual(batch.map((c) => c.text), single);
    const r = await strata('caption', '--model', FIXTURE, ...files, '--max-tokens', '6', '--json');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { text: string; image: string });
    assert.deepEqual(lines.map((l) => l.image), files);
    assert.deepEqual(lines.map((l) => l.text), single);
  });

  test('bad input is an error message and a non-zero exit, never a crash', async () => {
    const gpt2 = path.join(dir, 'gpt2');
    const { config } = parseModelConfig({ model_type: 'gpt2', vocab_size: 64, n_embd: 8, n_layer: 1, n_head: 2, n_positions: 16 }, 'test');
    saveModel(gpt2, createModel(config), config);
    await assert.rejects(loadCaptionPipeline(gpt2), (e: unknown) => e instanceof StrataError && /captioning needs a VisionEncoderDecoderModel/.test(e.message));
    const notImage = path.join(dir, 'notes.txt');
    fs.writeFileSync(notImage, 'not an image');
    const cases: [string[], RegExp][] = [
      [['caption', '--model', FIXTURE, path.join(dir, 'missing.png')], /file not found/],
      [['caption', '--model', FIXTURE, notImage], /not a readable image/],
      [['caption', '--model', gpt2, png], /captioning needs a VisionEncoderDecoderModel/],
      [['caption', '--model', FIXTURE, png, '--max-tokens', '500'], /maxTokens must be an integer in \[1, 23\]/],
      [['caption', '--model', FIXTURE, png, '--num-beams', '0'], /num-beams/],
    ];
    for (const [args, re] of cases) {
      const r = await strata(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
  });
});
