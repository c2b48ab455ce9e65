import { StrataError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { FloatArray } from '../tensor/dtype.js';

/**
 * Scales all gradients in place so that their global L2 norm is at most `maxNorm`
 * (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): number {
  if (!(maxNorm > 0)) throw new StrataError('argument', 'clipGradNorm', `maxNorm must be > 0, got ${maxNorm}`);
  const grads: FloatArray[] = [];
  for (const p of params) {
    if (!p.grad) continue;
    if (!p.grad.isContiguous || p.grad.offset !== 0 || (p.grad.dtype !== 'f32' && p.grad.dtype !== 'f64')) p.grad = p.grad.to(p.dtype).contiguous().clone();
    grads.push(p.grad.data as FloatArray);
  }
  let ss = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) ss += g[i]! * g[i]!;
  const norm = Math.sqrt(ss);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = g[i]! * coef;
  return norm;
}
