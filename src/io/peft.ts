// PEFT LoRA adapters on disk, as `peft` writes and reads them:
//   adapter_config.json        LoraConfig (peft_type "LORA", r, lora_alpha, target_modules, ...)
//   adapter_model.safetensors  base_model.model.<module>.lora_A.weight (R, I) and .lora_B.weight
//                              (O, R) for each adapted module; base_model.model.<module>.<param>
//                              for each parameter of a module in modules_to_save
// Module names are the model's own (its checkpoint keys), so an adapter trained with PEFT on the
// same Hugging Face architecture loads here and one saved here loads in PEFT. Only the adapter is
// saved; the base model stays where it is.

import fs from 'node:fs';
import path from 'node:path';
import { StrataError, fmtShape } from '../errors.js';
import type { Module } from '../nn/module.js';
import { type LoRAConfig, type LoRAPlan, applyLora, loraModules, matchesTarget, planLora } from '../nn/lora.js';
import { Linear } from '../nn/layers.js';
import { isFloat } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';
import { ConfigReader, describeJson, readJsonObject } from './config.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** PEFT's prefix: its PeftModel holds the LoraModel as `base_model`, which holds the model as `model` */
const KEY_PREFIX = 'base_model.model.';

/** PEFT's TaskType values. */
export const PEFT_TASK_TYPES = ['CAUSAL_LM', 'SEQ_CLS', 'SEQ_2_SEQ_LM', 'TOKEN_CLS', 'QUESTION_ANS', 'FEATURE_EXTRACTION'] as const;
export type PeftTaskType = (typeof PEFT_TASK_TYPES)[number];

/** A LoRA adapter's configuration: what applyLora takes, plus what PEFT records about the base. */
export interface AdapterConfig extends LoRAConfig {
  /** task_type (PEFT picks its model wrapper by it); null when not given */
  taskType?: PeftTaskType | null;
  /** base_model_name_or_path: where the base model comes from */
  baseModel?: string | null;
}

/** adapter_config.json fields a LoRA adapter must leave at these values: Strata has no counterpart. */
const UNSUPPORTED_FIELDS: [field: string, isDefault: (v: unknown) => boolean, what: string][] = [
  ['fan_in_fan_out', (v) => v === false, 'weights stored (in, out) as in GPT-2 Conv1D'],
  ['bias', (v) => v === 'none', 'trained biases'],
  ['use_dora', (v) => v === false, 'DoRA'],
  ['lora_bias', (v) => v === false, 'a bias on lora_B'],
  ['rank_pattern', (v) => isEmptyObject(v), 'per-module ranks'],
  ['alpha_pattern', (v) => isEmptyObject(v), 'per-module alphas'],
  ['layers_to_transform', (v) => v === null, 'adapting only some layers'],
  ['exclude_modules', (v) => v === null, 'excluded modules'],
  ['target_parameters', (v) => v === null, 'adapters on bare parameters'],
  ['trainable_token_indices', (v) => v === null, 'trainable token rows'],
  ['layer_replication', (v) => v === null, 'layer replication'],
];

function isEmptyObject(v: unknown): boolean {
  return v === null || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
}

function loraKey(module: string, which: 'lora_A' | 'lora_B'): string {
  return `${KEY_PREFIX}${module}.${which}.weight`;
}

/** The adapter's tensors under PEFT's keys. */
function adapterTensors(model: Module, modulesToSave: [string, Module][]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, m] of loraModules(model)) {
    out[loraKey(name, 'lora_A')] = m.loraA.weight;
    out[loraKey(name, 'lora_B')] = m.loraB.weight;
  }
  for (const [name, m] of modulesToSave) for (const [p, t] of m.namedParameters()) out[`${KEY_PREFIX}${name}.${p}`] = t;
  return out;
}

/** adapter_config.json as PEFT writes it (the long-standing LoraConfig fields, keys sorted). */
function configJson(config: AdapterConfig): string {
  const t = config.targets;
  if (t instanceof RegExp && t.flags.replace(/[gy]/g, '') !== '') {
    throw new StrataError('argument', 'saveAdapter', `target regex /${t.source}/${t.flags} has flags, which PEFT's target_modules string cannot carry`);
  }
  const json: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: config.baseModel ?? null,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: config.alpha,
    lora_dropout: config.dropout ?? 0,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: config.modulesToSave?.length ? [...config.modulesToSave] : null,
    peft_type: 'LORA',
    r: config.rank,
    rank_pattern: {},
    revision: null,
    target_modules: t instanceof RegExp ? t.source : [...new Set(t)].sort(),
    task_type: config.taskType ?? null,
    use_dora: false,
    use_rslora: config.rsLora ?? false,
  };
  const sorted = Object.fromEntries(Object.keys(json).sort().map((k) => [k, json[k]]));
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

/**
 * Writes the adapters of `model` to `dir` (created if needed) as a PEFT adapter directory:
 * adapter_model.safetensors, then adapter_config.json, each atomically. `config` is what was given
 * to applyLora (plus taskType and baseModel); it must describe the model's adapters: the same
 * modules, rank, alpha, dropout and rsLoRA setting.
 */
