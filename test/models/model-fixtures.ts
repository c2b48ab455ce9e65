// Shared by the model tests: fixture directories written by scripts/fixtures/models.py, their
// expected outputs, the backends to run on, and an opt-in report of max differences.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as S from '../../src/index.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';

export const MODELS_DIR = path.join(FIXTURES_DIR, 'models');

export function fixtureDir(name: string): string {
  return path.join(MODELS_DIR, name);
}

export function expected(name: string): Record<string, S.Tensor> {
  return S.readSafetensors(path.join(fixtureDir(name), 'expected.safetensors')).tensors;
}

export const BACKENDS: readonly S.BackendName[] = S.nativeAvailable() ? ['reference', 'native'] : ['reference'];

/** Set STRATA_GOLDEN_REPORT=1 to print the max abs diff of every comparison. */
export function report(line: string): void {
  if (process.env.STRATA_GOLDEN_REPORT) console.log(`  ${line}`);
}

/** A fresh temporary directory, removed when the process exits. */
export function tempDir(prefix = 'strata-models-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A copy of a fixture directory to mutate. */
export function copyFixture(name: string): string {
  const dir = tempDir(`strata-${name}-`);
  for (const f of fs.readdirSync(fixtureDir(name))) fs.copyFileSync(path.join(fixtureDir(name), f), path.join(dir, f));
  return dir;
}

export function ids(values: number[][]): S.Tensor {
  return S.tensor(values, { dtype: 'i32' });
}
