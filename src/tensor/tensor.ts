import { StrataError, fmtShape } from '../errors.js';
import { type DType, type Storage, QUANT_BLOCKS, byteSize, bytesPerElement, isQuantized, storageMatches, bf16ToF32, f16ToF32, parseDType } from './dtype.js';
import { type Shape, contiguousStrides, numel } from './shape.js';
import type { GradNode } from './grad-mode.js';
import type { View } from '../backend/backend.js';
import * as el from './ops/elementwise.js';
import * as vw from './ops/views.js';
import * as rd from './ops/reduce.js';
import * as la from './ops/linalg.js';
import * as nn from './ops/nn.js';
import * as ix from './ops/indexing.js';
import { refuseBlocks } from './ops/quantized.js';
import { backward } from '../autograd/engine.js';

export type TensorLike = Tensor | number;

/**
 * An n-dimensional array: a typed-array storage plus shape, strides (in elements) and an
 * offset, so that transposes, slices and broadcasts are views that copy nothing.
 */
export class Tensor {
  readonly data: Storage;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  /** Whether gradients flow to (and accumulate in) this tensor. */
  requiresGrad = false;
  /** Accumulated gradient after `backward()` (leaf tensors only). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded on the tape. */
  gradFn: GradNode | null = null;

  constructor(data: Storage, dtype: DType, shape: Shape, strides?: readonly number[], offset = 0) {
    if (!storageMatches(dtype, data)) {
      throw new StrataError('dtype', 'Tensor', `storage ${data.constructor.name} cannot hold dtype ${dtype}`);
    }
    const st = strides ?? contiguousStrides(shape);
    if (st.length !== shape.length) throw new StrataError('shape', 'Tensor', `strides [${st.join(', ')}] do not match shape ${fmtShape(shape)}`);
    if (isQuantized(dtype)) checkBlockView(data, dtype, shape, st, offset);
    let last = offset;
    let empty = false;
    for (let i = 0; i < shape.length; i++) {
      const d = shape[i]!;
      const s = st[i]!;
      if (!Number.isInteger(d) || d < 0 || !Number.isInteger(s) || s < 0) {
        throw new StrataError('shape', 'Tensor', `invalid view: shape ${fmtShape(shape)} strides [${st.join(', ')}]`);
      }
      if (d === 0) empty = true;
      else last += (d - 1) * s;
    }
    // a block format's storage holds data.length / bytes * values logical elements
    const capacity = isQuantized(dtype) ? (data.length / QUANT_BLOCKS[dtype].bytes) * QUANT_BLOCKS[dtype].values : data.length;
    if (!Number.isInteger(offset) || offset < 0 || (!empty && last >= capacity)) {
      throw new StrataError(
        'index',
        'Tensor',
        `view shape ${fmtShape(shape)} strides [${st.join(', ')}] offset ${offset} reaches past a storage of ${capacity} elements`,
      );
    }
    this.data = data;
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze([...st]);
    this.offset = offset;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  /** Bytes the elements occupy (block formats: whole blocks; views count only their own elements). */
  get nbytes(): number {
    return isQuantized(this.dtype) ? byteSize(this.dtype, this.size) : this.size * bytesPerElement(this.dtype);
  }

  get isContiguous(): boolean {
    let s = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== s) return false;
      s *= this.shape[i]!;
    }
    return true;
  }

  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  view(): View {
    // kernels read views element by element; block formats have no elements to read that way
    if (isQuantized(this.dtype)) throw refuseBlocks(this);
    return { data: this.data, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  /** The elements in row-major order as JS numbers (f16/bf16 decoded, block formats dequantized). */
  toArray(): number[] {
    if (isQuantized(this.dtype)) return this.to('f32').toArray();
    const c = this.contiguous();
    const out = new Array<number>(c.size);
    const d = c.data;
    for (let i = 0; i < out.length; i++) {
      const raw = d[c.offset + i]!;
      out[i] = c.dtype === 'f16' ? f16ToF32(raw) : c.dtype === 'bf16' ? bf16ToF32(raw) : raw;
    }
    return out;
  }

  /** A contiguous Float32Array copy of the values. */
  toFloat32Array(): Float32Array {
    const c = this.to('f32').contiguous();
    return (c.data as Float32Array).slice(c.offset, c.offset + c.size);
  }

  /** Nested arrays, as torch's tolist(). */
  tolist(): unknown {
    const flat = this.toArray();
    const build = (dim: number, start: number): unknown => {
      if (dim === this.ndim) return flat[start];
      const step = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, start + i * step));
    };
    return build(0, 0);
  }

  item(): number {
    if (this.size !== 1) throw new StrataError('shape', 'item', `only a one-element tensor converts to a number, got shape ${fmtShape(this.shape)}`);
    return this.toArray()[0]!;
  }

  toString(): string {
    const vals = this.size <= 20 ? this.toArray().map((v) => +v.toPrecision(5)).join(', ') : `${this.size} values`;
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''}: [${vals}])`;
  }

  /** Marks this leaf as trainable (or not); returns this. */
  requiresGrad_(flag = true): this {
    if (flag && isQuantized(this.dtype)) {
      throw new StrataError('dtype', 'requiresGrad_', `${this.dtype} weights are frozen: train a float copy (.to('f32')) or an adapter beside them`);
    }
    if (!this.isLeaf && !flag) throw new StrataError('autograd', 'requiresGrad_', 'cannot stop gradients on a non-leaf; use detach()');
    this.requiresGrad = flag;
    return this;
  }

  /** Back-propagates from this tensor (a scalar unless `grad` is given) into every leaf's `.grad`. */
  backward(grad?: Tensor): void {
    backward(this, grad);
  }

  zeroGrad(): void {
    this.grad = null;
  }

  // ---- views ----
  detach(): Tensor {
    return vw.detach(this);
  }
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    return vw.reshape(this, flatShapeArgs(shape));
  }
  permute(...dims: number[] | [readonly number[]]): Tensor {
    return vw.permute(this, flatShapeArgs(dims));
  }
  transpose(d0 = -2, d1 = -1): Tensor {
    return vw.transpose(this, d0, d1);
  }
  get T(): Tensor {
    return vw.transpose(this, -2, -1);
  }
  slice(dim: number, start: number, end?: number, step = 1): Tensor {
    return vw.slice(this, dim, start, end, step);
  }
  select(dim: number, index: number): Tensor {
    return vw.select(this, dim, index);
  }
  expand(...shape: number[] | [readonly number[]]): Tensor {
    return vw.expand(this, flatShapeArgs(shape));
  }
  unsqueeze(dim: number): Tensor {
    return vw.unsqueeze(this, dim);
  }
  squeeze(dim?: number): Tensor {
    return vw.squeeze(this, dim);
  }
  flatten(start = 0, end = -1): Tensor {
    return vw.flatten(this, start, end);
  }
  contiguous(): Tensor {
    return vw.contiguous(this);
  }
  to(dtype: DType | string): Tensor {
    return vw.cast(this, parseDType(dtype, 'to'));
  }
  clone(): Tensor {
    return vw.clone(this);
  }

  // ---- elementwise ----
  add(o: TensorLike): Tensor {
    return el.add(this, o);
  }
  sub(o: TensorLike): Tensor {
    return el.sub(this, o);
  }
  mul(o: TensorLike): Tensor {
    return el.mul(this, o);
  }
  div(o: TensorLike): Tensor {
    return el.div(this, o);
  }
  pow(o: TensorLike): Tensor {
    return el.pow(this, o);
  }
  maximum(o: TensorLike): Tensor {
    return el.maximum(this, o);
  }
  minimum(o: TensorLike): Tensor {
    return el.minimum(this, o);
  }
  neg(): Tensor {
    return el.neg(this);
  }
  exp(): Tensor {
    return el.exp(this);
  }
  log(): Tensor {
    return el.log(this);
  }
  sqrt(): Tensor {
    return el.sqrt(this);
  }
  rsqrt(): Tensor {
    return el.rsqrt(this);
  }
  abs(): Tensor {
    return el.abs(this);
  }
  tanh(): Tensor {
    return el.tanh(this);
  }
  sigmoid(): Tensor {
    return el.sigmoid(this);
  }
  relu(): Tensor {
    return el.relu(this);
  }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return el.gelu(this, approximate);
  }
  silu(): Tensor {
    return el.silu(this);
  }
  square(): Tensor {
    return el.square(this);
  }
  clamp(min?: number, max?: number): Tensor {
    return el.clamp(this, min, max);
  }
  eq(o: TensorLike): Tensor {
    return el.eq(this, o);
  }
  ne(o: TensorLike): Tensor {
    return el.ne(this, o);
  }
  lt(o: TensorLike): Tensor {
    return el.lt(this, o);
  }
  le(o: TensorLike): Tensor {
    return el.le(this, o);
  }
  gt(o: TensorLike): Tensor {
    return el.gt(this, o);
  }
  ge(o: TensorLike): Tensor {
    return el.ge(this, o);
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return el.maskedFill(this, mask, value);
  }

  // ---- reductions ----
  sum(dim?: number | readonly number[], keepdim = false): Tensor {
    return rd.sum(this, dim, keepdim);
  }
  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    return rd.mean(this, dim, keepdim);
  }
  max(dim?: number, keepdim = false): Tensor {
    return rd.max(this, dim, keepdim);
  }
  min(dim?: number, keepdim = false): Tensor {
    return rd.min(this, dim, keepdim);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return rd.argmax(this, dim, keepdim);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return rd.argmin(this, dim, keepdim);
  }
  var(dim?: number | readonly number[], options?: { correction?: number; keepdim?: boolean }): Tensor {
    return rd.variance(this, dim, options);
  }

  // ---- linear algebra, nn ----
  matmul(o: Tensor): Tensor {
    return la.matmul(this, o);
  }
  softmax(dim = -1): Tensor {
    return nn.softmax(this, dim);
  }
  logSoftmax(dim = -1): Tensor {
    return nn.logSoftmax(this, dim);
  }
  gather(dim: number, index: Tensor): Tensor {
    return ix.gather(this, dim, index);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return ix.indexSelect(this, dim, index);
  }
}

/**
 * A block format's view must keep its blocks whole: one dim (of size > 1) runs along the blocks
 * with stride 1 and a size that is a multiple of the block, every other dim steps by whole blocks,
 * and the offset starts a block. So (out, in) weights, their transposes and row slices are views;
 * a slice through the middle of a block is not.
 */
function checkBlockView(data: Storage, dtype: keyof typeof QUANT_BLOCKS, shape: readonly number[], strides: readonly number[], offset: number): void {
  const { values, bytes } = QUANT_BLOCKS[dtype];
  const bad = (why: string): never => {
    throw new StrataError('dtype', 'Tensor', `${dtype} ${why} (shape ${fmtShape(shape)}, strides [${strides.join(', ')}], offset ${offset})`);
  };
  if (data.length % bytes !== 0) bad(`storage of ${data.length} bytes is not a whole number of ${bytes}-byte blocks`);
  if (shape.some((d) => d === 0)) return;
  if (offset % values !== 0) bad(`view does not start at a block boundary (blocks of ${values})`);
  let unit = -1;
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    if (strides[i] === 1 && unit < 0) unit = i;
    else if (strides[i]! % values !== 0) bad(`view splits blocks of ${values}: dim ${i} steps by ${strides[i]}`);
  }
  if (unit < 0) bad(`view must span whole blocks of ${values} values along one dim`);
  if (shape[unit]! % values !== 0) bad(`view cuts a block: dim ${unit} has ${shape[unit]} values, not a multiple of ${values}`);
}

function flatShapeArgs(args: number[] | [readonly number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as readonly number[])] : (args as number[]);
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
