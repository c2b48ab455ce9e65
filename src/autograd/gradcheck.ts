import { StrataError } from '../errors.js';
import { withBackend } from '../backend/index.js';
import { Generator } from '../tensor/random.js';
import { noGrad } from '../tensor/grad-mode.js';
import type { Tensor } from '../tensor/tensor.js';
import { isFloat } from '../tensor/dtype.js';
import { randn } from '../tensor/ops/creation.js';
import { mul } from '../tensor/ops/elementwise.js';
import { sum } from '../tensor/ops/reduce.js';
import { cast, contiguous, detach } from '../tensor/ops/views.js';
import { markWritten } from '../tensor/version.js';
import { grad } from './engine.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** worst |analytic - numeric| over all checked elements */
  maxAbsError: number;
  /** per input: worst error and where */
  inputs: { index: number; maxAbsError: number; worstElement: number; analytic: number; numeric: number }[];
}

/**
 * Compares the tape's gradients of `fn` with central finite differences, in f64 on the
 * reference backend. The output is projected onto a fixed random tensor so every output
 * element is exercised. Inputs with requiresGrad are checked; the others (indices, constant
 * tables) pass through, floats converted to f64.
 */
export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckResult {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-6;
  const rtol = options.rtol ?? 1e-5;
  return withBackend('reference', () => {
    const xs = inputs.map((t) => (isFloat(t.dtype) ? contiguous(cast(detach(t), 'f64')).clone().requiresGrad_(t.requiresGrad) : t));
    const probe = (() => {
      const y = noGrad(() => fn(...xs));
      if (!isFloat(y.dtype)) throw new StrataError('dtype', 'gradcheck', `fn must return a float tensor, got ${y.dtype}`);
      return cast(randn(y.shape, { generator: new Generator(options.seed ?? 1234) }), 'f64');
    })();
    const objective = () => sum(mul(fn(...xs), probe));
    const checked = xs.filter((t) => t.requiresGrad);
    const analytic = grad(objective(), checked);
    const result: GradcheckResult = { ok: true, maxAbsError: 0, inputs: [] };
    checked.forEach((x, ci) => {
      const data = x.data as Float64Array;
      const an = contiguous(analytic[ci]!).toArray();
      let worst = { index: xs.indexOf(x), maxAbsError: 0, worstElement: -1, analytic: 0, numeric: 0 };
      for (let i = 0; i < data.length; i++) {
        const orig = data[i]!;
        // each probe writes the input in place: mark it, so nothing cached from its values is reused
        data[i] = orig + eps;
        markWritten(data);
        const fp = noGrad(() => objective().item());
        data[i] = orig - eps;
        markWritten(data);
        const fm = noGrad(() => objective().item());
        data[i] = orig;
        markWritten(data);
        const numeric = (fp - fm) / (2 * eps);
        const err = Math.abs(an[i]! - numeric);
        if (err > atol + rtol * Math.abs(numeric) || !Number.isFinite(an[i]!)) result.ok = false;
        if (err > worst.maxAbsError || Number.isNaN(err)) worst = { index: xs.indexOf(x), maxAbsError: err, worstElement: i, analytic: an[i]!, numeric };
      }
      result.maxAbsError = Math.max(result.maxAbsError, worst.maxAbsError);
      result.inputs.push(worst);
    });
    return result;
  });
}
