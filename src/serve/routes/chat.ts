// POST /v1/chat/completions: the conversation through the model's chat template, n choices,
// streaming as chat.completion.chunk events.
//
// Images (image_url parts holding data: URLs, see images.ts) go to models that read them: a
// vision-language model (LLaVA) sees each where its part stands, through its chat template; an
// image captioner (VisionEncoderDecoder) answers with the captions of the images, one line per
// image, and does not read the text parts (greedy, so sampling fields do not change it).

import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ChatMessage } from '../../tokenizers/tokenizer.js';
import { type ServeContext, hostFor } from '../context.js';
import { type ImageUrlPart, checkImageUrl, decodeImageParts } from '../images.js';
import { badRequest } from '../errors.js';
import { type DoneEvent, type ResponseShape, completionBudget, finishReason, requireGenerator, respond, samplingOptions, usage } from '../generation.js';
import type { ModelInfo, WireChatPart, WireGenerateOptions, WireLogprob, WireToken, WireVisualMessage } from '../protocol.js';
import { type ChatCompletionBody, type ChatMessageBody, type ContentPart, chatCompletionBody } from '../schemas.js';

const DATA_URL = /^data:([a-z]+\/[a-z0-9.+-]+)?(;[a-z0-9-]+=[^;,]*)*(;base64)?,/i;

function modalities(info: ModelInfo): string {
  return info.card.inputModalities.join(', ');
}

/** A non-text part the model cannot read, refused with what the model takes in. */
function refuseMedia(info: ModelInfo, p: ContentPart, where: string): never {
  if (p.type === 'image_url') {
    if (!info.card.inputModalities.includes('image')) throw badRequest(`Model '${info.id}' does not accept images (its inputs: ${modalities(info)}).`, where, 'image_input_unsupported');
    if (!DATA_URL.test(p.image_url!.url)) throw badRequest('Images must be sent inline as data: URLs (data:image/png;base64,...); this server fetches nothing.', `${where}.image_url.url`, 'invalid_image_url');
    throw badRequest(`Model '${info.id}' takes images, but this server has no image chat pipeline for ${info.architecture} (or it was served without its tokenizer).`, where, 'image_input_unsupported');
  }
  if (p.type === 'input_audio') throw badRequest(`Model '${info.id}' does not accept audio in chat (its inputs: ${modalities(info)}).`, where, 'audio_input_unsupported');
  throw badRequest(`Content parts of type '${p.type}' are not supported.`, where, 'unsupported_content_part');
}

/** OpenAI messages as the chat template takes them: text parts joined, anything else refused. */
export function toChatMessages(messages: ChatMessageBody[], info: ModelInfo): ChatMessage[] {
  return messages.map((m, i) => {
    const out: ChatMessage = { role: m.role, content: '' };
    if (m.name !== undefined) out.name = m.name;
    if (typeof m.content === 'string') out.content = m.content;
    else if (Array.isArray(m.content)) {
      const texts: string[] = [];
      m.content.forEach((part, j) => {
        if (part.type === 'text') texts.push(part.text ?? '');
        else refuseMedia(info, part, `messages[${i}].content[${j}]`);
      });
      out.content = texts.join('\n');
    }
    return out;
  });
}

function responseFormat(body: ChatCompletionBody): WireGenerateOptions['responseFormat'] {
  const f = body.response_format;
  if (!f || f.type === 'text') return undefined;
  if (f.type === 'json_object') return { type: 'json_object' };
  const schema = f.json_schema?.schema;
  if (!schema) throw badRequest("response_format of type 'json_schema' needs json_schema.schema.", 'response_format.json_schema.schema', 'missing_required_parameter');
  return { type: 'json_schema', schema };
}

const tokenJson = (t: WireToken) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes });
const logprobJson = (l: WireLogprob) => ({ ...tokenJson(l), top_logprobs: l.top.map(tokenJson) });

