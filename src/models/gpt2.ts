// GPT-2 (and GPT-3-style dense decoders): learned positions, pre-LayerNorm blocks, fused QKV,
// GELU MLP, LM head tied to the token embedding. Parameter names are Hugging Face's
// GPT2LMHeadModel keys; Conv1D weights keep the checkpoint layout (in, out).
//
// With add_cross_attention (the decoder of a VisionEncoderDecoderModel) each block also attends to
// encoder states between self-attention and the MLP: ln_cross_attn, then crossattention.q_attn
// (queries from the decoder) and crossattention.c_attn (keys and values from the encoder states,
// which must already be n_embd wide), as transformers' GPT2 does. Keys and values are computed
// once per input (crossAttention), then every decoding step reuses them.
//
// Shapes: B batch, T new tokens, S keys (cached + new), E encoder positions, C n_embd, H heads,
// D head size, V vocab.

import { StrataError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { type LinearRowKernel, linear, linearRowKernel } from '../tensor/ops/linalg.js';
import { gelu, relu, silu, tanh } from '../tensor/ops/elementwise.js';
import { scaledDotProductAttention } from '../tensor/ops/attention.js';
import { embedding } from '../tensor/ops/indexing.js';
import { split } from '../tensor/ops/join.js';
import { Module } from '../nn/module.js';
import type { Embedding, LayerNorm } from '../nn/layers.js';
import { ConfigReader, type JsonObject } from '../io/config.js';
import { ModuleGroup, ParamSource, Scope } from './weights.js';
import { CrossAttentionStates } from './encoder-decoder.js';
import { PreallocatedKVCache } from './kv-cache.js';
import { decoderMask, decoderStep, positionTensor } from './decoder.js';
import { type NormKernel, ScratchByRows, StepPlans, attendCached, decodeCache, normKernel, rowView } from './decode-rows.js';
import type { UnaryOp } from '../backend/backend.js';
import { backend } from '../backend/index.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { CausalLM, DecoderForwardOptions, KVCache, ModelCard } from './types.js';
import { DecoderForSequenceClassification, type LabelFields, parseLabelFields } from './heads.js';

const ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu', 'relu', 'silu', 'tanh'] as const;
export type GPT2Activation = (typeof ACTIVATIONS)[number];

/** config.json of a GPT-2 checkpoint (the fields Strata reads; names as Hugging Face writes them). */
export interface GPT2Config extends LabelFields {
  model_type: 'gpt2';
  architectures: string[] | null;
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** MLP width, null = 4 * n_embd */
  n_inner: number | null;
  activation_function: GPT2Activation;
  layer_norm_epsilon: number;
  initializer_range: number;
  scale_attn_weights: boolean;
  scale_attn_by_inverse_layer_idx: boolean;
  bos_token_id: number | null;
  eos_token_id: number | null;
  /**
   * Strata key: projection weights are stored (out, in) like nn.Linear, as GGUF files hold them,
   * instead of Conv1D's (in, out). The GGUF loader sets it, so quantized blocks are read in place.
   */
  linear_weights: boolean;
  /** every block also cross-attends to encoder states (the decoder of an encoder-decoder model) */
  add_cross_attention: boolean;
  is_decoder: boolean;
}

export function parseGPT2Config(raw: JsonObject, file: string): GPT2Config {
  const c = new ConfigReader(raw, file);
  const nEmbd = c.requiredInt('n_embd');
  const nHead = c.requiredInt('n_head');
  if (nEmbd % nHead !== 0) c.fail('n_head', `(${nHead}) must divide n_embd (${nEmbd})`);
  return {
    model_type: 'gpt2',
    architectures: c.stringArray('architectures'),
    vocab_size: c.requiredInt('vocab_size'),
    n_positions: c.requiredInt('n_positions'),
    n_embd: nEmbd,
    n_layer: c.requiredInt('n_layer'),
    n_head: nHead,
    n_inner: c.optionalInt('n_inner', { min: 1 }),
    activation_function: c.choice('activation_function', ACTIVATIONS, 'gelu_new'),
    layer_norm_epsilon: c.number('layer_norm_epsilon', 1e-5, { above: 0 }),
    initializer_range: c.number('initializer_range', 0.02, { min: 0 }),
    scale_attn_weights: c.bool('scale_attn_weights', true),
    scale_attn_by_inverse_layer_idx: c.bool('scale_attn_by_inverse_layer_idx', false),
    bos_token_id: c.optionalInt('bos_token_id'),
    eos_token_id: c.optionalInt('eos_token_id'),
    linear_weights: c.bool('linear_weights', false),
    add_cross_attention: c.bool('add_cross_attention', false),
    is_decoder: c.bool('is_decoder', false),
    ...parseLabelFields(c),
  };
}

function activate(x: Tensor, fn: GPT2Activation): Tensor {
  switch (fn) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return gelu(x, 'tanh');
    case 'gelu':
      return gelu(x);
    case 'relu':
      return relu(x);
    case 'silu':
      return silu(x);
    case 'tanh':
      return tanh(x);
  }
}

