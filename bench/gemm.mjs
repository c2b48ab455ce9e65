#!/usr/bin/env node
// fp32 GEMM throughput of Strata against onnxruntime-node and TF.js (wasm), in one run.
// Implementations are interleaved round by round (rotating who goes first) so that a noisy,
// shared machine slows all of them alike; each reports its best round (and the median).
//
//   node bench/gemm.mjs [--threads 2] [--quick] [--json] [--out results.json] [--rounds N]
//                       [--shapes 256x256x256,1x768x3072] [--only strata,ort,tfjs,jsloop]
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { loadJsLoop, loadOrt, loadStrata, loadTfjs } from './lib/impls.mjs';
import { fail, parseFlags } from './lib/common.mjs';

const FULL_SHAPES = ['256x256x256', '1024x1024x1024', '4096x4096x1024', '512x768x3072', '512x3072x768', '1x768x3072', '1x3072x768', '128x128x128'];
const QUICK_SHAPES = ['128x128x128', '256x256x256', '1x768x3072', '512x768x3072'];
const ALL_IMPLS = ['strata', 'ort', 'tfjs', 'jsloop'];

const USAGE = `usage: node bench/gemm.mjs [options]   (or: npm run bench -- [options])

  --threads N      threads for every implementation that can use them (default 2)
  --quick          fewer shapes and rounds, for a CI smoke run
  --rounds N       interleaved rounds per shape (default 5, quick 2)
  --shapes LIST    comma-separated MxNxK shapes instead of the default set
  --only LIST      comma-separated subset of: ${ALL_IMPLS.join(', ')}
  --json           print the results as one JSON document instead of the table
  --out FILE       also write the JSON results to FILE
  -h, --help       show this help`;


function positiveInt(name, value) {
  if (!/^\d+$/.test(value) || Number(value) < 1) fail(`--${name} expects a positive integer, got '${value}'`);
  return Number(value);
}

function parseShape(text) {
  const dims = text.trim().split('x');
  if (dims.length !== 3 || dims.some((d) => !/^\d+$/.test(d) || Number(d) < 1)) fail(`bad shape '${text}': expected MxNxK, e.g. 512x768x3072`);
  const [m, n, k] = dims.map(Number);
  if (4 * (m * k + k * n + m * n) > 2 * 1024 ** 3) fail(`shape ${text} needs more than 2 GiB of operands`);
  return { m, n, k };
}

function parseOptions() {
  const parsed = parseFlags(
    {
      threads: { type: 'string', default: '2' },
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      shapes: { type: 'string' },
    },
    USAGE,
  );
  const only = parsed.only ? parsed.only.split(',').map((s) => s.trim()) : ALL_IMPLS;
  for (const name of only) if (!ALL_IMPLS.includes(name)) fail(`--only: unknown implementation '${name}' (expected ${ALL_IMPLS.join(', ')})`);
  const quick = parsed.quick;
  return {
    threads: positiveInt('threads', parsed.threads),
    quick,
    rounds: parsed.rounds ? positiveInt('rounds', parsed.rounds) : quick ? 2 : 5,
    shapes: (parsed.shapes ? parsed.shapes.split(',') : quick ? QUICK_SHAPES : FULL_SHAPES).map(parseShape),
    only,
    json: parsed.json,
    out: parsed.out,
    // one timed round of one implementation lasts about this long (several calls when they are short)
    roundMs: quick ? 40 : 150,
    // an implementation slower than this per shape in total gets fewer rounds (the reference backend on big shapes)
    budgetMs: quick ? 2_000 : 8_000,
  };
}

