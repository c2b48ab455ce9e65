import type { Tensor } from './tensor.js';

/** One recorded step of the tape: the inputs of an op and how to pull a gradient back through it. */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Given d(loss)/d(output), returns d(loss)/d(input) per input (null where none flows). */
  readonly vjp: (grad: Tensor) => readonly (Tensor | null)[];
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording anything on the tape (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Attaches an op's backward to its output when grad mode is on and any input needs a
 * gradient. Every primitive calls this right after its forward dispatch.
 */
export function record(name: string, inputs: readonly Tensor[], out: Tensor, vjp: GradNode['vjp']): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.gradFn = { name, inputs, vjp };
  return out;
}
