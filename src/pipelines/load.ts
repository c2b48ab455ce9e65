import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import type { LoadedModel } from '../models/load.js';
import type { StrataModel } from '../models/registry.js';
import type { ModelCard } from '../models/types.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

/** A model ready for inference, from a Hugging Face directory or a GGUF file. */
export interface InferenceModel {
  model: StrataModel;
  /** null when the checkpoint ships none (then only token ids work) */
  tokenizer: Tokenizer | null;
  format: 'hf' | 'gguf';
  path: string;
  /** model_type / GGUF general.architecture */
  modelType: string;
  architecture: string;
  card: ModelCard;
  /** sampling defaults from generation_config.json */
  generationDefaults: { temperature?: number; topP?: number; topK?: number; maxTokens?: number };
  /** what the loader read, for `strata inspect` */
  info: Record<string, unknown>;
}

export type GgufModelLoader = (file: string) => Promise<InferenceModel>;

let ggufLoader: GgufModelLoader | null = null;

/** The GGUF path is registered by the GGUF model module, which sits beside the HF loader. */
export function registerGgufLoader(loader: GgufModelLoader): void {
  ggufLoader = loader;
}

function fromHf(loaded: LoadedModel, tokenizer: Tokenizer | null): InferenceModel {
  const g = loaded.generationConfig?.raw as Record<string, unknown> | undefined;
  const num = (k: string) => (typeof g?.[k] === 'number' ? (g[k] as number) : undefined);
  return {
    model: loaded.model,
    tokenizer,
    format: 'hf',
    path: loaded.dir,
    modelType: loaded.modelType,
    architecture: loaded.architecture,
    card: loaded.model.card,
    generationDefaults: g?.do_sample === false ? { temperature: 0 } : { temperature: num('temperature'), topP: num('top_p'), topK: num('top_k'), maxTokens: num('max_new_tokens') },
    info: { config: loaded.config },
  };
}

/** Loads a model for inference: a directory is read as a Hugging Face checkpoint, a .gguf file as GGUF. */
export async function loadForInference(modelPath: string): Promise<InferenceModel> {
  if (!existsSync(modelPath)) throw new StrataError('io', modelPath, 'no such file or directory');
  if (statSync(modelPath).isDirectory()) {
    // imported here, not above: a GGUF run needs neither the model registry nor tokenizer.json's
    // library, and a CLI process pays for every module it imports in resident memory
    const [{ loadModel }, { loadTokenizer }] = await Promise.all([import('../models/load.js'), import('../tokenizers/index.js')]);
    const loaded = await loadModel(modelPath);
    const tokenizer = existsSync(path.join(modelPath, 'tokenizer.json')) ? await loadTokenizer(modelPath) : null;
    return fromHf(loaded, tokenizer);
  }
  if (modelPath.toLowerCase().endsWith('.gguf')) {
    if (!ggufLoader) {
      const { loadGgufModel } = await import('../models/gguf.js');
      registerGgufLoader(loadGgufModel);
    }
    return ggufLoader!(modelPath);
  }
  throw new StrataError('io', modelPath, 'expected a Hugging Face model directory or a .gguf file');
}
