// The benchmark LLaMA: random weights at GPT-2-small size, written once by Strata's own GGUF writer
// (one file per stored type) into the cache directory and reused by later runs.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { ensureCacheDir, importDist, log } from './common.mjs';

export const LLM_CONFIG = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  vocab_size: 32000,
  hidden_size: 768,
  intermediate_size: 2048,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_key_value_heads: 4,
  max_position_embeddings: 1024,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  initializer_range: 0.02,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
};
export const LLM_DTYPES = ['q8_0', 'f32'];
const SEED = 20261129;
// bump when the model or the vocabulary changes, so stale cache files are not reused
const VERSION = 1;

export function llmFile(dtype) {
  return path.join(ensureCacheDir(), `llama-768x12-v${VERSION}-${dtype}.gguf`);
}

/**
 * tokenizer.ggml.* of a SentencePiece-style ('llama') vocabulary of 32000: <unk> <s> </s>, the 256
 * byte tokens <0x00>..<0xFF>, then distinct generated pieces ('▁a', '▁b', …, 'ab', …) with
 * decreasing scores — enough for llama.cpp to accept the file and build its tokenizer.
 */
export function vocabMetadata(size = LLM_CONFIG.vocab_size) {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const word = (n) => {
    let s = '';
    do {
      s = letters[n % 26] + s;
      n = Math.floor(n / 26) - 1;
    } while (n >= 0);
    return s;
  };
  for (let i = 0; tokens.length < size; i++) {
    // alternate word-initial ('▁' prefixed) and continuation pieces, each string once
    tokens.push(i % 2 === 0 ? `▁${word(i >> 1)}` : word(i >> 1));
    types.push(1);
  }
  return {
    'tokenizer.ggml.model': 'llama',
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.scores': { type: 'array', itemType: 'f32', value: tokens.map((_, i) => (i < 259 ? 0 : -(i - 259))) },
    'tokenizer.ggml.token_type': { type: 'array', itemType: 'i32', value: types },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
    'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
    'tokenizer.ggml.add_bos_token': false,
  };
}

/** Writes the GGUF files that are missing (the same random weights for every type); returns {dtype: path}. */
export async function ensureLlmFiles(dtypes = LLM_DTYPES) {
  const files = Object.fromEntries(dtypes.map((d) => [d, llmFile(d)]));
  const missing = dtypes.filter((d) => !existsSync(files[d]));
  if (missing.length) {
    const S = await importDist('index.js');
    const { createModel, parseModelConfig } = await importDist('models/index.js');
    const { saveLlamaGguf } = await importDist('models/gguf.js');
    const t0 = performance.now();
    log(`bench: writing the benchmark LLaMA (${missing.join(', ')}) into ${path.dirname(files[missing[0]])} (once)`);
    const { config } = parseModelConfig(LLM_CONFIG, 'config.json');
    const model = createModel(config, { generator: new S.Generator(SEED) });
    const tokenizerMetadata = vocabMetadata();
    for (const d of missing) {
      saveLlamaGguf(files[d], model, { dtype: d, name: `strata-bench-llama-${d}`, tokenizerMetadata });
      log(`bench:   ${path.basename(files[d])}: ${(statSync(files[d]).size / 1e6).toFixed(1)} MB`);
    }
    log(`bench:   done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return files;
}
