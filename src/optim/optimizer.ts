import { StrataError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { FloatArray } from '../tensor/dtype.js';
import { markWritten } from '../tensor/version.js';

/** Serializable optimizer state: scalar settings plus per-parameter buffers by parameter index. */
export interface OptimizerState {
  step: number;
  lr: number;
  buffers: Record<string, Float32Array | Float64Array>;
}

export abstract class Optimizer {
  readonly params: readonly Tensor[];
  /** current learning rate (schedules set it before each step) */
  lr: number;
  /** completed steps */
  stepCount = 0;

  constructor(params: Iterable<Tensor>, lr: number, op: string) {
    this.params = [...params];
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new StrataError('argument', op, `learning rate must be a finite number >= 0, got ${lr}`);
    for (const p of this.params) {
      if (!p.isContiguous || p.offset !== 0 || (p.dtype !== 'f32' && p.dtype !== 'f64')) {
        throw new StrataError('argument', op, 'parameters must be contiguous f32/f64 tensors owned by the optimizer caller');
      }
    }
    this.lr = lr;
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** Applies one update from the parameters' `.grad` (parameters without a grad are skipped). */
  step(): void {
    this.stepCount++;
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      const g = p.grad.contiguous();
      const gd = g.to(p.dtype).contiguous();
      this.update(i, p.data as FloatArray, (gd.data as FloatArray).subarray(gd.offset, gd.offset + gd.size));
      markWritten(p.data);
    });
  }

  protected abstract update(index: number, param: FloatArray, grad: FloatArray): void;

  abstract stateDict(): OptimizerState;
  abstract loadStateDict(state: OptimizerState): void;
}

export function bufferFor(map: Map<number, Float64Array>, index: number, n: number): Float64Array {
  let b = map.get(index);
  if (!b) map.set(index, (b = new Float64Array(n)));
  return b;
}
