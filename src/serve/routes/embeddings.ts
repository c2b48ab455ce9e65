// POST /v1/embeddings: unit-length vectors, as float lists or as base64 of little-endian float32
// (what the openai client asks for by default). An encoder gives mean-pooled sentence vectors; an
// image–text dual encoder (CLIP) embeds texts with its text tower and images, sent inline as
// data:image/...;base64,... strings, with its image tower, into one space.
//
// Images are decoded here, in the HTTP thread (sharp decodes off the event loop, and wants to live
// in the main thread), under pixel limits, so a worker only ever sees checked RGB pixels.

import type { FastifyInstance } from 'fastify';
import { StrataError } from '../../errors.js';
import { type RgbImage, loadImage } from '../../io/image.js';
import { type ServeContext, hostFor } from '../context.js';
import { badRequest } from '../errors.js';
import type { EmbedInput, ModelInfo } from '../protocol.js';
import { type EmbeddingBody, embeddingBody } from '../schemas.js';

/** Largest image one input may be (about 33 megapixels: 96 MiB as RGB). */
const MAX_IMAGE_PIXELS = 2 ** 25;
/** Pixels of all the images of one request together (192 MiB as RGB). */
const MAX_REQUEST_PIXELS = 2 ** 26;
/** Images in one request. */
const MAX_IMAGES = 64;

const DATA_URL = /^data:([^,]*),/i;
const IMAGE_BASE64 = /^image\/[a-z0-9.+-]+(;[a-z0-9-]+=[^;,]*)*;base64$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function imageError(index: number, message: string): Error {
  return badRequest(`input[${index}]: ${message}`, `input[${index}]`, 'invalid_image');
}

/** A data:image/...;base64 URL as RGB pixels; anything else about it is the request's fault (400). */
async function decodeImage(url: string, index: number, maxPixels: number): Promise<RgbImage> {
  const meta = DATA_URL.exec(url)![1]!;
  if (!IMAGE_BASE64.test(meta)) throw imageError(index, `a data: URL must hold a base64 image (data:image/png;base64,...), got 'data:${meta.slice(0, 60)},...'.`);
  const payload = url.slice(meta.length + 6).replace(/\s+/g, '');
  if (!payload || payload.length % 4 === 1 || !BASE64.test(payload)) throw imageError(index, 'the data: URL is not valid base64.');
  const bytes = Buffer.from(payload, 'base64');
  try {
    return await loadImage(bytes, { maxPixels, source: `input[${index}]` });
  } catch (err) {
    // 'io': the bytes are not a readable image, or too large one; anything else is this side's
    if (!(err instanceof StrataError) || err.code !== 'io') throw err;
    throw imageError(index, `${err.message.slice(err.op.length + 2).replace(/; raise maxPixels to allow it/, '')}.`);
  }
}

/** The request's strings as texts and images (an image–text model), or texts alone. */
async function embedInputs(info: ModelInfo, input: string[]): Promise<EmbedInput[]> {
  if (!info.canEmbedImages) return input.map((text) => ({ text }));
  const count = input.filter((x) => DATA_URL.test(x)).length;
  if (count > MAX_IMAGES) throw badRequest(`${count} images in one request; this server embeds at most ${MAX_IMAGES} per request.`, 'input', 'too_many_images');
  let budget = MAX_REQUEST_PIXELS;
  const out: EmbedInput[] = [];
  for (const [i, x] of input.entries()) {
    if (!DATA_URL.test(x)) {
      out.push({ text: x });
      continue;
    }
    if (budget < 1) throw imageError(i, `the images of this request are over the limit of ${MAX_REQUEST_PIXELS} pixels together.`);
    const img = await decodeImage(x, i, Math.min(MAX_IMAGE_PIXELS, budget));
    budget -= img.width * img.height;
    // pixels of their own, so they can be handed to the worker without taking a shared buffer along
    out.push({ image: { width: img.width, height: img.height, data: Uint8Array.from(img.data) } });
  }
  return out;
}

function base64(v: Float32Array): string {
  const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (bytes.readFloatLE(0) !== v[0]) {
    // a big-endian host: write the floats out in the byte order the format fixes
    const le = Buffer.alloc(v.byteLength);
    v.forEach((x, i) => le.writeFloatLE(x, i * 4));
    return le.toString('base64');
  }
  return bytes.toString('base64');
}

export function registerEmbeddingsRoute(app: FastifyInstance, ctx: ServeContext): void {
  app.post<{ Body: EmbeddingBody }>('/v1/embeddings', { schema: { body: embeddingBody } }, async (req) => {
    const body = req.body;
    const host = hostFor(ctx, body.model);
    const info = host.info;
    if (!info.canEmbed) {
      const what = info.kind === 'decoder-only' ? 'a decoder-only language model' : info.hasTokenizer ? `a ${info.kind} model` : 'a model without a tokenizer';
      throw badRequest(`Model '${info.id}' (${info.architecture}) is ${what}: it does not produce embeddings. Serve an encoder (BERT, RoBERTa) with its tokenizer, or a CLIP model, for /v1/embeddings.`, 'model', 'model_not_embedding');
    }
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    if (!input.every((x): x is string => typeof x === 'string')) {
      const what = info.canEmbedImages ? 'text and images (data:image/...;base64,... strings)' : 'text';
      throw badRequest(`This server embeds ${what}: send input as a string or a list of strings, not token ids.`, 'input', 'unsupported_input');
    }
    const dim = info.embeddingSize;
    if (body.dimensions !== undefined && body.dimensions !== dim) throw badRequest(`Model '${info.id}' gives ${dim}-dimensional embeddings; dimensions ${body.dimensions} is not supported.`, 'dimensions', 'invalid_value');
    const { vectors, promptTokens } = await host.embed(await embedInputs(info, input));
    const b64 = body.encoding_format === 'base64';
    return {
      object: 'list',
      data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: b64 ? base64(v) : Array.from(v) })),
      model: body.model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    };
  });
}
