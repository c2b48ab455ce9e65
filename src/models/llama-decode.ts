// A llama-family decode step on raw buffers: one new token of each of up to 8 sequences of one
// length (one sequence, beams, an unpadded batch), a preallocated f32 cache, nothing recording
// gradients. It calls the backend kernels that LlamaModel.forward's ops call, with the same
// arguments in the same order, so it gives the same floats (tested bit for bit), but without the
// Tensor objects, views, checks and allocations between them: about 190 kernel calls a token,
// which cost more as JavaScript than as kernels in a process whose code is not yet optimized (a
// one-shot `strata generate`, and every run without TurboFan). Measured with `strata generate` on
// the 133 MB Q8_0 bench model, 128 tokens, 2 threads: 105–110 tok/s through the ops, 222–246 on
// this path (BENCHMARKS.md).
//
// The family takes it with plain linears (any weight format linear takes, f32 biases), plain
// RMSNorm or LayerNorm modules with f32 weights, sequential or parallel blocks, no padding mask,
// position ids or input embeddings, and a sliding window only while the sequence fits in it.
// Anything else, and any model whose modules were replaced or wrapped (LoRA) since, runs the ops.

import { Tensor } from '../tensor/tensor.js';
import type { UnaryOp } from '../backend/backend.js';
import { backend } from '../backend/index.js';
import { linearRowKernel, type LinearRowKernel } from '../tensor/ops/linalg.js';
import { ropeTables } from '../tensor/ops/rope.js';
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { DecoderForwardOptions } from './types.js';
import { type NormKernel, ScratchByRows, StepPlans, attendCached, decodeCache, normKernel, rowView } from './decode-rows.js';
import type { LlamaConfig, LlamaModel } from './llama.js';

const ACTIVATIONS: Record<LlamaConfig['hidden_act'], UnaryOp> = { silu: 'silu', gelu: 'gelu', gelu_pytorch_tanh: 'geluTanh', relu: 'relu' };

interface LayerPlan {
  readonly inputNorm: NormKernel;
  /** null in a parallel block, whose attention and MLP both read inputNorm's output */
  readonly postNorm: NormKernel | null;
  /** q, k, v, o, gate, up, down: the calls their linears make */
  readonly kernels: readonly LinearRowKernel[];
}

/** A model's weights as the step reads them, and its scratch rows (reused from token to token). */
interface Plan {
  readonly layers: readonly LayerPlan[];
  readonly finalNorm: NormKernel;
  readonly scratch: ScratchByRows<'x' | 'a' | 'b' | 'q' | 'k' | 'v' | 'qr' | 'kr' | 'y' | 'o' | 'h' | 'g' | 'u' | 'ga' | 'm' | 'd'>;
}

/** The modules a plan reads: the final norm, then each layer's norms, q, k, v, o, gate, up, down. */
function modulesOf(model: LlamaModel): Module[] {
  return [
    model.norm,
    ...model.layers.flatMap((layer) => {
      const { qProj, kProj, vProj, oProj } = layer.selfAttn;
      const { gateProj, upProj, downProj } = layer.mlp;
      return [layer.inputLayernorm, ...(layer.postAttentionLayernorm ? [layer.postAttentionLayernorm] : []), qProj, kProj, vProj, oProj, gateProj, upProj, downProj];
    }),
  ];
}

function planFor(model: LlamaModel): Plan | null {
  const c = model.config;
  const finalNorm = normKernel(model.norm);
  if (!finalNorm) return null;
  const layers: LayerPlan[] = [];
  for (const layer of model.layers) {
    const { qProj, kProj, vProj, oProj } = layer.selfAttn;
    const { gateProj, upProj, downProj } = layer.mlp;
    const linears = [qProj, kProj, vProj, oProj, gateProj, upProj, downProj];
    if (!linears.every((l) => Object.getPrototypeOf(l) === Linear.prototype)) return null;
    const kernels = linears.map((l) => linearRowKernel(l.weight, l.bias));
    if (!kernels.every((k): k is LinearRowKernel => k !== null)) return null;
    const inputNorm = normKernel(layer.inputLayernorm);
    const postNorm = layer.postAttentionLayernorm ? normKernel(layer.postAttentionLayernorm) : null;
    if (!inputNorm || (layer.postAttentionLayernorm && !postNorm)) return null;
    layers.push({ inputNorm, postNorm, kernels });
  }
  const C = c.hidden_size;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  const F = c.intermediate_size;
  const scratch = new ScratchByRows({ x: C, a: C, b: C, q, k: kv, v: kv, qr: q, kr: kv, y: q, o: C, h: C, g: F, u: F, ga: F, m: F, d: C });
  return { layers, finalNorm, scratch };
}

