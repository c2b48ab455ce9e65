#!/usr/bin/env node
// `npm run bench [-- args]`: prepares and runs the peer benchmark in bench/ (its own npm package).
//  1. installs bench/'s dependencies when bench/node_modules is missing or older than its manifest,
//  2. builds the root package (dist/) when it is missing or older than src/,
//  3. runs `node bench/gemm.mjs`, forwarding the arguments.
import { existsSync, readdirSync, statSync } from 'node:fs';
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

installBenchDeps();
buildRoot();
const res = spawnSync(process.execPath, [path.join(benchDir, 'gemm.mjs'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(res.status ?? 1);