export function saveAdapter(dir: string, model: Module, config: AdapterConfig): void {
  const op = 'saveAdapter';
  const layers = loraModules(model);
  if (!layers.length) throw new StrataError('argument', op, 'the model has no LoRA layers (applyLora first)');
  for (const [name, m] of layers) {
    const mismatch =
      m.rank !== config.rank ? `rank ${m.rank} (config: ${config.rank})`
      : m.alpha !== config.alpha ? `alpha ${m.alpha} (config: ${config.alpha})`
      : m.dropout !== (config.dropout ?? 0) ? `dropout ${m.dropout} (config: ${config.dropout ?? 0})`
      : m.rsLora !== (config.rsLora ?? false) ? `rsLora ${m.rsLora} (config: ${config.rsLora ?? false})`
      : !matchesTarget(name, config.targets) ? 'a name the config targets do not select'
      : null;
    if (mismatch) throw new StrataError('argument', op, `LoRA layer '${name}' has ${mismatch}`);
  }
  const adapted = new Set(layers.map(([n]) => n));
  const missed = model.namedModules().filter(([n, m]) => m instanceof Linear && !adapted.has(n) && n !== '' && matchesTarget(n, config.targets) && !isInsideLora(n, adapted));
  if (missed.length) throw new StrataError('argument', op, `the config targets select '${missed[0]![0]}', which has no LoRA adapter`);
  if (config.taskType != null && !PEFT_TASK_TYPES.includes(config.taskType)) {
    throw new StrataError('argument', op, `taskType must be one of ${PEFT_TASK_TYPES.join(', ')}, got '${String(config.taskType)}'`);
  }
  const toSave = modulesToSave(model, config.modulesToSave ?? [], op);
  const text = configJson(config);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StrataError('io', dir, `cannot create directory (${err instanceof Error ? err.message : String(err)})`);
  }
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), adapterTensors(model, toSave), { format: 'pt' });
  writeFileAtomic(path.join(dir, ADAPTER_CONFIG_FILE), [new TextEncoder().encode(text)]);
}

function isInsideLora(name: string, adapted: ReadonlySet<string>): boolean {
  const i = name.lastIndexOf('.');
  return i > 0 && adapted.has(name.slice(0, i));
}

/** The modules that PEFT's modules_to_save entries select (each name ending with an entry, outermost only). */
function modulesToSave(model: Module, entries: readonly string[], op: string): [string, Module][] {
  const out: [string, Module][] = [];
  if (!entries.length) return out;
  const adapted = new Set(loraModules(model).map(([n]) => n));
  for (const [n, m] of model.namedModules()) {
    if (n === '' || isInsideLora(n, adapted) || !entries.some((e) => n.endsWith(e))) continue;
    if (!out.some(([outer]) => n.startsWith(`${outer}.`))) out.push([n, m]);
  }
  if (!out.length) throw new StrataError('argument', op, `no module matches modulesToSave [${entries.map((e) => `'${e}'`).join(', ')}]`);
  return out;
}

/** Reads and validates adapter_config.json of a PEFT LoRA adapter directory. */
export function readAdapterConfig(dir: string): AdapterConfig {
  const file = path.join(dir, ADAPTER_CONFIG_FILE);
  const raw = readJsonObject(file);
  const c = new ConfigReader(raw, file);
  const type = c.requiredString('peft_type');
  if (type !== 'LORA') throw new StrataError('unsupported', file, `peft_type '${type}' is not supported (Strata loads LORA adapters)`);
  for (const [field, isDefault, what] of UNSUPPORTED_FIELDS) {
    if (Object.hasOwn(raw, field) && !isDefault(raw[field])) {
      throw new StrataError('unsupported', file, `field '${field}' is ${describeJson(raw[field])}: ${what} is not supported`);
    }
  }
  const rank = c.requiredInt('r', { min: 1 });
  const alpha = c.number('lora_alpha', 8);
  const dropout = c.number('lora_dropout', 0, { min: 0 });
  if (!(dropout < 1)) c.fail('lora_dropout', `must be < 1, got ${dropout}`);
  const t = raw['target_modules'];
  let targets: string[] | RegExp;
  if (typeof t === 'string') {
    if (t === 'all-linear') throw new StrataError('unsupported', file, "target_modules 'all-linear' is not supported; list the module names");
    targets = regexField(t, c);
  } else if (Array.isArray(t)) {
    targets = c.stringArray('target_modules')!;
    if (!targets.length) return c.fail('target_modules', 'is an empty list');
  } else {
    targets = c.fail('target_modules', `must be a list of module names or a regex string, got ${describeJson(t)} (PEFT's per-architecture defaults are not supported)`);
  }
  const taskType = c.has('task_type') ? c.choice('task_type', PEFT_TASK_TYPES, 'CAUSAL_LM') : null;
  return {
    rank,
    alpha,
    dropout,
    rsLora: c.bool('use_rslora', false),
    targets,
    modulesToSave: c.stringArray('modules_to_save') ?? [],
    taskType,
    baseModel: c.has('base_model_name_or_path') ? c.string('base_model_name_or_path', '') : null,
  };
}