const plans = new StepPlans(modulesOf, planFor);

/**
 * LlamaModel.forward(ids, options) for one new token of each of B sequences (decodeCache) on raw
 * buffers: the final-norm hidden states (B, 1, C) and the cache advanced by one, or null (nothing
 * done) when this call or this model is not one the step covers.
 */
export function llamaDecodeStep(model: LlamaModel, ids: Tensor, options: DecoderForwardOptions): Tensor | null {
  const cache = decodeCache(ids, options);
  if (!cache) return null;
  // a sliding window hides keys (a mask) only once the sequence is longer than it
  if (model.config.sliding_window !== null && cache.length + 1 > model.config.sliding_window) return null;
  const plan = plans.get(model);
  if (!plan) return null;
  const embedded = model.embedTokens.forward(ids); // (B, 1, C)
  if (embedded.dtype !== 'f32' || !embedded.isContiguous) return null;

  const c = model.config;
  const B = cache.batch;
  const [C, F] = [c.hidden_size, c.intermediate_size];
  const heads = { q: c.num_attention_heads, kv: c.num_key_value_heads, d: c.head_dim };
  const [qRow, kvRow] = [heads.q * heads.d, heads.kv * heads.d];
  const be = backend();
  const s = plan.scratch.get(B);
  s.x.set((embedded.data as Float32Array).subarray(embedded.offset, embedded.offset + B * C));
  const { cos, sin } = ropeTables(1, heads.d, { offset: cache.length, invFreq: model.rope.invFreq, linearScale: model.rope.linearScale });
  const cosData = cos.data as Float32Array;
  const sinData = sin.data as Float32Array;
  const interleaved = c.rope_interleaved;
  const act = ACTIVATIONS[c.hidden_act];
  // the roped queries and keys and the values, (B, heads × D) each, as attention reads them
  const [qRows, kRows, vRows] = [s.qr, s.kr, s.v].map((data, i) => ({ data, offset: 0, stride: i === 0 ? qRow : kvRow }));
  plan.layers.forEach((p, l) => {
    const [q, k, v, o, gate, up, down] = p.kernels as [LinearRowKernel, LinearRowKernel, LinearRowKernel, LinearRowKernel, LinearRowKernel, LinearRowKernel, LinearRowKernel];
    // attention: h = x + o_proj(attention(rope(q_proj(a)), cache + rope(k_proj(a)), cache + v_proj(a))), a = norm(x)
    p.inputNorm(s.x, B, s.a);
    q(s.a, B, s.q);
    k(s.a, B, s.k);
    v(s.a, B, s.v);
    be.rope(s.q, B * heads.q, 1, heads.d, cosData, sinData, B * heads.q, interleaved, false, s.qr);
    be.rope(s.k, B * heads.kv, 1, heads.d, cosData, sinData, B * heads.kv, interleaved, false, s.kr);
    attendCached(cache, l, qRows!, kRows!, vRows!, heads, 1 / Math.sqrt(heads.d), s.y);
    o(s.y, B, s.o);
    be.binary('add', rowView(s.x, B * C), rowView(s.o, B * C), s.h);
    // MLP: x = h + down(act(gate(b)) * up(b)), b = norm(h), or b = a in a parallel block
    let mlpIn = s.a;
    if (p.postNorm) {
      p.postNorm(s.h, B, s.b);
      mlpIn = s.b;
    }
    gate(mlpIn, B, s.g);
    up(mlpIn, B, s.u);
    be.unary(act, rowView(s.g, B * F), s.ga, 0);
    be.binary('mul', rowView(s.ga, B * F), rowView(s.u, B * F), s.m);
    down(s.m, B, s.d);
    be.binary('add', rowView(s.h, B * C), rowView(s.d, B * C), s.x);
    options.afterLayer?.();
  });
  cache.advance(1);
  const out = new Float32Array(B * C);
  plan.finalNorm(s.x, B, out);
  return new Tensor(out, 'f32', [B, 1, C]);
}
