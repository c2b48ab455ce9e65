// Image–text pipelines on a tiny random CLIP saved as a Hugging Face directory: text batches for
// the text tower, zero-shot classification and similarity equal to CLIPModel.forward's logits,
// retrieval both ways, batching past one chunk, bad input; then `strata classify-image` and
// `strata similarity` through runCli, including unreadable images and a model that is not CLIP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { type RgbImage } from '../../src/io/image.js';
import { PREPROCESSOR_CONFIG_FILE, imageProcessorConfigToJson, preprocessImages } from '../../src/io/preprocessor.js';
import type { CLIPModel } from '../../src/models/clip/index.js';
import { saveModel } from '../../src/models/load.js';
import { createModel, parseModelConfig } from '../../src/models/registry.js';
import {
  type ClipPipelineParts,
  imageTextSimilarity,
  loadClipPipeline,
  rankImages,
  rankTexts,
  tokenizeForClip,
  zeroShotClassify,
  zeroShotClassifyMany,
} from '../../src/pipelines/zero-shot-image.js';
import { noGrad } from '../../src/tensor/grad-mode.js';
import { Generator } from '../../src/tensor/random.js';
import { saveTrainedTokenizer } from '../../src/tokenizers/bpe-trainer.js';
import { TRAIN_CLIP_DEFAULTS, clipModelConfig, sceneImageProcessor, trainCaptionTokenizer } from '../../src/train/clip.js';
import { encodePng, sceneCaption, sceneDataset } from '../../src/train/scenes.js';
import { hfTokenizerFromJson } from '../../src/tokenizers/hf.js';
import { strata } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-zero-shot-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const modelDir = path.join(dir, 'clip');
const LABELS = ['a red circle', 'a blue square', 'a green triangle', 'a yellow circle'];
let parts: ClipPipelineParts;
let images: RgbImage[];
const files: string[] = [];

/** A random CLIP on 16 px images with a caption tokenizer, saved as a Hugging Face directory. */
function writeTinyClip(out: string): void {
  const scenes = [...sceneDataset({ count: 200, seed: 0, imageSize: 16 })];
  const trained = trainCaptionTokenizer(
    scenes.flatMap((s) => [s.caption, sceneCaption(s, { size: false })]),
    { maxLength: 16 },
  );
  const tokenizer = hfTokenizerFromJson({ tokenizer: trained.tokenizerJson, config: trained.tokenizerConfig });
  const config = clipModelConfig({ ...TRAIN_CLIP_DEFAULTS, out, imageSize: 16, patchSize: 8, dim: 16, layers: 1, heads: 2, projectionDim: 8, textContext: 16 }, tokenizer);
  const model = createModel(config, { generator: new Generator(5) });
  saveModel(out, model, config);
  saveTrainedTokenizer(out, trained);
  writeFileAtomic(path.join(out, PREPROCESSOR_CONFIG_FILE), [Buffer.from(JSON.stringify(imageProcessorConfigToJson(sceneImageProcessor(16))))]);
}

before(async () => {
  writeTinyClip(modelDir);
  parts = await loadClipPipeline(modelDir);
  images = [...sceneDataset({ count: 40, seed: 9, imageSize: 16 })].map((s) => s.image);
  for (const [i, img] of images.slice(0, 3).entries()) {
    const file = path.join(dir, `scene-${i}.png`);
    fs.writeFileSync(file, await encodePng(img));
    files.push(file);
  }
});

/** CLIPModel.forward's logits_per_image, softmaxed per row, for images against texts. */
function referenceProbs(imgs: readonly RgbImage[], texts: readonly string[]): { logits: number[][]; probs: number[][] } {
  return noGrad(() => {
    const batch = tokenizeForClip(parts.tokenizer, texts, parts.clip.maxPositions);
    const out = parts.clip.forward({ pixelValues: preprocessImages(imgs, parts.processor), inputIds: batch.ids, attentionMask: batch.attentionMask });
    const flat = out.logitsPerImage.contiguous().toArray();
    const logits = imgs.map((_, i) => flat.slice(i * texts.length, (i + 1) * texts.length));
    const probs = logits.map((row) => {
      const e = row.map((x) => Math.exp(x - Math.max(...row)));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    });
    return { logits, probs };
  });
}

