// `strata serve` on a CLIP model: a tiny random CLIP saved as a Hugging Face directory (weights,
// caption tokenizer, preprocessor config), served in its worker on a free port and called with the
// official `openai` client. /v1/embeddings embeds data:image URLs with the image tower and strings
// with the text tower, equal to the pipelines' own embeddings; bad images are 400s in OpenAI's
// error shape; chat and completions are refused with a 400.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { loadImage } from '../../src/io/image.js';
import { PREPROCESSOR_CONFIG_FILE, imageProcessorConfigToJson } from '../../src/io/preprocessor.js';
import { saveModel } from '../../src/models/load.js';
import { createModel } from '../../src/models/registry.js';
import { type ClipPipelineParts, clipImageEmbeddings, clipTextEmbeddings, loadClipPipeline } from '../../src/pipelines/zero-shot-image.js';
import { createServer, type StrataServer } from '../../src/serve/server.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Generator } from '../../src/tensor/random.js';
import { saveTrainedTokenizer } from '../../src/tokenizers/bpe-trainer.js';
import { hfTokenizerFromJson } from '../../src/tokenizers/hf.js';
import { TRAIN_CLIP_DEFAULTS, clipModelConfig, sceneImageProcessor, trainCaptionTokenizer } from '../../src/train/clip.js';
import { encodePng, sceneCaption, sceneDataset } from '../../src/train/scenes.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-serve-clip-'));
const modelDir = path.join(dir, 'tiny-clip');
const TEXTS = ['a red circle', 'a blue square'];
let parts: ClipPipelineParts;
let png: Uint8Array;
let dataUrl: string;
let server: StrataServer;
let base: string;
let client: OpenAI;

/** A random CLIP on 16 px images with a caption tokenizer, saved as a Hugging Face directory. */
function writeTinyClip(out: string): void {
  const scenes = [...sceneDataset({ count: 200, seed: 0, imageSize: 16 })];
  const trained = trainCaptionTokenizer(
    scenes.flatMap((s) => [s.caption, sceneCaption(s, { size: false })]),
    { maxLength: 16 },
  );
  const tokenizer = hfTokenizerFromJson({ tokenizer: trained.tokenizerJson, config: trained.tokenizerConfig });
  const config = clipModelConfig({ ...TRAIN_CLIP_DEFAULTS, out, imageSize: 16, patchSize: 8, dim: 16, layers: 1, heads: 2, projectionDim: 8, textContext: 16 }, tokenizer);
  saveModel(out, createModel(config, { generator: new Generator(5) }), config);
  saveTrainedTokenizer(out, trained);
  writeFileAtomic(path.join(out, PREPROCESSOR_CONFIG_FILE), [Buffer.from(JSON.stringify(imageProcessorConfigToJson(sceneImageProcessor(16))))]);
}

function rowsOf(t: Tensor): number[][] {
  const [R, C] = t.shape as [number, number];
  const flat = t.contiguous().toArray();
  return Array.from({ length: R }, (_, r) => flat.slice(r * C, (r + 1) * C));
}

function assertClose(actual: readonly number[], expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((x, i) => assert.ok(Math.abs(x - expected[i]!) <= 1e-5, `${what}[${i}]: ${x} vs ${expected[i]}`));
}

