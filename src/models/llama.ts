// LLaMA-style decoders: RMSNorm, rotary positions (half-split, rope_theta, rope_scaling linear and
// llama3), SwiGLU MLP, grouped-query attention. Mistral (sliding window), Qwen2 (q/k/v bias) and a
// PaLM-style decoder (parallel attention + MLP block, one shared norm, multi-query attention, no
// biases, tied embeddings) are configurations of this one class. Parameter names are Hugging
// Face's LlamaForCausalLM keys.
//
// PaLM-style configs (model_type "palm"; keys and their defaults for that model_type):
//   parallel_block: true        y = x + attn(norm(x)) + mlp(norm(x)); one norm per layer, stored
//                               as model.layers.N.input_layernorm (no post_attention_layernorm)
//   num_key_value_heads: 1      multi-query attention
//   tie_word_embeddings: true   lm_head is model.embed_tokens
//   attention_bias / mlp_bias: false
//   norm_type: "layer_norm"     bias-free LayerNorm as in PaLM (eps from layer_norm_eps, default
//                               1e-5); "rms_norm" (eps rms_norm_eps) is the default elsewhere
// Any llama-family config may set parallel_block and norm_type too.
//
// Shapes: B batch, T new tokens, S keys (cached + new), C hidden, Hq query heads, Hkv key/value
// heads, D head size, F intermediate size, V vocab.

