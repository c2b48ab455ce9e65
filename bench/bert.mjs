#!/usr/bin/env node
// Encoder throughput: a random-weight BERT-base (12 layers, hidden 768, 12 heads, intermediate
// 3072, vocab 30522) forward on batch 8 x 128 tokens, Strata against onnxruntime-node running the
// same weights exported to ONNX from a plain-PyTorch reference (scripts/bench/export_bert_onnx.py).
//
// Strata writes the weights (createModel + saveModel) once into the cache directory; PyTorch reads
// that model.safetensors and exports model.onnx beside it. Each runtime runs in its own child
// process (bench/lib/bert-worker.mjs); rounds interleave them, alternating who goes first, and each
// keeps its best round. Before timing, the two outputs are compared.
//
//   node bench/bert.mjs [--threads 1,2] [--rounds 3] [--batch 8] [--seq 128] [--only strata,ort]
//                       [--quick] [--json] [--out FILE]

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitReport, fail, fmt, log, machine, median, positiveInt, round, strataBuild, describeBuild, runIfMain, table, parseFlags } from './lib/common.mjs';
import { BERT_CONFIG, PYTHON, ensureBertDir, ensureBertOnnx } from './lib/bert-model.mjs';
import { Worker, cpuBusy, sleep, watchOthers } from './lib/workers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(here, 'lib', 'bert-worker.mjs');
const RUNTIMES = { strata: 'Strata', ort: 'ORT' };
const TARGET = 1.0;

const USAGE = `usage: node bench/bert.mjs [options]   (or: npm run bench -- --only bert [options])

  --threads LIST   comma-separated thread counts, one table row each (default 1,2; quick 2)
  --rounds N       interleaved rounds per thread count (default 5, quick 1)
  --batch N        sequences per forward pass (default 8)
  --seq N          tokens per sequence (default 128; at most 512)
  --only LIST      runtimes, of: ${Object.keys(RUNTIMES).join(', ')} (default both)
  --quick          one round, 2 threads only (a smoke test)
  --json           print the results as one JSON document instead of the table
  --out FILE       also write the JSON results to FILE
  -h, --help       show this help

The ORT column needs ${PYTHON} with torch (Debian's python3-torch) for the one-time ONNX export;
without it that column is skipped. STRATA_BENCH_PYTHON names another interpreter.`;

function parseOptions(argv) {
  const v = parseFlags(
    {
      threads: { type: 'string' },
      rounds: { type: 'string' },
      batch: { type: 'string', default: '8' },
      seq: { type: 'string', default: '128' },
      quick: { type: 'boolean', default: false },
    },
    USAGE, argv,
  );
  const runtimes = v.only ? v.only.split(',').map((s) => s.trim()) : Object.keys(RUNTIMES);
  for (const r of runtimes) if (!RUNTIMES[r]) fail(`--only: unknown '${r}' (expected ${Object.keys(RUNTIMES).join(', ')})`);
  const threads = (v.threads ?? (v.quick ? '2' : '1,2')).split(',').map((t) => positiveInt('threads', t.trim()));
  const seq = positiveInt('seq', v.seq);
  if (seq > BERT_CONFIG.max_position_embeddings) fail(`--seq: at most ${BERT_CONFIG.max_position_embeddings} (the position table)`);
  return {
    threads,
    rounds: v.rounds ? positiveInt('rounds', v.rounds) : v.quick ? 1 : 5,
    batch: positiveInt('batch', v.batch),
    seq,
    runtimes,
    quick: v.quick,
    json: v.json,
    out: v.out,
  };
}

function maxAbsDiff(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return Number.isNaN(worst) ? Infinity : worst;
}

async function benchThreads(threads, targets, o) {
  const workers = {};
  for (const [n, target] of Object.entries(targets)) workers[n] = await Worker.start(WORKER, ['serve', n, target, String(threads)], { label: `${RUNTIMES[n]} worker` });
  const names = Object.keys(workers);
  const ms = Object.fromEntries(names.map((n) => [n, []]));
  const cpuMs = Object.fromEntries(names.map((n) => [n, []]));
  const shape = { batch: o.batch, seq: o.seq };
  const row = { threads, runtimes: {} };
  try {
    // warm-up (weights paged in, kernels and pools started) and the cross-check of the outputs
    const outputs = {};
    for (const n of names) outputs[n] = await workers[n].call('output', { ...shape, rows: Math.min(o.seq, 128) });
    if (outputs.strata && outputs.ort) {
      row.maxAbsDiff = maxAbsDiff(outputs.strata, outputs.ort);
      if (!(row.maxAbsDiff < 1e-2)) throw new Error(`Strata and ORT disagree on the BERT output (max |diff| ${row.maxAbsDiff}): not the same model`);
    }
    // a second untimed forward each: Strata packs its weights on their second use, as ORT does
    // when its session starts (before any timing)
    for (const n of names) await workers[n].call('forward', { ...shape, calls: 1 });
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 ? [...names].reverse() : names;
      for (const n of order) {
        await sleep(100); // let the other runtime's threads go idle
        const res = await workers[n].call('forward', { ...shape, calls: 1 });
        ms[n].push(res.ms);
        cpuMs[n].push(res.cpuMs);
      }
      log(`  ${threads} thread(s), round ${r + 1}: ${names.map((n) => `${RUNTIMES[n]} ${((o.batch * o.seq * 1000) / ms[n].at(-1)).toFixed(0)} (${cpuMs[n].at(-1).toFixed(0)} ms CPU)`).join(', ')} tokens/s`);
    }
  } finally {
    for (const n of names) await workers[n].close();
  }
  const tokens = o.batch * o.seq;
  for (const n of names) {
    row.runtimes[n] = {
      info: workers[n].info,
      tokensPerSecond: round((tokens * 1000) / Math.min(...ms[n]), 1),
      medianTokensPerSecond: round((tokens * 1000) / median(ms[n]), 1),
      bestMs: round(Math.min(...ms[n]), 1),
      // CPU time of all the runtime's threads per forward (least across rounds)
      bestCpuMs: round(Math.min(...cpuMs[n]), 1),
      rounds: ms[n].length,
    };
  }
  row.ratio = row.runtimes.strata && row.runtimes.ort ? round(row.runtimes.strata.tokensPerSecond / row.runtimes.ort.tokensPerSecond, 3) : null;
  // ORT's CPU time over Strata's: the work ratio, steadier than wall time when other jobs share the CPUs
  row.cpuRatio = row.runtimes.strata && row.runtimes.ort ? round(row.runtimes.ort.bestCpuMs / row.runtimes.strata.bestCpuMs, 3) : null;
  return row;
}

