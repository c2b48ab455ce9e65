// LoRA (Hu et al., 2021) as PEFT implements it: a frozen Linear W plus a trainable low-rank update,
//   y = x W^T + b + scaling · B(A(dropout(x))),   A (R, I) kaiming-uniform, B (O, R) zeros,
//   scaling = alpha / R (rsLoRA: alpha / sqrt(R)).
//
// How an adapter gets into a model: models hold their layers in typed fields (`this.qProj:
// Linear`) and call `field.forward(x)`, so the adapter has to stand where the Linear stood.
// LoRALinear therefore *is* a Linear (a subclass) that adopts the wrapped layer's weight and bias
// tensors without a copy, and applyLora swaps it in with Module.replaceModule, which also repoints
// every field that held the old layer. Because the base tensors stay registered under the same
// names, checkpoint keys do not move: `...q_proj.weight` is still the base weight and the adapter
// adds `...q_proj.lora_A.weight` and `...q_proj.lora_B.weight`. Every field stays correctly typed
// and no method is patched at run time. merge() folds scaling·B·A into the base weight so a merged
// model runs at base speed; unloadLora swaps plain Linears back in.
//
// Shapes: N any leading dims, I in_features, O out_features, R rank.

import { StrataError } from '../errors.js';
import type { FloatArray } from '../tensor/dtype.js';
import { isQuantized } from '../tensor/dtype.js';
import { noGrad } from '../tensor/grad-mode.js';
import { Generator, defaultGenerator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { zeros } from '../tensor/ops/creation.js';
import { linear, matmul } from '../tensor/ops/linalg.js';
import { dropout } from '../tensor/ops/nn.js';
import { Linear } from './layers.js';
import type { Module } from './module.js';
import { markWritten } from '../tensor/version.js';

/** The settings of one adapter layer, named after PEFT's LoraConfig fields. */
export interface LoRAOptions {
  /** r */
  rank: number;
  /** lora_alpha */
  alpha: number;
  /** lora_dropout: applied to the adapter's input only, in training (default 0) */
  dropout?: number;
  /** use_rslora: scaling alpha / sqrt(rank) instead of alpha / rank */
  rsLora?: boolean;
  /** draws the initial lora_A and the dropout masks (default: the global generator) */
  generator?: Generator;
}

/** What applyLora adapts, with PEFT's matching rules. */
export interface LoRAConfig extends LoRAOptions {
  /**
   * target_modules. A list selects each module whose name equals an entry or ends with
   * `.${entry}` ('q_proj' adapts every `...self_attn.q_proj`); a RegExp must match the whole name.
   * Only Linear modules can be targets.
   */
  targets: readonly string[] | RegExp;
  /**
   * modules_to_save: modules trained and saved whole beside the adapter (a classification head, a
   * resized lm_head). An entry selects each module whose name ends with it, as PEFT matches them.
   */
  modulesToSave?: readonly string[];
}

/** alpha / rank, or alpha / sqrt(rank) for rsLoRA. */
export function loraScaling(rank: number, alpha: number, rsLora = false): number {
  return rsLora ? alpha / Math.sqrt(rank) : alpha / rank;
}

function checkOptions(o: LoRAOptions, op: string): void {
  if (!Number.isSafeInteger(o.rank) || o.rank < 1) throw new StrataError('argument', op, `rank must be a positive integer, got ${o.rank}`);
  if (!Number.isFinite(o.alpha)) throw new StrataError('argument', op, `alpha must be a finite number, got ${o.alpha}`);
  const p = o.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw new StrataError('argument', op, `dropout must be in [0, 1), got ${p}`);
}

/** A Linear with a LoRA adapter beside its frozen weight. */
export class LoRALinear extends Linear {
  /** `lora_A`: (R, I), no bias */
  readonly loraA: Linear;
  /** `lora_B`: (O, R), no bias */
  readonly loraB: Linear;
  readonly rank: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly rsLora: boolean;
  readonly scaling: number;
  private readonly generator: Generator;
  private isMerged = false;

  /** Wraps `base`: its weight and bias tensors are adopted (shared, not copied) and frozen. */
  constructor(base: Linear, options: LoRAOptions) {
    checkOptions(options, 'LoRALinear');
    super(base.inFeatures, base.outFeatures, { weight: base.weight, bias: base.bias ?? false });
    for (const p of [this.weight, this.bias]) if (p) p.requiresGrad_(false);
    this.rank = options.rank;
    this.alpha = options.alpha;
    this.dropout = options.dropout ?? 0;
    this.rsLora = options.rsLora ?? false;
    this.scaling = loraScaling(this.rank, this.alpha, this.rsLora);
    this.generator = options.generator ?? defaultGenerator;
    // Linear's default init, uniform ±1/sqrt(I), is exactly PEFT's kaiming_uniform_(a=sqrt(5)) on (R, I)
    this.loraA = this.module('lora_A', new Linear(this.inFeatures, this.rank, { bias: false, generator: this.generator }));
    // zero B: the adapted model starts out equal to the base
    this.loraB = this.module('lora_B', new Linear(this.rank, this.outFeatures, { bias: false, weight: zeros([this.outFeatures, this.rank]) }));
  }

  static fromLinear(base: Linear, options: LoRAOptions): LoRALinear {
    return new LoRALinear(base, options);
  }

  /** Whether scaling·B·A is currently folded into the base weight. */
  get merged(): boolean {
    return this.isMerged;
  }

  override forward(x: Tensor): Tensor {
    const y = linear(x, this.weight, this.bias); // (N, O)
    if (this.isMerged) return y;
    const h = dropout(x, this.dropout, this.training, this.generator); // (N, I)
    return y.add(this.loraB.forward(this.loraA.forward(h)).mul(this.scaling)); // (N, O)
  }

  /** The update the adapter makes to the base weight: scaling · B A, (O, I). */
  deltaWeight(): Tensor {
    return noGrad(() => matmul(this.loraB.weight, this.loraA.weight).mul(this.scaling)); // (O, I)
  }

  /** Adds scaling·B·A into the base weight; forward then skips the adapter (no-op when merged). */
  merge(): void {
    if (this.isMerged) return;
    this.addToWeight(1, 'merge');
    this.isMerged = true;
  }

  /** Subtracts scaling·B·A back out of the base weight (no-op when not merged). */
  unmerge(): void {
    if (!this.isMerged) return;
    this.addToWeight(-1, 'unmerge');
    this.isMerged = false;
  }

  /** A plain Linear over the same weight and bias tensors (the adapter is dropped; merge first to keep it). */
  toLinear(): Linear {
    const trainable = new Map([this.weight, this.bias].filter((p) => p !== null).map((p) => [p, p.requiresGrad]));
    const plain = new Linear(this.inFeatures, this.outFeatures, { weight: this.weight, bias: this.bias ?? false });
    // Linear registers its tensors as trainable; keep them as frozen as they were here
    for (const [p, flag] of trainable) p.requiresGrad_(flag);
    return plain.train(this.training);
  }

  private addToWeight(sign: 1 | -1, op: string): void {
    const w = this.weight;
    if (w.dtype !== 'f32' && w.dtype !== 'f64') {
      const why = isQuantized(w.dtype) ? 'quantized blocks cannot absorb an update' : 'merging into half precision would round the base weight';
      throw new StrataError('unsupported', `LoRALinear.${op}`, `the base weight is ${w.dtype} (${why}); keep the adapter unmerged, or load the base as f32`);
    }
    const d = this.deltaWeight().to(w.dtype).contiguous(); // (O, I)
    const wd = w.data as FloatArray; // a parameter: contiguous, offset 0
    const dd = d.data as FloatArray;
    for (let i = 0; i < w.size; i++) wd[i] = wd[i]! + sign * dd[d.offset + i]!;
    markWritten(wd);
  }
}

/** Whether module `name` is selected by PEFT-style `targets` (see LoRAConfig.targets). */
export function matchesTarget(name: string, targets: readonly string[] | RegExp): boolean {
  if (targets instanceof RegExp) {
    const whole = new RegExp(`^(?:${targets.source})$`, targets.flags.replace(/[gy]/g, ''));
    return whole.test(name);
  }
  return targets.some((t) => name === t || name.endsWith(`.${t}`));
}

/** Named modules of `model`, leaving out the insides of LoRA layers (their lora_A / lora_B). */
function outerModules(model: Module): [string, Module][] {
  const all = model.namedModules();
  const inner = new Set<Module>();
  for (const [, m] of all) if (m instanceof LoRALinear) for (const [n, c] of m.namedModules()) if (n) inner.add(c);
  return all.filter(([n, m]) => n !== '' && !inner.has(m));
}

function describeTargets(targets: readonly string[] | RegExp): string {
  return targets instanceof RegExp ? `/${targets.source}/` : `[${targets.map((t) => `'${t}'`).join(', ')}]`;
}

function listSome(names: readonly string[], n = 8): string {
  return names.slice(0, n).join(', ') + (names.length > n ? `, ... (${names.length} in all)` : '');
}

/** What applyLora would do to `model`, checked without changing it. */
export interface LoRAPlan {
  /** the Linear modules that get adapters, by name */
  targets: [string, Linear][];
  /** the modules kept trainable and saved whole */
  modulesToSave: [string, Module][];
}

/**
 * Resolves `config` against `model`: the target names (an error when none match, when a match is
 * not a Linear, or when it already has an adapter) and the modules to save.
 */
export function planLora(model: Module, config: LoRAConfig): LoRAPlan {
  checkOptions(config, 'applyLora');
  const modules = outerModules(model);
  const matched = modules.filter(([n]) => matchesTarget(n, config.targets));
  if (!matched.length) {
    const leaves = [...new Set(modules.filter(([, m]) => m instanceof Linear).map(([n]) => n.split('.').pop()!))];
    throw new StrataError('argument', 'applyLora', `no module matches targets ${describeTargets(config.targets)}; the model's Linear modules are named ${listSome(leaves)}`);
  }
  const adapted = matched.filter(([, m]) => m instanceof LoRALinear).map(([n]) => n);
  if (adapted.length) throw new StrataError('argument', 'applyLora', `${listSome(adapted, 4)} already carry a LoRA adapter (unloadLora first)`);
  const notLinear = matched.filter(([, m]) => !(m instanceof Linear));
  if (notLinear.length) {
    const named = notLinear.map(([n, m]) => `${n} (${m.constructor.name})`);
    throw new StrataError('argument', 'applyLora', `targets ${describeTargets(config.targets)} match modules that are not Linear: ${listSome(named, 4)}`);
  }
  const targets = matched as [string, Linear][];
  // one weight under two names (a module registered twice, tied layers) would get two adapters and merge twice
  const owner = new Map<Tensor, string>();
  for (const [n, lin] of targets) {
    const first = owner.get(lin.weight);
    if (first !== undefined) throw new StrataError('argument', 'applyLora', `'${n}' shares its weight with '${first}'; adapt only one of them`);
    owner.set(lin.weight, n);
  }
  const saveNames = config.modulesToSave ?? [];
  const modulesToSave: [string, Module][] = [];
  for (const [n, m] of modules) {
    if (!saveNames.some((s) => n.endsWith(s))) continue;
    // a module inside one already selected is saved with it
    if (modulesToSave.some(([outer]) => n.startsWith(`${outer}.`))) continue;
    if (targets.some(([t]) => t === n || n.startsWith(`${t}.`) || t.startsWith(`${n}.`))) {
      throw new StrataError('argument', 'applyLora', `'${n}' is both a LoRA target and a module to save`);
    }
    modulesToSave.push([n, m]);
  }
  if (saveNames.length && !modulesToSave.length) {
    throw new StrataError('argument', 'applyLora', `no module matches modulesToSave [${saveNames.map((s) => `'${s}'`).join(', ')}]`);
  }
  return { targets, modulesToSave };
}

/**
 * Adds a LoRA adapter to every target Linear of `model` (in place) and freezes every other
 * parameter except those of `modulesToSave`. Returns the adapted module names and the modules kept
 * trainable. Train with `trainableParameters(model)` (or `loraParameters(model)`).
 */
export function applyLora(model: Module, config: LoRAConfig): { adapted: string[]; modulesToSave: string[] } {
  const plan = planLora(model, config);
  const generator = config.generator ?? defaultGenerator;
  // a new layer follows the mode of the one it replaces (a model loaded for inference is in eval mode)
  for (const [name, lin] of plan.targets) model.replaceModule(name, new LoRALinear(lin, { ...config, generator }).train(lin.training));
  const keep = new Set<Tensor>(loraParameters(model));
  for (const [, m] of plan.modulesToSave) for (const p of m.parameters()) if (!isQuantized(p.dtype)) keep.add(p);
  for (const p of model.parameters()) p.requiresGrad_(keep.has(p));
  return { adapted: plan.targets.map(([n]) => n), modulesToSave: plan.modulesToSave.map(([n]) => n) };
}

/** The LoRA layers of `model` by name. */
export function loraModules(model: Module): [string, LoRALinear][] {
  return model.namedModules().filter((e): e is [string, LoRALinear] => e[1] instanceof LoRALinear);
}

/** Every lora_A and lora_B weight in `model`. */
export function loraParameters(model: Module): Tensor[] {
  return loraModules(model).flatMap(([, m]) => [m.loraA.weight, m.loraB.weight]);
}

/** The parameters that require grad: what an optimizer should get after applyLora. */
export function trainableParameters(model: Module): Tensor[] {
  return model.parameters().filter((p) => p.requiresGrad);
}

/** Folds every adapter into its base weight (forward then runs at base speed). */
export function mergeLora(model: Module): void {
  for (const [, m] of loraModules(model)) m.merge();
}

/** Takes every merged adapter back out of its base weight. */
export function unmergeLora(model: Module): void {
  for (const [, m] of loraModules(model)) m.unmerge();
}

/**
 * Replaces every LoRA layer with a plain Linear over its base weight, merged first unless
 * `merge: false` (then the adapter is discarded), like PEFT's merge_and_unload / unload. The model
 * then saves as a plain checkpoint. Returns the names of the layers unloaded.
 */
export function unloadLora(model: Module, options: { merge?: boolean } = {}): string[] {
  const merge = options.merge ?? true;
  return loraModules(model).map(([name, m]) => {
    if (merge) m.merge();
    else m.unmerge();
    model.replaceModule(name, m.toLinear());
    return name;
  });
}