import { StrataError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { linear } from '../tensor/ops/linalg.js';
import { gelu, relu, silu } from '../tensor/ops/elementwise.js';
import { scaledDotProductAttention } from '../tensor/ops/attention.js';
import { applyRotaryEmbedding } from '../tensor/ops/rope.js';
import { Module } from '../nn/module.js';
import type { Embedding, LayerNorm, Linear, RMSNorm } from '../nn/layers.js';
import { ConfigReader, type JsonObject } from '../io/config.js';
import { ModuleGroup, ParamSource, Scope } from './weights.js';
import { PreallocatedKVCache } from './kv-cache.js';
import { llamaDecodeStep } from './llama-decode.js';
import { type DecoderStep, type RopeSpec, decoderMask, decoderStep, defaultInvFreq, rotaryTables } from './decoder.js';
import type { CausalLM, DecoderForwardOptions, KVCache, ModelCard } from './types.js';
import { DecoderForSequenceClassification, type LabelFields, parseLabelFields } from './heads.js';

export type LlamaModelType = 'llama' | 'mistral' | 'qwen2' | 'palm';
const HIDDEN_ACTS = ['silu', 'gelu', 'gelu_pytorch_tanh', 'relu'] as const;
export type LlamaActivation = (typeof HIDDEN_ACTS)[number];

export type RopeScaling =
  | { rope_type: 'linear'; factor: number }
  | { rope_type: 'llama3'; factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number };

/** config.json of a llama-family checkpoint (names as Hugging Face writes them). */
export interface LlamaConfig extends LabelFields {
  model_type: LlamaModelType;
  architectures: string[] | null;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  /** default num_attention_heads (1 for palm) */
  num_key_value_heads: number;
  /** default hidden_size / num_attention_heads */
  head_dim: number;
  max_position_embeddings: number;
  hidden_act: LlamaActivation;
  norm_type: 'rms_norm' | 'layer_norm';
  rms_norm_eps: number;
  layer_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  /** bias on q/k/v/o projections (llama, mistral); Qwen2 always has q/k/v bias and no o bias */
  attention_bias: boolean;
  mlp_bias: boolean;
  tie_word_embeddings: boolean;
  /** keys older than this many positions are hidden (Mistral; Qwen2 with use_sliding_window) */
  sliding_window: number | null;
  use_sliding_window: boolean;
  /** Qwen2: layers below this index attend without the window */
  max_window_layers: number;
  parallel_block: boolean;
  /**
   * Strata key: rotate interleaved pairs (2i, 2i+1) instead of halves. GGUF llama files store
   * q/k rows permuted for that rotation (llama.cpp's convention), so the GGUF loader sets it.
   */
  rope_interleaved: boolean;
  /** Strata key: per-frequency divisors of the inverse frequencies (GGUF's rope_freqs tensor, llama3 scaling) */
  rope_freq_factors: number[] | null;
  initializer_range: number;
  bos_token_id: number | null;
  eos_token_id: number[] | null;
  pad_token_id: number | null;
}

function parseRopeScaling(c: ConfigReader): RopeScaling | null {
  const r = c.object('rope_scaling') ?? c.object('rope_parameters');
  if (!r) return null;
  // older configs say "type", newer "rope_type"
  const type = r.has('rope_type') ? r.string('rope_type', '') : r.string('type', 'default');
  const factor = () => r.requiredNumber('factor', { min: 1 });
  switch (type) {
    case 'default':
      return null;
    case 'linear':
      return { rope_type: 'linear', factor: factor() };
    case 'llama3': {
      const scaling = {
        rope_type: 'llama3' as const,
        factor: factor(),
        low_freq_factor: r.requiredNumber('low_freq_factor', { above: 0 }),
        high_freq_factor: r.requiredNumber('high_freq_factor', { above: 0 }),
        original_max_position_embeddings: r.requiredInt('original_max_position_embeddings'),
      };
      if (!(scaling.high_freq_factor > scaling.low_freq_factor)) r.fail('high_freq_factor', `must exceed low_freq_factor (${scaling.low_freq_factor})`);
      return scaling;
    }
    default:
      return r.fail(r.has('rope_type') ? 'rope_type' : 'type', `'${type}' is not supported (supported: 'default', 'linear', 'llama3')`);
  }
}

function parseFreqFactors(c: ConfigReader, headDim: number): number[] | null {
  if (!c.has('rope_freq_factors') || c.raw['rope_freq_factors'] === null) return null;
  const v = c.raw['rope_freq_factors'];
  if (!Array.isArray(v) || v.length !== headDim / 2 || v.some((x) => typeof x !== 'number' || !(x > 0))) {
    return c.fail('rope_freq_factors', `must be ${headDim / 2} positive numbers`);
  }
  return v as number[];
}

export function parseLlamaConfig(raw: JsonObject, file: string, modelType: LlamaModelType): LlamaConfig {
  const c = new ConfigReader(raw, file);
  const palm = modelType === 'palm';
  const hidden = c.requiredInt('hidden_size');
  const heads = c.requiredInt('num_attention_heads');
  const kvHeads = c.int('num_key_value_heads', palm ? 1 : heads, { min: 1 });
  if (heads % kvHeads !== 0) c.fail('num_key_value_heads', `(${kvHeads}) must divide num_attention_heads (${heads})`);
  if (!c.has('head_dim') && hidden % heads !== 0) c.fail('num_attention_heads', `(${heads}) must divide hidden_size (${hidden}) unless head_dim is given`);
  const headDim = c.int('head_dim', hidden / heads, { min: 2 });
  if (headDim % 2 !== 0) c.fail('head_dim', `must be even for rotary embeddings, got ${headDim}`);
  const slidingWindow = modelType === 'mistral' || modelType === 'qwen2' ? c.optionalInt('sliding_window', { min: 1 }) : null;
  const layers = c.requiredInt('num_hidden_layers');
  return {
    model_type: modelType,
    architectures: c.stringArray('architectures'),
    vocab_size: c.requiredInt('vocab_size'),
    hidden_size: hidden,
    intermediate_size: c.requiredInt('intermediate_size'),
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    max_position_embeddings: c.int('max_position_embeddings', 2048, { min: 1 }),
    hidden_act: c.choice('hidden_act', HIDDEN_ACTS, 'silu'),
    norm_type: c.choice('norm_type', ['rms_norm', 'layer_norm'] as const, palm ? 'layer_norm' : 'rms_norm'),
    rms_norm_eps: c.number('rms_norm_eps', 1e-6, { above: 0 }),
    layer_norm_eps: c.number('layer_norm_eps', 1e-5, { above: 0 }),
    // transformers 5 writes rope_theta inside rope_parameters
    rope_theta: c.has('rope_theta') ? c.number('rope_theta', 10000, { above: 0 }) : (c.object('rope_parameters')?.number('rope_theta', 10000, { above: 0 }) ?? 10000),
    rope_scaling: parseRopeScaling(c),
    attention_bias: c.bool('attention_bias', false),
    mlp_bias: c.bool('mlp_bias', false),
    tie_word_embeddings: c.bool('tie_word_embeddings', palm),
    sliding_window: slidingWindow,
    use_sliding_window: modelType === 'qwen2' ? c.bool('use_sliding_window', false) : slidingWindow !== null,
    max_window_layers: modelType === 'qwen2' ? c.int('max_window_layers', layers, { min: 0 }) : 0,
    parallel_block: c.bool('parallel_block', palm),
    rope_interleaved: c.bool('rope_interleaved', false),
    rope_freq_factors: parseFreqFactors(c, headDim),
    initializer_range: c.number('initializer_range', 0.02, { min: 0 }),
    bos_token_id: c.optionalInt('bos_token_id'),
    eos_token_id: c.intOrInts('eos_token_id'),
    pad_token_id: c.optionalInt('pad_token_id'),
    ...parseLabelFields(c),
  };
}

/** Inverse rotary frequencies with rope_scaling applied (llama3: Hugging Face's _compute_llama3_parameters). */
export function llamaRope(config: LlamaConfig): RopeSpec {
  const D = config.head_dim;
  const inv = defaultInvFreq(D, config.rope_theta);
  const sc = config.rope_scaling;
  if (sc?.rope_type === 'llama3') {
    const lowWavelen = sc.original_max_position_embeddings / sc.low_freq_factor;
    const highWavelen = sc.original_max_position_embeddings / sc.high_freq_factor;
    for (let i = 0; i < inv.length; i++) {
      const wavelen = (2 * Math.PI) / inv[i]!;
      if (wavelen > lowWavelen) inv[i] = inv[i]! / sc.factor; // low frequencies: interpolate fully
      else if (wavelen >= highWavelen) {
        // between the two: blend the scaled and unscaled frequency smoothly
        const smooth = (sc.original_max_position_embeddings / wavelen - sc.low_freq_factor) / (sc.high_freq_factor - sc.low_freq_factor);
        inv[i] = (1 - smooth) * (inv[i]! / sc.factor) + smooth * inv[i]!;
      }
    }
  }
  if (config.rope_freq_factors) config.rope_freq_factors.forEach((f, i) => (inv[i] = inv[i]! / f));
  return { headDim: D, invFreq: inv, linearScale: sc?.rope_type === 'linear' ? sc.factor : 1 };
}

function activate(x: Tensor, fn: LlamaActivation): Tensor {
  switch (fn) {
    case 'silu':
      return silu(x);
    case 'gelu':
      return gelu(x);
    case 'gelu_pytorch_tanh':
      return gelu(x, 'tanh');
    case 'relu':
      return relu(x);
  }
}

type Norm = RMSNorm | LayerNorm;

function norm(s: Scope, name: string, config: LlamaConfig): Norm {
  return config.norm_type === 'rms_norm' ? s.rmsNorm(name, config.hidden_size, config.rms_norm_eps) : s.layerNorm(name, config.hidden_size, config.layer_norm_eps, false);
}

interface LayerContext {
  cos: Tensor;
  sin: Tensor;
  mask: Tensor | null;
  cache: KVCache | undefined;
}

class LlamaAttention extends Module {
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly oProj: Linear;
  private readonly hq: number;
  private readonly hkv: number;
  private readonly d: number;
  private readonly ropeLayout: 'half' | 'interleaved';

  constructor(
    s: Scope,
    config: LlamaConfig,
    readonly layer: number,
  ) {
    super();
    const C = config.hidden_size;
    this.hq = config.num_attention_heads;
    this.hkv = config.num_key_value_heads;
    this.d = config.head_dim;
    this.ropeLayout = config.rope_interleaved ? 'interleaved' : 'half';
    const qkvBias = config.attention_bias || config.model_type === 'qwen2';
    const oBias = config.attention_bias && config.model_type !== 'qwen2';
    this.qProj = this.module('q_proj', s.linear('q_proj', C, this.hq * this.d, qkvBias));
    this.kProj = this.module('k_proj', s.linear('k_proj', C, this.hkv * this.d, qkvBias));
    this.vProj = this.module('v_proj', s.linear('v_proj', C, this.hkv * this.d, qkvBias));
    this.oProj = this.module('o_proj', s.linear('o_proj', this.hq * this.d, C, oBias));
  }

  forward(x: Tensor, ctx: LayerContext): Tensor {
    const [B, T] = x.shape as [number, number, number];
    const heads = (p: Linear, h: number) => p.forward(x).reshape(B, T, h, this.d).transpose(1, 2); // (B, h, T, D)
    const q = applyRotaryEmbedding(heads(this.qProj, this.hq), ctx.cos, ctx.sin, this.ropeLayout); // (B, Hq, T, D)
    const k = applyRotaryEmbedding(heads(this.kProj, this.hkv), ctx.cos, ctx.sin, this.ropeLayout); // (B, Hkv, T, D)
    const v = heads(this.vProj, this.hkv); // (B, Hkv, T, D)
    const kv = ctx.cache ? ctx.cache.update(this.layer, k, v) : { k, v }; // (B, Hkv, S, D)
    const y = scaledDotProductAttention(q, kv.k, kv.v, { causal: true, mask: ctx.mask }); // (B, Hq, T, D)
    return this.oProj.forward(y.transpose(1, 2).reshape(B, T, this.hq * this.d)); // (B, T, C)
  }
}

class LlamaMLP extends Module {
  readonly gateProj: Linear;
  readonly upProj: Linear;
  readonly downProj: Linear;

  constructor(
    s: Scope,
    config: LlamaConfig,
    readonly act: LlamaActivation,
  ) {
    super();
    const C = config.hidden_size;
    const F = config.intermediate_size;
    this.gateProj = this.module('gate_proj', s.linear('gate_proj', C, F, config.mlp_bias));
    this.upProj = this.module('up_proj', s.linear('up_proj', C, F, config.mlp_bias));
    this.downProj = this.module('down_proj', s.linear('down_proj', F, C, config.mlp_bias));
  }

  forward(x: Tensor): Tensor {
    return this.downProj.forward(activate(this.gateProj.forward(x), this.act).mul(this.upProj.forward(x))); // (B, T, C)
  }
}

class LlamaDecoderLayer extends Module {
  readonly inputLayernorm: Norm;
  readonly selfAttn: LlamaAttention;
  readonly mlp: LlamaMLP;
  /** absent in a parallel block, whose attention and MLP share input_layernorm */
  readonly postAttentionLayernorm: Norm | null;

  constructor(
    s: Scope,
    config: LlamaConfig,
    layer: number,
    /** whether this layer uses the sliding-window mask */
    readonly windowed: boolean,
  ) {
    super();
    this.inputLayernorm = this.module('input_layernorm', norm(s, 'input_layernorm', config));
    this.selfAttn = this.module('self_attn', new LlamaAttention(s.at('self_attn'), config, layer));
    this.postAttentionLayernorm = config.parallel_block ? null : this.module('post_attention_layernorm', norm(s, 'post_attention_layernorm', config));
    this.mlp = this.module('mlp', new LlamaMLP(s.at('mlp'), config, config.hidden_act));
  }

  forward(x: Tensor, ctx: LayerContext): Tensor {
    const a = this.inputLayernorm.forward(x); // (B, T, C)
    if (!this.postAttentionLayernorm) return x.add(this.selfAttn.forward(a, ctx)).add(this.mlp.forward(a)); // (B, T, C)
    const h = x.add(this.selfAttn.forward(a, ctx)); // (B, T, C)
    return h.add(this.mlp.forward(this.postAttentionLayernorm.forward(h))); // (B, T, C)
  }
}

/** Embeddings given in place of the token embeddings must be (B, T, C) of the ids' B and T. */
function checkedEmbeds(x: Tensor, step: DecoderStep, hidden: number): Tensor {
  if (x.ndim !== 3 || x.shape[0] !== step.b || x.shape[1] !== step.t || x.shape[2] !== hidden) {
    throw new StrataError('shape', 'LlamaModel', `inputsEmbeds must be (B, T, C) = (${step.b}, ${step.t}, ${hidden}), got ${fmtShape(x.shape)}`);
  }
  return x;
}

/** The decoder stack (Hugging Face's LlamaModel): embeddings, layers, final norm. */
export class LlamaModel extends Module {
  readonly embedTokens: Embedding;
  readonly layers: LlamaDecoderLayer[];
  readonly norm: Norm;

  readonly rope: RopeSpec;

  constructor(
    s: Scope,
    readonly config: LlamaConfig,
  ) {
    super();
    this.rope = llamaRope(config);
    this.embedTokens = this.module('embed_tokens', s.embedding('embed_tokens', config.vocab_size, config.hidden_size));
    const list = this.module('layers', new ModuleGroup());
    this.layers = Array.from({ length: config.num_hidden_layers }, (_, i) => {
      const windowed = config.sliding_window !== null && config.use_sliding_window && i >= config.max_window_layers;
      return list.add(String(i), new LlamaDecoderLayer(s.at(`layers.${i}`), config, i, windowed));
    });
    this.norm = this.module('norm', norm(s, 'norm', config));
  }

  /** ids (B, T) -> final-norm hidden states (B, T, C), or (B, 1, C) with lastOnly */
  forward(ids: Tensor, options: DecoderForwardOptions = {}): Tensor {
    // one token of one sequence, nothing recorded: the same kernels on raw rows (./llama-decode.ts)
    const fast = llamaDecodeStep(this, ids, options);
    if (fast) return fast;
    // rotary positions have no table size: only the cache bounds them
    const step: DecoderStep = decoderStep(ids, options, Number.MAX_SAFE_INTEGER, 'LlamaModel');
    const { cos, sin } = rotaryTables(step, this.rope);
    const full = decoderMask(step, null);
    const windowed = this.config.sliding_window !== null ? decoderMask(step, this.config.sliding_window) : null;
    let x = options.inputsEmbeds ? checkedEmbeds(options.inputsEmbeds, step, this.config.hidden_size) : this.embedTokens.forward(ids); // (B, T, C)
    for (const layer of this.layers) {
      x = layer.forward(x, { cos, sin, mask: layer.windowed ? windowed : full, cache: options.cache });
      options.afterLayer?.();
    }
    options.cache?.advance(step.t);
    if (options.lastOnly) x = x.slice(1, step.t - 1, step.t); // (B, 1, C)
    return this.norm.forward(x);
  }
}

export const LLAMA_CARD: ModelCard = {
  families: ['large-language', 'foundation'],
  inputModalities: ['text'],
  outputModalities: ['text'],
  architecture: 'decoder-only transformer (pre-norm, RMSNorm, RoPE, SwiGLU, GQA/MQA; optional sliding window, qkv bias, parallel block)',
  adaptability: ['full-finetune', 'lora', 'task-head', 'linear-probe', 'prompting', 'instruction-tuning'],
  applications: ['text generation', 'chat', 'code completion', 'summarization', 'translation', 'question answering', 'zero- and few-shot prompting'],
  examples: ['Llama 2', 'Llama 3', 'Mistral 7B', 'Qwen2', 'TinyLlama', 'PaLM (architecture, as a parallel-block MQA configuration)'],
  primaryData: 'trillions of tokens of web text, code and books',
  purpose: 'autoregressive next-token prediction; the base for instruction-tuned chat and code models',
};

/** A llama-family decoder with its LM head (lm_head, or embed_tokens when tied). */
export class LlamaForCausalLM extends Module implements CausalLM {
  readonly kind = 'decoder-only' as const;
  readonly card = LLAMA_CARD;
  readonly model: LlamaModel;
  /** null when tied to model.embed_tokens */
  readonly lmHead: Linear | null;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly rope: RopeSpec;

  constructor(
    readonly config: LlamaConfig,
    source: ParamSource = new ParamSource(null, { initializerRange: config.initializer_range }),
  ) {
    super();
    this.model = this.module('model', new LlamaModel(new Scope(source, 'model.'), config));
    this.lmHead = config.tie_word_embeddings ? null : this.module('lm_head', new Scope(source).linear('lm_head', config.hidden_size, config.vocab_size, false));
    this.vocabSize = config.vocab_size;
    this.maxPositions = config.max_position_embeddings;
    this.rope = this.model.rope;
  }

  forward(ids: Tensor, options: DecoderForwardOptions = {}): Tensor {
    const h = this.model.forward(ids, options); // (B, T, C)
    return this.lmHead ? this.lmHead.forward(h) : linear(h, this.model.embedTokens.weight); // (B, T, V)
  }

  createCache(batch: number, maxLength: number): KVCache {
    const c = this.config;
    return new PreallocatedKVCache(c.num_hidden_layers, batch, c.num_key_value_heads, maxLength, c.head_dim);
  }
}

/** Hugging Face's LlamaForSequenceClassification: the decoder and `score` (L, C) at the last real token. */
export function llamaForSequenceClassification(config: LlamaConfig, source: ParamSource = new ParamSource(null, { initializerRange: config.initializer_range })): DecoderForSequenceClassification {
  const base = new LlamaModel(new Scope(source, 'model.'), config);
  const score = new Scope(source).linear('score', config.hidden_size, config.num_labels, false);
  return new DecoderForSequenceClassification('model', base, score, LLAMA_CARD, config.vocab_size, config.max_position_embeddings);
}
