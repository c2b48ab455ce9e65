// Without a loadable addon Strata warns once and computes on the reference backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const script = `
  import * as S from './src/index.ts';
  const a = S.randn([4, 4]);
  for (let i = 0; i < 3; i++) a.matmul(a).softmax(-1);
  console.log(JSON.stringify({ backend: S.backend().name, native: S.nativeAvailable() }));
`;

test('a missing addon gives one warning and the reference backend', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, STRATA_ADDON: '/nonexistent/strata_native.node', STRATA_BACKEND: '' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { backend: 'reference', native: false });
  const warnings = r.stderr.split('\n').filter((l) => l.includes('native addon unavailable'));
  assert.equal(warnings.length, 1, r.stderr);
});

test('STRATA_BACKEND=reference selects the reference backend without a warning', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, STRATA_BACKEND: 'reference' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()).backend, 'reference');
  assert.ok(!r.stderr.includes('native addon unavailable'), r.stderr);
});

test('an unknown STRATA_BACKEND is a clear error', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, STRATA_BACKEND: 'cuda' },
    encoding: 'utf8',
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown backend 'cuda'/);
});