export function formatBert(doc) {
  const lines = [];
  const ortInfo = doc.results.find((r) => r.runtimes.ort)?.runtimes.ort.info;
  lines.push(`BERT-base forward, tokens/s (batch ${doc.batch} x ${doc.seq} tokens; best of ${doc.rounds} interleaved round(s); higher is better) — ${doc.date}`);
  lines.push(`machine: ${doc.machine.cpu}, ${doc.machine.cores} logical cores, Node ${doc.machine.node}${doc.cpuBusyBefore !== null ? `; CPU busy before the run: ${(doc.cpuBusyBefore * 100).toFixed(0)}%` : ''}${doc.cpuOthersDuring !== null ? `, used by other processes during it: ${(doc.cpuOthersDuring * 100).toFixed(0)}%` : ''}`);
  lines.push(`model: random BERT-base (12 layers, hidden 768, 12 heads, intermediate 3072, vocab 30522), f32, all-ones attention mask`);
  lines.push(`${describeBuild(doc.strata)}: safetensors directory written by Strata (loadModel, native backend)`);
  if (ortInfo) lines.push(`onnxruntime-node ${ortInfo.version}: CPU EP, graph optimization 'all', intraOpNumThreads = threads; ONNX (opset 14) exported by PyTorch from the same weights`);
  if (doc.ortSkipped) lines.push(`ORT skipped: ${doc.ortSkipped}`);
  lines.push('');
  const rows = doc.results.map((r) => [String(r.threads), fmt(r.runtimes.strata?.tokensPerSecond, 0), fmt(r.runtimes.ort?.tokensPerSecond, 0), fmt(r.ratio, 2), `>= ${TARGET}`, r.ratio === null ? null : r.ratio >= TARGET ? 'yes' : 'no', fmt(r.cpuRatio, 2), r.maxAbsDiff === undefined ? null : r.maxAbsDiff.toExponential(1)]);
  lines.push(table(['threads', 'Strata', 'ORT', 'Strata/ORT', 'target', 'met', 'ORT CPU / Strata CPU', 'max |diff|'], rows));
  return lines.join('\n');
}

export async function runBert(argv) {
  const o = parseOptions(argv);
  const busy = await cpuBusy(1000);
  if (busy !== null && busy > 0.25) log(`bench: warning: the CPUs were ${(busy * 100).toFixed(0)}% busy before the run; figures will be noisy`);
  const dir = await ensureBertDir();
  const targets = {};
  let ortSkipped = null;
  if (o.runtimes.includes('strata')) targets.strata = dir;
  if (o.runtimes.includes('ort')) {
    const onnx = ensureBertOnnx(dir);
    if (onnx.file) targets.ort = onnx.file;
    else {
      ortSkipped = onnx.skip;
      log(`bench: skipping the ORT column: ${onnx.skip}`);
    }
  }
  if (!Object.keys(targets).length) throw new Error('nothing to run');
  log(`bench: BERT-base, batch ${o.batch} x ${o.seq}: ${Object.keys(targets).map((n) => RUNTIMES[n]).join(', ')}; threads ${o.threads.join(', ')}; ${o.rounds} round(s)`);
  const others = watchOthers();
  const results = [];
  for (const t of o.threads) results.push(await benchThreads(t, targets, o));
  const othersBusy = others.stop();
  const doc = {
    suite: 'bert',
    date: new Date().toISOString(),
    machine: machine(),
    cpuBusyBefore: busy === null ? null : round(busy, 3),
    // share of all CPU time during the run used by other processes (not this benchmark's)
    cpuOthersDuring: othersBusy === null ? null : round(othersBusy, 3),
    strata: strataBuild(),
    batch: o.batch,
    seq: o.seq,
    rounds: o.rounds,
    model: BERT_CONFIG,
    target: TARGET,
    ortSkipped,
    results,
  };
  return emitReport(doc, o, formatBert, othersBusy);
}

runIfMain(import.meta.url, runBert);
