// The playground's /api routes on a bare Fastify instance: run discovery, live metrics reads
// (appended lines, a torn last line, a file cut by a resumed run), the taxonomy, and run names
// that try to leave the runs folder.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerPlayground, WEB_DIST } from '../../src/serve/playground.js';
import { LLAMA_CARD } from '../../src/models/index.js';

let app: FastifyInstance;
let runsDir = '';
let outside = '';

const line = (step: number, extra: Record<string, number> = {}) => `${JSON.stringify({ step, loss: 5 - step / 10, lr: 1e-3, tokens_per_s: 1000 + step, elapsed_s: step, ...extra })}\n`;

before(async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-playground-'));
  runsDir = path.join(root, 'runs');
  outside = path.join(root, 'secret');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'metrics.jsonl'), line(1));
  fs.mkdirSync(path.join(runsDir, 'lm', 'checkpoints', 'step-000001'), { recursive: true });
  fs.writeFileSync(path.join(runsDir, 'lm', 'train_config.json'), JSON.stringify({ steps: 100, lr: 1e-3 }));
  fs.writeFileSync(path.join(runsDir, 'lm', 'metrics.jsonl'), line(1) + line(2) + line(3, { val_loss: 4.5, val_perplexity: 90 }));
  fs.mkdirSync(path.join(runsDir, 'spam', 'lora'), { recursive: true });
  fs.writeFileSync(path.join(runsDir, 'spam', 'lora', 'finetune_config.json'), JSON.stringify({ task: 'classification', method: 'lora' }));
  fs.mkdirSync(path.join(runsDir, 'spam', 'data'), { recursive: true });
  fs.mkdirSync(path.join(runsDir, 'my run'));
  fs.writeFileSync(path.join(runsDir, 'my run', 'metrics.jsonl'), line(7));
  fs.mkdirSync(path.join(runsDir, '.hidden'));
  fs.writeFileSync(path.join(runsDir, '.hidden', 'metrics.jsonl'), line(1));
  fs.symlinkSync(outside, path.join(runsDir, 'spam', 'link-out'));
  app = Fastify();
  await registerPlayground(app, { runsDir, models: [{ id: 'tiny', card: LLAMA_CARD }] });
  await app.ready();
});

after(async () => {
  await app?.close();
});

async function get(url: string) {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: String(res.headers['content-type']).includes('json') ? res.json() : res.body };
}

