import { StrataError, fmtShape } from '../errors.js';
import { noGrad } from '../tensor/grad-mode.js';
import type { Tensor } from '../tensor/tensor.js';
import { add } from '../tensor/ops/elementwise.js';
import { full } from '../tensor/ops/creation.js';
import { cast } from '../tensor/ops/views.js';

/** Tensors reachable from `root` through the tape, inputs before the ops that used them. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i]!;
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

function seedGrad(root: Tensor, grad: Tensor | undefined, op: string): Tensor {
  if (!root.requiresGrad) throw new StrataError('autograd', op, 'the tensor does not require grad (no input on its tape has requiresGrad)');
  if (grad === undefined) {
    if (root.size !== 1) throw new StrataError('autograd', op, `a gradient is needed for a non-scalar output ${fmtShape(root.shape)}`);
    return full(root.shape, 1, { dtype: root.dtype === 'f64' ? 'f64' : 'f32' });
  }
  if (grad.shape.length !== root.shape.length || grad.shape.some((d, i) => d !== root.shape[i])) {
    throw new StrataError('shape', op, `gradient ${fmtShape(grad.shape)} does not match output ${fmtShape(root.shape)}`);
  }
  return grad;
}

/**
 * Runs the tape backwards from `root`. Returns the gradients of the leaves, or of the tensors in
 * `keep` when given (which may be intermediate); other gradients are dropped once passed on.
 */
function propagate(root: Tensor, seed: Tensor, op: string, keep?: ReadonlySet<Tensor>): Map<Tensor, Tensor> {
  const kept = new Map<Tensor, Tensor>();
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  const order = topoOrder(root);
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (keep ? keep.has(t) : !node) kept.set(t, g);
      if (!node) continue;
      const inGrads = node.vjp(g);
      node.inputs.forEach((input, j) => {
        const gi = inGrads[j];
        if (!gi || !input.requiresGrad) return;
        if (gi.shape.length !== input.shape.length || gi.shape.some((d, k) => d !== input.shape[k])) {
          throw new StrataError('autograd', op, `${node.name} returned a gradient ${fmtShape(gi.shape)} for an input ${fmtShape(input.shape)}`);
        }
        const prev = grads.get(input);
        grads.set(input, prev ? add(prev, gi) : gi);
      });
    }
  });
  return kept;
}

/** Accumulates d(root)/d(leaf) into `.grad` of every leaf that requires grad. */
export function backward(root: Tensor, grad?: Tensor): void {
  const seed = seedGrad(root, grad, 'backward');
  const grads = propagate(root, seed, 'backward');
  noGrad(() => {
    for (const [t, g] of grads) {
      if (t.gradFn || !t.requiresGrad) continue;
      const gd = g.dtype === t.dtype ? g : cast(g, t.dtype);
      // each leaf owns its gradient buffer, so in-place clipping never touches another tensor
      t.grad = t.grad ? add(t.grad, gd) : gd.clone();
    }
  });
}

/** d(output)/d(inputs) without touching any `.grad` (zeros for inputs the output does not depend on). */
export function grad(output: Tensor, inputs: readonly Tensor[], gradOutput?: Tensor): Tensor[] {
  const seed = seedGrad(output, gradOutput, 'grad');
  const grads = propagate(output, seed, 'grad', new Set(inputs));
  return inputs.map((t) => grads.get(t) ?? full(t.shape, 0, { dtype: t.dtype === 'f64' ? 'f64' : 'f32' }));
}
