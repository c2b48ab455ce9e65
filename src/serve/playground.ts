// The web playground: the Vite-built front end (web/dist) served at / and the /api routes it reads
// besides the OpenAI ones: training runs and their metrics (polled live while a run writes), and
// the model taxonomy. The server (server.ts) calls registerPlayground when this file exists.
//
// A run is a folder under runsDir (nested up to RUN_DEPTH deep, e.g. `spam/finetune-lora`) that
// holds metrics.jsonl, train_config.json or finetune_config.json. Run names come from URLs, so a
// name is checked against a strict pattern and resolved inside runsDir before anything is read.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ModelCard } from '../models/types.js';
import { METRICS_FILE, type MetricsRecord } from '../train/metrics.js';
import { familyComparison, familyRowJson } from '../models/cards.js';

export interface PlaygroundOptions {
  /** folder of training runs shown by the dashboard (`strata serve --runs DIR`) */
  runsDir?: string;
  /** the served models; contextLength (prompt + completion tokens) lets a page keep max_tokens within reach */
  models: { id: string; card: ModelCard; contextLength?: number }[];
}

/** web/dist, the same two levels up from src/serve/ and from dist/serve/ */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const CONFIG_FILES = { pretrain: 'train_config.json', finetune: 'finetune_config.json' } as const;
type RunKind = keyof typeof CONFIG_FILES | 'run';
const RUN_DEPTH = 3;
/** bounds the folder walk of /api/runs, whatever runsDir holds */
const MAX_DIRS_SCANNED = 5000;
const SKIPPED_DIRS = new Set(['checkpoints', 'data-cache', 'node_modules', 'adapter']);
/**
 * '/'-separated folder names, none starting with '.' (so no '.', '..' or hidden folder) and none
 * holding a backslash or a control character
 */
const RUN_NAME = /^[^./\\\p{Cc}][^/\\\p{Cc}]*(\/[^./\\\p{Cc}][^/\\\p{Cc}]*)*$/u;
const MAX_NAME_LENGTH = 512;
const TAIL_BYTES = 16384;

export interface RunSummary {
  name: string;
  kind: RunKind;
  /** the task or method when its config names them, e.g. "classification · lora" */
  task: string | null;
  last_step: number | null;
  last_loss: number | null;
  last_val_loss: number | null;
  /** the planned number of steps when the config names it */
  total_steps: number | null;
  /** last modification of metrics.jsonl (or of the folder), ISO 8601 */
  updated: string;
}

function sendError(reply: FastifyReply, status: number, message: string, type: string, code: string, param: string | null = null) {
  return reply.code(status).send({ error: { message, type, param, code } });
}