describe('playground API', () => {
  test('GET /api/runs lists nested run folders with kind, task, last step and loss', async () => {
    const { status, body } = await get('/api/runs');
    assert.equal(status, 200);
    assert.equal(body.runs_dir, runsDir);
    const byName = new Map(body.data.map((r: { name: string }) => [r.name, r]));
    // a symlinked run is the operator's choice and is followed; hidden folders are not runs
    assert.deepEqual([...byName.keys()].sort(), ['lm', 'my run', 'spam/link-out', 'spam/lora']);
    const lm = byName.get('lm') as Record<string, unknown>;
    assert.equal(lm.kind, 'pretrain');
    assert.equal(lm.last_step, 3);
    assert.equal(lm.last_loss, 4.7);
    assert.equal(lm.last_val_loss, 4.5);
    assert.equal(lm.total_steps, 100);
    assert.ok(!Number.isNaN(Date.parse(lm.updated as string)));
    const lora = byName.get('spam/lora') as Record<string, unknown>;
    assert.equal(lora.kind, 'finetune');
    assert.equal(lora.task, 'classification · lora');
    assert.equal(lora.last_step, null);
    const spaced = await get('/api/runs/my%20run/metrics');
    assert.deepEqual(spaced.body.data.map((r: { step: number }) => r.step), [7]);
    assert.equal(spaced.body.kind, 'run');
  });

  test('metrics: everything, then only lines appended after a step; a torn line waits for its newline', async () => {
    const all = await get('/api/runs/lm/metrics');
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.data.map((r: { step: number }) => r.step), [1, 2, 3]);
    assert.equal(all.body.config.steps, 100);
    assert.equal(all.body.data[2].val_perplexity, 90);
    const file = path.join(runsDir, 'lm', 'metrics.jsonl');
    fs.appendFileSync(file, line(4) + line(5).slice(0, 20));
    const next = await get('/api/runs/lm/metrics?after=3&count=3');
    assert.equal(next.body.reset, false);
    assert.deepEqual(next.body.data.map((r: { step: number }) => r.step), [4]);
    assert.equal(next.body.count, 4);
    fs.appendFileSync(file, line(5).slice(20));
    const rest = await get(`/api/runs/lm/metrics?after=4&count=4&epoch=${next.body.epoch}`);
    assert.equal(rest.body.reset, false);
    assert.deepEqual(rest.body.data.map((r: { step: number }) => r.step), [5]);
    assert.equal(rest.body.last_step, 5);
    assert.equal(rest.body.epoch, all.body.epoch);
  });

  test('metrics: a file cut back by a resumed run is sent again whole, flagged reset', async () => {
    const file = path.join(runsDir, 'lm', 'metrics.jsonl');
    const { epoch } = (await get('/api/runs/lm/metrics')).body;
    fs.writeFileSync(file, line(1) + line(2));
    fs.appendFileSync(file, line(3, { loss: 9 }) + line(4, { loss: 9 }) + line(5, { loss: 9 }) + line(6));
    // rewritten between two polls and already longer than before: still read from the start
    const res = await get(`/api/runs/lm/metrics?after=5&count=5&epoch=${epoch}`);
    assert.equal(res.body.reset, true);
    assert.deepEqual(res.body.data.map((r: { step: number; loss: number }) => [r.step, r.loss]), [[1, 4.9], [2, 4.8], [3, 9], [4, 9], [5, 9], [6, 4.4]]);
    fs.writeFileSync(file, line(1) + line(2));
    // cut and not yet longer than the steps the client holds: the count tells, even without an epoch
    const cut = await get('/api/runs/lm/metrics?after=6&count=6');
    assert.equal(cut.body.reset, true);
    assert.deepEqual(cut.body.data.map((r: { step: number }) => r.step), [1, 2]);
    const same = await get(`/api/runs/lm/metrics?after=2&count=2&epoch=${cut.body.epoch}`);
    assert.equal(same.body.reset, false);
    assert.deepEqual(same.body.data, []);
  });

  test('run names that leave the runs folder or are not runs: 400 or 404 in the OpenAI error shape', async () => {
    // a '..' segment (plain or percent-encoded) is resolved by the router before any route sees it
    for (const name of ['..', '%2E%2E']) assert.equal((await get(`/api/runs/${name}/metrics`)).status, 404);
    for (const name of ['..%2Fsecret', '%2E%2E%2Fsecret', 'lm%2F..%2F..%2Fsecret', '%2Fetc', '.hidden', 'a%5Cb', 'lm%00', 'spam%2Flink-out%2F..%2F..%2F..%2Fsecret']) {
      const { status, body } = await get(`/api/runs/${name}/metrics`);
      assert.ok(status === 400 || status === 404, `${name}: ${status}`);
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], name);
    }
    const traversal = await get('/api/runs/..%2Fsecret/metrics');
    assert.equal(traversal.status, 400);
    assert.equal(traversal.body.error.code, 'invalid_run_name');
    const missing = await get('/api/runs/nope/metrics');
    assert.equal(missing.status, 404);
    assert.deepEqual(Object.keys(missing.body.error).sort(), ['code', 'message', 'param', 'type']);
    const notRun = await get('/api/runs/spam%2Fdata/metrics');
    assert.equal(notRun.status, 404);
    const bad = await get('/api/runs/lm/metrics?after=x');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'after');
  });

  test('GET /api/taxonomy has one row per family, computed from the registered cards', async () => {
    const { status, body } = await get('/api/taxonomy');
    assert.equal(status, 200);
    assert.deepEqual(body.data.map((r: { family: string }) => r.family), ['large-language', 'foundation', 'multi-modal']);
    assert.ok(body.data[0].model_types.includes('llama'));
  });

  test('GET /api/models gives the served cards; / serves the built page or says how to build it', async () => {
    const models = await get('/api/models');
    assert.equal(models.body.data[0].id, 'tiny');
    assert.deepEqual(models.body.data[0].card.inputModalities, ['text']);
    const page = await get('/');
    assert.equal(page.status, 200);
    if (fs.existsSync(path.join(WEB_DIST, 'index.html'))) {
      assert.match(page.body as string, /<div id="app">/);
      const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(page.body as string)![1];
      const asset = await app.inject({ method: 'GET', url: `/${script}` });
      assert.equal(asset.statusCode, 200);
      assert.match(String(asset.headers['cache-control']), /immutable/);
      assert.equal((await app.inject({ method: 'GET', url: '/' })).headers['cache-control'], 'no-cache');
    } else {
      assert.match(page.body as string, /npm run build:web/);
    }
    const redirect = await app.inject({ method: 'GET', url: '/playground' });
    assert.equal(redirect.statusCode, 302);
  });

  test('without a runs folder the list is empty and a run is 404', async () => {
    const bare = Fastify();
    await registerPlayground(bare, { models: [] });
    const list = await bare.inject('/api/runs');
    assert.deepEqual(list.json(), { object: 'list', runs_dir: null, data: [] });
    const run = await bare.inject('/api/runs/lm/metrics');
    assert.equal(run.statusCode, 404);
    assert.match(run.json().error.message, /--runs/);
    await bare.close();
  });
});
