// Images in /v1/chat/completions, through the official `openai` client: a tiny random-weight LLaVA
// (created here and saved to a temporary directory beside the fixture's tokenizer, template and
// processor) answers image_url parts holding data: URLs exactly as the visual chat pipeline does,
// streaming and not, with one image or several; a captioner (the VisionEncoderDecoder fixture)
// answers with the caption pipeline's captions; http URLs, bad or oversized images, and images
// sent to a text-only model are 400s in OpenAI's error shape.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import OpenAI from 'openai';
import type { ChatCompletionContentPart } from 'openai/resources/chat/completions';
import { loadImage, rgbImage } from '../../src/io/image.js';
import { readJsonObject } from '../../src/io/config.js';
import { saveModel } from '../../src/models/load.js';
import { createModel, parseModelConfig } from '../../src/models/registry.js';
import { captionImages, loadCaptionPipeline } from '../../src/pipelines/caption.js';
import { VisualChatPipeline, type VisualChatMessage } from '../../src/pipelines/visual-chat.js';
import { createServer, type StrataServer } from '../../src/serve/server.js';
import { CHAT_IMAGE_LIMITS } from '../../src/serve/images.js';
import { Generator } from '../../src/tensor/random.js';
import { encodePng } from '../../src/train/scenes.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';

const FIXTURE = path.join(FIXTURES_DIR, 'models', 'llava');
const CAPTIONER = path.join(FIXTURES_DIR, 'models', 'vision-encoder-decoder');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-serve-llava-'));
const llavaDir = path.join(root, 'tiny-llava');
let server: StrataServer;
let base: string;
let client: OpenAI;
let pipe: VisualChatPipeline;
let pngA: Uint8Array;
let pngB: Uint8Array;

const dataUrl = (png: Uint8Array, type = 'image/png') => `data:${type};base64,${Buffer.from(png).toString('base64')}`;
const imagePart = (url: string): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url } });

/** A random LLaVA of the fixture's shape (other weights), with the fixture's tokenizer, template and processor. */
function writeTinyLlava(out: string): void {
  const { config } = parseModelConfig(readJsonObject(path.join(FIXTURE, 'config.json')), 'config.json');
  saveModel(out, createModel(config, { generator: new Generator(11) }), config);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'processor_config.json']) fs.copyFileSync(path.join(FIXTURE, f), path.join(out, f));
}

/** An RGB PNG of width x height with the given pixel function. */
function png(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Promise<Uint8Array> {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 3);
  return encodePng(rgbImage(width, height, data));
}

async function post(body: unknown): Promise<{ status: number; json: { error?: { message: string; type: string; param: string | null; code: string | null } } }> {
  const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as never };
}

