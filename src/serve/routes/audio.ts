// POST /v1/audio/transcriptions (multipart: file, model, ...). The upload is checked to be audio by
// its leading bytes, and the model by its card: only a model that takes audio in and gives text out
// can transcribe, and until a speech-to-text model is served every model answers 400.

import type { FastifyInstance } from 'fastify';
import { type ServeContext, hostFor } from '../context.js';
import { badRequest } from '../errors.js';

/** The container formats OpenAI accepts (flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm), by magic bytes. */
export function audioFormat(b: Buffer): string | null {
  const ascii = (at: number, s: string) => b.length >= at + s.length && b.toString('latin1', at, at + s.length) === s;
  if (ascii(0, 'RIFF') && ascii(8, 'WAVE')) return 'wav';
  if (ascii(0, 'fLaC')) return 'flac';
  if (ascii(0, 'OggS')) return 'ogg';
  if (ascii(4, 'ftyp')) return 'mp4';
  if (b.length >= 4 && b.readUInt32BE(0) === 0x1a45dfa3) return 'webm';
  if (ascii(0, 'ID3')) return 'mp3';
  // an MPEG audio frame header: 11 sync bits, a valid version and layer
  if (b.length >= 2 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && (b[1]! & 0x18) !== 0x08 && (b[1]! & 0x06) !== 0) return 'mp3';
  return null;
}

export function registerAudioRoutes(app: FastifyInstance, ctx: ServeContext): void {
  app.post('/v1/audio/transcriptions', async (req) => {
    if (!req.isMultipart()) throw badRequest('Send the audio as multipart/form-data with the fields file and model.', 'file', 'invalid_content_type');
    const fields: Record<string, string> = {};
    let file: { name: string; data: Buffer } | null = null;
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        const data = await part.toBuffer();
        if (part.fieldname !== 'file') throw badRequest(`Unexpected file field '${part.fieldname}': upload the audio as 'file'.`, part.fieldname, 'unknown_parameter');
        file = { name: part.filename, data };
      } else fields[part.fieldname] = String(part.value);
    }
    if (!fields.model) throw badRequest("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
    const host = hostFor(ctx, fields.model);
    if (!file) throw badRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
    if (file.data.length === 0) throw badRequest(`The uploaded file '${file.name}' is empty.`, 'file', 'invalid_file_format');
    if (!audioFormat(file.data)) {
      throw badRequest(`The uploaded file '${file.name}' is not audio: expected one of flac, mp3, mp4, m4a, ogg, wav, webm.`, 'file', 'invalid_file_format');
    }
    const card = host.info.card;
    const why = card.inputModalities.includes('audio') && card.outputModalities.includes('text') ? 'no speech-to-text pipeline serves it yet' : `its inputs are ${card.inputModalities.join(', ')}`;
    throw badRequest(`Model '${host.id}' cannot transcribe audio (${why}).`, 'model', 'model_cannot_transcribe');
  });
}
