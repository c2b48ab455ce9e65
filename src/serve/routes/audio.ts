// POST /v1/audio/transcriptions and /v1/audio/translations (multipart: file, model, language,
// temperature, response_format). The upload is checked to be audio by its leading bytes and the
// model by what it can do: a speech-to-text model (Whisper) transcribes WAV; any other model, or
// another container format this server cannot decode, is a 400.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ServeContext, hostFor } from '../context.js';
import { badRequest } from '../errors.js';
import type { WireTranscription } from '../protocol.js';

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

const FORMATS = ['json', 'text', 'verbose_json', 'srt', 'vtt'] as const;
type ResponseFormat = (typeof FORMATS)[number];

/** 75.5 → '00:01:15,500' (SRT) or '00:01:15.500' (WebVTT) */
function clock(seconds: number, sep: ',' | '.'): string {
  const ms = Math.round(seconds * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${sep}${pad(ms % 1000, 3)}`;
}

function subtitles(r: WireTranscription, kind: 'srt' | 'vtt'): string {
  const cues = (r.segments ?? []).map((s, i) => {
    const times = `${clock(s.start, kind === 'srt' ? ',' : '.')} --> ${clock(s.end, kind === 'srt' ? ',' : '.')}`;
    return kind === 'srt' ? `${i + 1}\n${times}\n${s.text}\n` : `${times}\n${s.text}\n`;
  });
  return kind === 'srt' ? cues.join('\n') : `WEBVTT\n\n${cues.join('\n')}`;
}

async function readUpload(req: FastifyRequest): Promise<{ fields: Record<string, string>; file: { name: string; data: Buffer } | null }> {
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
  return { fields, file };
}

function speechRoute(ctx: ServeContext, task: 'transcribe' | 'translate') {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const { fields, file } = await readUpload(req);
    if (!fields.model) throw badRequest("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
    const host = hostFor(ctx, fields.model);
    if (!file) throw badRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
    if (file.data.length === 0) throw badRequest(`The uploaded file '${file.name}' is empty.`, 'file', 'invalid_file_format');
    const format = audioFormat(file.data);
    if (!format) throw badRequest(`The uploaded file '${file.name}' is not audio: expected one of flac, mp3, mp4, m4a, ogg, wav, webm.`, 'file', 'invalid_file_format');
    const info = host.info;
    if (!info.canTranscribe) {
      throw badRequest(`Model '${info.id}' cannot transcribe audio (${info.architecture} takes ${info.card.inputModalities.join(', ')}); serve a speech-to-text model such as Whisper.`, 'model', 'model_cannot_transcribe');
    }
    if (format !== 'wav') throw badRequest(`This server decodes WAV audio only; '${file.name}' is ${format}. Convert it to WAV first.`, 'file', 'unsupported_audio_format');
    const responseFormat = (fields.response_format ?? 'json') as ResponseFormat;
    if (!FORMATS.includes(responseFormat)) throw badRequest(`response_format must be one of ${FORMATS.join(', ')}.`, 'response_format', 'invalid_value');
    let temperature: number | undefined;
    if (fields.temperature !== undefined) {
      temperature = Number(fields.temperature);
      if (fields.temperature.trim() === '' || !Number.isFinite(temperature) || temperature < 0 || temperature > 1) throw badRequest('temperature must be a number in [0, 1].', 'temperature', 'invalid_value');
    }
    const granularities = fields['timestamp_granularities[]'] ?? fields.timestamp_granularities;
    const timestamps = responseFormat === 'verbose_json' || responseFormat === 'srt' || responseFormat === 'vtt' || /segment/.test(granularities ?? '');
    const r = await host.transcribe(file.data, { task, language: fields.language || undefined, temperature, timestamps });
    switch (responseFormat) {
      case 'json':
        return { text: r.text };
      case 'text':
        return reply.type('text/plain; charset=utf-8').send(r.text);
      case 'srt':
      case 'vtt':
        return reply.type(responseFormat === 'srt' ? 'application/x-subrip; charset=utf-8' : 'text/vtt; charset=utf-8').send(subtitles(r, responseFormat));
      case 'verbose_json':
        return {
          task,
          language: r.language,
          duration: r.duration,
          text: r.text,
          segments: (r.segments ?? []).map((s, id) => ({ id, start: s.start, end: s.end, text: s.text })),
        };
    }
  };
}

export function registerAudioRoutes(app: FastifyInstance, ctx: ServeContext): void {
  app.post('/v1/audio/transcriptions', speechRoute(ctx, 'transcribe'));
  app.post('/v1/audio/translations', speechRoute(ctx, 'translate'));
}
