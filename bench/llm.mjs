#!/usr/bin/env node
// LLM decode and prefill throughput of Strata against node-llama-cpp (llama.cpp) on the same GGUF
// files: a random-weight LLaMA of GPT-2-small size (dim 768, 12 layers, 12 heads, 4 KV heads,
// ffn 2048, vocab 32000) written by Strata's own GGUF writer in Q8_0 and F32, plus Strata's peak
// resident memory while decoding against the file size.
//
// Each runtime lives in its own child process (bench/lib/llm-worker.mjs); the parent interleaves
// them round by round, alternating who goes first, and keeps each one's best round.
//
//   node bench/llm.mjs [--threads 2] [--rounds 3] [--dtypes q8_0,f32] [--only strata,llamacpp]
//                      [--quick] [--no-rss] [--json] [--out FILE]
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitReport, fail, fmt, log, machine, median, positiveInt, repoRoot, round, strataBuild, describeBuild, runIfMain, table, parseFlags } from './lib/common.mjs';
import { LLM_CONFIG, LLM_DTYPES, ensureLlmFiles } from './lib/llm-model.mjs';
import { promptIds } from './lib/llm-worker.mjs';
import { Worker, cpuBusy, sleep, watchOthers } from './lib/workers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(here, 'lib', 'llm-worker.mjs');
const RSS_HOOK = path.join(here, 'lib', 'peak-rss-hook.mjs');
const RUNTIMES = { strata: 'Strata', llamacpp: 'llama.cpp' };
const TARGETS = { decode: 1.2, prefill: 1.0, rss: 1.3 };

const USAGE = `usage: node bench/llm.mjs [options]   (or: npm run bench -- --only llm [options])

  --threads N         threads for both runtimes (default 2)
  --rounds N          interleaved rounds per file (default 5, quick 1)
  --dtypes LIST       stored types to run, of: ${LLM_DTYPES.join(', ')} (default all; quick q8_0)
  --only LIST         runtimes, of: ${Object.keys(RUNTIMES).join(', ')} (default both)
  --prompt-tokens N   prompt length before decoding (default 8)
  --decode-tokens N   new tokens per decode run (default 128, quick 32)
  --prefill-tokens N  prompt length of the prefill run (default 256, quick 64)
  --quick             one round, Q8_0 only, shorter runs (a smoke test)
  --no-rss            skip the peak-RSS measurement
  --json              print the results as one JSON document instead of the tables
  --out FILE          also write the JSON results to FILE
  -h, --help          show this help`;

