// useMainThreadGc sets only collector flags V8 accepts in a running process: a process that calls
// it (twice), then allocates and collects heavily while the kernel pool computes, exits normally.
// (--single-threaded-gc or --no-parallel-marking set the same way abort V8 at the next collection.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const script = `
  import * as S from './src/index.ts';
  S.useMainThreadGc();
  S.useMainThreadGc();
  let keep = [];
  for (let i = 0; i < 60; i++) {
    const a = S.randn([256, 256]);
    keep.push(a.matmul(a).softmax(-1), new Float32Array(1 << 20));
    if (keep.length > 20) keep = keep.slice(10);
  }
  globalThis.gc();
  console.log(JSON.stringify({ ok: true, live: keep.length }));
`;

test('useMainThreadGc: heavy allocation and full collections afterwards run to the end', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assert.equal(JSON.parse(r.stdout.trim()).ok, true);
});