async function post(url: string, body: unknown): Promise<{ status: number; json: { error?: { message: string; type: string; param: string | null; code: string | null } } }> {
  const res = await fetch(`${base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as never };
}

before(async () => {
  writeTinyClip(modelDir);
  parts = await loadClipPipeline(modelDir);
  const scene = [...sceneDataset({ count: 1, seed: 3, imageSize: 16 })][0]!;
  png = await encodePng(scene.image);
  dataUrl = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
  server = await createServer({ models: [{ path: modelDir, id: 'tiny-clip' }], port: 0 });
  base = await server.listen();
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('strata serve: a CLIP model', () => {
  test('GET /v1/models lists it with its card (image and text in, embeddings out)', async () => {
    const list = await client.models.list();
    assert.deepEqual(
      list.data.map((m) => m.id),
      ['tiny-clip'],
    );
    const card = (list.data[0] as OpenAI.Model & { card: Record<string, unknown> }).card;
    assert.ok((card.input_modalities as string[]).includes('image'));
    assert.ok((card.input_modalities as string[]).includes('text'));
    assert.ok((card.output_modalities as string[]).includes('embedding'));
    assert.match(String(card.architecture), /dual-encoder/);
  });

  test('/v1/embeddings: a data:image URL through the image tower, strings through the text tower', async () => {
    const res = await client.embeddings.create({ model: 'tiny-clip', input: [dataUrl, ...TEXTS], encoding_format: 'float' });
    assert.equal(res.data.length, 3);
    assert.deepEqual(
      res.data.map((d) => d.index),
      [0, 1, 2],
    );
    const image = await loadImage(png);
    const [expectedImage] = rowsOf(clipImageEmbeddings(parts.clip, parts.processor, [image]));
    const expectedTexts = rowsOf(clipTextEmbeddings(parts.clip, parts.tokenizer, TEXTS));
    const expected = [expectedImage!, ...expectedTexts];
    res.data.forEach((d, i) => {
      assert.equal(d.embedding.length, 8);
      assert.ok(Math.abs(Math.hypot(...d.embedding) - 1) < 1e-5, `embedding ${i} is unit-length`);
      assertClose(d.embedding, expected[i]!, `embedding ${i}`);
    });
    assert.ok(res.usage.prompt_tokens > 0);

    // base64 (the client's default) carries the same floats; order and mixing do not change a vector
    const again = await client.embeddings.create({ model: 'tiny-clip', input: [TEXTS[1]!, dataUrl] });
    assertClose(again.data[0]!.embedding, expectedTexts[1]!, 'base64 text');
    assertClose(again.data[1]!.embedding, expectedImage!, 'base64 image');
  });

  test('bad data URLs are 400s in the OpenAI error shape', async () => {
    const bad = [
      'data:image/png;base64,AAAAAAAAAAAA', // base64, but no image
      'data:image/png;base64,%%%not-base64%%%',
      'data:text/plain;base64,aGVsbG8=', // not an image
      'data:image/png,rawbytes', // not base64
      `data:image/png;base64,${Buffer.from(png.slice(0, png.length >> 1)).toString('base64')}`, // truncated
    ];
    for (const url of bad) {
      const { status, json } = await post('/v1/embeddings', { model: 'tiny-clip', input: ['a red circle', url] });
      assert.equal(status, 400, url);
      assert.equal(json.error?.type, 'invalid_request_error', url);
      assert.equal(json.error?.param, 'input[1]', url);
      assert.equal(json.error?.code, 'invalid_image', url);
      assert.match(json.error!.message, /^input\[1\]: /, url);
    }
    await assert.rejects(client.embeddings.create({ model: 'tiny-clip', input: 'data:image/jpeg;base64,/9j/AAAA' }), (e: unknown) => e instanceof OpenAI.BadRequestError);
  });

  test('an image over the pixel limit is a 400, refused from its header', async () => {
    // 6000 x 6000 = 36 megapixels, over the 2^25 per image: refused from the header, never decoded
    const sharp = (await import('sharp')).default;
    const wide = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png()
      .toBuffer();
    const { status, json } = await post('/v1/embeddings', { model: 'tiny-clip', input: [`data:image/png;base64,${wide.toString('base64')}`] });
    assert.equal(status, 400);
    assert.equal(json.error?.code, 'image_too_large');
    assert.equal(json.error?.param, 'input[0]');
    assert.match(json.error!.message, /over the limit/);
  });

  test('chat and completions are refused with a 400: the model does not generate', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'tiny-clip', messages: [{ role: 'user', content: 'hi' }] }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.match(e.message, /does not generate text/);
      assert.match(e.message, /\/v1\/embeddings/);
      return true;
    });
    const { status, json } = await post('/v1/completions', { model: 'tiny-clip', prompt: 'hi' });
    assert.equal(status, 400);
    assert.equal(json.error?.code, 'model_not_generative');
  });

  test('token ids are refused with a 400 that names what it takes', async () => {
    const { status, json } = await post('/v1/embeddings', { model: 'tiny-clip', input: [1, 2, 3] });
    assert.equal(status, 400);
    assert.match(json.error!.message, /images/);
  });
});