function parseOptions(argv) {
  const v = parseFlags(
    {
      threads: { type: 'string', default: '2' },
      rounds: { type: 'string' },
      dtypes: { type: 'string' },
      'prompt-tokens': { type: 'string', default: '8' },
      'decode-tokens': { type: 'string' },
      'prefill-tokens': { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-rss': { type: 'boolean', default: false },
    },
    USAGE, argv,
  );
  const list = (text, all, what) => {
    const items = text ? text.split(',').map((s) => s.trim()).filter(Boolean) : all;
    for (const x of items) if (!all.includes(x)) fail(`--${what}: unknown '${x}' (expected ${all.join(', ')})`);
    return items;
  };
  const q = v.quick;
  const o = {
    threads: positiveInt('threads', v.threads),
    rounds: v.rounds ? positiveInt('rounds', v.rounds) : q ? 1 : 5,
    dtypes: list(v.dtypes ?? (q ? 'q8_0' : undefined), LLM_DTYPES, 'dtypes'),
    runtimes: list(v.only, Object.keys(RUNTIMES), 'only'),
    promptTokens: positiveInt('prompt-tokens', v['prompt-tokens']),
    decodeTokens: positiveInt('decode-tokens', v['decode-tokens'] ?? (q ? '32' : '128')),
    prefillTokens: positiveInt('prefill-tokens', v['prefill-tokens'] ?? (q ? '64' : '256')),
    quick: q,
    rss: !v['no-rss'],
    json: v.json,
    out: v.out,
  };
  if (o.decodeTokens < 2) fail('--decode-tokens must be at least 2 (the decode rate leaves out the first token)');
  if (o.promptTokens + o.decodeTokens > LLM_CONFIG.max_position_embeddings || o.prefillTokens + 1 > LLM_CONFIG.max_position_embeddings) {
    fail(`prompt + new tokens must fit the model's context of ${LLM_CONFIG.max_position_embeddings}`);
  }
  return o;
}

async function startWorkers(runtimes, file, threads) {
  const workers = {};
  const skipped = {};
  for (const rt of runtimes) {
    try {
      workers[rt] = await Worker.start(WORKER, ['serve', rt, file, String(threads)], { label: `${RUNTIMES[rt]} worker` });
    } catch (err) {
      // a missing peer is reported and left out; Strata itself failing is an error
      if (rt === 'strata') throw err;
      skipped[rt] = err.message;
      log(`bench: skipping ${RUNTIMES[rt]}: ${err.message}`);
    }
  }
  return { workers, skipped };
}

/** Peak RSS of a fresh process that loads `file` and decodes once (nothing else in it). */
function measureRss(runtime, file, o) {
  const out = execFileSync(process.execPath, [WORKER, 'rss', runtime, file, String(o.threads), String(o.promptTokens), String(o.decodeTokens)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').at(-1));
}

/**
 * Peak RSS of `strata generate` itself (bin/strata.js, as a user runs it) on `file`: the same
 * prompt ids and greedy decode as the worker, with everything the CLI imports and prints.
 */
function measureCliRss(file, o) {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-bench-rss-'));
  const out = path.join(dir, 'rss.json');
  try {
    const args = ['--import', RSS_HOOK, path.join(repoRoot, 'bin', 'strata.js'), 'generate', '--model', file, '--prompt-ids', promptIds(o.promptTokens).join(','), '--max-tokens', String(o.decodeTokens), '--temperature', '0', '--threads', String(o.threads), '--json'];
    const stdout = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, STRATA_BENCH_RSS_OUT: out } });
    const { peakRss } = JSON.parse(readFileSync(out, 'utf8'));
    const line = JSON.parse(stdout.trim().split('\n').at(-1));
    return { peakRss, tokens: line.tokens.length, decodeTokensPerSecond: line.timings.decode_tokens_per_s };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchFile(dtype, file, o) {
  const fileBytes = statSync(file).size;
  log(`bench: ${path.basename(file)} (${(fileBytes / 1e6).toFixed(1)} MB): ${o.rounds} round(s) of decode (${o.promptTokens}+${o.decodeTokens} tokens) and prefill (${o.prefillTokens} tokens)`);
  const { workers, skipped } = await startWorkers(o.runtimes, file, o.threads);
  const names = Object.keys(workers);
  const samples = Object.fromEntries(names.map((n) => [n, { decode: [], prefill: [], tokens: null }]));
  try {
    // warm-up: page the weights in, let the JIT and thread pools settle
    for (const n of names) {
      await workers[n].call('decode', { promptLength: o.promptTokens, newTokens: Math.min(16, o.decodeTokens) });
      await workers[n].call('prefill', { promptLength: Math.min(64, o.prefillTokens), salt: 99 });
    }
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 ? [...names].reverse() : names;
      for (const n of order) {
        await sleep(100); // let the other runtime's threads go idle
        const d = await workers[n].call('decode', { promptLength: o.promptTokens, newTokens: o.decodeTokens });
        samples[n].decode.push(d.tokensPerSecond);
        samples[n].tokens ??= d.tokens;
      }
      for (const n of order) {
        await sleep(100);
        const p = await workers[n].call('prefill', { promptLength: o.prefillTokens, salt: r });
        samples[n].prefill.push(p.tokensPerSecond);
      }
      log(`  round ${r + 1}: ${names.map((n) => `${RUNTIMES[n]} decode ${samples[n].decode.at(-1).toFixed(1)}, prefill ${samples[n].prefill.at(-1).toFixed(0)} tok/s`).join('; ')}`);
    }
  } finally {
    for (const n of names) await workers[n].close();
  }
  const result = { dtype, file: path.basename(file), fileBytes, skipped, runtimes: {} };
  for (const n of names) {
    const s = samples[n];
    result.runtimes[n] = {
      info: workers[n].info,
      decodeTokensPerSecond: round(Math.max(...s.decode), 2),
      decodeMedian: round(median(s.decode), 2),
      prefillTokensPerSecond: round(Math.max(...s.prefill), 1),
      prefillMedian: round(median(s.prefill), 1),
      rounds: s.decode.length,
    };
  }
  if (samples.strata?.tokens && samples.llamacpp?.tokens) {
    const a = samples.strata.tokens;
    const b = samples.llamacpp.tokens;
    const first = a.findIndex((t, i) => t !== b[i]);
    // JSON only: with random weights the logits are nearly flat, so near-ties (and llama.cpp's f16
    // KV cache) make the two greedy continuations part after a varying number of tokens
    result.greedyAgreement = first < 0 ? Math.min(a.length, b.length) : first;
  }
  if (o.rss) {
    for (const n of names) {
      const m = measureRss(n, file, o);
      result.runtimes[n].memory = { ...m, peakOverFile: round(m.peakRss / fileBytes, 3), modelPeakOverFile: round((m.peakRss - m.rssBeforeLoad) / fileBytes, 3) };
      log(`  ${RUNTIMES[n]} peak RSS ${(m.peakRss / 1e6).toFixed(0)} MB (${(m.peakRss / fileBytes).toFixed(2)}x the file; ${(m.rssBeforeLoad / 1e6).toFixed(0)} MB before loading)`);
    }
    if (result.runtimes.strata) {
      const c = measureCliRss(file, o);
      result.runtimes.strata.cliMemory = { ...c, peakOverFile: round(c.peakRss / fileBytes, 3) };
      log(`  strata generate peak RSS ${(c.peakRss / 1e6).toFixed(0)} MB (${(c.peakRss / fileBytes).toFixed(2)}x the file; ${c.tokens} tokens, decoded at ${c.decodeTokensPerSecond.toFixed(1)} tok/s)`);
    }
  }
  const s = result.runtimes.strata;
  const l = result.runtimes.llamacpp;
  result.ratios = {
    decode: s && l ? round(s.decodeTokensPerSecond / l.decodeTokensPerSecond, 3) : null,
    prefill: s && l ? round(s.prefillTokensPerSecond / l.prefillTokensPerSecond, 3) : null,
  };
  return result;
}

const MB = (b) => (b / 1e6).toFixed(0);
const met = (x, target) => (x === null || x === undefined ? null : x >= target ? 'yes' : 'no');

export function formatLlm(doc) {
  const lines = [];
  const s0 = doc.results[0]?.runtimes.strata?.info;
  const l0 = doc.results.find((r) => r.runtimes.llamacpp)?.runtimes.llamacpp?.info;
  lines.push(`LLM decode/prefill, tokens/s (best of ${doc.rounds} interleaved round(s); higher is better) — ${doc.date}`);
  lines.push(`machine: ${doc.machine.cpu}, ${doc.machine.cores} logical cores, Node ${doc.machine.node}; threads: ${doc.threads}${doc.cpuBusyBefore !== null ? `; CPU busy before the run: ${(doc.cpuBusyBefore * 100).toFixed(0)}%` : ''}${doc.cpuOthersDuring !== null ? `, used by other processes during it: ${(doc.cpuOthersDuring * 100).toFixed(0)}%` : ''}`);
  lines.push(`model: random LLaMA, dim 768, 12 layers, 12 heads / 4 KV heads, ffn 2048, vocab 32000, written by Strata's GGUF writer`);
  lines.push(`decode: greedy, ${doc.decodeTokens} new tokens after a ${doc.promptTokens}-token prompt, steady state (first token excluded); prefill: ${doc.prefillTokens}-token prompt to first token`);
  if (s0) lines.push(`${describeBuild(doc.strata)}: ${s0.threads} thread(s), f32 KV cache`);
  if (l0) lines.push(`node-llama-cpp ${l0.version}: ${l0.threads} thread(s), CPU, KV cache ${l0.kvCacheKeyType}/${l0.kvCacheValueType}, flash attention ${l0.flashAttention} (llama.cpp defaults), context ${l0.contextSize}, batch ${l0.batchSize}`);
  lines.push('');
  const rows = [];
  for (const r of doc.results) {
    const s = r.runtimes.strata;
    const l = r.runtimes.llamacpp;
    rows.push([`${r.dtype} decode`, fmt(s?.decodeTokensPerSecond), fmt(l?.decodeTokensPerSecond), fmt(r.ratios.decode, 2), `>= ${TARGETS.decode}`, met(r.ratios.decode, TARGETS.decode)]);
    rows.push([`${r.dtype} prefill`, fmt(s?.prefillTokensPerSecond, 0), fmt(l?.prefillTokensPerSecond, 0), fmt(r.ratios.prefill, 2), `>= ${TARGETS.prefill}`, met(r.ratios.prefill, TARGETS.prefill)]);
  }
  lines.push(table(['file / phase', 'Strata', 'llama.cpp', 'Strata/llama.cpp', 'target', 'met'], rows));
  const withMem = doc.results.filter((r) => r.runtimes.strata?.memory);
  if (withMem.length) {
    lines.push('');
    lines.push('peak RSS while decoding (fresh process: load the file, decode once), MB; x = multiple of the file size');
    lines.push('');
    const memRows = withMem.map((r) => {
      const s = r.runtimes.strata.memory;
      const l = r.runtimes.llamacpp?.memory;
      const c = r.runtimes.strata.cliMemory;
      return [r.dtype, MB(r.fileBytes), MB(s.peakRss), fmt(s.peakOverFile, 2), MB(s.peakRss - s.rssBeforeLoad), fmt(s.modelPeakOverFile, 2), c ? MB(c.peakRss) : null, c ? fmt(c.peakOverFile, 2) : null, l ? MB(l.peakRss) : null, l ? fmt(l.peakOverFile, 2) : null, `<= ${TARGETS.rss}`, s.peakOverFile <= TARGETS.rss ? 'yes' : 'no', c ? (c.peakOverFile <= TARGETS.rss ? 'yes' : 'no') : null];
    });
    lines.push(table(['file', 'file MB', 'Strata peak', 'x', 'Strata peak - pre-load', 'x', 'strata generate peak', 'x', 'llama.cpp peak', 'x', 'target', 'met (library)', 'met (CLI)'], memRows));
  }
  for (const r of doc.results) for (const [n, why] of Object.entries(r.skipped)) lines.push(`${RUNTIMES[n]} skipped on ${r.dtype}: ${why}`);
  return lines.join('\n');
}

export async function runLlm(argv) {
  const o = parseOptions(argv);
  const busy = await cpuBusy(1000);
  if (busy !== null && busy > 0.25) log(`bench: warning: the CPUs were ${(busy * 100).toFixed(0)}% busy before the run; figures will be noisy`);
  const files = await ensureLlmFiles(o.dtypes);
  const others = watchOthers();
  const results = [];
  for (const d of o.dtypes) results.push(await benchFile(d, files[d], o));
  const othersBusy = others.stop();
  const doc = {
    suite: 'llm',
    date: new Date().toISOString(),
    machine: machine(),
    cpuBusyBefore: busy === null ? null : round(busy, 3),
    // share of all CPU time during the run used by other processes (not this benchmark's)
    cpuOthersDuring: othersBusy === null ? null : round(othersBusy, 3),
    strata: strataBuild(),
    threads: o.threads,
    rounds: o.rounds,
    promptTokens: o.promptTokens,
    decodeTokens: o.decodeTokens,
    prefillTokens: o.prefillTokens,
    model: LLM_CONFIG,
    targets: TARGETS,
    results,
  };
  return emitReport(doc, o, formatLlm, othersBusy);
}

runIfMain(import.meta.url, runLlm);
