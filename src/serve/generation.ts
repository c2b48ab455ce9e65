// What /v1/chat/completions and /v1/completions share: the token budget check, the sampling
// fields, and answering from a generation job, as one JSON body or as server-sent events.

import type { FastifyReply } from 'fastify';
import { badRequest, toApiError } from './errors.js';
import type { GenerationEvent, GenerationJob } from './host.js';
import type { ModelInfo, WireChoiceResult, WireChunk, WireGenerateOptions, WireLogprob } from './protocol.js';
import type { SamplingBody } from './schemas.js';

/**
 * How many tokens a request may generate. An explicit max_tokens must fit the server's limit and,
 * with the longest prompt, the model's context (400 otherwise: nothing is cut silently); without
 * one, the completion may fill what is left of the context, up to the limit and `fallback`.
 */
export function completionBudget(
  info: ModelInfo,
  promptTokens: number,
  requested: number | undefined,
  o: { limit?: number; param: string; promptParam: string; fallback?: number },
): number {
  const ctx = info.contextLength;
  const room = ctx - promptTokens;
  if (room <= 0) {
    throw badRequest(`This model's maximum context length is ${ctx} tokens, but the prompt is ${promptTokens} tokens, which leaves no room for a completion. Shorten the prompt.`, o.promptParam, 'context_length_exceeded');
  }
  if (requested === undefined) return Math.min(room, o.limit ?? room, o.fallback ?? room);
  if (o.limit !== undefined && requested > o.limit) throw badRequest(`${o.param} is ${requested}, but this server allows at most ${o.limit}.`, o.param, 'max_tokens_exceeded');
  if (promptTokens + requested > ctx) {
    throw badRequest(
      `This model's maximum context length is ${ctx} tokens. However, you requested ${promptTokens + requested} tokens (${promptTokens} in the prompt, ${requested} for the completion). Shorten the prompt or lower ${o.param}.`,
      o.param,
      'context_length_exceeded',
    );
  }
  return requested;
}

export function stopList(stop: string | string[] | null | undefined): string[] | undefined {
  if (stop === null || stop === undefined) return undefined;
  return typeof stop === 'string' ? [stop] : stop;
}

/** The sampling fields of a request; top_p 0 (only the single most likely token) means greedy. */
export function samplingOptions(body: SamplingBody, maxTokens: number): WireGenerateOptions {
  const greedy = body.top_p === 0;
  return {
    maxTokens,
    temperature: greedy ? 0 : (body.temperature ?? undefined),
    topP: greedy ? undefined : (body.top_p ?? undefined),
    presencePenalty: body.presence_penalty ?? undefined,
    frequencyPenalty: body.frequency_penalty ?? undefined,
    seed: body.seed ?? undefined,
    stop: stopList(body.stop),
  };
}

export function requireGenerator(info: ModelInfo): void {
  if (!info.canGenerate) {
    const what = info.kind === 'encoder' ? 'an encoder' : info.kind === 'dual-encoder' ? 'an image–text dual encoder (embeddings only)' : `a ${info.kind} model`;
    throw badRequest(`Model '${info.id}' (${info.architecture}) is ${what}: it does not generate text. Use /v1/embeddings with it, or serve a decoder-only language model.`, 'model', 'model_not_generative');
  }
}

export type DoneEvent = Extract<GenerationEvent, { type: 'done' }>;

/** How one endpoint shapes its answers. */
export interface ResponseShape {
  /** events sent as soon as the stream opens (chat: the assistant role) */
  opening(): object[];
  /** the event for one token of one choice, or null to send none */
  chunk(c: WireChunk): object | null;
  /** events that end the stream: each choice's finish reason, then usage if asked */
  closing(done: DoneEvent): object[];
  /** the whole answer, when not streaming; logprobs[choice] lists that choice's tokens */
  complete(done: DoneEvent, logprobs: WireLogprob[][]): object;
}

export function usage(done: DoneEvent): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const completion = done.choices.reduce((a, c) => a + c.completionTokens, 0);
  return { prompt_tokens: done.promptTokens, completion_tokens: completion, total_tokens: done.promptTokens + completion };
}

/** OpenAI has no 'abort' finish reason; a cancelled choice only reaches a client that has gone. */
export function finishReason(c: WireChoiceResult): 'stop' | 'length' {
  return c.finishReason === 'length' ? 'length' : 'stop';
}

/**
 * Answers from a job. Errors before the first token (bad options, a full context) still reach
 * Fastify's error handler as 4xx JSON; once a stream is open, a failure is sent as a last
 * `data: {"error": ...}` event. A client that goes away cancels the job.
 */
export async function respond(reply: FastifyReply, job: GenerationJob, shape: ResponseShape, stream: boolean): Promise<unknown> {
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableEnded) job.cancel();
  });
  // the client has gone: nothing to send (returning after hijack() tells Fastify not to either)
  const gone = () => {
    job.cancel();
    reply.hijack();
    return undefined;
  };
  const events = job.events[Symbol.asyncIterator]();
  const first = await events.next();
  if (first.done || res.destroyed) return gone();
  if (!stream) {
    const logprobs: WireLogprob[][] = [];
    for (;;) {
      const { value, done } = await events.next();
      if (done) return gone();
      if (value.type === 'chunks') {
        for (const c of value.chunks) if (c.logprob) (logprobs[c.choice] ??= []).push(c.logprob);
      } else if (value.type === 'done') {
        if (res.destroyed) return gone();
        return shape.complete(value, logprobs);
      }
    }
  }
  reply.hijack();
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  const send = (data: object | string) => {
    if (!res.destroyed && !res.writableEnded) res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  };
  shape.opening().forEach(send);
  try {
    for (;;) {
      const { value, done } = await events.next();
      if (done) break;
      if (value.type === 'chunks') {
        for (const c of value.chunks) {
          const e = shape.chunk(c);
          if (e) send(e);
        }
      } else if (value.type === 'done') {
        shape.closing(value).forEach(send);
        send('[DONE]');
      }
    }
  } catch (err) {
    send(toApiError(err).body());
  }
  if (!res.destroyed && !res.writableEnded) res.end();
  return undefined;
}
