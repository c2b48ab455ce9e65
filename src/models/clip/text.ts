// CLIP's text tower (Hugging Face's CLIPTextModel, `text_model.` inside CLIPModel): token and
// position embeddings, the shared pre-LayerNorm encoder run with a causal mask (plus the padding
// mask when given), a final LayerNorm, and the sequence pooled at its eos token: the first position
// holding eos_token_id, or, for legacy configs whose eos_token_id is 2, the position of the largest
// id (CLIP's eos has the largest id in its vocabulary), as transformers 5 does.
//
// Shapes: B batch, T tokens, C hidden, V vocab.

import { StrataError, fmtShape } from '../../errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { fromArray } from '../../tensor/ops/creation.js';
import { Module } from '../../nn/module.js';
import { Embedding, type LayerNorm } from '../../nn/layers.js';
import type { Scope } from '../weights.js';
import type { TextTowerOptions } from '../types.js';
import type { CLIPTextConfig } from './config.js';
import { CLIPEncoder, type CLIPTowerOutput } from './encoder.js';

/** The most negative f32: a hidden key gets this added to its score, as transformers does. */
const MASKED = -3.4028234663852886e38;

/** Token ids of legacy configs that pool at the largest id instead of the first eos. */
const LEGACY_EOS_TOKEN_ID = 2;

class CLIPTextEmbeddings extends Module {
  readonly tokenEmbedding: Embedding;
  readonly positionEmbedding: Embedding;

  constructor(s: Scope, config: CLIPTextConfig) {
    super();
    const C = config.hidden_size;
    const std = { std: 0.02 * config.initializer_factor };
    this.tokenEmbedding = this.module('token_embedding', new Embedding(config.vocab_size, C, { weight: s.at('token_embedding').tensor('weight', [config.vocab_size, C], std) }));
    const P = config.max_position_embeddings;
    this.positionEmbedding = this.module('position_embedding', new Embedding(P, C, { weight: s.at('position_embedding').tensor('weight', [P, C], std) }));
  }

  /** ids (B, T) -> (B, T, C) */
  forward(ids: Tensor, positionIds: Tensor | undefined): Tensor {
    const T = ids.shape[1]!;
    const pos = positionIds ? this.positionEmbedding.forward(positionIds) : this.positionEmbedding.weight.slice(0, 0, T); // (B, T, C) or (T, C)
    return this.tokenEmbedding.forward(ids).add(pos);
  }
}

function checkIds(t: Tensor | undefined, b: number, s: number, what: string): void {
  if (t && (t.ndim !== 2 || t.shape[0] !== b || t.shape[1] !== s)) {
    throw new StrataError('shape', 'CLIPTextModel', `${what} must be (B, T) = (${b}, ${s}), got ${fmtShape(t.shape)}`);
  }
}

/** (B, 1, T, T) additive mask: query i sees key j when j <= i and j holds a real token. */
function causalPaddingMask(B: number, T: number, attentionMask: Tensor | undefined): Tensor {
  const real = attentionMask ? attentionMask.to('f32').contiguous().toArray() : null;
  const out = new Float32Array(B * T * T);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) out[(b * T + i) * T + j] = j <= i && (!real || real[b * T + j] !== 0) ? 0 : MASKED;
    }
  }
  return fromArray(out, [B, 1, T, T]);
}

/** CLIPTextModel: embeddings, causal encoder, final_layer_norm, eos pooling. */
export class CLIPTextModel extends Module {
  readonly embeddings: CLIPTextEmbeddings;
  readonly encoder: CLIPEncoder;
  readonly finalLayerNorm: LayerNorm;
  readonly vocabSize: number;
  readonly maxPositions: number;

  constructor(
    readonly config: CLIPTextConfig,
    s: Scope,
  ) {
    super();
    this.embeddings = this.module('embeddings', new CLIPTextEmbeddings(s.at('embeddings'), config));
    this.encoder = this.module('encoder', new CLIPEncoder(s.at('encoder'), config));
    this.finalLayerNorm = this.module('final_layer_norm', s.layerNorm('final_layer_norm', config.hidden_size, config.layer_norm_eps));
    this.vocabSize = config.vocab_size;
    this.maxPositions = config.max_position_embeddings;
  }

  /** The position each row is pooled at (B,). */
  poolPositions(ids: Tensor): Int32Array {
    const [B, T] = ids.shape as [number, number];
    const v = ids.contiguous().toArray();
    const eos = this.config.eos_token_id;
    const out = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      let at = 0;
      for (let t = 0; t < T; t++) {
        const id = v[b * T + t]!;
        if (eos === LEGACY_EOS_TOKEN_ID ? id > v[b * T + at]! : id === eos) {
          at = t;
          if (eos !== LEGACY_EOS_TOKEN_ID) break;
        }
      }
      out[b] = at;
    }
    return out;
  }

  /** ids (B, T) i32 -> final hidden states (B, T, C), pooled (B, C) and every layer's states */
  forward(ids: Tensor, options: TextTowerOptions = {}): CLIPTowerOutput {
    if (ids.ndim !== 2 || ids.dtype !== 'i32' || ids.shape[1] === 0) throw new StrataError('shape', 'CLIPTextModel', `ids must be (B, T) i32 with T >= 1, got ${ids.dtype} ${fmtShape(ids.shape)}`);
    const [B, T] = ids.shape as [number, number];
    if (T > this.maxPositions) throw new StrataError('index', 'CLIPTextModel', `${T} tokens exceed the ${this.maxPositions} the position table holds`);
    checkIds(options.attentionMask, B, T, 'attentionMask');
    checkIds(options.positionIds, B, T, 'positionIds');
    const x = this.embeddings.forward(ids, options.positionIds); // (B, T, C)
    const layerStates = this.encoder.forward(x, causalPaddingMask(B, T, options.attentionMask));
    const last = this.finalLayerNorm.forward(layerStates[layerStates.length - 1]!); // (B, T, C)
    const rows = Int32Array.from(this.poolPositions(ids), (t, b) => b * T + t);
    const pooled = last.reshape(B * T, -1).indexSelect(0, fromArray(rows, [B], { dtype: 'i32' })); // (B, C)
    return { lastHiddenState: last, pooled, layerStates };
  }
}
