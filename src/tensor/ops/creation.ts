import { StrataError } from '../../errors.js';
import { type DType, type Storage, allocStorage, f32ToBf16, f32ToF16, storageMatches } from '../dtype.js';
import { type Shape, checkShape, numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { Generator, defaultGenerator } from '../random.js';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

type Nested = number | boolean | readonly Nested[];

function inferShape(values: Nested): number[] {
  const shape: number[] = [];
  let v: Nested = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0] as Nested;
  }
  return shape;
}

function flatten(values: Nested, shape: readonly number[], out: number[], depth = 0): void {
  if (depth === shape.length) {
    if (Array.isArray(values)) throw new StrataError('shape', 'tensor', 'ragged nested array');
    out.push(typeof values === 'boolean' ? Number(values) : (values as number));
    return;
  }
  if (!Array.isArray(values) || values.length !== shape[depth]) throw new StrataError('shape', 'tensor', 'ragged nested array');
  for (const v of values) flatten(v, shape, out, depth + 1);
}

function fillStorage(dtype: DType, values: ArrayLike<number>): Storage {
  const data = allocStorage(dtype, values.length);
  if (dtype === 'f16' || dtype === 'bf16') {
    const conv = dtype === 'f16' ? f32ToF16 : f32ToBf16;
    for (let i = 0; i < values.length; i++) data[i] = conv(values[i]!);
  } else if (dtype === 'bool') {
    for (let i = 0; i < values.length; i++) data[i] = values[i] ? 1 : 0;
  } else {
    for (let i = 0; i < values.length; i++) data[i] = values[i]!;
  }
  return data;
}

/** A tensor from nested JS arrays (or a scalar). Default dtype f32. */
export function tensor(values: Nested, options: CreateOptions = {}): Tensor {
  const shape = inferShape(values);
  const flat: number[] = [];
  flatten(values, shape, flat);
  const dtype = options.dtype ?? 'f32';
  const t = new Tensor(fillStorage(dtype, flat), dtype, shape);
  if (options.requiresGrad) t.requiresGrad_();
  return t;
}

/**
 * A tensor over flat values and a shape. A typed array that already matches the dtype is
 * used as storage without copying; anything else is converted.
 */
export function fromArray(values: ArrayLike<number> | Storage, shape: Shape, options: CreateOptions = {}): Tensor {
  const sh = checkShape(shape, 'fromArray');
  const dtype = options.dtype ?? (values instanceof Float64Array ? 'f64' : values instanceof Int32Array ? 'i32' : 'f32');
  if (values.length !== numel(sh)) {
    throw new StrataError('shape', 'fromArray', `${values.length} values do not fill shape (${sh.join(', ')}) of ${numel(sh)} elements`);
  }
  const isStorage = ArrayBuffer.isView(values) && storageMatches(dtype, values as Storage) && dtype !== 'f16' && dtype !== 'bf16';
  const data = isStorage ? (values as Storage) : fillStorage(dtype, values);
  const t = new Tensor(data, dtype, sh);
  if (options.requiresGrad) t.requiresGrad_();
  return t;
}

export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  const sh = checkShape(shape, 'full');
  const dtype = options.dtype ?? 'f32';
  const data = allocStorage(dtype, numel(sh));
  const stored = dtype === 'f16' ? f32ToF16(value) : dtype === 'bf16' ? f32ToBf16(value) : value;
  if (stored !== 0) data.fill(stored);
  const t = new Tensor(data, dtype, sh);
  if (options.requiresGrad) t.requiresGrad_();
  return t;
}

export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function zerosLike(t: Tensor, options: CreateOptions = {}): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, ...options });
}

export function onesLike(t: Tensor, options: CreateOptions = {}): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, ...options });
}

/** Values start, start+step, ... below end. Default dtype i32 when all arguments are integers. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step)) throw new StrataError('argument', 'arange', `step must be a non-zero finite number, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const allInt = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const dtype = options.dtype ?? (allInt ? 'i32' : 'f32');
  const vals = new Float64Array(n);
  for (let i = 0; i < n; i++) vals[i] = start + i * step;
  return fromArray(vals, [n], { ...options, dtype });
}

export function linspace(start: number, end: number, steps: number, options: CreateOptions = {}): Tensor {
  const vals = new Float64Array(steps);
  for (let i = 0; i < steps; i++) vals[i] = steps === 1 ? start : start + ((end - start) * i) / (steps - 1);
  return fromArray(vals, [steps], { dtype: 'f32', ...options });
}

export function eye(n: number, options: CreateOptions = {}): Tensor {
  const t = zeros([n, n], options);
  for (let i = 0; i < n; i++) t.data[i * n + i] = options.dtype === 'f16' ? f32ToF16(1) : options.dtype === 'bf16' ? f32ToBf16(1) : 1;
  return t;
}

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

/** Uniform in [low, high). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const sh = checkShape(shape, 'rand');
  const g = options.generator ?? defaultGenerator;
  const lo = options.low ?? 0;
  const hi = options.high ?? 1;
  const vals = new Float64Array(numel(sh));
  for (let i = 0; i < vals.length; i++) vals[i] = lo + (hi - lo) * g.uniform();
  return fromArray(vals, sh, { dtype: 'f32', ...options });
}

/** Normal with the given mean and standard deviation. */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const sh = checkShape(shape, 'randn');
  const g = options.generator ?? defaultGenerator;
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  const vals = new Float64Array(numel(sh));
  for (let i = 0; i < vals.length; i++) vals[i] = mean + std * g.normal();
  return fromArray(vals, sh, { dtype: 'f32', ...options });
}

/** Uniform integers in [low, high), dtype i32. */
export function randint(low: number, high: number, shape: Shape, options: RandomOptions = {}): Tensor {
  const sh = checkShape(shape, 'randint');
  if (!(high > low)) throw new StrataError('argument', 'randint', `high (${high}) must exceed low (${low})`);
  const g = options.generator ?? defaultGenerator;
  const vals = new Int32Array(numel(sh));
  for (let i = 0; i < vals.length; i++) vals[i] = g.integer(low, high);
  return fromArray(vals, sh, { dtype: 'i32', ...options });
}