function chatShape(model: string, n: number, o: { includeUsage: boolean; logprobs: boolean }): ResponseShape {
  const includeUsage = o.includeUsage;
  const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const base = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: null };
  const withUsage = includeUsage ? { usage: null } : {};
  const chunk = (choices: object[]) => ({ ...base, choices, ...withUsage });
  return {
    opening: () => Array.from({ length: n }, (_, index) => chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }])),
    chunk: (c) => {
      if (!c.delta && !c.logprob) return null;
      return chunk([{ index: c.choice, delta: { content: c.delta }, logprobs: c.logprob ? { content: [logprobJson(c.logprob)], refusal: null } : null, finish_reason: null }]);
    },
    closing: (done: DoneEvent) => {
      const out: object[] = done.choices.map((c) => chunk([{ index: c.choice, delta: {}, logprobs: null, finish_reason: finishReason(c) }]));
      if (includeUsage) out.push({ ...base, choices: [], usage: usage(done) });
      return out;
    },
    complete: (done, logprobs) => ({
      id,
      object: 'chat.completion',
      created,
      model,
      system_fingerprint: null,
      choices: done.choices.map((c) => ({
        index: c.choice,
        message: { role: 'assistant', content: c.text, refusal: null },
        logprobs: o.logprobs ? { content: (logprobs[c.choice] ?? []).map(logprobJson), refusal: null } : null,
        finish_reason: finishReason(c),
      })),
      usage: usage(done),
    }),
  };
}

/** A conversation with its image parts in place (for a model that reads images), and the parts to decode. */
export function toVisualMessages(messages: ChatMessageBody[], info: ModelInfo): { messages: WireVisualMessage[]; images: ImageUrlPart[] } {
  const images: ImageUrlPart[] = [];
  const out = messages.map((m, i): WireVisualMessage => {
    if (!Array.isArray(m.content)) return { role: m.role, content: m.content ?? '' };
    const parts = m.content.map((part, j): WireChatPart => {
      const where = `messages[${i}].content[${j}]`;
      if (part.type === 'text') return { type: 'text', text: part.text ?? '' };
      if (part.type !== 'image_url') refuseMedia(info, part, where);
      checkImageUrl(part.image_url!.url, where);
      images.push({ url: part.image_url!.url, param: where });
      return { type: 'image', index: images.length - 1 };
    });
    return { role: m.role, content: parts };
  });
  return { messages: out, images };
}

/** A captioner's answer: the captions of the request's images. */
async function captionChat(body: ChatCompletionBody, ctx: ServeContext, reply: FastifyReply): Promise<unknown> {
  const host = hostFor(ctx, body.model);
  const { images: parts } = toVisualMessages(body.messages, host.info);
  if (parts.length === 0) throw badRequest(`Model '${host.info.id}' (${host.info.architecture}) is an image captioner: send an image_url part in the messages.`, 'messages', 'image_required');
  if (body.logprobs) throw badRequest('logprobs are not available from an image captioner.', 'logprobs', 'invalid_value');
  if (responseFormat(body)) throw badRequest('response_format is not available from an image captioner.', 'response_format', 'invalid_value');
  const images = await decodeImageParts(parts);
  const [prompt] = await host.prepare([{ visualChat: [], images: [] }]);
  const requested = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const maxTokens = completionBudget(host.info, prompt!.length, requested, { limit: ctx.maxTokensLimit, param, promptParam: 'messages' });
  const n = body.n ?? 1;
  const job = host.generate([prompt!], n, { maxTokens }, images);
  return respond(reply, job, chatShape(body.model, n, { includeUsage: body.stream_options?.include_usage === true, logprobs: false }), body.stream === true);
}

export function registerChatRoute(app: FastifyInstance, ctx: ServeContext): void {
  app.post<{ Body: ChatCompletionBody }>('/v1/chat/completions', { schema: { body: chatCompletionBody } }, async (req, reply) => {
    const body = req.body;
    const host = hostFor(ctx, body.model);
    if (host.info.canCaption) return captionChat(body, ctx, reply);
    requireGenerator(host.info);
    const visual = host.info.canChatImages ? toVisualMessages(body.messages, host.info) : null;
    const messages = visual ? null : toChatMessages(body.messages, host.info);
    if (body.top_logprobs != null && !body.logprobs) throw badRequest('top_logprobs needs logprobs: true.', 'top_logprobs', 'invalid_value');
    const format = responseFormat(body);
    const images = visual ? await decodeImageParts(visual.images) : [];
    const [prompt] = await host.prepare([visual ? { visualChat: visual.messages, images } : { chat: messages! }]);
    const requested = body.max_completion_tokens ?? body.max_tokens ?? undefined;
    const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
    const maxTokens = completionBudget(host.info, prompt!.length, requested, { limit: ctx.maxTokensLimit, param, promptParam: 'messages' });
    const options: WireGenerateOptions = { ...samplingOptions(body, maxTokens), responseFormat: format };
    if (body.logprobs) options.logprobs = body.top_logprobs ?? 0;
    const n = body.n ?? 1;
    const job = host.generate([prompt!], n, options, images);
    return respond(reply, job, chatShape(body.model, n, { includeUsage: body.stream_options?.include_usage === true, logprobs: body.logprobs === true }), body.stream === true);
  });
}