/**
 * GPT-2's Conv1D: y = x W + b with W stored (in, out), read in place as a transposed Linear
 * weight — or stored (out, in) when the checkpoint came from GGUF (`linear_weights`).
 */
class Conv1D extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    s: Scope,
    inFeatures: number,
    outFeatures: number,
    std: number,
    private readonly linearLayout = false,
  ) {
    super();
    const shape = linearLayout ? [outFeatures, inFeatures] : [inFeatures, outFeatures];
    this.weight = this.param('weight', s.tensor('weight', shape, { std }));
    this.bias = this.param('bias', s.tensor('bias', [outFeatures], 'zeros'));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.linearLayout ? this.weight : this.weight.T, this.bias);
  }

  /** The calls forward makes for one row when nothing records gradients (linearRowKernel). */
  rowKernel(): LinearRowKernel | null {
    return linearRowKernel(this.linearLayout ? this.weight : this.weight.T, this.bias);
  }
}

/** transformers scales self- and cross-attention scores alike: 1/sqrt(D), and 1/(layer + 1) when asked. */
function attentionScale(config: GPT2Config, layer: number): number {
  const d = config.n_embd / config.n_head;
  return (config.scale_attn_weights ? 1 / Math.sqrt(d) : 1) / (config.scale_attn_by_inverse_layer_idx ? layer + 1 : 1);
}

class GPT2Attention extends Module {
  readonly cAttn: Conv1D;
  readonly cProj: Conv1D;
  private readonly heads: number;
  private readonly headDim: number;
  private readonly scale: number;

  constructor(
    s: Scope,
    config: GPT2Config,
    readonly layer: number,
  ) {
    super();
    const C = config.n_embd;
    const std = s.source.initializerRange;
    this.cAttn = this.module('c_attn', new Conv1D(s.at('c_attn'), C, 3 * C, std, config.linear_weights));
    this.cProj = this.module('c_proj', new Conv1D(s.at('c_proj'), C, C, std / Math.sqrt(2 * config.n_layer), config.linear_weights));
    this.heads = config.n_head;
    this.headDim = C / config.n_head;
    this.scale = attentionScale(config, layer);
  }

  forward(x: Tensor, mask: Tensor | null, cache: KVCache | undefined): Tensor {
    const [B, T, C] = x.shape as [number, number, number];
    const H = this.heads;
    const D = this.headDim;
    const [q, k, v] = split(this.cAttn.forward(x), C, -1).map((p) => p.reshape(B, T, H, D).transpose(1, 2)) as [Tensor, Tensor, Tensor]; // (B, H, T, D)
    const kv = cache ? cache.update(this.layer, k, v) : { k, v }; // (B, H, S, D)
    const y = scaledDotProductAttention(q, kv.k, kv.v, { causal: true, mask, scale: this.scale }); // (B, H, T, D)
    return this.cProj.forward(y.transpose(1, 2).reshape(B, T, C)); // (B, T, C)
  }
}

/** Cross-attention (crossattention.*): queries from the decoder (q_attn), keys and values from the encoder (c_attn). */
class GPT2CrossAttention extends Module {
  readonly qAttn: Conv1D;
  readonly cAttn: Conv1D;
  readonly cProj: Conv1D;
  private readonly heads: number;
  private readonly scale: number;

  constructor(s: Scope, config: GPT2Config, layer: number) {
    super();
    const C = config.n_embd;
    const std = s.source.initializerRange;
    this.cAttn = this.module('c_attn', new Conv1D(s.at('c_attn'), C, 2 * C, std, config.linear_weights));
    this.qAttn = this.module('q_attn', new Conv1D(s.at('q_attn'), C, C, std, config.linear_weights));
    this.cProj = this.module('c_proj', new Conv1D(s.at('c_proj'), C, C, std / Math.sqrt(2 * config.n_layer), config.linear_weights));
    this.heads = config.n_head;
    this.scale = attentionScale(config, layer);
  }

  /** encoder states (B, E, C) -> keys and values, each (B, H, E, D) */
  keyValue(encoderStates: Tensor): { k: Tensor; v: Tensor } {
    const [B, E, C] = encoderStates.shape as [number, number, number];
    const H = this.heads;
    const [k, v] = split(this.cAttn.forward(encoderStates), C, -1).map((p) => p.reshape(B, E, H, C / H).transpose(1, 2)) as [Tensor, Tensor]; // (B, H, E, D)
    return { k, v };
  }

