// Hugging Face checkpoint directories: config.json, model.safetensors or a sharded
// model.safetensors.index.json, generation_config.json. This layer knows the file formats only;
// src/models/load.ts turns a directory into a model (the models layer sits below io).

import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { ConfigReader, type JsonObject, describeJson, readJsonObject } from './config.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';
export const GENERATION_CONFIG_FILE = 'generation_config.json';

/** The tensors of a checkpoint, each with the file it came from (for messages). */
export interface Checkpoint {
  readonly dir: string;
  /** the file that describes the weights: model.safetensors or the index */
  readonly source: string;
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** tensor key -> path of the safetensors file holding it */
  readonly fileOf: ReadonlyMap<string, string>;
}

/** Reads config.json of a checkpoint directory (an object; the model's parser validates fields). */
export function readConfigJson(dir: string): { raw: JsonObject; file: string } {
  const file = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(dir)) throw new StrataError('io', dir, 'model directory not found');
  if (!fs.statSync(dir).isDirectory()) throw new StrataError('io', dir, 'expected a model directory (with config.json and model.safetensors)');
  return { raw: readJsonObject(file), file };
}

/** A shard name from an index: a plain file name in the same directory (never a path elsewhere). */
function shardPath(dir: string, name: string, index: string): string {
  if (name === '' || name !== path.basename(name) || name === '.' || name === '..' || name.includes('\\')) {
    throw new StrataError('io', index, `weight_map names shard ${describeJson(name)}, which is not a file name in the checkpoint directory`);
  }
  return path.join(dir, name);
}

function readSharded(dir: string, index: string): Checkpoint {
  const cfg: ConfigReader = new ConfigReader(readJsonObject(index), index);
  const map: ConfigReader | null = cfg.object('weight_map');
  if (!map) return cfg.fail('weight_map', 'is required');
  const byShard = new Map<string, string[]>();
  for (const [key, shard] of Object.entries(map.raw)) {
    if (typeof shard !== 'string') return map.fail(key, `must name a shard file, got ${describeJson(shard)}`);
    const list = byShard.get(shard) ?? [];
    list.push(key);
    byShard.set(shard, list);
  }
  if (byShard.size === 0) cfg.fail('weight_map', 'lists no tensors');
  const files = new Map([...byShard.keys()].map((shard) => [shard, shardPath(dir, shard, index)]));
  const tensors = new Map<string, Tensor>();
  const fileOf = new Map<string, string>();
  for (const [shard, keys] of byShard) {
    const file = files.get(shard)!;
    if (!fs.existsSync(file)) throw new StrataError('io', index, `shard '${shard}' (holding ${keys.length} tensors, e.g. '${keys[0]}') is missing from ${dir}`);
    const contents = readSafetensors(file);
    const listed = new Set(keys);
    for (const key of keys) {
      const t = contents.tensors[key];
      if (!Object.hasOwn(contents.tensors, key) || !t) throw new StrataError('io', file, `tensor '${key}' is listed in ${path.basename(index)} but missing from this shard`);
      tensors.set(key, t);
      fileOf.set(key, file);
    }
    for (const key of Object.keys(contents.tensors)) {
      if (!listed.has(key)) throw new StrataError('io', file, `holds tensor '${key}', which ${path.basename(index)} does not map to this shard`);
    }
  }
  return { dir, source: index, tensors, fileOf };
}

/** Reads model.safetensors, or every shard of model.safetensors.index.json, of a checkpoint directory. */
export function readCheckpoint(dir: string): Checkpoint {
  const single = path.join(dir, WEIGHTS_FILE);
  const index = path.join(dir, WEIGHTS_INDEX_FILE);
  if (fs.existsSync(single)) {
    const contents = readSafetensors(single);
    const tensors = new Map(Object.entries(contents.tensors));
    return { dir, source: single, tensors, fileOf: new Map([...tensors.keys()].map((k) => [k, single])) };
  }
  if (fs.existsSync(index)) return readSharded(dir, index);
  const other = ['pytorch_model.bin', 'model.bin', 'tf_model.h5'].find((f) => fs.existsSync(path.join(dir, f)));
  throw new StrataError(
    'io',
    dir,
    `no ${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE}` + (other ? ` (found ${other}: only safetensors weights are read; convert the checkpoint)` : ''),
  );
}

/** generation_config.json, typed; field names as Hugging Face writes them. */
export interface GenerationConfig {
  bos_token_id: number | null;
  /** one id or several (normalized to a list) */
  eos_token_id: number[] | null;
  pad_token_id: number | null;
  decoder_start_token_id: number | null;
  max_length: number | null;
  max_new_tokens: number | null;
  do_sample: boolean | null;
  temperature: number | null;
  top_k: number | null;
  top_p: number | null;
  min_p: number | null;
  repetition_penalty: number | null;
  num_beams: number | null;
  length_penalty: number | null;
  /** the file as read, for fields not typed here */
  raw: JsonObject;
}

