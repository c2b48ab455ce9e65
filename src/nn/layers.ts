import type { Tensor } from '../tensor/tensor.js';
import { Generator, defaultGenerator } from '../tensor/random.js';
import { ones, rand, randn, zeros } from '../tensor/ops/creation.js';
import { linear } from '../tensor/ops/linalg.js';
import { dropout, layerNorm, rmsNorm } from '../tensor/ops/nn.js';
import { embedding } from '../tensor/ops/indexing.js';
import { Module } from './module.js';

export interface InitOptions {
  generator?: Generator;
}

/** y = x W^T + b, initialized like torch.nn.Linear (uniform ±1/sqrt(in)). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: InitOptions & { bias?: boolean } = {},
  ) {
    super();
    const g = options.generator ?? defaultGenerator;
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param('weight', rand([outFeatures, inFeatures], { generator: g, low: -bound, high: bound }));
    this.bias = options.bias === false ? null : this.param('bias', rand([outFeatures], { generator: g, low: -bound, high: bound }));
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
    options: InitOptions = {},
  ) {
    super();
    this.weight = this.param('weight', randn([numEmbeddings, dim], { generator: options.generator }));
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
    options: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.param('weight', ones([dim]));
    this.bias = options.bias === false ? null : this.param('bias', zeros([dim]));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor;

  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.param('weight', ones([dim]));
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