before(async () => {
  fs.mkdirSync(llavaDir);
  writeTinyLlava(llavaDir);
  pipe = await VisualChatPipeline.load(llavaDir);
  pngA = fs.readFileSync(path.join(FIXTURE, 'image.png'));
  pngB = await png(24, 36, (x, y) => [(x * 10) % 256, (y * 7) % 256, 200]);
  server = await createServer({
    models: [
      { path: llavaDir, id: 'tiny-llava' },
      { path: CAPTIONER, id: 'tiny-captioner' },
      { path: path.join(FIXTURES_DIR, 'models', 'llama-gqa'), id: 'text-llama' },
    ],
    port: 0,
  });
  base = await server.listen();
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await server?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('chat completions with images', () => {
  test('a LLaVA answers an image part as the visual chat pipeline does (non-streaming, greedy)', async () => {
    const image = await loadImage(pngA);
    const want = pipe.chat([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'image', image }, { type: 'text', text: 'What is this?' }] }], { temperature: 0, maxTokens: 10 });
    const r = await client.chat.completions.create({
      model: 'tiny-llava',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [imagePart(dataUrl(pngA)), { type: 'text', text: 'What is this?' }] },
      ],
      temperature: 0,
      max_tokens: 10,
    });
    assert.equal(r.choices[0]!.message.content, want.text);
    assert.equal(r.usage!.completion_tokens, want.tokens.length);
    // 16 image tokens are part of the prompt
    assert.equal(r.usage!.prompt_tokens, want.timings.promptTokens);
    assert.ok(r.usage!.prompt_tokens > 16);
  });

  test('streaming gives the same text, and n samples with a seed are each the pipeline’s sample', async () => {
    const messages = [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'Look:' }, imagePart(dataUrl(pngA))] }];
    const full = await client.chat.completions.create({ model: 'tiny-llava', messages, temperature: 0, max_tokens: 8 });
    const stream = await client.chat.completions.create({ model: 'tiny-llava', messages, temperature: 0, max_tokens: 8, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, full.choices[0]!.message.content);
    const image = await loadImage(pngA);
    const sampled = await client.chat.completions.create({ model: 'tiny-llava', messages, temperature: 1, seed: 5, max_tokens: 6, n: 2 });
    const local = pipe.start(pipe.prepare([{ role: 'user', content: [{ type: 'text', text: 'Look:' }, { type: 'image', image }] }]), { temperature: 1, seed: 5, maxTokens: 6 }, 2).finish();
    assert.deepEqual(sampled.choices.map((c) => c.message.content), local.map((r) => r.text));
  });

  test('several images, each in its place, PNG, JPEG and WebP; a text-only turn works too', async () => {
    const [a, b] = [await loadImage(pngA), await loadImage(pngB)];
    const messages: VisualChatMessage[] = [{ role: 'user', content: [{ type: 'image', image: a }, { type: 'text', text: 'and' }, { type: 'image', image: b }] }];
    const want = pipe.chat(messages, { temperature: 0, maxTokens: 6 });
    const r = await client.chat.completions.create({
      model: 'tiny-llava',
      messages: [{ role: 'user', content: [imagePart(dataUrl(pngA)), { type: 'text', text: 'and' }, imagePart(dataUrl(pngB))] }],
      temperature: 0,
      max_tokens: 6,
    });
    assert.equal(r.choices[0]!.message.content, want.text);
    assert.equal(r.usage!.prompt_tokens, want.timings.promptTokens);
    // JPEG and WebP too, decoded as the pipeline decodes the same bytes
    const jpeg = fs.readFileSync(path.join(FIXTURES_DIR, 'images', 'photo.jpg'));
    const webp = fs.readFileSync(path.join(FIXTURES_DIR, 'images', 'lossy.webp'));
    const other = pipe.chat([{ role: 'user', content: [{ type: 'image', image: await loadImage(jpeg) }, { type: 'image', image: await loadImage(webp) }] }], { temperature: 0, maxTokens: 5 });
    const r2 = await client.chat.completions.create({ model: 'tiny-llava', messages: [{ role: 'user', content: [imagePart(dataUrl(jpeg, 'image/jpeg')), imagePart(dataUrl(webp, 'image/webp'))] }], temperature: 0, max_tokens: 5 });
    assert.equal(r2.choices[0]!.message.content, other.text);
    const textOnly = await client.chat.completions.create({ model: 'tiny-llava', messages: [{ role: 'user', content: 'Hello' }], temperature: 0, max_tokens: 4 });
    assert.equal(textOnly.choices[0]!.message.content, pipe.chat([{ role: 'user', content: 'Hello' }], { temperature: 0, maxTokens: 4 }).text);
  });

  test('a captioner answers with the captions of the images, one line each (text parts are not read)', async () => {
    const parts = await loadCaptionPipeline(CAPTIONER);
    const images = [await loadImage(pngA), await loadImage(pngB)];
    const want = captionImages(parts, images, { maxTokens: 12 });
    const r = await client.chat.completions.create({
      model: 'tiny-captioner',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe these.' }, imagePart(dataUrl(pngA)), imagePart(dataUrl(pngB))] }],
      max_tokens: 12,
    });
    assert.equal(r.choices[0]!.message.content, want.map((c) => c.text).join('\n'));
    assert.equal(r.usage!.completion_tokens, want[0]!.tokens.length + want[1]!.tokens.length);
    const stream = await client.chat.completions.create({ model: 'tiny-captioner', messages: [{ role: 'user', content: [imagePart(dataUrl(pngA))] }], max_tokens: 12, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, want[0]!.text);
    const none = await post({ model: 'tiny-captioner', messages: [{ role: 'user', content: 'a caption please' }] });
    assert.equal(none.status, 400);
    assert.equal(none.json.error!.code, 'image_required');
  });

  test('refusals are 400s naming the part: http URLs, not base64, not an image, too many, too large; text models keep theirs', async () => {
    const ask = (content: unknown[], model = 'tiny-llava') => post({ model, messages: [{ role: 'user', content }], max_tokens: 2 });
    const http = await ask([{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }]);
    assert.equal(http.status, 400);
    assert.deepEqual([http.json.error!.code, http.json.error!.param, http.json.error!.type], ['invalid_image_url', 'messages[0].content[1].image_url.url', 'invalid_request_error']);
    assert.match(http.json.error!.message, /not fetched/);
    const plain = await ask([{ type: 'image_url', image_url: { url: 'data:text/plain,hello' } }]);
    assert.deepEqual([plain.status, plain.json.error!.code], [400, 'invalid_image']);
    const garbage = await ask([{ type: 'image_url', image_url: { url: `data:image/png;base64,${Buffer.from('not a png at all').toString('base64')}` } }]);
    assert.deepEqual([garbage.status, garbage.json.error!.code, garbage.json.error!.param], [400, 'invalid_image', 'messages[0].content[0].image_url.url']);
    const many = await ask(Array.from({ length: CHAT_IMAGE_LIMITS.maxImages + 1 }, () => ({ type: 'image_url', image_url: { url: dataUrl(pngA) } })));
    assert.deepEqual([many.status, many.json.error!.code], [400, 'too_many_images']);
    // a PNG whose header claims more pixels than one image may have is refused before decoding
    const huge = zlib.deflateSync(Buffer.alloc(0));
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(8193, 0);
    ihdr.writeUInt32BE(8193, 4);
    ihdr.set([8, 2, 0, 0, 0], 8);
    const chunk = (type: string, data: Buffer) => {
      const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(zlib.crc32(body));
      return Buffer.concat([len, body, crc]);
    };
    const bomb = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', huge), chunk('IEND', Buffer.alloc(0))]);
    const large = await ask([{ type: 'image_url', image_url: { url: dataUrl(bomb) } }]);
    assert.deepEqual([large.status, large.json.error!.code], [400, 'image_too_large']);
    const text = await ask([{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: dataUrl(pngA) } }], 'text-llama');
    assert.deepEqual([text.status, text.json.error!.code, text.json.error!.param], [400, 'image_input_unsupported', 'messages[0].content[1]']);
  });

  test('GET /v1/models shows the LLaVA and the captioner take images and give text', async () => {
    const list = await client.models.list();
    const byId = new Map(list.data.map((m) => [m.id, m as unknown as { card?: { input_modalities: string[]; output_modalities: string[] } }]));
    assert.deepEqual(byId.get('tiny-llava')!.card?.input_modalities, ['text', 'image']);
    assert.deepEqual(byId.get('tiny-llava')!.card?.output_modalities, ['text']);
    assert.ok(byId.get('tiny-captioner')!.card?.input_modalities.includes('image'));
  });
});