describe('zero-shot image pipelines', () => {
  test('texts become eos-terminated, right-padded ids with a mask; long ones keep their eos', () => {
    const tok = parts.tokenizer;
    const b = tokenizeForClip(tok, ['a red circle', 'a small red circle left of a large blue square'], 16);
    assert.deepEqual(b.ids.shape, [2, 12]);
    const ids = b.ids.toArray();
    const mask = b.attentionMask.toArray();
    assert.deepEqual(ids.slice(0, 12), [...tok.encode('a red circle'), ...new Array<number>(7).fill(tok.special.pad!)]);
    assert.deepEqual(mask.slice(0, 12), [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(b.tokens, 5 + 12);
    const cut = tokenizeForClip(tok, ['a small red circle left of a large blue square'], 6).ids.toArray();
    assert.equal(cut.length, 6);
    assert.equal(cut[5], tok.special.eos, 'the last kept token is the eos the tower pools at');
    assert.throws(() => tokenizeForClip(tok, [], 16), StrataError);
    assert.throws(() => tokenizeForClip(tok, ['x'], 1), StrataError);
  });

  test('zeroShotClassify is the softmax of logits_per_image, sorted best first', () => {
    const { probs } = referenceProbs([images[0]!], LABELS);
    const r = zeroShotClassify(parts.clip, parts.tokenizer, parts.processor, images[0]!, LABELS);
    assert.deepEqual([...r.labels].sort(), [...LABELS].sort());
    for (let i = 1; i < r.scores.length; i++) assert.ok(r.scores[i - 1]! >= r.scores[i]!, 'sorted best first');
    assert.ok(Math.abs(r.scores.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    r.labels.forEach((label, i) => assert.ok(Math.abs(r.scores[i]! - probs[0]![LABELS.indexOf(label)]!) < 1e-5, label));
  });

  test('similarity and retrieval agree with the model over more images than one batch holds', () => {
    const texts = ['a red circle', 'a large blue square', 'a small green triangle above a small red circle'];
    const { logits } = referenceProbs(images, texts);
    const r = imageTextSimilarity(parts.clip, parts.tokenizer, parts.processor, images, texts);
    assert.equal(r.similarity.length, 40);
    const scale = Math.exp(parts.clip.logitScale.item());
    r.logitsPerImage.forEach((row, i) =>
      row.forEach((x, j) => {
        assert.ok(Math.abs(x - logits[i]![j]!) < 1e-4, `image ${i} text ${j}: ${x} vs ${logits[i]![j]}`);
        assert.ok(Math.abs(r.similarity[i]![j]! * scale - x) < 1e-9);
        assert.ok(Math.abs(r.similarity[i]![j]!) <= 1 + 1e-6);
      }),
    );
    for (const [i, ranking] of r.textRanking.entries()) assert.deepEqual(ranking, [0, 1, 2].sort((a, b) => r.similarity[i]![b]! - r.similarity[i]![a]! || a - b));
    const byText = rankImages(parts.clip, parts.tokenizer, parts.processor, texts[1]!, images);
    assert.deepEqual(byText.indices, r.imageRanking[1]);
    assert.ok(Math.abs(byText.scores.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    const forImage = rankTexts(parts.clip, parts.tokenizer, parts.processor, images[3]!, texts);
    assert.deepEqual(forImage.texts, r.textRanking[3]!.map((j) => texts[j]));
    // one image at a time or in a batch: the same ranking, scores equal to f32 rounding
    const many = zeroShotClassifyMany(parts.clip, parts.tokenizer, parts.processor, images.slice(0, 2), LABELS)[1]!;
    const one = zeroShotClassify(parts.clip, parts.tokenizer, parts.processor, images[1]!, LABELS);
    assert.deepEqual(many.labels, one.labels);
    many.scores.forEach((s, i) => assert.ok(Math.abs(s - one.scores[i]!) < 1e-5));
  });

  test('bad input is a StrataError', async () => {
    assert.throws(() => zeroShotClassify(parts.clip, parts.tokenizer, parts.processor, images[0]!, []), StrataError);
    assert.throws(() => imageTextSimilarity(parts.clip, parts.tokenizer, parts.processor, [], ['a red circle']), StrataError);
    await assert.rejects(loadClipPipeline(path.join(dir, 'nowhere')), StrataError);
  });
});

describe('strata classify-image and similarity', () => {
  test('classify-image --json prints the labels and their scores, sorted best first', async () => {
    const r = await strata('classify-image', '--model', modelDir, files[0]!, '--labels', ' a red circle, a blue square ,a green triangle,a yellow circle', '--json');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const out = JSON.parse(lines[0]!) as { labels: string[]; scores: number[] };
    assert.deepEqual(Object.keys(out), ['labels', 'scores']);
    assert.deepEqual([...out.labels].sort(), [...LABELS].sort());
    for (let i = 1; i < out.scores.length; i++) assert.ok(out.scores[i - 1]! >= out.scores[i]!);
    assert.ok(Math.abs(out.scores.reduce((a, b) => a + b, 0) - 1) < 1e-6);
    // the PNG decodes to the scene's pixels, so the CLI agrees with the library on the image
    const lib = zeroShotClassify(parts.clip, parts.tokenizer, parts.processor, images[0]!, LABELS);
    assert.deepEqual(out.labels, lib.labels);

    const text = await strata('classify-image', '--model', modelDir, files[0]!, '--labels', LABELS.join(','));
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout.split('\n')[0]!, new RegExp(`^\\d\\.\\d{4}  ${out.labels[0]}$`));
  });

  test('similarity --json prints the matrix and both rankings', async () => {
    const r = await strata('similarity', '--model', modelDir, '--image', files[0]!, files[1]!, '--text', 'a red circle', 'a blue square', 'a green triangle', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { images: string[]; texts: string[]; similarity: number[][]; logits_per_image: number[][]; text_ranking: number[][]; image_ranking: number[][] };
    assert.deepEqual(out.images, files.slice(0, 2));
    assert.equal(out.texts.length, 3);
    assert.equal(out.similarity.length, 2);
    assert.equal(out.similarity[0]!.length, 3);
    assert.equal(out.image_ranking.length, 3);
    assert.deepEqual(out.image_ranking[0]!.slice().sort(), [0, 1]);
    const human = await strata('similarity', '--model', modelDir, '--image', files[0]!, '--text', 'a red circle', 'a blue square');
    assert.equal(human.status, 0, human.stderr);
    assert.match(human.stdout, /best image for "a red circle"/);
  });

  test('unreadable images, empty labels and models that are not CLIP are reported, not crashes', async () => {
    const truncated = path.join(dir, 'truncated.png');
    fs.writeFileSync(truncated, fs.readFileSync(files[0]!).subarray(0, 40));
    const notImage = path.join(dir, 'notes.txt');
    fs.writeFileSync(notImage, 'not an image');
    const cases: [string[], RegExp][] = [
      [['classify-image', '--model', modelDir, path.join(dir, 'missing.png'), '--labels', 'a red circle'], /file not found/],
      [['classify-image', '--model', modelDir, truncated, '--labels', 'a red circle'], /not a readable image/],
      [['classify-image', '--model', modelDir, notImage, '--labels', 'a red circle'], /not a readable image/],
      [['classify-image', '--model', modelDir, files[0]!, '--labels', ' , '], /at least one label/],
      [['similarity', '--model', modelDir, '--image', truncated, '--text', 'a red circle'], /not a readable image/],
    ];
    const gpt2 = path.join(dir, 'gpt2');
    const { config } = parseModelConfig({ model_type: 'gpt2', vocab_size: 64, n_embd: 8, n_layer: 1, n_head: 2, n_positions: 16 }, 'test');
    saveModel(gpt2, createModel(config), config);
    cases.push([['classify-image', '--model', gpt2, files[0]!, '--labels', 'a red circle'], /need a CLIP model/]);
    for (const [args, message] of cases) {
      const r = await strata(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /^strata: /);
      assert.equal(r.stdout, '');
    }
  });
});

test('a CLIPModel loads from the directory', () => {
  assert.equal((parts.clip as CLIPModel).kind, 'dual-encoder');
});
