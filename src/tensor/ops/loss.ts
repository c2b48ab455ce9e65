import { StrataError, fmtShape } from '../../errors.js';
import type { Tensor } from '../tensor.js';
import { denseInt, expectFloat } from './common.js';
import { fromArray } from './creation.js';
import { mul, square, sub } from './elementwise.js';
import { gather } from './indexing.js';
import { logSoftmax } from './nn.js';
import { mean, sum } from './reduce.js';
import { reshape, squeeze, unsqueeze } from './views.js';

export interface CrossEntropyOptions {
  /** targets equal to this contribute nothing (default -100, as torch) */
  ignoreIndex?: number;
  /** mixes the one-hot target with a uniform distribution (torch's label_smoothing) */
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/** Cross-entropy of logits (..., C) against integer class targets (...). */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  expectFloat(logits, 'crossEntropy');
  const c = logits.shape[logits.ndim - 1]!;
  const lead = logits.shape.slice(0, -1);
  if (targets.ndim !== lead.length || targets.shape.some((d, i) => d !== lead[i])) {
    throw new StrataError('shape', 'crossEntropy', `targets ${fmtShape(targets.shape)} must match logits ${fmtShape(logits.shape)} without the class dim`);
  }
  const eps = options.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new StrataError('argument', 'crossEntropy', `labelSmoothing must be in [0, 1], got ${eps}`);
  const ignore = options.ignoreIndex ?? -100;
  const n = targets.size;
  const t = denseInt(targets, 'crossEntropy');
  const safe = new Int32Array(n);
  const valid = new Float32Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (t[i] === ignore) continue;
    if (t[i]! < 0 || t[i]! >= c) throw new StrataError('index', 'crossEntropy', `target ${t[i]} is out of range for ${c} classes`);
    safe[i] = t[i]!;
    valid[i] = 1;
    count++;
  }
  const logp = reshape(logSoftmax(logits, -1), [n, c]);
  let loss = squeeze(gather(logp, 1, unsqueeze(fromArray(safe, [n], { dtype: 'i32' }), 1)), 1).neg(); // (N)
  if (eps > 0) loss = mul(loss, 1 - eps).add(mul(mean(logp, -1), -eps));
  loss = mul(loss, fromArray(valid, [n]).to(loss.dtype));
  const reduction = options.reduction ?? 'mean';
  if (reduction === 'none') return reshape(loss, lead);
  const total = sum(loss);
  return reduction === 'sum' ? total : total.div(count);
}

/** Mean squared error. */
export function mseLoss(input: Tensor, target: Tensor, reduction: 'mean' | 'sum' | 'none' = 'mean'): Tensor {
  const d = square(sub(input, target));
  return reduction === 'none' ? d : reduction === 'sum' ? sum(d) : mean(d);
}