export async function registerPlayground(app: FastifyInstance, options: PlaygroundOptions): Promise<void> {
  const runsDir = options.runsDir === undefined ? undefined : path.resolve(options.runsDir);
  const metrics = new MetricsCache();

  app.get('/api/runs', async () => ({ object: 'list', runs_dir: runsDir ?? null, data: runsDir === undefined ? [] : listRuns(runsDir) }));

  app.get<{ Params: { name: string }; Querystring: Record<string, string | undefined> }>('/api/runs/:name/metrics', async (req, reply) => {
    const { name } = req.params;
    if (typeof name !== 'string' || name.length > MAX_NAME_LENGTH || !RUN_NAME.test(name)) {
      return sendError(reply, 400, `invalid run name '${String(name).slice(0, 80)}': use the name /api/runs lists`, 'invalid_request_error', 'invalid_run_name', 'name');
    }
    const dir = runsDir === undefined ? undefined : resolveRun(runsDir, name);
    if (dir === undefined) {
      const where = runsDir === undefined ? 'no runs folder is served (start with --runs DIR)' : `no run '${name}' in the runs folder`;
      return sendError(reply, 404, where, 'invalid_request_error', 'run_not_found', 'name');
    }
    const after = parseIntParam(req.query.after, -Infinity);
    const count = parseIntParam(req.query.count, undefined);
    if (after === null) return sendError(reply, 400, "'after' must be an integer step", 'invalid_request_error', 'invalid_value', 'after');
    if (count === null || (count !== undefined && count < 0)) return sendError(reply, 400, "'count' must be a non-negative integer", 'invalid_request_error', 'invalid_value', 'count');
    const { records, mtimeMs, epoch } = metrics.read(path.join(dir, METRICS_FILE));
    // the client holds `count` records up to step `after`, read in `epoch`; when the file no
    // longer agrees (a resumed run cut its tail, a new run started in the folder) it gets everything again
    const held = records.filter((r) => r.step <= after).length;
    const reset = (count !== undefined && held !== count) || (req.query.epoch !== undefined && req.query.epoch !== epoch);
    const data = reset ? records : records.filter((r) => r.step > after);
    const { kind, task, total_steps, config } = describeRun(dir);
    return {
      object: 'run.metrics',
      name,
      kind,
      task,
      total_steps,
      config,
      reset,
      epoch,
      count: records.length,
      last_step: records.length ? records[records.length - 1]!.step : null,
      updated: new Date(mtimeMs ?? dirMtime(dir)).toISOString(),
      data,
    };
  });

  // one row per family, computed from the registered model cards (as `strata models --compare`)
  app.get('/api/taxonomy', async () => ({ object: 'list', data: familyComparison().map(familyRowJson) }));

  // served models' cards as the server was given them (GET /v1/models carries them as well), and their context lengths
  app.get('/api/models', async () => ({ object: 'list', data: options.models.map((m) => ({ id: m.id, card: m.card, context_length: m.contextLength ?? null })) }));

  if (fs.existsSync(path.join(WEB_DIST, 'index.html'))) {
    // one route per built file (no catch-all that would shadow the server's own 404s)
    await app.register(fastifyStatic, {
      root: WEB_DIST,
      prefix: '/',
      wildcard: false,
      decorateReply: false,
      index: ['index.html'],
      // Vite names assets by content hash: they never change; index.html names the current ones
      cacheControl: false,
      setHeaders: (reply, file) => reply.header('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache'),
    });
  } else {
    app.get('/', async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .send('<!doctype html><title>Strata</title><p>The playground is not built. Run <code>npm run build:web</code> (or <code>npm install</code>) and restart the server. The API is under <a href="/v1/models">/v1</a>.</p>'),
    );
  }
  for (const url of ['/playground', '/playground/']) app.get(url, async (_req, reply) => reply.redirect('/', 302));
}

/** `absent` when not given, null when not an integer */
function parseIntParam<A extends number | undefined>(value: string | undefined, absent: A): number | A | null {
  if (value === undefined || value === '') return absent;
  if (!/^-?\d{1,15}$/.test(value)) return null;
  return Number(value);
}

function isRunDir(dir: string): boolean {
  return [METRICS_FILE, CONFIG_FILES.pretrain, CONFIG_FILES.finetune].some((f) => fs.existsSync(path.join(dir, f)));
}

function resolveRun(runsDir: string, name: string): string | undefined {
  const dir = path.resolve(runsDir, ...name.split('/'));
  const rel = path.relative(runsDir, dir);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel) || name.split('/').length > RUN_DEPTH) return undefined;
  try {
    if (!fs.statSync(dir).isDirectory() || !isRunDir(dir)) return undefined;
  } catch {
    return undefined;
  }
  return dir;
}

export function listRuns(runsDir: string): RunSummary[] {
  const runs: RunSummary[] = [];
  let scanned = 0;
  const walk = (dir: string, rel: string[]) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (scanned >= MAX_DIRS_SCANNED || SKIPPED_DIRS.has(e.name) || !RUN_NAME.test(e.name)) continue;
      const full = path.join(dir, e.name);
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) {
        try {
          isDir = fs.statSync(full).isDirectory();
        } catch {
          isDir = false;
        }
      }
      if (!isDir) continue;
      scanned++;
      const name = [...rel, e.name];
      if (isRunDir(full)) runs.push(summarize(full, name.join('/')));
      else if (name.length < RUN_DEPTH) walk(full, name);
    }
  };
  walk(runsDir, []);
  return runs.sort((a, b) => b.updated.localeCompare(a.updated) || a.name.localeCompare(b.name));
}

/** what the run's config file says about it */
function describeRun(dir: string): Pick<RunSummary, 'kind' | 'task' | 'total_steps'> & { config: Record<string, unknown> | null } {
  for (const kind of ['finetune', 'pretrain'] as const) {
    const file = path.join(dir, CONFIG_FILES[kind]);
    if (!fs.existsSync(file)) continue;
    let config: Record<string, unknown> | null = null;
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) config = parsed as Record<string, unknown>;
    } catch {
      // a config being written, or not JSON: the run is still listed, by its metrics
    }
    const words = [config?.task, config?.method].filter((w): w is string => typeof w === 'string');
    const steps = config?.steps;
    return { kind, task: words.length ? words.join(' · ') : null, total_steps: typeof steps === 'number' ? steps : null, config };
  }
  return { kind: 'run', task: null, total_steps: null, config: null };
}

