import { StrataError } from '../../errors.js';
import { type FloatArray, isQuantized } from '../dtype.js';
import { broadcastShapes, broadcastStrides, shapesEqual } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import type { BinaryOp, CompareOp, UnaryOp, View } from '../../backend/backend.js';
import { asFloat, computeDType, empty, emptyOverwritten, expectFloat, scalar } from './common.js';
import { sum } from './reduce.js';
import { reshape } from './views.js';

// ---- unary ----

function unaryKernel(op: UnaryOp, x: Tensor, s = 0): Tensor {
  const xf = asFloat(x);
  const out = empty(xf.dtype, xf.shape);
  backend().unary(op, xf.view() as View<FloatArray>, out.data as FloatArray, s);
  return out;
}

/** Defines a differentiable unary op from its kernel and derivative. */
function unaryOp(name: string, op: UnaryOp, x: Tensor, vjp: (g: Tensor, x: Tensor, y: Tensor) => Tensor, s = 0): Tensor {
  expectFloat(x, name);
  const y = unaryKernel(op, x, s);
  return record(name, [x], y, (g) => [vjp(g, x, y)]);
}

export function neg(x: Tensor): Tensor {
  return unaryOp('neg', 'neg', x, (g) => neg(g));
}
export function exp(x: Tensor): Tensor {
  return unaryOp('exp', 'exp', x, (g, _x, y) => mul(g, y));
}
export function log(x: Tensor): Tensor {
  return unaryOp('log', 'log', x, (g, x) => div(g, x));
}
export function sqrt(x: Tensor): Tensor {
  return unaryOp('sqrt', 'sqrt', x, (g, _x, y) => div(g, mul(y, 2)));
}
export function rsqrt(x: Tensor): Tensor {
  // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
  return unaryOp('rsqrt', 'rsqrt', x, (g, _x, y) => mul(g, mul(pow(y, 3), -0.5)));
}
export function abs(x: Tensor): Tensor {
  return unaryOp('abs', 'abs', x, (g, x) => mul(g, unaryKernel('sign', x)));
}
export function sign(x: Tensor): Tensor {
  return unaryKernel('sign', x);
}
export function tanh(x: Tensor): Tensor {
  return unaryOp('tanh', 'tanh', x, (g, _x, y) => mul(g, sub(1, mul(y, y))));
}
export function sigmoid(x: Tensor): Tensor {
  return unaryOp('sigmoid', 'sigmoid', x, (g, _x, y) => mul(g, mul(y, sub(1, y))));
}
export function relu(x: Tensor): Tensor {
  return unaryOp('relu', 'relu', x, (g, x) => mul(g, unaryKernel('step', x)));
}
/** GELU, exact (erf) or with the tanh approximation. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate === 'tanh') return unaryOp('gelu_tanh', 'geluTanh', x, (g, x) => mul(g, unaryKernel('geluTanhGrad', x)));
  return unaryOp('gelu', 'gelu', x, (g, x) => mul(g, unaryKernel('geluGrad', x)));
}
export function silu(x: Tensor): Tensor {
  return unaryOp('silu', 'silu', x, (g, x) => mul(g, unaryKernel('siluGrad', x)));
}
export function sin(x: Tensor): Tensor {
  return unaryOp('sin', 'sin', x, (g, x) => mul(g, cos(x)));
}
export function cos(x: Tensor): Tensor {
  return unaryOp('cos', 'cos', x, (g, x) => mul(g, neg(sin(x))));
}
export function square(x: Tensor): Tensor {
  return unaryOp('square', 'square', x, (g, x) => mul(g, mul(x, 2)));
}
export function reciprocal(x: Tensor): Tensor {
  return unaryOp('reciprocal', 'reciprocal', x, (g, _x, y) => neg(mul(g, mul(y, y))));
}

/** Limits values to [min, max]; the gradient passes where the value was not clipped. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  let y = x;
  if (min !== undefined) y = maximum(y, min);
  if (max !== undefined) y = minimum(y, max);
  return y;
}

// ---- binary ----

function toTensor(v: TensorLike, like: Tensor): Tensor {
  return v instanceof Tensor ? v : scalar(v, like.dtype === 'i32' ? (Number.isInteger(v) ? 'i32' : 'f32') : computeDType(like));
}

/** Sums `g` over the dims that broadcasting added or stretched, giving a tensor of `shape`. */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const s = axes.length ? sum(g, axes, true) : g;
  return reshape(s, shape);
}

function binaryKernel(op: BinaryOp, a: Tensor, b: Tensor, name: string): Tensor {
  const shape = broadcastShapes(name, a.shape, b.shape);
  const ints = a.dtype === 'i32' && b.dtype === 'i32' && op !== 'div' && op !== 'pow';
  const af = ints ? a : asFloat(a, computeDType(a, b));
  const bf = ints ? b : asFloat(b, computeDType(a, b));
  const out = emptyOverwritten(af.dtype, shape); // the kernel writes every element
  const va = { data: af.data as FloatArray, shape, strides: broadcastStrides(af.shape, af.strides, shape), offset: af.offset };
  const vb = { data: bf.data as FloatArray, shape, strides: broadcastStrides(bf.shape, bf.strides, shape), offset: bf.offset };
  backend().binary(op, va, vb, out.data as FloatArray);
  return out;
}

