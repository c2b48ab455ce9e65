// Spawns the `strata` CLI the way a user would (through tsx, so no build is needed) and checks
// `bench gemm` output and its handling of bad flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function strata(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, STRATA_DEBUG: '' },
    timeout: 120_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

test('bench gemm --json prints exactly one JSON line with a positive gflops', () => {
  const res = strata('bench', 'gemm', '--m', '64', '--n', '48', '--k', '32', '--json');
  assert.equal(res.status, 0, res.stderr);
  const lines = res.stdout.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `expected one line, got:\n${res.stdout}`);
  const out = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(typeof out.gflops, 'number');
  assert.ok((out.gflops as number) > 0 && Number.isFinite(out.gflops), `gflops ${out.gflops}`);
  assert.equal(typeof out.ms, 'number');
  assert.deepEqual([out.m, out.n, out.k], [64, 48, 32]);
  assert.ok(out.backend === 'native' || out.backend === 'reference');
  assert.equal(typeof out.isa, 'string');
  assert.ok(Number.isInteger(out.threads) && (out.threads as number) >= 1);
});

test('bench gemm with transposed operands and fixed iterations prints a human line', () => {
  const res = strata('bench', 'gemm', '--m', '17', '--n', '9', '--k', '5', '--trans-a', '--trans-b', '--iters', '4', '--threads', '1');
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /^gemm 17x9x5 \(Aᵀ·Bᵀ\) .* GFLOPS/);
});

for (const [label, args, pattern] of [
  ['a negative size', ['--m', '-3', '--n', '4', '--k', '4'], /--m.*'-3'.*positive integer/],
  ['a non-numeric size', ['--m', 'abc', '--n', '4', '--k', '4'], /--m.*'abc'.*positive integer/],
  ['a fractional size', ['--m', '2.5', '--n', '4', '--k', '4'], /--m.*'2\.5'.*positive integer/],
  ['zero threads', ['--m', '4', '--n', '4', '--k', '4', '--threads', '0'], /--threads.*positive integer/],
  ['a missing size', ['--n', '4', '--k', '4'], /required option '--m/],
  ['an unknown flag', ['--m', '4', '--n', '4', '--k', '4', '--bogus'], /unknown option '--bogus'/],
  ['operands past the memory cap', ['--m', '40000', '--n', '40000', '--k', '40000'], /GiB.*limit/],
] as const) {
  test(`bench gemm rejects ${label} with a clear message and no stack trace`, () => {
    const res = strata('bench', 'gemm', ...args);
    assert.equal(res.status, 2, `exit status ${res.status}; stderr:\n${res.stderr}`);
    assert.equal(res.stdout, '');
    const message = res.stderr.split('\n').find((l) => l.startsWith('strata: '));
    assert.ok(message, `no 'strata: ' line in stderr:\n${res.stderr}`);
    assert.match(message, pattern);
    assert.doesNotMatch(res.stderr, /\n\s+at /, `stack trace in stderr:\n${res.stderr}`);
  });
}

test('--version prints the package version and --help lists the commands', () => {
  const version = strata('--version');
  assert.equal(version.status, 0);
  assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
  const help = strata('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: strata/);
  assert.match(help.stdout, /bench/);
});
