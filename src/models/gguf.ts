// GGUF <-> model: reads a llama-architecture GGUF file into LlamaForCausalLM (weights stay in the
// file's dtypes, quantized blocks included) and writes a model back out as GGUF. Tensor and key
// names follow llama.cpp's conventions.

import path from 'node:path';
import { StrataError } from '../errors.js';
import type { Checkpoint } from '../io/hf.js';
import { type GgufFile, type GgufValue, type GgufWriteInput, readGguf, writeGguf } from '../io/gguf.js';
import type { GgufInput } from '../io/gguf-values.js';
import type { InferenceModel } from '../pipelines/load.js';
import { tokenizerFromGguf } from '../tokenizers/gguf-vocab.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { Tensor } from '../tensor/tensor.js';
import type { QuantDType } from '../tensor/dtype.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import { quantize } from '../tensor/ops/quantized.js';
import { type LlamaConfig, LlamaForCausalLM, parseLlamaConfig } from './llama.js';
import { ParamSource } from './weights.js';
import { type GPT2Config, GPT2LMHeadModel, parseGPT2Config } from './gpt2.js';

export const GGUF_ARCHITECTURES = ['llama', 'gpt2'] as const;

/** Plain JS value of a metadata entry (numbers, strings, arrays). */
export function ggufPlain(v: GgufValue | undefined): unknown {
  if (!v) return undefined;
  if (v.type === 'array') return Array.isArray(v.value) ? (v.value as unknown[]).map((x) => (typeof x === 'object' && x !== null && 'type' in x ? ggufPlain(x as GgufValue) : typeof x === 'bigint' ? Number(x) : x)) : Array.from(v.value as ArrayLike<number>);
  return typeof v.value === 'bigint' ? Number(v.value) : v.value;
}

/** Metadata as plain values, the form the tokenizer reads. */
export function ggufMetadata(file: GgufFile): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(file.metadata)) out[k] = ggufPlain(v);
  return out;
}

/**
 * Metadata for loading, read-only and built once per file: string arrays stay the arrays the
 * reader made and numeric arrays their typed arrays (the tokenizer reads both). ggufMetadata's
 * copies cost a 32k-token vocabulary ≈ 1.5 MB of heap per call (boxed scores, copied token
 * lists), garbage a short `strata generate` run never collects and so carries in its peak RSS.
 */
const leanCache = new WeakMap<GgufFile, Readonly<Record<string, unknown>>>();
function leanMetadata(file: GgufFile): Readonly<Record<string, unknown>> {
  let out = leanCache.get(file);
  if (!out) {
    const md: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(file.metadata)) {
      const flat = v.type === 'array' && (v.itemType === 'string' || v.itemType === 'bool' || (v.itemType !== 'array' && !(v.value instanceof BigInt64Array) && !(v.value instanceof BigUint64Array)));
      md[k] = flat ? v.value : ggufPlain(v);
    }
    out = md;
    leanCache.set(file, out);
  }
  return out;
}

/** GGUF tensor name -> Hugging Face LLaMA key. */
function hfName(name: string): string | null {
  const fixed: Record<string, string> = {
    'token_embd.weight': 'model.embed_tokens.weight',
    'output_norm.weight': 'model.norm.weight',
    'output.weight': 'lm_head.weight',
  };
  if (fixed[name]) return fixed[name]!;
  const m = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(name);
  if (!m) return null;
  const parts: Record<string, string> = {
    attn_norm: 'input_layernorm',
    attn_q: 'self_attn.q_proj',
    attn_k: 'self_attn.k_proj',
    attn_v: 'self_attn.v_proj',
    attn_output: 'self_attn.o_proj',
    ffn_norm: 'post_attention_layernorm',
    ffn_gate: 'mlp.gate_proj',
    ffn_up: 'mlp.up_proj',
    ffn_down: 'mlp.down_proj',
  };
  const part = parts[m[2]!];
  return part ? `model.layers.${m[1]}.${part}.${m[3]}` : null;
}