function dirMtime(dir: string): number {
  try {
    return fs.statSync(dir).mtimeMs;
  } catch {
    return 0;
  }
}

function summarize(dir: string, name: string): RunSummary {
  const { kind, task, total_steps } = describeRun(dir);
  const file = path.join(dir, METRICS_FILE);
  let updated = dirMtime(dir);
  let last: MetricsRecord | undefined;
  let lastVal: number | null = null;
  try {
    const stat = fs.statSync(file);
    updated = stat.mtimeMs;
    const tail = lastRecords(file, stat.size);
    last = tail[tail.length - 1];
    const withVal = tail.filter((r) => typeof r.val_loss === 'number');
    lastVal = withVal.length ? (withVal[withVal.length - 1]!.val_loss as number) : null;
  } catch {
    // no metrics yet: the run is listed with its config only
  }
  return {
    name,
    kind,
    task,
    last_step: typeof last?.step === 'number' ? last.step : null,
    last_loss: typeof last?.loss === 'number' ? last.loss : null,
    last_val_loss: lastVal,
    total_steps,
    updated: new Date(updated).toISOString(),
  };
}

/** the complete records in the file's last TAIL_BYTES */
function lastRecords(file: string, size: number): MetricsRecord[] {
  const start = Math.max(0, size - TAIL_BYTES);
  const buf = Buffer.alloc(size - start);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, buf, 0, buf.length, start);
  } finally {
    fs.closeSync(fd);
  }
  const lines = buf.toString('utf8').split('\n');
  if (start > 0) lines.shift(); // cut mid-line
  return parseLines(lines.slice(0, -1));
}

function parseLines(lines: string[]): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      const r: unknown = JSON.parse(line);
      if (typeof r === 'object' && r !== null && typeof (r as MetricsRecord).step === 'number') out.push(r as MetricsRecord);
    } catch {
      // a line a writer is still finishing, or garbage: the dashboard shows the rest
    }
  }
  return out;
}

interface CachedMetrics {
  /** bytes parsed so far: everything up to the last newline seen */
  parsed: number;
  /** the bytes just before `parsed`, to notice a file rewritten rather than appended to */
  seam: string;
  records: MetricsRecord[];
  /** changes whenever the records are read again from the start */
  epoch: string;
}

const SEAM_BYTES = 64;
const MAX_CACHED_FILES = 64;

/**
 * Parsed metrics.jsonl files, read on by appended bytes only: a dashboard polls every second
 * while a run writes, and rereading a long file each time would cost in proportion to its length.
 * A resumed run rewrites the file (cut back to its checkpoint, then appended to); the seam check
 * sees that even when the file has grown past its old length in the meantime.
 */
class MetricsCache {
  private readonly files = new Map<string, CachedMetrics>();
  private epochs = 0;
  private readonly session = Date.now().toString(36);

  read(file: string): { records: MetricsRecord[]; mtimeMs: number | undefined; epoch: string } {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      this.files.delete(file);
      return { records: [], mtimeMs: undefined, epoch: 'none' };
    }
    try {
      const { size, mtimeMs } = fs.fstatSync(fd);
      const seamAt = (end: number) => {
        const buf = Buffer.alloc(Math.min(SEAM_BYTES, end));
        fs.readSync(fd, buf, 0, buf.length, end - buf.length);
        return buf.toString('latin1');
      };
      let entry = this.files.get(file);
      if (entry === undefined || size < entry.parsed || seamAt(entry.parsed) !== entry.seam) entry = { parsed: 0, seam: '', records: [], epoch: `${this.session}.${++this.epochs}` };
      if (size > entry.parsed) {
        const buf = Buffer.alloc(size - entry.parsed);
        fs.readSync(fd, buf, 0, buf.length, entry.parsed);
        const end = buf.lastIndexOf(0x0a);
        if (end >= 0) {
          entry.records.push(...parseLines(buf.subarray(0, end).toString('utf8').split('\n')));
          entry.parsed += end + 1;
          entry.seam = seamAt(entry.parsed);
        }
      }
      this.files.delete(file);
      this.files.set(file, entry);
      if (this.files.size > MAX_CACHED_FILES) this.files.delete(this.files.keys().next().value!);
      return { records: entry.records, mtimeMs, epoch: entry.epoch };
    } finally {
      fs.closeSync(fd);
    }
  }
}
