// Connectionist temporal classification loss (Graves et al., 2006), as torch.nn.functional.ctc_loss
// computes it: -log p(target | input) summed over every alignment of the target to the S input
// positions, where an alignment may repeat a label and put blanks anywhere, and repeated labels in
// the target need a blank between them.
//
// The forward–backward recursions run here over the log-probabilities' values (a dynamic program
// over positions, not a graph of ops), and give the loss and its gradient together: d(-log p) /
// d logp[s, k] = -(posterior probability that position s emits k). The result enters the graph as
// -sum(logp * posterior) plus a constant that makes its value the true loss; through logSoftmax
// this gives the familiar softmax - posterior gradient on the logits.
//
// Shapes: B batch, S input positions, V classes (blank included), L target length.

import { StrataError, fmtShape } from '../../errors.js';
import type { Tensor } from '../tensor.js';
import { expectFloat } from './common.js';
import { fromArray } from './creation.js';
import { mul } from './elementwise.js';
import { logSoftmax } from './nn.js';
import { sum } from './reduce.js';

export interface CtcLossOptions {
  /** the blank class (default 0, as torch) */
  blank?: number;
  /** input positions each sample uses (default all S) */
  inputLengths?: readonly number[];
  /**
   * 'mean' (torch's default: each sample's loss divided by its target length, then averaged over
   * the batch), 'sum', or 'none' is not offered: the gradient is built for a scalar.
   */
  reduction?: 'mean' | 'sum';
  /** a target no alignment fits (too long for its input) counts 0 instead of Infinity (torch's zero_infinity) */
  zeroInfinity?: boolean;
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/**
 * One sample: log-probabilities lp (S x V, row-major, first `S` rows used) and a target of labels.
 * Adds d(-log p)/d lp (scaled by `scale`) into grad and returns -log p.
 */
function ctcSample(lp: Float32Array, base: number, S: number, V: number, target: readonly number[], blank: number, grad: Float32Array, scale: number): number {
  const L = 2 * target.length + 1; // the target with blanks around and between its labels
  const label = (j: number): number => (j % 2 === 0 ? blank : target[(j - 1) >> 1]!);
  // a position may skip the blank before it when the labels on both sides differ
  const canSkip = (j: number): boolean => j >= 2 && j % 2 === 1 && label(j) !== label(j - 2);
  const alpha = new Float64Array(S * L).fill(-Infinity);
  const beta = new Float64Array(S * L).fill(-Infinity);
  const at = (s: number, k: number): number => lp[base + s * V + k]!;
  alpha[0] = at(0, blank);
  if (L > 1) alpha[1] = at(0, label(1));
  for (let s = 1; s < S; s++) {
    for (let j = 0; j < L; j++) {
      let a = logAddExp(alpha[(s - 1) * L + j]!, j >= 1 ? alpha[(s - 1) * L + j - 1]! : -Infinity);
      if (canSkip(j)) a = logAddExp(a, alpha[(s - 1) * L + j - 2]!);
      if (a !== -Infinity) alpha[s * L + j] = a + at(s, label(j));
    }
  }
  beta[(S - 1) * L + L - 1] = at(S - 1, blank);
  if (L > 1) beta[(S - 1) * L + L - 2] = at(S - 1, label(L - 2));
  for (let s = S - 2; s >= 0; s--) {
    for (let j = L - 1; j >= 0; j--) {
      let b = logAddExp(beta[(s + 1) * L + j]!, j + 1 < L ? beta[(s + 1) * L + j + 1]! : -Infinity);
      if (j + 2 < L && canSkip(j + 2)) b = logAddExp(b, beta[(s + 1) * L + j + 2]!);
      if (b !== -Infinity) beta[s * L + j] = b + at(s, label(j));
    }
  }
  const logP = L > 1 ? logAddExp(alpha[(S - 1) * L + L - 1]!, alpha[(S - 1) * L + L - 2]!) : alpha[(S - 1) * L]!;
  if (logP === -Infinity) return Infinity;
  // alpha and beta both include position s's emission: the posterior divides it out once
  for (let s = 0; s < S; s++) {
    for (let j = 0; j < L; j++) {
      const ab = alpha[s * L + j]! + beta[s * L + j]!;
      if (ab === -Infinity) continue;
      const k = label(j);
      grad[base + s * V + k]! -= scale * Math.exp(ab - at(s, k) - logP);
    }
  }
  return -logP;
}

/**
 * CTC loss of logits (B, S, V) against targets (one label list per sample, no blanks), equal to
 * torch's ctc_loss on log_softmax(logits) with reduction 'mean' or 'sum'.
 */
export function ctcLoss(logits: Tensor, targets: readonly (readonly number[])[], options: CtcLossOptions = {}): Tensor {
  expectFloat(logits, 'ctcLoss');
  if (logits.ndim !== 3) throw new StrataError('shape', 'ctcLoss', `logits must be (B, S, V), got ${fmtShape(logits.shape)}`);
  const [B, S, V] = logits.shape as [number, number, number];
  const blank = options.blank ?? 0;
  if (!Number.isInteger(blank) || blank < 0 || blank >= V) throw new StrataError('argument', 'ctcLoss', `blank ${blank} is not one of the ${V} classes`);
  if (targets.length !== B) throw new StrataError('shape', 'ctcLoss', `${targets.length} targets for a batch of ${B}`);
  const lengths = options.inputLengths ?? new Array<number>(B).fill(S);
  if (lengths.length !== B) throw new StrataError('shape', 'ctcLoss', `${lengths.length} input lengths for a batch of ${B}`);
  targets.forEach((t, b) => {
    for (const k of t) if (!Number.isInteger(k) || k < 0 || k >= V || k === blank) throw new StrataError('index', 'ctcLoss', `target ${b} holds ${k}: labels must be classes in [0, ${V}) other than the blank ${blank}`);
    if (!t.length) throw new StrataError('argument', 'ctcLoss', `target ${b} is empty`);
    const n = lengths[b]!;
    if (!Number.isInteger(n) || n < 1 || n > S) throw new StrataError('argument', 'ctcLoss', `input length ${n} of sample ${b} is not in [1, ${S}]`);
  });
  const reduction = options.reduction ?? 'mean';

  const logp = logSoftmax(logits, -1); // (B, S, V)
  const lp = logp.contiguous().data as Float32Array;
  const offset = logp.contiguous().offset;
  const values = lp.subarray(offset, offset + B * S * V);
  const grad = new Float32Array(B * S * V);
  let total = 0;
  for (let b = 0; b < B; b++) {
    const scale = reduction === 'mean' ? 1 / (B * targets[b]!.length) : 1;
    const sampleGrad = new Float32Array(grad.buffer, b * S * V * 4, S * V);
    const loss = ctcSample(values.subarray(b * S * V, (b + 1) * S * V), 0, lengths[b]!, V, targets[b]!, blank, sampleGrad, scale);
    if (loss === Infinity) {
      if (!options.zeroInfinity) return fromArray(new Float32Array([Infinity]), []).to(logits.dtype);
      sampleGrad.fill(0);
      continue;
    }
    total += loss * scale;
  }
  // -sum(logp * posterior) has the gradient of the loss; the constant restores its value
  const surrogate = sum(mul(logp, fromArray(grad, [B, S, V]).to(logp.dtype)));
  return surrogate.add(total - surrogate.item());
}