/** PEFT's target_modules string: a Python regex, read as a JavaScript one (the common syntax agrees). */
function regexField(source: string, c: ConfigReader): RegExp {
  try {
    return new RegExp(source);
  } catch (err) {
    return c.fail('target_modules', `is not a regular expression JavaScript accepts (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** What loadAdapter applied. */
export interface LoadedAdapter {
  config: AdapterConfig;
  /** the module names that got LoRA layers */
  adapted: string[];
  /** the modules whose parameters the adapter replaced */
  modulesToSave: string[];
}

/**
 * Reads a PEFT LoRA adapter from `dir` and applies it to `model` (in place): the config and every
 * tensor's name, dtype and shape are checked against the model before anything changes; then the
 * targets get LoRA layers holding the adapter's weights and the modules_to_save take its values.
 * Like PEFT's default (is_trainable false) the result is frozen; pass `trainable: true` to keep
 * training the adapter.
 */
export function loadAdapter(dir: string, model: Module, options: { trainable?: boolean } = {}): LoadedAdapter {
  const config = readAdapterConfig(dir);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  if (!fs.existsSync(weightsFile) && fs.existsSync(path.join(dir, 'adapter_model.bin'))) {
    throw new StrataError('unsupported', path.join(dir, 'adapter_model.bin'), 'pickled adapters are not read; save the adapter with safe_serialization=True');
  }
  const tensors = readSafetensors(weightsFile).tensors;
  let plan: LoRAPlan;
  try {
    plan = planLora(model, config);
  } catch (err) {
    if (err instanceof StrataError) throw new StrataError('io', path.join(dir, ADAPTER_CONFIG_FILE), err.message.replace(/^applyLora: /, ''));
    throw err;
  }
  // every tensor the model will need, with its shape
  const expected = new Map<string, { shape: number[]; what: string }>();
  for (const [name, lin] of plan.targets) {
    expected.set(loraKey(name, 'lora_A'), { shape: [config.rank, lin.inFeatures], what: `lora_A of ${name} (r, in_features)` });
    expected.set(loraKey(name, 'lora_B'), { shape: [lin.outFeatures, config.rank], what: `lora_B of ${name} (out_features, r)` });
  }
  for (const [name, m] of plan.modulesToSave) {
    for (const [p, t] of m.namedParameters()) expected.set(`${KEY_PREFIX}${name}.${p}`, { shape: [...t.shape], what: `${name}.${p}` });
  }
  const missing = [...expected.keys()].filter((k) => !(k in tensors));
  // a modules_to_save entry (PEFT adds 'classifier' and 'score' for SEQ_CLS) need not have been saved whole
  const savedModules = plan.modulesToSave.filter(([name, m]) => m.namedParameters().some(([p]) => `${KEY_PREFIX}${name}.${p}` in tensors));
  const optional = new Set(plan.modulesToSave.filter((e) => !savedModules.includes(e)).flatMap(([name, m]) => m.namedParameters().map(([p]) => `${KEY_PREFIX}${name}.${p}`)));
  const required = missing.filter((k) => !optional.has(k));
  if (required.length) {
    throw new StrataError('io', weightsFile, `missing tensors ${required.slice(0, 4).map((k) => `'${k}'`).join(', ')}${required.length > 4 ? ` and ${required.length - 4} more` : ''}, which adapter_config.json's targets select in the model`);
  }
  const extra = Object.keys(tensors).filter((k) => !expected.has(k));
  if (extra.length) {
    throw new StrataError('io', weightsFile, `unexpected tensors ${extra.slice(0, 4).map((k) => `'${k}'`).join(', ')}${extra.length > 4 ? ` and ${extra.length - 4} more` : ''}: the model has no such module, or adapter_config.json does not target it`);
  }
  for (const [key, { shape, what }] of expected) {
    const t = tensors[key];
    if (!t) continue;
    if (!isFloat(t.dtype)) throw new StrataError('io', weightsFile, `tensor '${key}' has dtype ${t.dtype}; adapter weights must be floating point`);
    const ok = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (ok) continue;
    const lora = key.endsWith('.lora_A.weight') ? 0 : key.endsWith('.lora_B.weight') ? 1 : -1;
    if (lora >= 0 && t.shape.length === 2 && t.shape[lora] !== config.rank && t.shape[1 - lora] === shape[1 - lora]) {
      throw new StrataError('io', weightsFile, `tensor '${key}' ${fmtShape(t.shape)} has rank ${t.shape[lora]}, but adapter_config.json says r = ${config.rank}`);
    }
    throw new StrataError('io', weightsFile, `tensor '${key}' is ${fmtShape(t.shape)}, but ${what} is ${fmtShape(shape)} in the model`);
  }
  const applied = applyLora(model, config);
  const state: Record<string, Tensor> = {};
  for (const [key, t] of Object.entries(tensors)) state[key.slice(KEY_PREFIX.length)] = t;
  model.loadStateDict(state, { strict: false });
  if (!options.trainable) for (const p of model.parameters()) p.requiresGrad_(false);
  return { config, adapted: applied.adapted, modulesToSave: savedModules.map(([n]) => n) };
}
