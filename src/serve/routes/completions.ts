// POST /v1/completions: continue one or more prompts (text or token ids), n choices each, choice
// index = prompt index × n + sample index, as OpenAI numbers them.

import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { type ServeContext, hostFor } from '../context.js';
import { badRequest } from '../errors.js';
import { type DoneEvent, type ResponseShape, completionBudget, finishReason, requireGenerator, respond, samplingOptions, usage } from '../generation.js';
import type { PromptInput, WireLogprob } from '../protocol.js';
import { type CompletionBody, completionBody } from '../schemas.js';

/** OpenAI's legacy default for /v1/completions. */
const DEFAULT_MAX_TOKENS = 16;
/** completions decoded together in one request (prompts × n): one batch, so memory grows with it */
const MAX_ROWS = 64;

function prompts(prompt: CompletionBody['prompt']): PromptInput[] {
  if (typeof prompt === 'string') return [{ text: prompt }];
  if (prompt.every((p) => typeof p === 'number')) return [{ ids: prompt as number[] }];
  return (prompt as (string | number[])[]).map((p) => (typeof p === 'string' ? { text: p } : { ids: p }));
}

/** The legacy logprobs object: parallel lists, top alternatives as {token: logprob}. */
function legacyLogprobs(tokens: readonly WireLogprob[], startOffset = 0) {
  let offset = startOffset;
  const textOffset = tokens.map((t) => {
    const at = offset;
    offset += t.token.length;
    return at;
  });
  return {
    tokens: tokens.map((t) => t.token),
    token_logprobs: tokens.map((t) => t.logprob),
    top_logprobs: tokens.map((t) => Object.fromEntries(t.top.map((x) => [x.token, x.logprob]))),
    text_offset: textOffset,
  };
}

function completionShape(model: string, o: { includeUsage: boolean; logprobs: boolean }): ResponseShape {
  const id = `cmpl-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const base = { id, object: 'text_completion', created, model, system_fingerprint: null };
  const withUsage = o.includeUsage ? { usage: null } : {};
  const offsets = new Map<number, number>();
  return {
    opening: () => [],
    chunk: (c) => {
      if (!c.delta && !c.logprob) return null;
      let logprobs = null;
      if (c.logprob) {
        logprobs = legacyLogprobs([c.logprob], offsets.get(c.choice) ?? 0);
        offsets.set(c.choice, (offsets.get(c.choice) ?? 0) + c.logprob.token.length);
      }
      return { ...base, choices: [{ index: c.choice, text: c.delta, logprobs, finish_reason: null }], ...withUsage };
    },
    closing: (done: DoneEvent) => {
      const out: object[] = done.choices.map((c) => ({ ...base, choices: [{ index: c.choice, text: '', logprobs: null, finish_reason: finishReason(c) }], ...withUsage }));
      if (o.includeUsage) out.push({ ...base, choices: [], usage: usage(done) });
      return out;
    },
    complete: (done, logprobs) => ({
      ...base,
      choices: done.choices.map((c) => ({ index: c.choice, text: c.text, logprobs: o.logprobs ? legacyLogprobs(logprobs[c.choice] ?? []) : null, finish_reason: finishReason(c) })),
      usage: usage(done),
    }),
  };
}

export function registerCompletionsRoute(app: FastifyInstance, ctx: ServeContext): void {
  app.post<{ Body: CompletionBody }>('/v1/completions', { schema: { body: completionBody } }, async (req, reply) => {
    const body = req.body;
    const host = hostFor(ctx, body.model);
    requireGenerator(host.info);
    if (body.echo) throw badRequest('echo is not supported by this server.', 'echo', 'unsupported_parameter');
    if (body.suffix) throw badRequest('suffix (insertion) is not supported by this server.', 'suffix', 'unsupported_parameter');
    const n = body.n ?? 1;
    if (body.best_of != null && body.best_of !== n) throw badRequest('best_of other than n is not supported by this server.', 'best_of', 'unsupported_parameter');
    const inputs = prompts(body.prompt);
    if (inputs.length * n > MAX_ROWS) throw badRequest(`${inputs.length} prompts × n = ${n} makes ${inputs.length * n} completions; this server makes at most ${MAX_ROWS} per request.`, 'n', 'too_many_choices');
    const ids = await host.prepare(inputs);
    ids.forEach((p, i) => {
      if (p.length === 0) throw badRequest(`prompt${ids.length > 1 ? `[${i}]` : ''} is empty: it holds no tokens.`, 'prompt', 'empty_prompt');
    });
    const longest = Math.max(...ids.map((p) => p.length));
    const maxTokens = completionBudget(host.info, longest, body.max_tokens ?? undefined, { limit: ctx.maxTokensLimit, param: 'max_tokens', promptParam: 'prompt', fallback: DEFAULT_MAX_TOKENS });
    const options = samplingOptions(body, maxTokens);
    if (body.logprobs != null) options.logprobs = body.logprobs;
    const job = host.generate(ids, n, options);
    return respond(reply, job, completionShape(body.model, { includeUsage: body.stream_options?.include_usage === true, logprobs: body.logprobs != null }), body.stream === true);
  });
}
