// Where a model's parameters come from. A model constructor asks for each parameter by its
// checkpoint key and shape; with a checkpoint the tensor is adopted as it was read (no copy into
// a fresh parameter), without one it is initialized as Hugging Face initializes it.

import { StrataError, fmtShape } from '../errors.js';
import type { Checkpoint } from '../io/hf.js';
import type { Tensor } from '../tensor/tensor.js';
import { isQuantized } from '../tensor/dtype.js';
import { Generator } from '../tensor/random.js';
import { ones, randn, zeros } from '../tensor/ops/creation.js';
import { Embedding, LayerNorm, Linear, RMSNorm } from '../nn/layers.js';
import { Module } from '../nn/module.js';

export type Init = 'zeros' | 'ones' | { std: number };

export interface ParamSourceOptions {
  /**
   * f16/bf16 checkpoint tensors: 'f32' converts each to f32 once at load (default); 'keep' keeps
   * them as stored (ops upcast on use, which costs time on every forward until matmul reads
   * half precision directly).
   */
  halfPrecision?: 'f32' | 'keep';
  /** for fresh initialization */
  generator?: Generator;
  /** std of normal initialization (config.initializer_range) */
  initializerRange?: number;
  /**
   * The model's base-model prefix ('transformer.', 'model.', 'bert.', 'roberta.'). Checkpoints of a
   * base model saved alone (GPT2Model, BertModel) lack it; lookups then drop it.
   */
  basePrefix?: string;
  /** what the model is called in messages */
  modelName?: string;
  /**
   * Keys a checkpoint may lack, initialized fresh instead (a new task head on a pretrained base,
   * as transformers does when it loads a base checkpoint into a *ForSequenceClassification).
   */
  initializeMissing?: (key: string) => boolean;
}

export class ParamSource {
  private readonly used = new Set<string>();
  /** keys the checkpoint lacked that were initialized fresh (see initializeMissing) */
  readonly initializedKeys: string[] = [];
  private readonly dropPrefix: string | null;
  readonly generator: Generator;
  readonly initializerRange: number;

  constructor(
    readonly checkpoint: Checkpoint | null,
    readonly options: ParamSourceOptions = {},
  ) {
    this.generator = options.generator ?? new Generator(0);
    this.initializerRange = options.initializerRange ?? 0.02;
    const prefix = options.basePrefix;
    const keys = checkpoint ? [...checkpoint.tensors.keys()] : [];
    this.dropPrefix = prefix && checkpoint && !keys.some((k) => k.startsWith(prefix)) ? prefix : null;
  }

  /** The checkpoint key a model key is stored under. */
  fileKey(key: string): string {
    return this.dropPrefix && key.startsWith(this.dropPrefix) ? key.slice(this.dropPrefix.length) : key;
  }

  /** Whether the checkpoint holds `key` (always false without a checkpoint). */
  has(key: string): boolean {
    return this.checkpoint?.tensors.has(this.fileKey(key)) ?? false;
  }

  /** The parameter `key` of `shape`: the checkpoint's tensor, or a fresh one initialized by `init`. */
  take(key: string, shape: readonly number[], init: Init): Tensor {
    if (!this.checkpoint) return this.initialize(shape, init);
    const fk = this.fileKey(key);
    const t = this.checkpoint.tensors.get(fk);
    const model = this.options.modelName ?? 'the model';
    if (!t && this.options.initializeMissing?.(key)) {
      this.initializedKeys.push(key);
      return this.initialize(shape, init);
    }
    if (!t) throw new StrataError('io', this.checkpoint.source, `missing tensor '${fk}' ${fmtShape(shape)}, which ${model} needs`);
    const file = this.checkpoint.fileOf.get(fk) ?? this.checkpoint.source;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new StrataError('io', file, `tensor '${fk}' has shape ${fmtShape(t.shape)} but ${model} as config.json describes it expects ${fmtShape(shape)}`);
    }
    if (isQuantized(t.dtype)) {
      // quantized blocks (GGUF) stay as they are: matmul and embedding read them directly
      this.used.add(fk);
      return t;
    }
    if (t.dtype !== 'f32' && t.dtype !== 'f16' && t.dtype !== 'bf16' && t.dtype !== 'f64') {
      throw new StrataError('io', file, `tensor '${fk}' has dtype ${t.dtype}; weights must be floating point`);
    }
    this.used.add(fk);
    if (t.dtype === 'f64' || (t.dtype !== 'f32' && this.options.halfPrecision !== 'keep')) return t.to('f32');
    return t;
  }

  /** Checkpoint keys no parameter took. */
  unused(): string[] {
    return this.checkpoint ? [...this.checkpoint.tensors.keys()].filter((k) => !this.used.has(k)) : [];
  }

  private initialize(shape: readonly number[], init: Init): Tensor {
    if (init === 'zeros') return zeros(shape);
    if (init === 'ones') return ones(shape);
    return randn(shape, { generator: this.generator, std: init.std });
  }
}

/** A ParamSource seen from one module: names are joined to the module's key prefix. */
export class Scope {
  constructor(
    readonly source: ParamSource,
    readonly prefix = '',
  ) {}

  at(name: string): Scope {
    return new Scope(this.source, `${this.prefix}${name}.`);
  }

  has(name: string): boolean {
    return this.source.has(this.prefix + name);
  }

  tensor(name: string, shape: readonly number[], init: Init = { std: this.source.initializerRange }): Tensor {
    return this.source.take(this.prefix + name, shape, init);
  }

  /** nn.Linear over `<name>.weight` (out, in) and `<name>.bias`. */
  linear(name: string, inFeatures: number, outFeatures: number, bias: boolean): Linear {
    const s = this.at(name);
    return new Linear(inFeatures, outFeatures, {
      weight: s.tensor('weight', [outFeatures, inFeatures]),
      bias: bias ? s.tensor('bias', [outFeatures], 'zeros') : false,
    });
  }

  embedding(name: string, count: number, dim: number): Embedding {
    return new Embedding(count, dim, { weight: this.at(name).tensor('weight', [count, dim]) });
  }

  layerNorm(name: string, dim: number, eps: number, bias = true): LayerNorm {
    const s = this.at(name);
    return new LayerNorm(dim, eps, { weight: s.tensor('weight', [dim], 'ones'), bias: bias ? s.tensor('bias', [dim], 'zeros') : false });
  }

  rmsNorm(name: string, dim: number, eps: number): RMSNorm {
    return new RMSNorm(dim, eps, { weight: this.at(name).tensor('weight', [dim], 'ones') });
  }
}

/** A plain module that only names its children and parameters (layers.0, attention.self, ...). */
export class ModuleGroup extends Module {
  add<M extends Module>(name: string, child: M): M {
    return this.module(name, child);
  }

  addParam(name: string, t: Tensor): Tensor {
    return this.param(name, t);
  }
}
