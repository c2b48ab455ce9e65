#!/usr/bin/env node
// `npm run bench [-- args]`: prepares and runs the benchmark suites in bench/ (its own npm package).
//  1. installs bench/'s dependencies when bench/node_modules is missing or older than its manifest,
//  2. builds the root package (dist/) when it is missing or older than src/,
//  3. runs the suites in order — gemm (bench/gemm.mjs), llm (bench/llm.mjs), bert (bench/bert.mjs) —
//     each in its own process, printing each one's table.
//
// --only gemm,llm,bert picks suites. Other flags go to every selected suite that takes them
// (--threads, --rounds, --quick, --json, ...); a flag prefixed with a suite's name goes to that
// suite only, without the prefix (--gemm-only strata,ort, --llm-dtypes q8_0, --bert-threads 2).
// --out FILE writes one JSON document: the suite's own when one suite runs, else {suites: {...}}.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = path.join(root, 'bench');

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : -Infinity);

function newestIn(dir, accept) {
  let newest = -Infinity;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestIn(p, accept));
    else if (accept(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Runs npm with the same npm that started this script when there is one (`npm run bench`). */
function npm(args, env = process.env) {
  const viaNpm = process.env.npm_execpath && /npm-cli\.c?js$/.test(process.env.npm_execpath);
  const [cmd, argv] = viaNpm ? [process.execPath, [process.env.npm_execpath, ...args]] : ['npm', args];
  const res = spawnSync(cmd, argv, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env, shell: !viaNpm && process.platform === 'win32' });
  if (res.error) throw res.error;
  return res.status ?? 1;
}

function say(text) {
  process.stderr.write(`bench: ${text}\n`);
}

function installBenchDeps() {
  const stamp = path.join(benchDir, 'node_modules', '.package-lock.json');
  const lock = path.join(benchDir, 'package-lock.json');
  if (mtime(stamp) >= Math.max(mtime(path.join(benchDir, 'package.json')), mtime(lock))) return;
  const useCi = existsSync(lock);
  say(`installing bench/ dependencies (npm ${useCi ? 'ci' : 'install'} --prefix bench)`);
  // bench/.npmrc says the same; the variable also covers an npm that ignores unknown .npmrc keys.
  // Either way onnxruntime-node keeps to the CPU binaries it ships and downloads no CUDA libraries.
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
  const status = npm([useCi ? 'ci' : 'install', '--prefix', benchDir, '--no-audit', '--no-fund'], env);
  if (status !== 0) {
    say(`installing bench/ dependencies failed (exit ${status})`);
    process.exit(status);
  }
}

function buildRoot() {
  const entry = path.join(root, 'dist', 'index.js');
  const sources = Math.max(
    newestIn(path.join(root, 'src'), (name) => name.endsWith('.ts')),
    mtime(path.join(root, 'tsconfig.json')),
    mtime(path.join(root, 'tsconfig.build.json')),
  );
  if (mtime(entry) >= sources) return;
  say(existsSync(entry) ? 'dist/ is older than src/: rebuilding (npm run build)' : 'dist/ is missing: building (npm run build)');
  const status = npm(['run', 'build']);
  if (status === 0) return;
  // tsc still emits on type errors; a tree mid-change elsewhere should not stop a benchmark of what did build.
  if (existsSync(entry)) say(`npm run build exited ${status}; benchmarking the dist/ it produced`);
  else {
    say(`npm run build failed (exit ${status}) and dist/index.js is missing`);
    process.exit(status);
  }
}

// The flags each suite accepts: name -> takes a value.
const SUITES = {
  gemm: { script: 'gemm.mjs', flags: { threads: true, quick: false, rounds: true, shapes: true, only: true, json: false, out: true } },
  llm: {
    script: 'llm.mjs',
    flags: { threads: true, rounds: true, dtypes: true, only: true, 'prompt-tokens': true, 'decode-tokens': true, 'prefill-tokens': true, quick: false, 'no-rss': false, json: false, out: true },
  },
  bert: { script: 'bert.mjs', flags: { threads: true, rounds: true, batch: true, seq: true, only: true, quick: false, json: false, out: true } },
};
const NAMES = Object.keys(SUITES);

const USAGE = `usage: npm run bench -- [options]        (or: node scripts/bench.mjs [options])

Runs the suites ${NAMES.join(', ')} in that order, each in its own process, and prints each table.

  --only LIST         suites to run, of: ${NAMES.join(', ')} (default all)
  --threads N         threads for every suite (bert: a list, default 1,2; others default 2)
  --rounds N          interleaved rounds in every suite
  --quick             every suite's smoke-test size
  --json              each suite prints one JSON line instead of its table
  --out FILE          write the results as JSON (one suite: its document; several: {suites: {...}})
  --SUITE-FLAG [V]    FLAG (with its value) for that suite only, e.g. --gemm-only strata,ort,
                      --gemm-shapes 1024x1024x1024, --llm-dtypes q8_0, --llm-no-rss, --bert-threads 2
  -h, --help          this help; \`node bench/SUITE.mjs --help\` lists a suite's own flags

Any other flag a suite takes (--shapes, --dtypes, --batch, ...) goes to the suites that take it.`;

function usageError(message) {
  say(`${message} (npm run bench -- --help lists the options)`);
  process.exit(2);
}

/** Splits argv into the suites to run, each suite's arguments and the --out file. */
function parseCommandLine(argv) {
  let only = null;
  let out = null;
  const perSuite = Object.fromEntries(NAMES.map((n) => [n, []]));
  const general = []; // [flag, value | undefined]
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (!arg.startsWith('--')) usageError(`unexpected argument '${arg}'`);
    let [flag, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const takeValue = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usageError(`--${flag} needs a value`);
      return argv[++i];
    };
    if (flag === 'only') {
      only = takeValue().split(',').map((s) => s.trim()).filter(Boolean);
      const bad = only.filter((n) => !NAMES.includes(n));
      if (bad.length) usageError(`--only: unknown suite '${bad[0]}' (expected ${NAMES.join(', ')}; gemm's own --only is --gemm-only)`);
      continue;
    }
    if (flag === 'out') {
      out = path.resolve(takeValue());
      continue;
    }
    const suite = NAMES.find((n) => flag.startsWith(`${n}-`));
    if (suite) {
      const own = flag.slice(suite.length + 1);
      const takes = SUITES[suite].flags[own];
      if (takes === undefined || own === 'out') usageError(`--${flag}: ${suite} has no flag --${own} (see node bench/${SUITES[suite].script} --help)`);
      perSuite[suite].push(`--${own}`);
      if (takes) perSuite[suite].push(takeValue());
      continue;
    }
    const takers = NAMES.filter((n) => SUITES[n].flags[flag] !== undefined);
    if (!takers.length) usageError(`unknown flag --${flag}`);
    general.push([flag, takers.some((n) => SUITES[n].flags[flag]) ? takeValue() : undefined]);
  }
  const suites = only ?? NAMES;
  for (const [flag, value] of general) {
    const takers = suites.filter((n) => SUITES[n].flags[flag] !== undefined);
    if (!takers.length) usageError(`--${flag} is not a flag of the selected suite(s) ${suites.join(', ')}`);
    for (const n of takers) perSuite[n].unshift(`--${flag}`, ...(value === undefined ? [] : [value]));
  }
  return { suites, perSuite, out };
}

