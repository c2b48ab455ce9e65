// What every route of the server reads: the served models by id, the limits, the metrics.

import { modelNotFound } from './errors.js';
import type { ModelHost } from './host.js';
import type { ServerMetrics } from './metrics.js';

export interface ServeContext {
  hosts: ReadonlyMap<string, ModelHost>;
  /** most tokens one request may ask for (absent: the model's context bounds it) */
  maxTokensLimit?: number;
  maxBodyBytes: number;
  metrics: ServerMetrics;
  /** Unix seconds, the `created` of every served model */
  startedAt: number;
}

/** The host serving `model`; 404 model_not_found otherwise. */
export function hostFor(ctx: ServeContext, model: string): ModelHost {
  const host = ctx.hosts.get(model);
  if (!host) throw modelNotFound(model, [...ctx.hosts.keys()]);
  return host;
}