function binaryOp(name: string, op: BinaryOp, a: TensorLike, b: TensorLike, vjp: (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null]): Tensor {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new StrataError('argument', name, 'at least one operand must be a tensor');
  const ta = a instanceof Tensor ? a : toTensor(a, b as Tensor);
  const tb = b instanceof Tensor ? b : toTensor(b, ta);
  const y = binaryKernel(op, ta, tb, name);
  return record(name, [ta, tb], y, (g) => {
    const [ga, gb] = vjp(g, ta, tb, y);
    return [ga && sumToShape(ga, ta.shape), gb && sumToShape(gb, tb.shape)];
  });
}

export function add(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('add', 'add', a, b, (g) => [g, g]);
}
export function sub(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('sub', 'sub', a, b, (g) => [g, neg(g)]);
}
export function mul(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('mul', 'mul', a, b, (g, a, b) => [a.requiresGrad ? mul(g, b) : null, b.requiresGrad ? mul(g, a) : null]);
}
export function div(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('div', 'div', a, b, (g, a, b, y) => [a.requiresGrad ? div(g, b) : null, b.requiresGrad ? neg(div(mul(g, y), b)) : null]);
}
export function pow(a: TensorLike, b: TensorLike): Tensor {
  if (a instanceof Tensor && typeof b === 'number') {
    expectFloat(a, 'pow');
    const y = unaryKernel('powScalar', a, b);
    return record('pow', [a], y, (g) => [mul(g, mul(pow(a, b - 1), b))]);
  }
  return binaryOp('pow', 'pow', a, b, (g, a, b, y) => [
    a.requiresGrad ? mul(g, mul(b, pow(a, sub(b, 1)))) : null,
    b.requiresGrad ? mul(g, mul(y, log(a))) : null,
  ]);
}
/** Elementwise maximum; on ties the gradient goes to the first operand. */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('maximum', 'maximum', a, b, (g, a, b) => {
    const pick = ge(a, b);
    return [where(pick, g, 0), where(pick, 0, g)];
  });
}
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return binaryOp('minimum', 'minimum', a, b, (g, a, b) => {
    const pick = le(a, b);
    return [where(pick, g, 0), where(pick, 0, g)];
  });
}

// ---- comparisons (bool results, no gradient) ----

function compareOp(op: CompareOp, a: TensorLike, b: TensorLike): Tensor {
  const ta = a instanceof Tensor ? a : toTensor(a, b as Tensor);
  const tb = b instanceof Tensor ? b : toTensor(b, ta);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  // asFloat upcasts half floats and refuses block-quantized tensors
  const fa = ta.dtype === 'f16' || ta.dtype === 'bf16' || isQuantized(ta.dtype) ? asFloat(ta) : ta;
  const fb = tb.dtype === 'f16' || tb.dtype === 'bf16' || isQuantized(tb.dtype) ? asFloat(tb) : tb;
  const out = empty('bool', shape);
  backend().compare(
    op,
    { data: fa.data, shape, strides: broadcastStrides(fa.shape, fa.strides, shape), offset: fa.offset },
    { data: fb.data, shape, strides: broadcastStrides(fb.shape, fb.strides, shape), offset: fb.offset },
    out.data as Uint8Array,
  );
  return out;
}

export function eq(a: TensorLike, b: TensorLike): Tensor {
  return compareOp('eq', a, b);
}
export function ne(a: TensorLike, b: TensorLike): Tensor {
  return compareOp('ne', a, b);
}
export function lt(a: TensorLike, b: TensorLike): Tensor {
  return compareOp('lt', a, b);
}
export function le(a: TensorLike, b: TensorLike): Tensor {
  return compareOp('le', a, b);
}
export function gt(a: TensorLike, b: TensorLike): Tensor {
  return compareOp('gt', a, b);
}
export function ge(a: TensorLike, b: TensorLike): Tensor {
  return compareOp('ge', a, b);
}

// ---- selection ----

/** cond ? a : b, broadcasting all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (cond.dtype !== 'bool' && cond.dtype !== 'u8') throw new StrataError('dtype', 'where', `condition must be bool, got ${cond.dtype}`);
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : scalar(0, 'f32');
  const ta = a instanceof Tensor ? a : scalar(a, computeDType(like));
  const tb = b instanceof Tensor ? b : scalar(b, computeDType(like));
  const dt = computeDType(ta, tb);
  const fa = asFloat(ta, dt);
  const fb = asFloat(tb, dt);
  const shape = broadcastShapes('where', cond.shape, fa.shape, fb.shape);
  const out = empty(dt, shape);
  const v = (t: Tensor) => ({ data: t.data as FloatArray, shape, strides: broadcastStrides(t.shape, t.strides, shape), offset: t.offset });
  backend().where(
    { data: cond.data as Uint8Array, shape, strides: broadcastStrides(cond.shape, cond.strides, shape), offset: cond.offset },
    v(fa),
    v(fb),
    out.data as FloatArray,
  );
  return record('where', [ta, tb], out, (g) => [
    ta.requiresGrad ? sumToShape(where(cond, g, 0), ta.shape) : null,
    tb.requiresGrad ? sumToShape(where(cond, 0, g), tb.shape) : null,
  ]);
}

/** Replaces elements where `mask` is true with `value`. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, value, x);
}