/** The LLaMA config a llama-architecture GGUF file describes. */
export function ggufLlamaConfig(file: GgufFile, source: string): LlamaConfig {
  const md = leanMetadata(file);
  const arch = md['general.architecture'];
  if (arch !== 'llama') {
    throw new StrataError('unsupported', source, `GGUF architecture '${String(arch)}' is not supported (supported: ${GGUF_ARCHITECTURES.join(', ')})`);
  }
  const need = (key: string): number => {
    const v = md[`llama.${key}`];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new StrataError('io', source, `metadata 'llama.${key}' is missing or not a number`);
    return v;
  };
  const opt = (key: string): number | undefined => (typeof md[`llama.${key}`] === 'number' ? (md[`llama.${key}`] as number) : undefined);
  const embed = file.tensors['token_embd.weight'];
  if (!embed) throw new StrataError('io', source, "the file has no 'token_embd.weight' tensor");
  const tokens = md['tokenizer.ggml.tokens'];
  const vocab = opt('vocab_size') ?? (Array.isArray(tokens) ? tokens.length : embed.shape[0]!);
  const heads = need('attention.head_count');
  const hidden = need('embedding_length');
  const scaling = md['llama.rope.scaling.type'];
  const factor = opt('rope.scaling.factor');
  const freqs = file.tensors['rope_freqs.weight'];
  const raw = {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: need('feed_forward_length'),
    num_hidden_layers: need('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: opt('attention.head_count_kv') ?? heads,
    head_dim: opt('rope.dimension_count') ?? hidden / heads,
    max_position_embeddings: need('context_length'),
    rms_norm_eps: opt('attention.layer_norm_rms_epsilon') ?? 1e-5,
    rope_theta: opt('rope.freq_base') ?? 10000,
    rope_scaling: scaling === 'linear' && factor ? { rope_type: 'linear', factor } : null,
    tie_word_embeddings: !file.tensors['output.weight'],
    rope_interleaved: true,
    rope_freq_factors: freqs ? Array.from(freqs.toFloat32Array()) : null,
    bos_token_id: typeof md['tokenizer.ggml.bos_token_id'] === 'number' ? md['tokenizer.ggml.bos_token_id'] : null,
    eos_token_id: typeof md['tokenizer.ggml.eos_token_id'] === 'number' ? md['tokenizer.ggml.eos_token_id'] : null,
  };
  return parseLlamaConfig(raw, source, 'llama');
}

/** The weights of a GGUF file under their Hugging Face LLaMA keys. */
export function ggufLlamaCheckpoint(file: GgufFile, source: string): Checkpoint {
  const tensors = new Map<string, Tensor>();
  const fileOf = new Map<string, string>();
  for (const [name, t] of Object.entries(file.tensors)) {
    if (name === 'rope_freqs.weight') continue;
    const key = hfName(name);
    if (!key) throw new StrataError('io', source, `tensor '${name}' is not part of the llama architecture`);
    tensors.set(key, t);
    fileOf.set(key, source);
  }
  return { dir: path.dirname(source), source, tensors, fileOf };
}

/** Loads a llama GGUF file: the model with its weights in place, and the tokenizer from the metadata. */
export function loadGgufLlama(file: string, gguf: GgufFile = readGguf(file)): { model: LlamaForCausalLM; config: LlamaConfig; tokenizer: Tokenizer | null; gguf: GgufFile } {
  const config = ggufLlamaConfig(gguf, file);
  const source = new ParamSource(ggufLlamaCheckpoint(gguf, file), { halfPrecision: 'keep', modelName: `LlamaForCausalLM (${path.basename(file)})` });
  const model = new LlamaForCausalLM(config, source);
  const unused = source.unused();
  if (unused.length) throw new StrataError('io', file, `tensors the llama model does not use: ${unused.slice(0, 5).join(', ')}`);
  const md = leanMetadata(gguf);
  const tokenizer = md['tokenizer.ggml.model'] !== undefined ? tokenizerFromGguf(md, { source: file }) : null;
  model.eval();
  return { model, config, tokenizer, gguf };
}

// ---- gpt2 ----

const GPT2_PARTS: Record<string, string> = {
  attn_norm: 'ln_1',
  attn_qkv: 'attn.c_attn',
  attn_output: 'attn.c_proj',
  ffn_norm: 'ln_2',
  ffn_up: 'mlp.c_fc',
  ffn_down: 'mlp.c_proj',
};

function gpt2HfName(name: string): string | null {
  const fixed: Record<string, string> = {
    'token_embd.weight': 'transformer.wte.weight',
    'position_embd.weight': 'transformer.wpe.weight',
    'output_norm.weight': 'transformer.ln_f.weight',
    'output_norm.bias': 'transformer.ln_f.bias',
  };
  if (fixed[name]) return fixed[name]!;
  const m = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(name);
  const part = m && GPT2_PARTS[m[2]!];
  return part ? `transformer.h.${m![1]}.${part}.${m![3]}` : null;
}

/** The GPT-2 config a gpt2-architecture GGUF file describes (projection weights in (out, in) layout). */
export function ggufGpt2Config(file: GgufFile, source: string): GPT2Config {
  const md = leanMetadata(file);
  const need = (key: string): number => {
    const v = md[`gpt2.${key}`];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new StrataError('io', source, `metadata 'gpt2.${key}' is missing or not a number`);
    return v;
  };
  const embed = file.tensors['token_embd.weight'];
  if (!embed) throw new StrataError('io', source, "the file has no 'token_embd.weight' tensor");
  if (file.tensors['output.weight']) throw new StrataError('unsupported', source, "gpt2 GGUF with an untied 'output.weight' is not supported");
  const hidden = need('embedding_length');
  return parseGPT2Config(
    {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: embed.shape[0]!,
      n_positions: need('context_length'),
      n_embd: hidden,
      n_layer: need('block_count'),
      n_head: need('attention.head_count'),
      n_inner: typeof md['gpt2.feed_forward_length'] === 'number' ? (md['gpt2.feed_forward_length'] as number) : null,
      layer_norm_epsilon: typeof md['gpt2.attention.layer_norm_epsilon'] === 'number' ? (md['gpt2.attention.layer_norm_epsilon'] as number) : 1e-5,
      linear_weights: true,
    },
    source,
  );
}

export function loadGgufGpt2(file: string, gguf: GgufFile = readGguf(file)): { model: GPT2LMHeadModel; config: GPT2Config; tokenizer: Tokenizer | null; gguf: GgufFile } {
  const config = ggufGpt2Config(gguf, file);
  const tensors = new Map<string, Tensor>();
  const fileOf = new Map<string, string>();
  for (const [name, t] of Object.entries(gguf.tensors)) {
    const key = gpt2HfName(name);
    if (!key) throw new StrataError('io', file, `tensor '${name}' is not part of the gpt2 architecture`);
    tensors.set(key, t);
    fileOf.set(key, file);
  }
  const source = new ParamSource({ dir: path.dirname(file), source: file, tensors, fileOf }, { halfPrecision: 'keep', basePrefix: 'transformer.', modelName: `GPT2LMHeadModel (${path.basename(file)})` });
  const model = new GPT2LMHeadModel(config, source);
  const md = leanMetadata(gguf);
  const tokenizer = md['tokenizer.ggml.model'] !== undefined ? tokenizerFromGguf(md, { source: file }) : null;
  model.eval();
  return { model, config, tokenizer, gguf };
}

/** A GPT-2 model as a gpt2 GGUF (projection weights transposed to (out, in), 2-D weights in `dtype`). */
export function gpt2ToGguf(model: GPT2LMHeadModel, options: { dtype?: GgufExportDType; name?: string; tokenizerMetadata?: Record<string, GgufInput> } = {}): GgufWriteInput {
  const c = model.config;
  const dtype = options.dtype ?? 'f16';
  const back = new Map<string, string>();
  for (let i = 0; i < c.n_layer; i++) {
    for (const [g, h] of Object.entries(GPT2_PARTS)) {
      back.set(`transformer.h.${i}.${h}.weight`, `blk.${i}.${g}.weight`);
      back.set(`transformer.h.${i}.${h}.bias`, `blk.${i}.${g}.bias`);
    }
  }
  back.set('transformer.wte.weight', 'token_embd.weight');
  back.set('transformer.wpe.weight', 'position_embd.weight');
  back.set('transformer.ln_f.weight', 'output_norm.weight');
  back.set('transformer.ln_f.bias', 'output_norm.bias');
  const tensors: Record<string, Tensor> = {};
  noGrad(() => {
    for (const [key, p] of model.namedParameters()) {
      const g = back.get(key);
      if (!g) throw new StrataError('unsupported', 'gpt2ToGguf', `parameter '${key}' has no GGUF name`);
      let t = p.dtype === 'f32' ? p : p.to('f32');
      // Conv1D keeps (in, out); GGUF wants (out, in)
      if (t.ndim === 2 && !c.linear_weights && /\.(attn|mlp)\./.test(key)) t = t.T.contiguous();
      tensors[g] = t.ndim === 1 ? t : storeAs(t, g === 'position_embd.weight' ? 'f32' : dtype);
    }
  });
  const inner = c.n_inner ?? 4 * c.n_embd;
  return {
    metadata: {
      'general.architecture': 'gpt2',
      'general.name': options.name ?? 'strata-gpt2',
      'general.file_type': { type: 'u32', value: FILE_TYPES[dtype] },
      'gpt2.context_length': { type: 'u32', value: c.n_positions },
      'gpt2.embedding_length': { type: 'u32', value: c.n_embd },
      'gpt2.block_count': { type: 'u32', value: c.n_layer },
      'gpt2.feed_forward_length': { type: 'u32', value: inner },
      'gpt2.attention.head_count': { type: 'u32', value: c.n_head },
      'gpt2.attention.layer_norm_epsilon': { type: 'f32', value: c.layer_norm_epsilon },
      ...options.tokenizerMetadata,
    },
    tensors,
  };
}

/** Loads a GGUF file of any supported architecture for inference. */
export async function loadGgufModel(file: string): Promise<InferenceModel> {
  const file0 = readGguf(file);
  if (ggufPlain(file0.metadata['general.architecture']) === 'gpt2') {
    const { model, config, tokenizer, gguf } = loadGgufGpt2(file, file0);
    return { model, tokenizer, format: 'gguf', path: file, modelType: 'gpt2', architecture: 'GPT2LMHeadModel', card: model.card, generationDefaults: {}, info: { config, gguf: { version: gguf.version, tensors: gguf.tensorInfos.length } } };
  }
  const { model, config, tokenizer, gguf } = loadGgufLlama(file, file0);
  const md = leanMetadata(gguf);
  return {
    model,
    tokenizer,
    format: 'gguf',
    path: file,
    modelType: 'llama',
    architecture: 'LlamaForCausalLM',
    card: model.card,
    generationDefaults: {},
    info: { config, gguf: { version: gguf.version, name: md['general.name'], file_type: md['general.file_type'], tensors: gguf.tensorInfos.length } },
  };
}

/**
 * Reorders q/k projection rows from Hugging Face's half-split rotary layout to the interleaved
 * one GGUF llama expects: within each head, row j*(D/2) + i moves to 2i + j.
 */
export function permuteForInterleavedRope(w: Tensor, heads: number): Tensor {
  const [out, inp] = w.shape as [number, number];
  const d = out / heads;
  const src = w.toFloat32Array();
  const dst = new Float32Array(src.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < d / 2; i++)
      for (let j = 0; j < 2; j++) {
        const from = (h * d + j * (d / 2) + i) * inp;
        dst.set(src.subarray(from, from + inp), (h * d + 2 * i + j) * inp);
      }
  return fromArray(dst, [out, inp]);
}

export type GgufExportDType = 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k';

/**
 * A LLaMA model (Hugging Face layout, half-split rope) as a llama GGUF: metadata, q/k rows
 * permuted for llama.cpp's interleaved rope, and 2-D weights in `dtype` (norms stay f32, as
 * llama.cpp's converter keeps them). Pass tokenizer metadata (tokenizer.ggml.*) to embed a vocabulary.
 */
export function llamaToGguf(model: LlamaForCausalLM, options: { dtype?: GgufExportDType; name?: string; tokenizerMetadata?: Record<string, GgufInput> } = {}): GgufWriteInput {
  const c = model.config;
  if (c.rope_interleaved) throw new StrataError('unsupported', 'llamaToGguf', 'the model already uses interleaved rope (it came from GGUF); export it as it was read');
  if (c.parallel_block || c.norm_type !== 'rms_norm' || c.attention_bias || c.mlp_bias || c.model_type !== 'llama' || c.hidden_act !== 'silu') {
    throw new StrataError('unsupported', 'llamaToGguf', `only plain llama models export to GGUF (model_type ${c.model_type})`);
  }
  const dtype = options.dtype ?? 'f16';
  const tensors: Record<string, Tensor> = {};
  const names = new Map<string, string>();
  for (let i = 0; i < c.num_hidden_layers; i++) {
    for (const [g, h] of Object.entries({ attn_norm: 'input_layernorm', attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj', attn_v: 'self_attn.v_proj', attn_output: 'self_attn.o_proj', ffn_norm: 'post_attention_layernorm', ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj' })) {
      names.set(`model.layers.${i}.${h}.weight`, `blk.${i}.${g}.weight`);
    }
  }
  names.set('model.embed_tokens.weight', 'token_embd.weight');
  names.set('model.norm.weight', 'output_norm.weight');
  names.set('lm_head.weight', 'output.weight');
  noGrad(() => {
    for (const [key, p] of model.namedParameters()) {
      const g = names.get(key);
      if (!g) throw new StrataError('unsupported', 'llamaToGguf', `parameter '${key}' has no GGUF name`);
      let t = p.dtype === 'f32' ? p : p.to('f32');
      if (key.endsWith('q_proj.weight')) t = permuteForInterleavedRope(t, c.num_attention_heads);
      if (key.endsWith('k_proj.weight')) t = permuteForInterleavedRope(t, c.num_key_value_heads);
      tensors[g] = t.ndim === 1 ? t : storeAs(t, dtype);
    }
  });
  const metadata: Record<string, GgufInput> = {
    'general.architecture': 'llama',
    'general.name': options.name ?? 'strata-llama',
    'general.file_type': { type: 'u32', value: FILE_TYPES[dtype] },
    'llama.context_length': { type: 'u32', value: c.max_position_embeddings },
    'llama.embedding_length': { type: 'u32', value: c.hidden_size },
    'llama.block_count': { type: 'u32', value: c.num_hidden_layers },
    'llama.feed_forward_length': { type: 'u32', value: c.intermediate_size },
    'llama.attention.head_count': { type: 'u32', value: c.num_attention_heads },
    'llama.attention.head_count_kv': { type: 'u32', value: c.num_key_value_heads },
    'llama.rope.dimension_count': { type: 'u32', value: c.head_dim },
    'llama.rope.freq_base': { type: 'f32', value: c.rope_theta },
    'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: c.rms_norm_eps },
    'llama.vocab_size': { type: 'u32', value: c.vocab_size },
    ...(c.rope_scaling?.rope_type === 'linear' ? { 'llama.rope.scaling.type': 'linear', 'llama.rope.scaling.factor': { type: 'f32', value: c.rope_scaling.factor } } : {}),
    ...options.tokenizerMetadata,
  };
  if (c.rope_scaling?.rope_type === 'llama3') throw new StrataError('unsupported', 'llamaToGguf', 'llama3 rope scaling export is not supported yet');
  return { metadata, tensors };
}

/** llama.cpp's LLAMA_FTYPE numbers for a file whose weights are mostly `dtype`. */
const FILE_TYPES: Record<GgufExportDType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, q4_k: 15, q6_k: 18 };

function storeAs(t: Tensor, dtype: GgufExportDType): Tensor {
  if (dtype === 'f32') return t;
  if (dtype === 'f16') return t.to('f16');
  return quantize(t, dtype as QuantDType);
}

/** Writes `llamaToGguf(model, options)` to `file` (atomically). */
export function saveLlamaGguf(file: string, model: LlamaForCausalLM, options: Parameters<typeof llamaToGguf>[1] = {}): void {
  writeGguf(file, llamaToGguf(model, options));
}