/** Uniform values in [-1, 1) from a seeded xorshift32: the same inputs for every implementation and run. */
function randomArray(length, seed) {
  const out = new Float32Array(length);
  let s = (0x9e3779b9 * seed) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/** Largest error over sampled entries of C against an f64 dot product, relative to sum |a||b|. */
function checkOutput({ m, n, k, a, b }, c) {
  let worst = 0;
  for (let s = 0; s < 24; s++) {
    const i = (s * 7919) % m;
    const j = (s * 104729) % n;
    let dot = 0;
    let mag = 0;
    for (let p = 0; p < k; p++) {
      dot += a[i * k + p] * b[p * n + j];
      mag += Math.abs(a[i * k + p] * b[p * n + j]);
    }
    const err = Math.abs(c[i * n + j] - dot) / (mag + 1e-30);
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
  }
  return worst;
}

async function timeCalls(runner, calls) {
  const t0 = performance.now();
  if (runner.sync) for (let i = 0; i < calls; i++) runner.run();
  else for (let i = 0; i < calls; i++) await runner.run();
  return (performance.now() - t0) / calls;
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

async function benchShape(shape, impls, opts, log) {
  const { m, n, k } = shape;
  const problem = { ...shape, a: randomArray(m * k, 1), b: randomArray(k * n, 2) };
  const flop = 2 * m * n * k;
  const entries = [];
  for (const impl of impls.filter((x) => x.applies(shape))) {
    const runner = await impl.prepare(problem);
    // Warm up: one call to check the result, then calls until ~roundMs have passed (at least one more).
    const firstMs = await timeCalls(runner, 1);
    const error = checkOutput(problem, runner.output());
    if (!(error < 1e-3)) throw new Error(`${impl.label} computed a wrong ${m}x${n}x${k} product (relative error ${error})`);
    let estimateMs = firstMs;
    if (firstMs * (opts.rounds + 1) < opts.budgetMs) {
      const warmStart = performance.now();
      do estimateMs = Math.min(estimateMs, await timeCalls(runner, 1));
      while (performance.now() - warmStart < opts.roundMs);
    }
    const rounds = Math.max(1, Math.min(opts.rounds, Math.floor(opts.budgetMs / estimateMs)));
    const calls = Math.max(1, Math.round(opts.roundMs / estimateMs));
    entries.push({ impl, runner, rounds, calls, perCallMs: firstMs * (opts.rounds + 1) < opts.budgetMs ? [] : [firstMs], error });
  }
  for (let r = 0; r < opts.rounds; r++) {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[(i + r) % entries.length];
      if (e.perCallMs.length < e.rounds) e.perCallMs.push(await timeCalls(e.runner, e.calls));
    }
  }
  const result = { m, n, k, flop };
  for (const e of entries) {
    const bestMs = Math.min(...e.perCallMs);
    result[e.impl.name] = {
      gflops: round(flop / bestMs / 1e6, 2),
      medianGflops: round(flop / median(e.perCallMs) / 1e6, 2),
      ms: Number(bestMs.toPrecision(4)),
      rounds: e.perCallMs.length,
      callsPerRound: e.calls,
      maxRelError: Number(e.error.toExponential(2)),
    };
    await e.runner.dispose();
  }
  const s = result.strata?.gflops;
  result.ratios = {
    strataOverOrt: s && result.ort ? round(s / result.ort.gflops, 3) : null,
    strataOverTfjs: s && result.tfjs ? round(s / result.tfjs.gflops, 3) : null,
  };
  log(`  ${m}x${n}x${k}: ${entries.map((e) => `${e.impl.label} ${result[e.impl.name].gflops}`).join(', ')} GFLOPS`);
  return result;
}

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function formatTable(doc) {
  const cols = [
    ['shape (MxNxK)', (r) => `${r.m}x${r.n}x${r.k}`],
    ['Strata', (r) => r.strata?.gflops],
    ['ORT', (r) => r.ort?.gflops],
    ['TF.js', (r) => r.tfjs?.gflops],
    ['JS loop', (r) => r.jsloop?.gflops],
    ['Strata/ORT', (r) => r.ratios.strataOverOrt?.toFixed(2)],
    ['Strata/TF.js', (r) => r.ratios.strataOverTfjs?.toFixed(2)],
  ].filter(([, get]) => doc.results.some((r) => get(r) !== undefined && get(r) !== null));
  const rows = doc.results.map((r) => cols.map(([, get]) => {
    const v = get(r);
    return v === undefined || v === null ? '-' : typeof v === 'number' ? v.toFixed(1) : String(v);
  }));
  const widths = cols.map(([h], i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const { strata, ort, tfjs } = doc.implementations;
  const header = [
    `fp32 GEMM, GFLOPS (best of ${doc.rounds} interleaved rounds; higher is better) — ${doc.date}`,
    `machine: ${doc.machine.cpu}, ${doc.machine.cores} logical cores, Node ${doc.node}; requested threads: ${doc.threads}`,
    strata && `Strata ${strata.version}: ${strata.backend} backend, isa ${strata.isa}, ${strata.threads} thread(s)`,
    ort && `ORT ${ort.version}: cpu EP, intraOpNumThreads ${ort.intraOpNumThreads}`,
    tfjs && `TF.js ${tfjs.version}: ${tfjs.backend} backend, simd ${tfjs.simd}, ${tfjs.threads} thread(s) (multithreaded wasm unavailable in Node)`,
  ].filter(Boolean);
  return [...header, '', line(cols.map(([h]) => h)), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main() {
  const opts = parseOptions();
  const log = (text) => process.stderr.write(`${text}\n`);
  const loaders = { strata: () => loadStrata(opts.threads), ort: () => loadOrt(opts.threads), tfjs: () => loadTfjs(), jsloop: () => loadJsLoop() };
  const impls = [];
  for (const name of opts.only) impls.push(await loaders[name]());
  const strata = impls.find((x) => x.name === 'strata');
  if (strata && strata.info.backend !== 'native') {
    log('bench: warning: the native addon is not built, so Strata runs on its pure-TypeScript reference backend (slow);');
    log('bench: build it with `npm run build:native`. Slow implementations get fewer rounds.');
  }
  if (strata && strata.info.threads !== opts.threads) log(`bench: note: Strata runs ${strata.info.threads} thread(s), not ${opts.threads}`);
  const tfjs = impls.find((x) => x.name === 'tfjs');
  if (tfjs && tfjs.info.threads !== opts.threads) log(`bench: note: TF.js wasm runs ${tfjs.info.threads} thread(s), not ${opts.threads} (no multithreaded wasm in Node)`);

  log(`bench: ${opts.shapes.length} shapes x ${impls.map((x) => x.label).join(', ')}, ${opts.rounds} rounds`);
  const results = [];
  for (const shape of opts.shapes) results.push(await benchShape(shape, impls, opts, log));

  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const doc = {
    date: new Date().toISOString(),
    machine: { cpu, cores: os.availableParallelism(), platform: `${os.platform()}-${os.arch()}`, memoryGiB: round(os.totalmem() / 1024 ** 3, 1) },
    node: process.versions.node,
    threads: opts.threads,
    quick: opts.quick,
    rounds: opts.rounds,
    implementations: Object.fromEntries(impls.map((x) => [x.name, x.info])),
    results,
  };
  if (opts.out) writeFileSync(opts.out, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(opts.json ? `${JSON.stringify(doc)}\n` : `${formatTable(doc)}\n`);
}

main().then(
  // onnxruntime's and the wasm runtime's threads would keep the process alive.
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.STRATA_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  },
);