  /** x (B, T, C) attends to every encoder position -> (B, T, C) */
  forward(x: Tensor, cross: { k: Tensor; v: Tensor }): Tensor {
    const [B, T, C] = x.shape as [number, number, number];
    const H = this.heads;
    const q = this.qAttn.forward(x).reshape(B, T, H, C / H).transpose(1, 2); // (B, H, T, D)
    const y = scaledDotProductAttention(q, cross.k, cross.v, { scale: this.scale }); // (B, H, T, D)
    return this.cProj.forward(y.transpose(1, 2).reshape(B, T, C)); // (B, T, C)
  }
}

class GPT2MLP extends Module {
  readonly cFc: Conv1D;
  readonly cProj: Conv1D;

  constructor(
    s: Scope,
    config: GPT2Config,
    readonly act: GPT2Activation,
  ) {
    super();
    const C = config.n_embd;
    const inner = config.n_inner ?? 4 * C;
    const std = s.source.initializerRange;
    this.cFc = this.module('c_fc', new Conv1D(s.at('c_fc'), C, inner, std, config.linear_weights));
    this.cProj = this.module('c_proj', new Conv1D(s.at('c_proj'), inner, C, std / Math.sqrt(2 * config.n_layer), config.linear_weights));
  }

  forward(x: Tensor): Tensor {
    return this.cProj.forward(activate(this.cFc.forward(x), this.act)); // (B, T, C)
  }
}

class GPT2Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: GPT2Attention;
  readonly ln2: LayerNorm;
  readonly crossattention: GPT2CrossAttention | null;
  readonly lnCrossAttn: LayerNorm | null;
  readonly mlp: GPT2MLP;

  constructor(
    s: Scope,
    config: GPT2Config,
    readonly layer: number,
  ) {
    super();
    const C = config.n_embd;
    const eps = config.layer_norm_epsilon;
    this.ln1 = this.module('ln_1', s.layerNorm('ln_1', C, eps));
    this.attn = this.module('attn', new GPT2Attention(s.at('attn'), config, layer));
    this.ln2 = this.module('ln_2', s.layerNorm('ln_2', C, eps));
    this.crossattention = config.add_cross_attention ? this.module('crossattention', new GPT2CrossAttention(s.at('crossattention'), config, layer)) : null;
    this.lnCrossAttn = config.add_cross_attention ? this.module('ln_cross_attn', s.layerNorm('ln_cross_attn', C, eps)) : null;
    this.mlp = this.module('mlp', new GPT2MLP(s.at('mlp'), config, config.activation_function));
  }

  /** Without `cross` a cross-attention block skips that sublayer, as transformers does without encoder states. */
  forward(x: Tensor, mask: Tensor | null, cache: KVCache | undefined, cross?: { k: Tensor; v: Tensor }): Tensor {
    let h = x.add(this.attn.forward(this.ln1.forward(x), mask, cache)); // (B, T, C)
    if (cross && this.crossattention && this.lnCrossAttn) h = h.add(this.crossattention.forward(this.lnCrossAttn.forward(h), cross)); // (B, T, C)
    return h.add(this.mlp.forward(this.ln2.forward(h))); // (B, T, C)
  }
}

