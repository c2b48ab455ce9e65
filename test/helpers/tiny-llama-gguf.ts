// A random-weight LLaMA small enough for tests, written as GGUF by Strata's own writer with a
// SentencePiece-style vocabulary (byte tokens + a few pieces) so llama.cpp accepts the file.
import * as S from '../../src/index.js';
import { createModel, parseModelConfig } from '../../src/models/index.js';
import type { LlamaForCausalLM } from '../../src/models/llama.js';
import { saveLlamaGguf, type GgufExportDType } from '../../src/models/gguf.js';
import type { GgufInput } from '../../src/io/gguf-values.js';
import type { GPT2LMHeadModel } from '../../src/models/gpt2.js';
import { BYTE_TO_CHAR } from '../../src/tokenizers/index.js';

export const TINY_VOCAB = 320;

/** tokenizer.ggml.* for a vocabulary of <unk> <s> </s>, the 256 byte tokens and filler pieces. */
export function tinyVocabMetadata(): Record<string, GgufInput> {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  while (tokens.length < TINY_VOCAB) {
    const i = tokens.length - 259;
    tokens.push(`▁${letters[i % 26]}${letters[Math.floor(i / 26) % 26]}`);
    types.push(1);
  }
  return {
    'tokenizer.ggml.model': 'llama',
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.scores': { type: 'array', itemType: 'f32', value: tokens.map((_, i) => -i) },
    'tokenizer.ggml.token_type': { type: 'array', itemType: 'i32', value: types },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
    'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
  };
}

/** A random LLaMA with GQA whose rows are multiples of 256, as the K-quants need. */
export function tinyLlama(seed = 3, overrides: Record<string, unknown> = {}): LlamaForCausalLM {
  const raw = {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    vocab_size: TINY_VOCAB,
    hidden_size: 256,
    intermediate_size: 512,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    // large weights give decisive logits, so greedy decoding has no near-ties for rounding to flip
    initializer_range: 0.3,
    tie_word_embeddings: false,
    ...overrides,
  };
  const { config } = parseModelConfig(raw, 'config.json');
  return createModel(config, { generator: new S.Generator(seed) }) as LlamaForCausalLM;
}

export function writeTinyLlamaGguf(file: string, model: LlamaForCausalLM, dtype: GgufExportDType): void {
  saveLlamaGguf(file, model, { dtype, tokenizerMetadata: tinyVocabMetadata() });
}

/** tokenizer.ggml.* for a byte-level BPE vocabulary: the 256 byte symbols, then merged pairs. */
export function tinyByteLevelMetadata(size: number): Record<string, GgufInput> {
  const tokens = Array.from({ length: 256 }, (_, b) => BYTE_TO_CHAR[b]!);
  const merges: string[] = [];
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (let i = 0; tokens.length < size; i++) {
    const a = letters[i % 26]!;
    const b = letters[Math.floor(i / 26) % 26]!;
    merges.push(`${a} ${b}`);
    tokens.push(a + b);
  }
  return {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': 'gpt-2',
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': { type: 'array', itemType: 'i32', value: tokens.map(() => 1) },
    'tokenizer.ggml.merges': merges,
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: size - 1 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: size - 1 },
  };
}

export function tinyGpt2(seed = 5): GPT2LMHeadModel {
  const { config } = parseModelConfig(
    { model_type: 'gpt2', vocab_size: TINY_VOCAB, n_positions: 256, n_embd: 256, n_layer: 2, n_head: 4, initializer_range: 0.3, architectures: ['GPT2LMHeadModel'] },
    'config.json',
  );
  return createModel(config, { generator: new S.Generator(seed) }) as GPT2LMHeadModel;
}
