import type { Tensor } from '../tensor/tensor.js';
import type { FloatArray } from '../tensor/dtype.js';
import { Optimizer, type OptimizerState, bufferFor } from './optimizer.js';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** Adam with decoupled weight decay and bias correction, following torch.optim.AdamW's update order. */
export class AdamW extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly m = new Map<number, Float64Array>();
  private readonly v = new Map<number, Float64Array>();

  constructor(params: Iterable<Tensor>, options: AdamWOptions) {
    super(params, options.lr, 'AdamW');
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
  }

  protected update(index: number, p: FloatArray, g: FloatArray): void {
    const { beta1, beta2, eps, weightDecay, lr } = this;
    const m = bufferFor(this.m, index, p.length);
    const v = bufferFor(this.v, index, p.length);
    const t = this.stepCount;
    const bc1 = 1 - Math.pow(beta1, t);
    const bc2 = 1 - Math.pow(beta2, t);
    const stepSize = lr / bc1;
    const bc2Sqrt = Math.sqrt(bc2);
    const decay = 1 - lr * weightDecay;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]!;
      m[i] = beta1 * m[i]! + (1 - beta1) * gi;
      v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
      const denom = Math.sqrt(v[i]!) / bc2Sqrt + eps;
      p[i] = p[i]! * decay - (stepSize * m[i]!) / denom;
    }
  }

  stateDict(): OptimizerState {
    const buffers: OptimizerState['buffers'] = {};
    for (const [i, b] of this.m) buffers[`${i}.exp_avg`] = b;
    for (const [i, b] of this.v) buffers[`${i}.exp_avg_sq`] = b;
    return { step: this.stepCount, lr: this.lr, buffers };
  }

  loadStateDict(state: OptimizerState): void {
    this.stepCount = state.step;
    this.lr = state.lr;
    this.m.clear();
    this.v.clear();
    for (const [k, b] of Object.entries(state.buffers)) {
      const [i, kind] = k.split('.');
      (kind === 'exp_avg' ? this.m : this.v).set(Number(i), Float64Array.from(b));
    }
  }
}