const { suites, perSuite, out } = parseCommandLine(process.argv.slice(2));
installBenchDeps();
buildRoot();
const tmp = out ? mkdtempSync(path.join(os.tmpdir(), 'strata-bench-')) : null;
const failed = [];
const docs = {};
for (const name of suites) {
  const args = [...perSuite[name]];
  if (tmp) args.push('--out', path.join(tmp, `${name}.json`));
  say(`running ${name}: node bench/${SUITES[name].script}${args.length ? ` ${args.join(' ')}` : ''}`);
  const res = spawnSync(process.execPath, [path.join(benchDir, SUITES[name].script), ...args], { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) {
    failed.push(`${name} (exit ${res.status ?? res.signal})`);
    say(`${name} failed (exit ${res.status ?? res.signal}); going on with the other suites`);
  } else if (tmp) docs[name] = JSON.parse(readFileSync(path.join(tmp, `${name}.json`), 'utf8'));
  if (!perSuite[name].includes('--json')) process.stdout.write('\n'); // a blank line between tables, none between JSON lines
}
if (tmp) {
  const doc = suites.length === 1 ? docs[suites[0]] : { date: new Date().toISOString(), suites: docs };
  if (doc) writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  rmSync(tmp, { recursive: true, force: true });
}
if (failed.length) {
  say(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
