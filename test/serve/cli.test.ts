// `strata serve` as a user runs it: prints its URL, serves, and closes cleanly on SIGINT; without
// --model it serves every model folder under ./zoo.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeServeModels } from './models.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** Starts `strata serve ARGS` in cwd; resolves with its URL once it listens. */
function serve(args: string[], cwd: string) {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!.replace(/\/$/, ''));
    });
    void exited.then((code) => reject(new Error(`strata serve exited (${code}) before listening: ${err}`)));
  });
  url.catch(() => {}); // awaited by the tests that expect it to listen
  return { child, url, exited, stderr: () => err };
}

describe('strata serve (CLI)', () => {
  test('--model ID=PATH --port 0: prints the URL, serves, SIGINT closes cleanly', async () => {
    const models = writeServeModels(256);
    const s = serve(['--model', `tiny=${models.llama}`, '--port', '0', '--max-queue', '2'], models.root);
    const url = await s.url;
    const list = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(list.data.map((m) => m.id), ['tiny']);
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'Hello', max_tokens: 3 }) });
    assert.equal(r.status, 200);
    s.child.kill('SIGINT');
    assert.equal(await s.exited, 0, s.stderr());
    assert.match(s.stderr(), /SIGINT: shutting down/);
  });

  test('without --model it serves the model folders under ./zoo', async () => {
    const models = writeServeModels(256);
    const zoo = path.join(models.root, 'zoo');
    mkdirSync(zoo);
    cpSync(models.llama, path.join(zoo, 'lm-tiny'), { recursive: true });
    cpSync(models.bert, path.join(zoo, 'enc-tiny'), { recursive: true });
    mkdirSync(path.join(zoo, 'not-a-model'));
    const s = serve(['--port', '0'], models.root);
    const url = await s.url;
    const list = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(list.data.map((m) => m.id).sort(), ['enc-tiny', 'lm-tiny']);
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0, s.stderr());
  });

  test('no models anywhere: a usage error, not a hang', async () => {
    const models = writeServeModels(64);
    const s = serve(['--port', '0'], path.join(models.root, 'tiny-bert'));
    assert.equal(await s.exited, 2);
    assert.match(s.stderr(), /no models: pass --model PATH/);
  });
});
