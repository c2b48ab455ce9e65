// `strata serve`: an OpenAI-compatible HTTP server over Fastify. Each model runs in its own worker
// thread (host.ts) behind a bounded queue, so the HTTP loop only parses, validates and relays.

import { existsSync } from 'node:fs';
import path from 'node:path';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance } from 'fastify';
import { StrataError } from '../errors.js';
import type { ModelCard } from '../models/types.js';
import type { ServeContext } from './context.js';
import { ApiError, toApiError } from './errors.js';
import { ModelHost } from './host.js';
import { ServerMetrics } from './metrics.js';
import { registerAudioRoutes } from './routes/audio.js';
import { registerChatRoute } from './routes/chat.js';
import { registerCompletionsRoute } from './routes/completions.js';
import { registerEmbeddingsRoute } from './routes/embeddings.js';
import { registerInfoRoutes } from './routes/info.js';

export interface ServeOptions {
  /** models to serve: a Hugging Face directory or a .gguf file each; id defaults to the file or folder name */
  models: { path: string; id?: string }[];
  /** default 127.0.0.1 */
  host?: string;
  /** default 8080; 0 picks a free port */
  port?: number;
  /** training runs the playground's dashboard shows */
  runsDir?: string;
  /** requests that may wait per model besides the one running (default 16); more get 429 */
  maxQueue?: number;
  /** largest request body (default 10 MB); larger gets 413 */
  maxBodyBytes?: number;
  /** most tokens one request may ask for (default: the model's context) */
  maxTokensLimit?: number;
  /** run each model in a worker thread (default true); false runs them in the HTTP thread */
  workers?: boolean;
}

export interface StrataServer {
  app: FastifyInstance;
  /** where the server listens (before listen(): where it will) */
  readonly url: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

const MB = 1024 * 1024;

type RegisterPlayground = (app: FastifyInstance, options: { runsDir?: string; models: { id: string; card: ModelCard; contextLength: number }[] }) => Promise<void>;

/** The web playground (playground.ts) when this build has it. */
async function playground(): Promise<RegisterPlayground | null> {
  const file = new URL(`./playground${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  if (!existsSync(file)) return null;
  const mod = (await import(file.href)) as { registerPlayground?: RegisterPlayground };
  return typeof mod.registerPlayground === 'function' ? mod.registerPlayground : null;
}

function modelId(p: string): string {
  return path.basename(path.resolve(p)).replace(/\.gguf$/i, '');
}

function checkOptions(o: ServeOptions): void {
  const op = 'serve';
  if (!Array.isArray(o.models) || o.models.length === 0) throw new StrataError('argument', op, 'no models to serve: give at least one model path');
  const positiveInt = (name: string, v: number | undefined, min: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new StrataError('argument', op, `${name} must be an integer >= ${min}, got ${v}`);
  };
  positiveInt('port', o.port, 0);
  if (o.port !== undefined && o.port > 65535) throw new StrataError('argument', op, `port must be at most 65535, got ${o.port}`);
  positiveInt('maxQueue', o.maxQueue, 0);
  positiveInt('maxBodyBytes', o.maxBodyBytes, 1);
  positiveInt('maxTokensLimit', o.maxTokensLimit, 1);
  const ids = new Set<string>();
  for (const m of o.models) {
    if (typeof m?.path !== 'string' || m.path === '') throw new StrataError('argument', op, 'every model needs a path');
    if (!existsSync(m.path)) throw new StrataError('io', m.path, 'no such model file or directory');
    const id = m.id ?? modelId(m.path);
    if (ids.has(id)) throw new StrataError('argument', op, `two models are called '${id}': give them distinct ids`);
    ids.add(id);
  }
}

/** Loads every model (each in its own worker) and builds the server; call listen() to open it. */
export async function createServer(options: ServeOptions): Promise<StrataServer> {
  checkOptions(options);
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? 10 * MB;
  const hosts = new Map<string, ModelHost>();
  const metrics = new ServerMetrics(() => [...hosts.values()].map((h) => h.queueState()));
  const hostOptions = { maxQueue: options.maxQueue ?? 16, useWorker: options.workers ?? true, metrics };
  const started = await Promise.allSettled(options.models.map((m) => ModelHost.start({ path: m.path, id: m.id ?? modelId(m.path) }, hostOptions)));
  for (const s of started) if (s.status === 'fulfilled') hosts.set(s.value.id, s.value);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all([...hosts.values()].map((h) => h.close()));
    throw failed.reason instanceof StrataError ? failed.reason : new StrataError('io', 'serve', failed.reason instanceof Error ? failed.reason.message : String(failed.reason));
  }

  const app = Fastify({
    bodyLimit: maxBodyBytes,
    forceCloseConnections: true,
    // a wrong type is the caller's mistake to hear about, not something to guess at
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  });
  const ctx: ServeContext = { hosts, maxTokensLimit: options.maxTokensLimit, maxBodyBytes, metrics, startedAt: Math.floor(Date.now() / 1000) };

  app.addHook('onRequest', (req, reply, done) => {
    const t0 = performance.now();
    reply.raw.once('close', () => metrics.observeRequest(req.routeOptions.url ?? 'unmatched', req.method, reply.raw.statusCode, (performance.now() - t0) / 1000));
    done();
  });
  app.setErrorHandler((err, req, reply) => {
    const e = toApiError(err, req.headers['content-type']);
    if (e.status >= 500) req.log.error(err);
    void reply.status(e.status).headers(e.headers).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError(404, `Unknown request URL: ${req.method} ${req.url.split('?')[0]}.`, { code: 'unknown_url' });
    void reply.status(404).send(e.body());
  });
  await app.register(multipart, { limits: { fileSize: maxBodyBytes, files: 1, fields: 16, parts: 24, fieldSize: MB } });

  registerInfoRoutes(app, ctx);
  registerChatRoute(app, ctx);
  registerCompletionsRoute(app, ctx);
  registerEmbeddingsRoute(app, ctx);
  registerAudioRoutes(app, ctx);
  const registerPlayground = await playground();
  if (registerPlayground) await registerPlayground(app, { runsDir: options.runsDir, models: [...hosts.values()].map((h) => ({ id: h.id, card: h.info.card, contextLength: h.info.contextLength })) });

  let url = `http://${host.includes(':') ? `[${host}]` : host}:${options.port ?? 8080}`;
  let closed = false;
  return {
    app,
    get url() {
      return url;
    },
    async listen() {
      url = await app.listen({ host, port: options.port ?? 8080 });
      return url;
    },
    async close() {
      if (closed) return;
      closed = true;
      // hosts first: their open jobs end (and their streams with them) before the sockets close
      await Promise.all([...hosts.values()].map((h) => h.close()));
      await app.close();
    },
  };
}
