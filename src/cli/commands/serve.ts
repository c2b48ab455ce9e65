import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { StrataError } from '../../errors.js';
import type { ServeOptions } from '../../serve/server.js';
import type { CliIO } from '../io.js';
import { positiveInt } from '../options.js';

interface ServeFlags {
  model?: ServeOptions['models'];
  host: string;
  port: number;
  runs?: string;
  maxQueue?: number;
  maxTokens?: number;
  maxBodyMb?: number;
  workers: boolean;
}

/** `--model PATH` or `--model ID=PATH` (the id the API calls it by; default the folder or file name). */
function modelFlag(v: string, prev: ServeOptions['models'] = []): ServeOptions['models'] {
  const eq = v.indexOf('=');
  const spec = eq > 0 && !existsSync(v) ? { id: v.slice(0, eq), path: v.slice(eq + 1) } : { path: v };
  if (!spec.path) throw new InvalidArgumentError('Expected a model path (or ID=PATH).');
  return [...prev, spec];
}

function port(v: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) > 65535) throw new InvalidArgumentError('Expected a port number in [0, 65535] (0 picks a free one).');
  return Number(v);
}

function nonNegativeInt(v: string): number {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError('Expected an integer >= 0.');
  return Number(v);
}

/** Every model folder under ./zoo (one holding a config.json), for `strata serve` without --model. */
export function zooModels(root = 'zoo'): ServeOptions['models'] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(root, d.name, 'config.json')))
    .map((d) => ({ path: path.join(root, d.name), id: d.name }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

async function runServe(f: ServeFlags, io: CliIO): Promise<void> {
  const models = f.model ?? zooModels();
  if (models.length === 0) throw new StrataError('argument', 'serve', 'no models: pass --model PATH (repeatable), or run from a folder whose zoo/ holds model directories');
  io.err(`loading ${models.map((m) => m.id ?? m.path).join(', ')}...\n`);
  // the HTTP stack (fastify, its plugins, sharp for image uploads) is loaded only to serve: every
  // other command, `strata generate` included, would otherwise carry ≈ 14 MB of it in its RSS
  const { createServer } = await import('../../serve/server.js');
  const server = await createServer({
    models,
    host: f.host,
    port: f.port,
    runsDir: f.runs,
    maxQueue: f.maxQueue,
    maxTokensLimit: f.maxTokens,
    maxBodyBytes: f.maxBodyMb === undefined ? undefined : f.maxBodyMb * 1024 * 1024,
    workers: f.workers,
  });
  const url = await server.listen();
  io.out(`strata serve: listening on ${url} (OpenAI API at ${url}/v1)\n`);
  // serve until Ctrl-C or a termination signal, then close cleanly: workers stopped, sockets closed
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      // a second Ctrl-C does not wait for the clean shutdown
      process.once('SIGINT', () => process.exit(130));
      io.err(`\n${signal}: shutting down\n`);
      resolve();
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  await server.close();
}

export function registerServe(program: Command, io: CliIO): void {
  program
    .command('serve')
    .description('serve models over an OpenAI-compatible HTTP API (and the web playground); default: every model under ./zoo')
    .option('--model <PATH>', 'a Hugging Face model directory or .gguf file, or ID=PATH (repeatable)', modelFlag)
    .option('--host <HOST>', 'address to listen on', '127.0.0.1')
    .option('--port <PORT>', 'port to listen on (0 = any free port)', port, 8080)
    .option('--runs <DIR>', 'training runs to show in the playground dashboard')
    .option('--max-queue <N>', 'requests that may wait per model; more get 429 (default 16)', nonNegativeInt)
    .option('--max-tokens <N>', 'most tokens one request may generate (default: the model context)', positiveInt(1 << 24))
    .option('--max-body-mb <N>', 'largest request body in MB (default 10)', positiveInt(4096))
    .option('--no-workers', 'run the models in the HTTP thread (debugging)')
    .action((opts: ServeFlags) => runServe(opts, io));
}
