// `strata export`: a trained run (or any Hugging Face directory Strata loads) as a Hugging Face
// directory or a GGUF file for llama.cpp, Ollama and node-llama-cpp.

import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { copyTokenizerFiles, writeHFDirectory } from '../io/hf.js';
import { type GgufExportDType, gpt2ToGguf, llamaToGguf } from '../models/gguf.js';
import { writeGguf } from '../io/gguf.js';
import { loadModel } from '../models/load.js';
import { GPT2LMHeadModel } from '../models/gpt2.js';
import { LlamaForCausalLM } from '../models/llama.js';
import { noGrad } from '../tensor/grad-mode.js';
import type { Tensor } from '../tensor/tensor.js';
import { ggufTokenizerMetadata } from '../tokenizers/gguf-export.js';

export const EXPORT_FORMATS = ['hf', 'gguf'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const EXPORT_DTYPES = ['f32', 'f16', 'q8_0'] as const;
export type ExportDType = (typeof EXPORT_DTYPES)[number];

export interface ExportOptions {
  format: ExportFormat;
  /** default f32 (hf) or f16 (gguf); q8_0 is GGUF only */
  dtype?: ExportDType;
  /** a folder (hf) or a .gguf file */
  out: string;
  /** general.name in GGUF */
  name?: string;
}

function readJson(file: string): object | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as object;
  } catch (err) {
    throw new StrataError('io', file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Exports the model in `dir`; returns the files written. */
export async function exportModel(dir: string, options: ExportOptions): Promise<{ files: string[]; bytes: number }> {
  if (!(EXPORT_FORMATS as readonly string[]).includes(options.format)) throw new StrataError('argument', 'export', `--format must be one of ${EXPORT_FORMATS.join(', ')}, got '${options.format}'`);
  const dtype = options.dtype ?? (options.format === 'gguf' ? 'f16' : 'f32');
  if (!(EXPORT_DTYPES as readonly string[]).includes(dtype)) throw new StrataError('argument', 'export', `--dtype must be one of ${EXPORT_DTYPES.join(', ')}, got '${dtype}'`);
  if (options.format === 'hf' && dtype === 'q8_0') throw new StrataError('argument', 'export', 'q8_0 is a GGUF type: use --format gguf, or f32/f16 for a Hugging Face directory');
  const loaded = await loadModel(dir);
  if (options.format === 'hf') {
    if (path.resolve(options.out) === path.resolve(dir)) throw new StrataError('argument', 'export', '--out must differ from the model folder');
    const tensors: Record<string, Tensor> = {};
    noGrad(() => {
      for (const [name, p] of loaded.model.namedParameters()) tensors[name] = dtype === 'f16' ? p.to('f16') : p.dtype === 'f32' ? p : p.to('f32');
    });
    const config = { ...loaded.config, architectures: [loaded.architecture], ...(dtype === 'f16' ? { torch_dtype: 'float16' } : { torch_dtype: 'float32' }) };
    writeHFDirectory(options.out, config, tensors, loaded.generationConfig?.raw ?? null);
    const files = ['config.json', 'model.safetensors', ...(loaded.generationConfig ? ['generation_config.json'] : []), ...copyTokenizerFiles(dir, options.out)];
    const paths = files.map((f) => path.join(options.out, f));
    return { files: paths, bytes: paths.reduce((n, f) => n + fs.statSync(f).size, 0) };
  }
  const tokenizerJson = readJson(path.join(dir, 'tokenizer.json'));
  const tokenizerConfig = readJson(path.join(dir, 'tokenizer_config.json'));
  const tokenizerMetadata = tokenizerJson ? ggufTokenizerMetadata(tokenizerJson, tokenizerConfig) : undefined;
  const model = loaded.model;
  const name = options.name ?? path.basename(path.resolve(dir));
  let input;
  if (model instanceof LlamaForCausalLM) input = llamaToGguf(model, { dtype: dtype as GgufExportDType, name, tokenizerMetadata });
  else if (model instanceof GPT2LMHeadModel) input = gpt2ToGguf(model, { dtype: dtype as GgufExportDType, name, tokenizerMetadata });
  else throw new StrataError('unsupported', 'export', `${loaded.architecture} has no GGUF export (llama and gpt2 language models do)`);
  writeGguf(options.out, input);
  return { files: [options.out], bytes: fs.statSync(options.out).size };
}
