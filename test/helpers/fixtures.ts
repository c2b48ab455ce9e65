// Golden-fixture helpers: load a committed .safetensors fixture and compare tensors with a
// failure message that always says how far apart they are.

import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../../src/index.js';
import { readSafetensors, type SafetensorsContents } from '../../src/io/index.js';

export const FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');

/** Loads test/fixtures/<name>.safetensors (the name may include or omit the extension). */
export function loadFixture(name: string): SafetensorsContents {
  const file = name.endsWith('.safetensors') ? name : `${name}.safetensors`;
  return readSafetensors(path.join(FIXTURES_DIR, file));
}

function sameShape(a: Tensor, b: Tensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

function elementDiff(x: number, y: number): number {
  if (Object.is(x, y) || x === y) return 0; // equal infinities included
  if (Number.isNaN(x) && Number.isNaN(y)) return 0;
  return Math.abs(x - y); // NaN or Infinity when only one side is non-finite
}

/** max |a - b| over all elements (NaN matches NaN, equal infinities match); shapes must agree. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (!sameShape(a, b)) throw new Error(`maxAbsDiff: shapes differ: (${a.shape.join(', ')}) vs (${b.shape.join(', ')})`);
  const x = a.toArray();
  const y = b.toArray();
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const d = elementDiff(x[i]!, y[i]!);
    if (!(d <= worst)) worst = d; // NaN sticks
  }
  return worst;
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise (torch.allclose). The
 * message names the tensor, its max abs diff, and the worst element. Returns the max abs diff.
 */
export function assertClose(actual: Tensor, expected: Tensor, tol: Tolerance, label: string): number {
  assert.ok(
    sameShape(actual, expected),
    `${label}: shape (${actual.shape.join(', ')}) does not match expected (${expected.shape.join(', ')})`,
  );
  const x = actual.toArray();
  const y = expected.toArray();
  let maxDiff = 0;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < x.length; i++) {
    const d = elementDiff(x[i]!, y[i]!);
    if (!(d <= maxDiff)) maxDiff = d;
    const excess = d - (tol.atol + tol.rtol * Math.abs(y[i]!));
    if (!(excess <= worstExcess)) {
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${label}: max abs diff ${maxDiff.toExponential(3)} exceeds atol ${tol.atol} + rtol ${tol.rtol}·|expected|; ` +
        `worst at flat index ${worst}: actual ${x[worst]} vs expected ${y[worst]} (shape (${expected.shape.join(', ')}))`,
    );
  }
  return maxDiff;
}
