// `strata ... | head`: when the reader of stdout goes away, the CLI stops quietly (exit status 0,
// nothing on stderr) instead of dying on an unhandled EPIPE with a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

test('a closed stdout pipe ends the CLI quietly', async () => {
  const root = path.join(import.meta.dirname, '../..');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'inspect', 'zoo/lm-tiny', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader is gone before the CLI writes its first byte
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(stderr, '');
  assert.equal(code, 0);
});
