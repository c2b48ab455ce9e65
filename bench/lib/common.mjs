// Helpers shared by the model benchmarks (llm.mjs, bert.mjs): option parsing, the Strata build,
// the cache directory, machine facts and plain-text tables.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** Generated model files, written once and reused (gitignored). STRATA_BENCH_CACHE overrides it. */
export const cacheDir = process.env.STRATA_BENCH_CACHE ? path.resolve(process.env.STRATA_BENCH_CACHE) : path.join(repoRoot, 'bench', '.cache');

export function ensureCacheDir() {
  mkdirSync(cacheDir, { recursive: true });
  return cacheDir;
}

export function fail(message, code = 2) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(code);
}

export function positiveInt(name, value) {
  if (!/^\d+$/.test(String(value)) || Number(value) < 1) fail(`--${name} expects a positive integer, got '${value}'`);
  return Number(value);
}

/**
 * Parses a benchmark's flags (`args`, default process.argv) with node's parseArgs, strictly;
 * every benchmark also takes --only, --json, --out and -h/--help. A parse error prints the usage
 * and exits 2; --help prints it and exits 0.
 */
export function parseFlags(options, usage, args) {
  let values;
  try {
    values = parseArgs({
      ...(args ? { args } : {}),
      options: {
        ...options,
        only: { type: 'string' },
        json: { type: 'boolean', default: false },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    fail(`${err.message}\n${usage}`);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values;
}

export function log(text) {
  process.stderr.write(`${text}\n`);
}

/** Imports a module of the built package (dist/), with a clear message when it is not built. */
export async function importDist(rel) {
  const file = path.join(repoRoot, 'dist', rel);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` at the repository root (or use \`npm run bench\`, which builds it)`);
  return import(pathToFileURL(file).href);
}

export function strataVersion() {
  return JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
}

/** What Strata build was measured: version, git commit, uncommitted changes under src/ and native/, addon build time. */
export function strataBuild() {
  const git = (args) => {
    const r = spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  const status = git(['status', '--porcelain', '--', 'src', 'native']);
  const addon = path.join(repoRoot, 'build', 'Release', 'strata_native.node');
  return {
    version: strataVersion(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedFiles: status === null ? null : status.split('\n').filter(Boolean).length,
    addonBuilt: existsSync(addon) ? statSync(addon).mtime.toISOString() : null,
  };
}

export function describeBuild(b) {
  const parts = [`Strata ${b.version}`];
  if (b.commit) parts.push(`commit ${b.commit}${b.uncommittedFiles ? ` + ${b.uncommittedFiles} uncommitted file(s) in src/ native/` : ''}`);
  if (b.addonBuilt) parts.push(`addon built ${b.addonBuilt.replace('T', ' ').slice(0, 16)} UTC`);
  return parts.join(', ');
}

export function machine() {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown cpu',
    cores: os.availableParallelism(),
    platform: `${os.platform()}-${os.arch()}`,
    memoryGiB: round(os.totalmem() / 1024 ** 3, 1),
    node: process.versions.node,
  };
}

export function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/** A plain-text table: first column left-aligned, the rest right-aligned; null/undefined print as '-'. */
export function table(headers, rows) {
  const cells = rows.map((r) => r.map((v) => (v === undefined || v === null ? '-' : String(v))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export const fmt = (x, digits = 1) => (x === undefined || x === null || !Number.isFinite(x) ? null : x.toFixed(digits));

/** Prints a suite's report (table or one JSON line), writes it to `out` when asked, warns on a busy machine. */
export function emitReport(doc, options, format, othersBusy) {
  if (othersBusy !== null && othersBusy > 0.05) log(`bench: warning: other processes used ${(othersBusy * 100).toFixed(0)}% of the CPUs during the run; figures are noisy`);
  if (options.out) writeFileSync(options.out, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(options.json ? `${JSON.stringify(doc)}\n` : `${format(doc)}\n`);
  return doc;
}

/** Runs `main(argv)` when `moduleUrl` is the script node was started with; exits 0, or 1 with the error. */
export function runIfMain(moduleUrl, main) {
  if (!process.argv[1] || path.resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
      if (process.env.STRATA_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      process.exit(1);
    },
  );
}
