// ModelHost on its own: a worker that dies fails the jobs it held with a 500 (never a hang), comes
// back by itself, and serves the next job.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../src/serve/errors.js';
import { ModelHost } from '../../src/serve/host.js';
import { ServerMetrics } from '../../src/serve/metrics.js';
import { writeServeModels } from './models.js';

async function drain(job: ReturnType<ModelHost['generate']>): Promise<string[]> {
  const seen: string[] = [];
  for await (const e of job.events) seen.push(e.type);
  return seen;
}

describe('ModelHost', () => {
  test('a worker that dies: its jobs fail with 500, queued ones too, and it restarts', async () => {
    const models = writeServeModels(4096);
    const metrics = new ServerMetrics(() => []);
    const host = await ModelHost.start({ path: models.llama, id: 'm' }, { maxQueue: 4, useWorker: true, metrics });
    try {
      const [prompt] = await host.prepare([{ text: 'Hello' }]);
      const running = host.generate([prompt!], 1, { maxTokens: 4000, temperature: 0 });
      const queued = host.generate([prompt!], 1, { maxTokens: 4, temperature: 0 });
      const it = running.events[Symbol.asyncIterator]();
      assert.equal((await it.next()).value?.type, 'started');
      // kill the worker thread under the running job
      await (host as unknown as { transport: { close(): Promise<void> } }).transport.close();
      await assert.rejects(
        (async () => {
          for (;;) if ((await it.next()).done) return;
        })(),
        (e: unknown) => e instanceof ApiError && e.status === 500 && /worker of model 'm' stopped/.test(e.message),
      );
      await assert.rejects(drain(queued), (e: unknown) => e instanceof ApiError && e.status === 500);
      assert.equal(metrics.generations.get({ model: 'm', outcome: 'failed' }), 2);

      // back after the restart delay
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          const seen = await drain(host.generate([prompt!], 1, { maxTokens: 3, temperature: 0 }));
          assert.deepEqual([seen[0], seen.at(-1)], ['started', 'done']);
          break;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      await host.close();
    }
  });
});
