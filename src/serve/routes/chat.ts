// POST /v1/chat/completions: the conversation through the model's chat template, n choices,
// streaming as chat.completion.chunk events.

import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ChatMessage } from '../../tokenizers/tokenizer.js';
import { type ServeContext, hostFor } from '../context.js';
import { badRequest } from '../errors.js';
import { type DoneEvent, type ResponseShape, completionBudget, finishReason, requireGenerator, respond, samplingOptions, usage } from '../generation.js';
import type { ModelInfo, WireGenerateOptions, WireLogprob, WireToken } from '../protocol.js';
import { type ChatCompletionBody, type ChatMessageBody, type ContentPart, chatCompletionBody } from '../schemas.js';

const DATA_URL = /^data:([a-z]+\/[a-z0-9.+-]+)?(;[a-z0-9-]+=[^;,]*)*(;base64)?,/i;

function modalities(info: ModelInfo): string {
  return info.card.inputModalities.join(', ');
}

/** A non-text part, checked against what the model takes in; no served model reads images or audio in chat yet. */
function refuseMedia(info: ModelInfo, p: ContentPart, where: string): never {
  if (p.type === 'image_url') {
    if (!info.card.inputModalities.includes('image')) throw badRequest(`Model '${info.id}' does not accept images (its inputs: ${modalities(info)}).`, where, 'image_input_unsupported');
    if (!DATA_URL.test(p.image_url!.url)) throw badRequest('Images must be sent inline as data: URLs (data:image/png;base64,...); this server fetches nothing.', `${where}.image_url.url`, 'invalid_image_url');
    throw badRequest(`Model '${info.id}' takes images, but this server has no image chat pipeline for ${info.architecture} yet.`, where, 'image_input_unsupported');
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

export function registerChatRoute(app: FastifyInstance, ctx: ServeContext): void {
  app.post<{ Body: ChatCompletionBody }>('/v1/chat/completions', { schema: { body: chatCompletionBody } }, async (req, reply) => {
    const body = req.body;
    const host = hostFor(ctx, body.model);
    requireGenerator(host.info);
    const messages = toChatMessages(body.messages, host.info);
    if (body.top_logprobs != null && !body.logprobs) throw badRequest('top_logprobs needs logprobs: true.', 'top_logprobs', 'invalid_value');
    const format = responseFormat(body);
    const [prompt] = await host.prepare([{ chat: messages }]);
    const requested = body.max_completion_tokens ?? body.max_tokens ?? undefined;
    const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
    const maxTokens = completionBudget(host.info, prompt!.length, requested, { limit: ctx.maxTokensLimit, param, promptParam: 'messages' });
    const options: WireGenerateOptions = { ...samplingOptions(body, maxTokens), responseFormat: format };
    if (body.logprobs) options.logprobs = body.top_logprobs ?? 0;
    const n = body.n ?? 1;
    const job = host.generate([prompt!], n, options);
    return respond(reply, job, chatShape(body.model, n, { includeUsage: body.stream_options?.include_usage === true, logprobs: body.logprobs === true }), body.stream === true);
  });
}
