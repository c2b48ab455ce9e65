// POST /v1/embeddings: unit-length vectors, as float lists or as base64 of little-endian float32
// (what the openai client asks for by default). An encoder gives mean-pooled sentence vectors; an
// image–text dual encoder (CLIP) embeds texts with its text tower and images, sent inline as
// data:image/...;base64,... strings (decoded under limits by ../images.ts), with its image tower,
// into one space.

import type { FastifyInstance } from 'fastify';
import { type ServeContext, hostFor } from '../context.js';
import { badRequest } from '../errors.js';
import { EMBEDDING_IMAGE_LIMITS, decodeImageParts, isDataUrl } from '../images.js';
import type { EmbedInput, ModelInfo } from '../protocol.js';
import { type EmbeddingBody, embeddingBody } from '../schemas.js';

/** The request's strings as texts and images (an image–text model), or texts alone. */
async function embedInputs(info: ModelInfo, input: string[]): Promise<EmbedInput[]> {
  if (!info.canEmbedImages) return input.map((text) => ({ text }));
  const parts = input.flatMap((url, i) => (isDataUrl(url) ? [{ url, param: `input[${i}]`, field: `input[${i}]` }] : []));
  const images = await decodeImageParts(parts, EMBEDDING_IMAGE_LIMITS);
  let next = 0;
  return input.map((text) => (isDataUrl(text) ? { image: images[next++]! } : { text }));
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
