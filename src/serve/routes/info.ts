// GET /v1/models (with each model's card), /health and /metrics.

import type { FastifyInstance } from 'fastify';
import { cardJson } from '../../models/cards.js';
import { type ServeContext, hostFor } from '../context.js';
import type { ModelHost } from '../host.js';

function modelJson(ctx: ServeContext, host: ModelHost) {
  return { id: host.id, object: 'model', created: ctx.startedAt, owned_by: 'strata', card: cardJson(host.info.card) };
}

export function registerInfoRoutes(app: FastifyInstance, ctx: ServeContext): void {
  app.get('/v1/models', async () => ({ object: 'list', data: [...ctx.hosts.values()].map((h) => modelJson(ctx, h)) }));

  app.get<{ Params: { model: string } }>('/v1/models/:model', async (req) => modelJson(ctx, hostFor(ctx, req.params.model)));

  app.get('/health', async () => ({
    status: 'ok',
    models: [...ctx.hosts.values()].map((h) => {
      const q = h.queueState();
      return { id: h.id, architecture: h.info.architecture, waiting: q.waiting, active: q.active, max_waiting: q.maxWaiting };
    }),
  }));

  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render()));
}
