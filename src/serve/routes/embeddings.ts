// POST /v1/embeddings: mean-pooled, unit-length sentence vectors from an encoder model, as float
// lists or as base64 of little-endian float32 (what the openai client asks for by default).

import type { FastifyInstance } from 'fastify';
import { type ServeContext, hostFor } from '../context.js';
import { badRequest } from '../errors.js';
import { type EmbeddingBody, embeddingBody } from '../schemas.js';

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
      throw badRequest(`Model '${info.id}' (${info.architecture}) is ${what}: it does not produce embeddings. Serve an encoder (BERT, RoBERTa) with its tokenizer for /v1/embeddings.`, 'model', 'model_not_embedding');
    }
    const input = typeof body.input === 'string' ? [body.input] : body.input;
    if (!input.every((x): x is string => typeof x === 'string')) throw badRequest('This server embeds text: send input as a string or a list of strings, not token ids.', 'input', 'unsupported_input');
    const dim = info.embeddingSize;
    if (body.dimensions !== undefined && body.dimensions !== dim) throw badRequest(`Model '${info.id}' gives ${dim}-dimensional embeddings; dimensions ${body.dimensions} is not supported.`, 'dimensions', 'invalid_value');
    const { vectors, promptTokens } = await host.embed(input);
    const b64 = body.encoding_format === 'base64';
    return {
      object: 'list',
      data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: b64 ? base64(v) : Array.from(v) })),
      model: body.model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    };
  });
}
