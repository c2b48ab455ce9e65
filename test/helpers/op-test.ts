/**
 * The one op-test helper (STYLE.md item 7): for any op, checks
 *  1. gradients against central finite differences in f64 on the reference backend, and
 *  2. the native backend against the reference backend, forward and backward, in f32,
 * and reports the worst difference per tensor when something disagrees.
 */
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

export interface OpCheckOptions {
  /** run the finite-difference gradient check (inputs should then be small) */
  gradcheck?: boolean;
  /** compare native with reference (default true when the addon is loaded) */
  parity?: boolean;
  /** compare gradients across backends too (default: when any input requires grad) */
  backward?: boolean;
  atol?: number;
  rtol?: number;
  gradcheckAtol?: number;
  gradcheckRtol?: number;
  gradcheckEps?: number;
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape, `shape ${a.shape} vs ${b.shape}`);
  const x = a.toArray();
  const y = b.toArray();
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    const yi = y[i]!;
    if (Object.is(xi, yi) || (Number.isNaN(xi) && Number.isNaN(yi))) continue;
    if (xi === yi) continue;
    m = Math.max(m, Math.abs(xi - yi));
    if (Number.isNaN(m)) return Infinity;
  }
  return m;
}

/** Asserts |a - b| <= atol + rtol * |b| elementwise, naming the worst element. */
export function assertClose(actual: Tensor, expected: Tensor, atol: number, rtol: number, label: string): void {
  assert.deepEqual([...actual.shape], [...expected.shape], `${label}: shape ${actual.shape} vs expected ${expected.shape}`);
  const x = actual.toArray();
  const y = expected.toArray();
  let worst = -1;
  let worstExcess = 0;
  let maxDiff = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    const yi = y[i]!;
    if (xi === yi || (Number.isNaN(xi) && Number.isNaN(yi))) continue;
    const d = Math.abs(xi - yi);
    maxDiff = Math.max(maxDiff, Number.isNaN(d) ? Infinity : d);
    const excess = Number.isNaN(d) ? Infinity : d - (atol + rtol * Math.abs(yi));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  assert.ok(worst < 0, `${label}: max abs diff ${maxDiff.toExponential(3)}; element ${worst}: ${x[worst]} vs ${y[worst]} (atol ${atol}, rtol ${rtol})`);
}

function cloneInputs(inputs: readonly Tensor[]): Tensor[] {
  return inputs.map((t) => {
    const c = S.detach(t);
    // keep the caller's layout (views stay views) but give each run its own leaf
    const leaf = new S.Tensor(c.data.slice() as typeof c.data, c.dtype, c.shape, c.strides, c.offset);
    return leaf.requiresGrad_(t.requiresGrad);
  });
}

function runOnce(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], probeSeed: number) {
  const xs = cloneInputs(inputs);
  const y = fn(...xs);
  const grads: (Tensor | null)[] = xs.map(() => null);
  if (y.requiresGrad) {
    const probe = S.randn(y.shape, { generator: new S.Generator(probeSeed) });
    S.sum(S.mul(y, probe)).backward();
    xs.forEach((x, i) => (grads[i] = x.grad));
  }
  return { y, grads };
}

export function checkOp(label: string, fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: OpCheckOptions = {}): void {
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-4;
  if (options.gradcheck) {
    const r = S.gradcheck(fn, inputs, { atol: options.gradcheckAtol ?? 1e-6, rtol: options.gradcheckRtol ?? 1e-5, eps: options.gradcheckEps });
    const bad = r.inputs.find((i) => i.maxAbsError > 0 || !r.ok);
    assert.ok(r.ok, `${label}: gradcheck failed, worst input ${bad?.index} element ${bad?.worstElement}: analytic ${bad?.analytic} vs numeric ${bad?.numeric} (abs err ${r.maxAbsError.toExponential(3)})`);
  }
  if ((options.parity ?? true) && S.nativeAvailable()) {
    const ref = S.withBackend('reference', () => runOnce(fn, inputs, 99));
    const nat = S.withBackend('native', () => runOnce(fn, inputs, 99));
    assertClose(nat.y, ref.y, atol, rtol, `${label}: native vs reference forward`);
    if (options.backward ?? true) {
      ref.grads.forEach((g, i) => {
        const gn = nat.grads[i];
        if (!g || !gn) {
          assert.equal(!!g, !!gn, `${label}: gradient of input ${i} present on one backend only`);
          return;
        }
        assertClose(gn, g, atol, rtol, `${label}: native vs reference grad of input ${i}`);
      });
    }
  }
}

export const gen = (seed: number) => new S.Generator(seed);
export const randn = (shape: number[], seed: number, grad = true) => S.randn(shape, { generator: gen(seed) }).requiresGrad_(grad);
export const randPos = (shape: number[], seed: number, grad = true) =>
  S.rand(shape, { generator: gen(seed), low: 0.5, high: 2 }).requiresGrad_(grad);
