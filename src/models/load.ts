// Loading a Hugging Face checkpoint directory into a model, and saving one back.

import path from 'node:path';
import { StrataError } from '../errors.js';
import { type GenerationConfig, readCheckpoint, readConfigJson, readGenerationConfig, writeHFDirectory } from '../io/hf.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import { type ModelConfig, type ModelType, type StrataModel, parseModelConfig, resolveArchitecture } from './registry.js';
import { ParamSource } from './weights.js';
import type { CausalLM } from './types.js';

export interface LoadOptions {
  /** a Hugging Face architecture name overriding config.json's architectures[0] (e.g. 'BertModel') */
  architecture?: string;
  /**
   * f16/bf16 weights: 'f32' converts each tensor once at load (default), 'keep' keeps them as
   * stored (ops upcast on use).
   */
  halfPrecision?: 'f32' | 'keep';
  /** reject checkpoint tensors the model does not use (default true; known buffers are always skipped) */
  strict?: boolean;
  /** parameters the checkpoint may lack, initialized fresh (a new task head); see `initializedKeys` */
  initializeMissing?: (key: string) => boolean;
  /** config.json fields replaced before validation (num_labels and id2label for a new head) */
  configOverrides?: Record<string, unknown>;
  /** draws freshly initialized parameters (default: a generator seeded with 0) */
  generator?: Generator;
}

export interface LoadedModel {
  model: StrataModel;
  config: ModelConfig;
  modelType: ModelType;
  architecture: string;
  /** generation_config.json, when the directory has one */
  generationConfig: GenerationConfig | null;
  dir: string;
  /** parameters that were initialized fresh because the checkpoint lacked them */
  initializedKeys: string[];
  /** checkpoint tensors the model does not use (with strict: false) */
  unusedKeys: string[];
}

/**
 * Loads a Hugging Face directory: config.json (validated), model.safetensors or the shards of
 * model.safetensors.index.json (every tensor checked against the model's names and shapes, then
 * adopted as the parameter without a copy), and generation_config.json. The model is returned in
 * eval mode.
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const { raw: fileRaw, file } = readConfigJson(dir);
  const raw = options.configOverrides ? ({ ...fileRaw, ...options.configOverrides } as typeof fileRaw) : fileRaw;
  const { modelType, config, entry } = parseModelConfig(raw, file);
  const architecture = resolveArchitecture(entry, config, file, options.architecture);
  const generationConfig = readGenerationConfig(dir);
  const checkpoint = readCheckpoint(dir);
  const source = new ParamSource(checkpoint, {
    halfPrecision: options.halfPrecision,
    basePrefix: entry.basePrefix,
    modelName: `${architecture} (${path.basename(file)})`,
    initializerRange: config.initializer_range,
    initializeMissing: options.initializeMissing,
    generator: options.generator,
  });
  const model = entry.architectures[architecture]!(config, source);
  const ignored = entry.ignoredKeys(config);
  const unexpected = source.unused().filter((k) => !ignored.some((re) => re.test(k)));
  if (unexpected.length && options.strict !== false) {
    const shown = unexpected.slice(0, 5).map((k) => `'${k}'`).join(', ');
    const more = unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : '';
    const where = checkpoint.fileOf.get(unexpected[0]!) ?? checkpoint.source;
    throw new StrataError('io', where, `unexpected tensors ${shown}${more}: ${architecture} has no such parameters (pass strict: false to ignore them)`);
  }
  model.eval();
  return { model, config, modelType, architecture, generationConfig, dir, initializedKeys: source.initializedKeys, unusedKeys: unexpected };
}

/** Whether a loaded model is a decoder-only language model (GPT-2, the llama family). */
export function isCausalLM(model: StrataModel): model is CausalLM {
  return model.kind === 'decoder-only';
}

/**
 * Writes a Hugging Face directory that loadModel (and transformers) read back: config.json from
 * the typed config (architectures filled in), model.safetensors with every parameter under its
 * checkpoint key, and generation_config.json when given.
 */
export function saveModel(dir: string, model: Module, config: ModelConfig, options: { architecture?: string; generationConfig?: GenerationConfig | object | null } = {}): void {
  const { entry } = parseModelConfig({ ...config } as Record<string, unknown>, 'config');
  const architecture = resolveArchitecture(entry, config, 'config', options.architecture);
  const gen = options.generationConfig && 'raw' in options.generationConfig ? options.generationConfig.raw : options.generationConfig;
  const tensors: Record<string, Tensor> = {};
  for (const [name, t] of model.namedParameters()) tensors[name] = t;
  writeHFDirectory(dir, { ...config, architectures: [architecture] }, tensors, gen ?? null);
}
