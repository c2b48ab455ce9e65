import { StrataError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Generator, defaultGenerator } from '../tensor/random.js';
import { ones, rand, randn, zeros } from '../tensor/ops/creation.js';
import { linear } from '../tensor/ops/linalg.js';
import { addLayerNorm, dropout, layerNorm, rmsNorm } from '../tensor/ops/nn.js';
import { embedding } from '../tensor/ops/indexing.js';
import { Module } from './module.js';

export interface InitOptions {
  generator?: Generator;
}

/** A given tensor (e.g. loaded from a checkpoint) adopted as a parameter without a copy, after a shape check. */
function adopt(t: Tensor, shape: readonly number[], what: string): Tensor {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new StrataError('shape', what, `expected ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
  }
  return t;
}

/** y = x W^T + b, initialized like torch.nn.Linear (uniform ±1/sqrt(in)). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    /** `weight` (out, in) and a `bias` tensor (out,) are adopted as given instead of initialized */
    options: InitOptions & { bias?: boolean | Tensor; weight?: Tensor } = {},
  ) {
    super();
    const g = options.generator ?? defaultGenerator;
    const bound = 1 / Math.sqrt(inFeatures);
    const init = (shape: number[]) => rand(shape, { generator: g, low: -bound, high: bound });
    this.weight = this.param('weight', options.weight ? adopt(options.weight, [outFeatures, inFeatures], 'Linear.weight') : init([outFeatures, inFeatures]));
    const bias = options.bias;
    this.bias = bias === false ? null : this.param('bias', typeof bias === 'object' ? adopt(bias, [outFeatures], 'Linear.bias') : init([outFeatures]));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    options: InitOptions & { weight?: Tensor } = {},
  ) {
    super();
    const w = options.weight ? adopt(options.weight, [numEmbeddings, dim], 'Embedding.weight') : randn([numEmbeddings, dim], { generator: options.generator });
    this.weight = this.param('weight', w);
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    options: { bias?: boolean | Tensor; weight?: Tensor } = {},
  ) {
    super();
    this.weight = this.param('weight', options.weight ? adopt(options.weight, [dim], 'LayerNorm.weight') : ones([dim]));
    const bias = options.bias;
    this.bias = bias === false ? null : this.param('bias', typeof bias === 'object' ? adopt(bias, [dim], 'LayerNorm.bias') : zeros([dim]));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }

  /** forward(x + residual), in one pass when nothing records gradients (addLayerNorm). */
  forwardAdd(x: Tensor, residual: Tensor): Tensor {
    return addLayerNorm(x, residual, this.weight, this.bias, this.eps);
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor;

  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
    options: { weight?: Tensor } = {},
  ) {
    super();
    this.weight = this.param('weight', options.weight ? adopt(options.weight, [dim], 'RMSNorm.weight') : ones([dim]));
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

export class Dropout extends Module {
  constructor(
    readonly p: number,
    readonly generator: Generator = defaultGenerator,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }
}
