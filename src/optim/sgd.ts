import { StrataError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { FloatArray } from '../tensor/dtype.js';
import { Optimizer, type OptimizerState, bufferFor } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** Stochastic gradient descent with momentum, as torch.optim.SGD. */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly velocity = new Map<number, Float64Array>();

  constructor(params: Iterable<Tensor>, options: SGDOptions) {
    super(params, options.lr, 'SGD');
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new StrataError('argument', 'SGD', 'nesterov momentum needs momentum > 0 and dampening 0');
    }
  }

  protected update(index: number, p: FloatArray, g: FloatArray): void {
    const { momentum, dampening, weightDecay, nesterov, lr } = this;
    const first = !this.velocity.has(index);
    const buf = momentum !== 0 ? bufferFor(this.velocity, index, p.length) : null;
    for (let i = 0; i < p.length; i++) {
      let d = g[i]! + weightDecay * p[i]!;
      if (buf) {
        buf[i] = first ? d : momentum * buf[i]! + (1 - dampening) * d;
        d = nesterov ? d + momentum * buf[i]! : buf[i]!;
      }
      p[i] = p[i]! - lr * d;
    }
  }

  stateDict(): OptimizerState {
    const buffers: OptimizerState['buffers'] = {};
    for (const [i, b] of this.velocity) buffers[`${i}.momentum`] = b;
    return { step: this.stepCount, lr: this.lr, buffers };
  }

  loadStateDict(state: OptimizerState): void {
    this.stepCount = state.step;
    this.lr = state.lr;
    this.velocity.clear();
    for (const [k, b] of Object.entries(state.buffers)) this.velocity.set(Number(k.split('.')[0]), Float64Array.from(b));
  }
}