/** The transformer stack (Hugging Face's GPT2Model): embeddings, blocks, final LayerNorm. */
export class GPT2Model extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly h: GPT2Block[];
  readonly lnF: LayerNorm;

  constructor(
    s: Scope,
    readonly config: GPT2Config,
  ) {
    super();
    this.wte = this.module('wte', s.embedding('wte', config.vocab_size, config.n_embd));
    this.wpe = this.module('wpe', s.embedding('wpe', config.n_positions, config.n_embd));
    const blocks = this.module('h', new ModuleGroup());
    this.h = Array.from({ length: config.n_layer }, (_, i) => blocks.add(String(i), new GPT2Block(s.at(`h.${i}`), config, i)));
    this.lnF = this.module('ln_f', s.layerNorm('ln_f', config.n_embd, config.layer_norm_epsilon));
    this.maxPositions = config.n_positions;
  }

  readonly maxPositions: number;

  /** Every block's cross-attention keys and values over encoder states (B, E, C): computed once per input. */
  crossAttention(encoderStates: Tensor): CrossAttentionStates {
    const kv = this.h.map((block) => {
      if (!block.crossattention) throw new StrataError('unsupported', 'GPT2Model', 'this decoder has no cross-attention (config add_cross_attention is false)');
      return block.crossattention.keyValue(encoderStates); // (B, H, E, D) each
    });
    return new CrossAttentionStates(
      kv.map((x) => x.k),
      kv.map((x) => x.v),
    );
  }

  /** ids (B, T) -> final-norm hidden states (B, T, C), or (B, 1, C) with lastOnly; `cross` feeds the cross-attention blocks */
  forward(ids: Tensor, options: DecoderForwardOptions = {}, cross?: CrossAttentionStates): Tensor {
    // one token of one sequence, nothing recorded: the same kernels on raw rows (gpt2DecodeStep)
    const fast = cross ? null : gpt2DecodeStep(this, ids, options);
    if (fast) return fast;
    const step = decoderStep(ids, options, this.maxPositions, 'GPT2Model');
    const mask = decoderMask(step, null);
    let x = this.wte.forward(ids).add(embedding(this.wpe.weight, positionTensor(step))); // (B, T, C)
    for (const block of this.h) x = block.forward(x, mask, options.cache, cross?.layer(block.layer, step.b, 'GPT2Model'));
    options.cache?.advance(step.t);
    if (options.lastOnly) x = x.slice(1, step.t - 1, step.t); // (B, 1, C)
    return this.lnF.forward(x);
  }
}

export const GPT2_CARD: ModelCard = {
  families: ['large-language', 'foundation'],
  inputModalities: ['text'],
  outputModalities: ['text'],
  architecture: 'decoder-only transformer (pre-LayerNorm, learned absolute positions, fused QKV, GELU MLP, tied LM head)',
  adaptability: ['full-finetune', 'lora', 'task-head', 'linear-probe', 'prompting', 'instruction-tuning'],
  applications: ['text generation', 'code completion', 'summarization', 'few-shot prompting', 'embeddings for classification'],
  examples: ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl', 'distilgpt2', 'gpt-3 (architecture)'],
  primaryData: 'web text (WebText: outbound Reddit links)',
  purpose: 'autoregressive next-token prediction; a general-purpose generator adapted by prompting or fine-tuning',
};

/** GPT-2 with its language-model head (tied to wte). */
export class GPT2LMHeadModel extends Module implements CausalLM {
  readonly kind = 'decoder-only' as const;
  readonly card = GPT2_CARD;
  readonly transformer: GPT2Model;
  readonly vocabSize: number;
  readonly maxPositions: number;

  constructor(
    readonly config: GPT2Config,
    source: ParamSource = new ParamSource(null, { initializerRange: config.initializer_range }),
    /** where the model sits in the checkpoint ('decoder.' inside a VisionEncoderDecoderModel) */
    prefix = '',
  ) {
    super();
    this.transformer = this.module('transformer', new GPT2Model(new Scope(source, `${prefix}transformer.`), config));
    this.vocabSize = config.vocab_size;
    this.maxPositions = config.n_positions;
  }

  forward(ids: Tensor, options: DecoderForwardOptions = {}): Tensor {
    return linear(this.transformer.forward(ids, options), this.transformer.wte.weight); // (B, T, V)
  }

  createCache(batch: number, maxLength: number): KVCache {
    const c = this.config;
    return new PreallocatedKVCache(c.n_layer, batch, c.n_head, maxLength, c.n_embd / c.n_head);
  }
}

/** Hugging Face's GPT2ForSequenceClassification: the decoder and `score` (L, C) at the last real token. */
export function gpt2ForSequenceClassification(config: GPT2Config, source: ParamSource = new ParamSource(null, { initializerRange: config.initializer_range })): DecoderForSequenceClassification {
  const base = new GPT2Model(new Scope(source, 'transformer.'), config);
  const score = new Scope(source).linear('score', config.n_embd, config.num_labels, false);
  return new DecoderForSequenceClassification('transformer', base, score, GPT2_CARD, config.vocab_size, config.n_positions);
}

// ---------------------------------------------------------------------------------------------
// GPT-2's decode step on raw rows: one new token of each of up to 8 sequences of one length with
// a preallocated cache and nothing recorded runs the kernels GPT2Model.forward's ops call, with the same arguments in the
// same order (the same floats, tested bit for bit), without the Tensor objects and views between
// them; see ./llama-decode.ts, which measured what that saves. Blocks with cross-attention, layer
// norms or linears replaced since (LoRA), and what decodeCache turns away run the ops.

const ROW_ACTIVATIONS: Record<GPT2Activation, UnaryOp> = { gelu_new: 'geluTanh', gelu_pytorch_tanh: 'geluTanh', gelu: 'gelu', relu: 'relu', silu: 'silu', tanh: 'tanh' };