export function parseGenerationConfig(raw: JsonObject, file: string): GenerationConfig {
  const c = new ConfigReader(raw, file);
  const num = (name: string, range: { min?: number; above?: number; max?: number } = {}) => (c.has(name) ? c.number(name, 0, range) : null);
  return {
    bos_token_id: c.optionalInt('bos_token_id'),
    eos_token_id: c.intOrInts('eos_token_id'),
    pad_token_id: c.optionalInt('pad_token_id'),
    decoder_start_token_id: c.optionalInt('decoder_start_token_id'),
    max_length: c.optionalInt('max_length', { min: 1 }),
    max_new_tokens: c.optionalInt('max_new_tokens', { min: 0 }),
    do_sample: c.has('do_sample') ? c.bool('do_sample', false) : null,
    temperature: num('temperature', { min: 0 }),
    top_k: c.optionalInt('top_k', { min: 0 }),
    top_p: num('top_p', { min: 0, max: 1 }),
    min_p: num('min_p', { min: 0, max: 1 }),
    repetition_penalty: num('repetition_penalty', { above: 0 }),
    num_beams: c.optionalInt('num_beams', { min: 1 }),
    length_penalty: num('length_penalty'),
    raw,
  };
}

/** generation_config.json of a directory, or null when it has none. */
export function readGenerationConfig(dir: string): GenerationConfig | null {
  const file = path.join(dir, GENERATION_CONFIG_FILE);
  if (!fs.existsSync(file)) return null;
  return parseGenerationConfig(readJsonObject(file), file);
}

/**
 * config.json fields that transformers 5 validates as floats: JSON.stringify writes 1 for 1.0, and
 * its strict config classes refuse an int there (`initializer_factor expected float, got int`).
 */
const FLOAT_CONFIG_FIELDS = [
  'initializer_factor', 'initializer_range', 'init_std', 'layer_norm_eps', 'layer_norm_epsilon', 'rms_norm_eps', 'logit_scale_init_value',
  'dropout', 'attention_dropout', 'activation_dropout', 'hidden_dropout_prob', 'attention_probs_dropout_prob', 'attn_pdrop', 'resid_pdrop', 'embd_pdrop',
  'encoder_layerdrop', 'decoder_layerdrop',
];
const INTEGRAL_FLOAT_FIELD = new RegExp(`("(?:${FLOAT_CONFIG_FIELDS.join('|')})": )(-?\\d+)(?=,?\n)`, 'g');

/** config.json text as transformers reads it: indented JSON, float fields with a decimal point (1 -> 1.0) at any depth. */
export function configJsonText(config: object): string {
  return `${JSON.stringify(config, null, 2)}\n`.replace(INTEGRAL_FLOAT_FIELD, '$1$2.0');
}

/**
 * Writes a Hugging Face directory: config.json, model.safetensors (one file; tensors keyed by
 * checkpoint name) and, when given, generation_config.json. Creates the directory if needed.
 */
export function writeHFDirectory(dir: string, config: object, tensors: Record<string, Tensor>, generationConfig?: object | null): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new StrataError('io', dir, `cannot create directory (${err instanceof Error ? err.message : String(err)})`);
  }
  const writeJson = (name: string, value: object) => {
    const file = path.join(dir, name);
    try {
      fs.writeFileSync(file, name === CONFIG_FILE ? configJsonText(value) : `${JSON.stringify(value, null, 2)}\n`);
    } catch (err) {
      throw new StrataError('io', file, `cannot write file (${err instanceof Error ? err.message : String(err)})`);
    }
  };
  writeSafetensors(path.join(dir, WEIGHTS_FILE), tensors, { format: 'pt' });
  writeJson(CONFIG_FILE, config);
  if (generationConfig) writeJson(GENERATION_CONFIG_FILE, generationConfig);
}

/** The files that make up a Hugging Face tokenizer, as they sit beside the model. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const;

/** Copies the tokenizer files `from` holds into `to` (a file onto itself is left alone); returns the names copied. */
export function copyTokenizerFiles(from: string, to: string): string[] {
  const copied: string[] = [];
  for (const f of TOKENIZER_FILES) {
    const src = path.join(from, f);
    if (!fs.existsSync(src)) continue;
    if (path.resolve(src) !== path.resolve(to, f)) fs.copyFileSync(src, path.join(to, f));
    copied.push(f);
  }
  return copied;
}
