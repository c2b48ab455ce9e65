// The queue and the worker: 429 past the bound, a client that goes away cancels its generation
// (running or queued), the HTTP loop answers while a model works, /health and /metrics.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createServer, type StrataServer } from '../../src/serve/server.js';
import { writeServeModels, type ServeModels } from './models.js';

let models: ServeModels;
let server: StrataServer;
let url = '';
let client: OpenAI;

before(async () => {
  models = writeServeModels(4096);
  server = await createServer({ models: [{ path: models.llama, id: 'tiny-llama' }], port: 0, maxQueue: 1 });
  url = await server.listen();
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(() => server.close());

/** A generation long enough to still run while the test looks at it (seconds on this model). */
const SLOW = { model: 'tiny-llama', messages: [{ role: 'user' as const, content: 'Go on forever' }], max_tokens: 4000, temperature: 0 };

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function health(): Promise<{ status: string; models: { id: string; waiting: number; active: number }[] }> {
  return (await (await fetch(`${url}/health`)).json()) as never;
}

async function until(what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const cancelled = () => metric('strata_generations_total', 'model="tiny-llama",outcome="cancelled"');

describe('strata serve: queue, cancellation, health, metrics', () => {
  test('a full queue answers 429; closing a stream cancels it, running or queued; the next request is served promptly', async () => {
    const before = await cancelled();
    const abortA = new AbortController();
    const a = await client.chat.completions.create({ ...SLOW, stream: true }, { signal: abortA.signal });
    const itA = a[Symbol.asyncIterator]();
    await itA.next();
    await itA.next();
    // the HTTP loop answers while the worker generates
    const t0 = performance.now();
    assert.equal((await health()).models[0]!.active, 1);
    assert.ok(performance.now() - t0 < 1000, 'health answered within a second during generation');

    const abortB = new AbortController();
    const b = client.chat.completions.create({ ...SLOW, stream: true }, { signal: abortB.signal });
    b.catch(() => {});
    await until('B to queue', async () => (await health()).models[0]!.waiting === 1);
    await assert.rejects(
      client.chat.completions.create({ ...SLOW, max_tokens: 2 }),
      (e: unknown) => e instanceof OpenAI.RateLimitError && e.status === 429 && e.code === 'queue_full' && e.headers.get('retry-after') === '1',
    );
    assert.equal(await metric('strata_requests_rejected_total', 'model="tiny-llama"'), 1);
    assert.equal(await metric('strata_queue_depth_max', 'model="tiny-llama"'), 1);

    abortB.abort();
    await until('B to leave the queue', async () => (await health()).models[0]!.waiting === 0);
    assert.equal(await cancelled(), before + 1);
    abortA.abort();
    await until('A to stop', async () => (await cancelled()) === before + 2 && (await health()).models[0]!.active === 0);

    const t1 = performance.now();
    const next = await client.chat.completions.create({ ...SLOW, max_tokens: 3 });
    assert.equal(next.choices.length, 1);
    assert.ok(performance.now() - t1 < 3000, `the next request took ${performance.now() - t1} ms`);
  });

  test('a client that drops a non-streaming request cancels it too', async () => {
    const before = await cancelled();
    const abort = new AbortController();
    const p = client.chat.completions.create(SLOW, { signal: abort.signal });
    p.catch(() => {});
    await until('it to run', async () => (await health()).models[0]!.active === 1);
    abort.abort();
    await until('it to be cancelled', async () => (await cancelled()) === before + 1 && (await health()).models[0]!.active === 0);
  });

  test('GET /health', async () => {
    const h = await health();
    assert.equal(h.status, 'ok');
    assert.deepEqual(h.models.map((m) => [m.id, m.waiting, m.active]), [['tiny-llama', 0, 0]]);
  });

  test('GET /metrics is Prometheus text: HELP and TYPE per family, well-formed samples, cumulative buckets', async () => {
    const r = await fetch(`${url}/metrics`);
    assert.match(r.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    assert.ok(text.endsWith('\n'));
    const typed = new Map<string, string>();
    const buckets = new Map<string, number[]>();
    for (const line of text.trimEnd().split('\n')) {
      const t = /^# TYPE ([a-z_]+) (counter|gauge|histogram)$/.exec(line);
      if (t) typed.set(t[1]!, t[2]!);
      if (line.startsWith('#')) {
        assert.match(line, /^# (HELP|TYPE) [a-z_]+ .+$/);
        continue;
      }
      const m = /^([a-z_]+?)(_bucket|_sum|_count)?(\{(?:[a-z_]+="[^"]*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line);
      assert.ok(m, `bad sample line: ${line}`);
      const family = typed.has(m[1]!) ? m[1]! : `${m[1]}${m[2] ?? ''}`;
      assert.ok(typed.has(family), `sample without # TYPE: ${line}`);
      if (m[2] === '_bucket') {
        const key = m[3]!.replace(/,?le="[^"]*"/, '');
        const list = buckets.get(key) ?? [];
        list.push(Number(m[4]));
        buckets.set(key, list);
      }
    }
    for (const [key, counts] of buckets) for (let i = 1; i < counts.length; i++) assert.ok(counts[i]! >= counts[i - 1]!, `buckets of ${key} not cumulative`);
    for (const name of ['strata_http_requests_total', 'strata_generated_tokens_total', 'strata_prompt_tokens_total', 'strata_generations_total']) assert.equal(typed.get(name), 'counter', name);
    for (const name of ['strata_queue_depth', 'strata_active_requests', 'process_resident_memory_bytes']) assert.equal(typed.get(name), 'gauge', name);
    assert.equal(typed.get('strata_http_request_duration_seconds'), 'histogram');
    assert.ok((await metric('strata_generated_tokens_total', 'model="tiny-llama"')) > 0);
    assert.ok((await metric('strata_http_requests_total', 'route="/v1/chat/completions",method="POST",status="429"')) === 1);
    assert.match(text, /strata_http_request_duration_seconds_count\{route="\/v1\/chat\/completions"\} \d+/);
  });

  test('workers: false runs the model in the HTTP thread with the same results', async () => {
    const inProcess = await createServer({ models: [{ path: models.llama, id: 'tiny-llama' }], port: 0, workers: false });
    try {
      const local = new OpenAI({ baseURL: `${await inProcess.listen()}/v1`, apiKey: 'unused', maxRetries: 0 });
      const params = { model: 'tiny-llama', messages: [{ role: 'user' as const, content: 'Same either way?' }], max_tokens: 12, temperature: 0.8, seed: 9 };
      const [x, y] = [await local.chat.completions.create(params), await client.chat.completions.create(params)];
      assert.equal(x.choices[0]!.message.content, y.choices[0]!.message.content);
    } finally {
      await inProcess.close();
    }
  });
});