interface GPT2Plan {
  readonly blocks: readonly { ln1: NormKernel; ln2: NormKernel; kernels: readonly LinearRowKernel[] }[];
  readonly lnFKernel: NormKernel;
  readonly scratch: ScratchByRows<'x' | 'a' | 'qkv' | 'y' | 'o' | 'h' | 'f' | 'fa' | 'd'>;
}

/** The modules a plan reads: ln_f, then each block's ln_1, c_attn, attn c_proj, ln_2, c_fc, mlp c_proj. */
const gpt2Modules = (model: GPT2Model): Module[] => [model.lnF, ...model.h.flatMap((b) => [b.ln1, b.attn.cAttn, b.attn.cProj, b.ln2, b.mlp.cFc, b.mlp.cProj])];

function gpt2Plan(model: GPT2Model): GPT2Plan | null {
  const config = model.config;
  if (config.add_cross_attention) return null;
  const lnFKernel = normKernel(model.lnF);
  if (!lnFKernel) return null;
  const blocks: GPT2Plan['blocks'][number][] = [];
  for (const block of model.h) {
    const ln1 = normKernel(block.ln1);
    const ln2 = normKernel(block.ln2);
    const convs = [block.attn.cAttn, block.attn.cProj, block.mlp.cFc, block.mlp.cProj];
    if (!ln1 || !ln2 || !convs.every((m) => Object.getPrototypeOf(m) === Conv1D.prototype)) return null;
    const kernels = convs.map((m) => m.rowKernel());
    if (!kernels.every((k): k is LinearRowKernel => k !== null)) return null;
    blocks.push({ ln1, ln2, kernels });
  }
  const C = config.n_embd;
  const F = config.n_inner ?? 4 * C;
  const scratch = new ScratchByRows({ x: C, a: C, qkv: 3 * C, y: C, o: C, h: C, f: F, fa: F, d: C });
  return { blocks, lnFKernel, scratch };
}

const gpt2Plans = new StepPlans(gpt2Modules, gpt2Plan);

/** GPT2Model.forward(ids, options) on raw rows, or null (nothing done) when the step does not cover the call. */
export function gpt2DecodeStep(model: GPT2Model, ids: Tensor, options: DecoderForwardOptions): Tensor | null {
  const cache = decodeCache(ids, options);
  if (!cache || cache.length + 1 > model.maxPositions) return null;
  const config = model.config;
  const plan = gpt2Plans.get(model);
  if (!plan) return null;
  const pos = fromArray(Int32Array.of(cache.length), [1, 1], { dtype: 'i32' }); // positionTensor of this step
  const embedded = model.wte.forward(ids).add(embedding(model.wpe.weight, pos)); // (B, 1, C)
  if (embedded.dtype !== 'f32' || !embedded.isContiguous) return null;

  const B = cache.batch;
  const C = config.n_embd;
  const F = config.n_inner ?? 4 * C;
  const H = config.n_head;
  const heads = { q: H, kv: H, d: C / H };
  const act = ROW_ACTIVATIONS[config.activation_function];
  const be = backend();
  const s = plan.scratch.get(B);
  s.x.set((embedded.data as Float32Array).subarray(embedded.offset, embedded.offset + B * C));
  // q, k and v: column ranges of each (3C) row of c_attn's output
  const [qRows, kRows, vRows] = [0, 1, 2].map((i) => ({ data: s.qkv, offset: i * C, stride: 3 * C }));
  plan.blocks.forEach((p, l) => {
    const [cAttn, attnProj, cFc, mlpProj] = p.kernels as [LinearRowKernel, LinearRowKernel, LinearRowKernel, LinearRowKernel];
    // h = x + c_proj(attention(split(c_attn(ln_1(x)))))
    p.ln1(s.x, B, s.a);
    cAttn(s.a, B, s.qkv);
    attendCached(cache, l, qRows!, kRows!, vRows!, heads, attentionScale(config, l), s.y);
    attnProj(s.y, B, s.o);
    be.binary('add', rowView(s.x, B * C), rowView(s.o, B * C), s.h);
    // x = h + c_proj(act(c_fc(ln_2(h))))
    p.ln2(s.h, B, s.a);
    cFc(s.a, B, s.f);
    be.unary(act, rowView(s.f, B * F), s.fa, 0);
    mlpProj(s.fa, B, s.d);
    be.binary('add', rowView(s.h, B * C), rowView(s.d, B * C), s.x);
  });
  cache.advance(1);
  const out = new Float32Array(B * C);
  plan.lnFKernel(s.x, B, out);
  return new Tensor(out, 'f32', [B, 1, C]);
}
