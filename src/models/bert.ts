// BERT and RoBERTa encoders: word + position + token-type embeddings, post-LayerNorm blocks,
// bidirectional attention with a padding mask, GELU (erf) MLP; heads for fill-mask, sequence
// classification and extractive question answering, and the tanh pooler. Parameter names are
// Hugging Face's keys, under the `bert.` or `roberta.` base prefix.
//
// RoBERTa differs only in data: position ids start at pad_token_id + 1 and skip padding,
// type_vocab_size is 1, and its heads are named lm_head.* and classifier.{dense,out_proj}.
//
// Shapes: B batch, T tokens, C hidden, H heads, D head size, F intermediate, V vocab, L labels.

import { StrataError, fmtShape } from '../errors.js';
import { type LabelFields, parseLabelFields } from './heads.js';
import type { Tensor } from '../tensor/tensor.js';
import { linear, linearGelu, linearStack } from '../tensor/ops/linalg.js';
import { gelu, relu, silu, tanh, where } from '../tensor/ops/elementwise.js';
import { scaledDotProductAttention } from '../tensor/ops/attention.js';
import { fromArray } from '../tensor/ops/creation.js';
import { releaseStorage } from '../tensor/pool.js';
import { Module } from '../nn/module.js';
import { Dropout, type Embedding, type LayerNorm, Linear } from '../nn/layers.js';
import { ConfigReader, type JsonObject } from '../io/config.js';
import { ModuleGroup, ParamSource, Scope } from './weights.js';
import type { EncoderForwardOptions, EncoderModel, EncoderOutput, ModelCard } from './types.js';

export type BertModelType = 'bert' | 'roberta';
const HIDDEN_ACTS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu', 'silu'] as const;
export type BertActivation = (typeof HIDDEN_ACTS)[number];

/** config.json of a BERT or RoBERTa checkpoint (names as Hugging Face writes them). */
export interface BertConfig extends LabelFields {
  model_type: BertModelType;
  architectures: string[] | null;
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: BertActivation;
  max_position_embeddings: number;
  type_vocab_size: number;
  layer_norm_eps: number;
  pad_token_id: number;
  initializer_range: number;
  hidden_dropout_prob: number;
  /** classifier dropout; null = hidden_dropout_prob */
  classifier_dropout: number | null;
}

export function parseBertConfig(raw: JsonObject, file: string, modelType: BertModelType): BertConfig {
  const c = new ConfigReader(raw, file);
  const hidden = c.requiredInt('hidden_size');
  const heads = c.requiredInt('num_attention_heads');
  if (hidden % heads !== 0) c.fail('num_attention_heads', `(${heads}) must divide hidden_size (${hidden})`);
  const posType = c.string('position_embedding_type', 'absolute');
  if (posType !== 'absolute') c.fail('position_embedding_type', `'${posType}' is not supported (supported: 'absolute')`);
  const vocab = c.requiredInt('vocab_size');
  return {
    model_type: modelType,
    architectures: c.stringArray('architectures'),
    vocab_size: vocab,
    hidden_size: hidden,
    num_hidden_layers: c.requiredInt('num_hidden_layers'),
    num_attention_heads: heads,
    intermediate_size: c.requiredInt('intermediate_size'),
    hidden_act: c.choice('hidden_act', HIDDEN_ACTS, 'gelu'),
    max_position_embeddings: c.requiredInt('max_position_embeddings'),
    type_vocab_size: c.int('type_vocab_size', modelType === 'roberta' ? 1 : 2, { min: 1 }),
    layer_norm_eps: c.number('layer_norm_eps', 1e-12, { above: 0 }),
    pad_token_id: c.int('pad_token_id', modelType === 'roberta' ? 1 : 0, { min: 0, max: vocab - 1 }),
    initializer_range: c.number('initializer_range', 0.02, { min: 0 }),
    hidden_dropout_prob: c.number('hidden_dropout_prob', 0.1, { min: 0, max: 1 }),
    classifier_dropout: c.has('classifier_dropout') ? c.number('classifier_dropout', 0, { min: 0, max: 1 }) : null,
    ...parseLabelFields(c),
  };
}

function activate(x: Tensor, fn: BertActivation): Tensor {
  switch (fn) {
    case 'gelu':
      return gelu(x);
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return gelu(x, 'tanh');
    case 'relu':
      return relu(x);
    case 'silu':
      return silu(x);
  }
}

/**
 * act(dense(x)). GELU rides on the GEMM (linearGelu: applied to each output tile in cache) when
 * the layer is a plain Linear; a wrapped one (LoRA) runs its own forward.
 */
function denseActivate(dense: Linear, x: Tensor, fn: BertActivation): Tensor {
  const gelus = fn === 'gelu' || fn === 'gelu_new' || fn === 'gelu_pytorch_tanh';
  if (gelus && Object.getPrototypeOf(dense) === Linear.prototype) return linearGelu(x, dense.weight, dense.bias, fn === 'gelu' ? 'none' : 'tanh');
  return activate(dense.forward(x), fn);
}

/** The most negative f32: masked keys get this added, as Hugging Face does (a row of padding stays finite). */
const MASKED = -3.4028234663852886e38;

function checkIds(t: Tensor | undefined, b: number, s: number, what: string): void {
  if (t && (t.ndim !== 2 || t.shape[0] !== b || t.shape[1] !== s)) {
    throw new StrataError('shape', 'BertModel', `${what} must be (B, T) = (${b}, ${s}), got ${fmtShape(t.shape)}`);
  }
}

class BertEmbeddings extends Module {
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding;
  readonly tokenTypeEmbeddings: Embedding;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(
    s: Scope,
    readonly config: BertConfig,
  ) {
    super();
    const C = config.hidden_size;
    this.wordEmbeddings = this.module('word_embeddings', s.embedding('word_embeddings', config.vocab_size, C));
    this.positionEmbeddings = this.module('position_embeddings', s.embedding('position_embeddings', config.max_position_embeddings, C));
    this.tokenTypeEmbeddings = this.module('token_type_embeddings', s.embedding('token_type_embeddings', config.type_vocab_size, C));
    this.layerNorm = this.module('LayerNorm', s.layerNorm('LayerNorm', C, config.layer_norm_eps));
    this.dropout = this.module('dropout', new Dropout(config.hidden_dropout_prob));
  }

  /** Default positions: 0..T-1 (BERT), or pad+1.. counting only real tokens (RoBERTa). */
  private positions(ids: Tensor): Tensor {
    const [B, T] = ids.shape as [number, number];
    const out = new Int32Array(B * T);
    if (this.config.model_type === 'roberta') {
      const pad = this.config.pad_token_id;
      const v = ids.toArray();
      for (let b = 0; b < B; b++) {
        let n = 0;
        for (let t = 0; t < T; t++) out[b * T + t] = v[b * T + t] === pad ? pad : pad + ++n;
      }
    } else for (let i = 0; i < out.length; i++) out[i] = i % T;
    return fromArray(out, [B, T], { dtype: 'i32' });
  }

  forward(ids: Tensor, options: EncoderForwardOptions): Tensor {
    const [B, T] = ids.shape as [number, number];
    const pos = options.positionIds ?? this.positions(ids);
    const types = options.tokenTypeIds ?? fromArray(new Int32Array(B * T), [B, T], { dtype: 'i32' });
    checkIds(options.positionIds, B, T, 'positionIds');
    checkIds(options.tokenTypeIds, B, T, 'tokenTypeIds');
    const x = this.wordEmbeddings.forward(ids).add(this.tokenTypeEmbeddings.forward(types)); // (B, T, C)
    return this.dropout.forward(this.layerNorm.forwardAdd(x, this.positionEmbeddings.forward(pos)));
  }
}

/** Self-attention and its output projection (attention.self.* and attention.output.*). */
class BertAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(
    s: Scope,
    private readonly config: BertConfig,
  ) {
    super();
    const C = config.hidden_size;
    const self = this.module('self', new ModuleGroup());
    const sa = s.at('self');
    this.query = self.add('query', sa.linear('query', C, C, true));
    this.key = self.add('key', sa.linear('key', C, C, true));
    this.value = self.add('value', sa.linear('value', C, C, true));
    const output = this.module('output', new ModuleGroup());
    const so = s.at('output');
    this.dense = output.add('dense', so.linear('dense', C, C, true));
    this.layerNorm = output.add('LayerNorm', so.layerNorm('LayerNorm', C, config.layer_norm_eps));
    this.dropout = this.module('dropout', new Dropout(config.hidden_dropout_prob));
  }

  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [B, T, C] = x.shape as [number, number, number];
    const H = this.config.num_attention_heads;
    const [q, k, v] = this.projections(x); // (B, T, C) each
    const heads = (p: Tensor) => p.reshape(B, T, H, C / H).transpose(1, 2); // (B, H, T, D)
    const y = scaledDotProductAttention(heads(q), heads(k), heads(v), { mask }); // (B, H, T, D)
    const o = this.dropout.forward(this.dense.forward(y.transpose(1, 2).reshape(B, T, C))); // (B, T, C)
    const out = this.layerNorm.forwardAdd(o, x);
    if (!out.requiresGrad) releaseStorage(q!, k!, v!, y, o); // nothing recorded them (see BertModel.encode)
    return out;
  }

  /**
   * query(x), key(x), value(x). Plain Linears go through linearStack, which runs them as one GEMM
   * over the three weights (packed once) when nothing records gradients, as ONNX Runtime's
   * attention fusion does; a wrapped one (LoRA) runs its own forward.
   */
  private projections(x: Tensor): Tensor[] {
    const layers = [this.query, this.key, this.value];
    if (layers.every((l) => Object.getPrototypeOf(l) === Linear.prototype)) return linearStack(x, layers);
    return layers.map((l) => l.forward(x));
  }
}

class BertLayer extends Module {
  readonly attention: BertAttention;
  readonly intermediate: Linear;
  readonly output: Linear;
  readonly outputLayerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(
    s: Scope,
    private readonly config: BertConfig,
  ) {
    super();
    const C = config.hidden_size;
    const F = config.intermediate_size;
    this.attention = this.module('attention', new BertAttention(s.at('attention'), config));
    this.intermediate = this.module('intermediate', new ModuleGroup()).add('dense', s.at('intermediate').linear('dense', C, F, true));
    const out = this.module('output', new ModuleGroup());
    this.output = out.add('dense', s.at('output').linear('dense', F, C, true));
    this.outputLayerNorm = out.add('LayerNorm', s.at('output').layerNorm('LayerNorm', C, config.layer_norm_eps));
    this.dropout = this.module('dropout', new Dropout(config.hidden_dropout_prob));
  }

  forward(x: Tensor, mask: Tensor | null): Tensor {
    const a = this.attention.forward(x, mask); // (B, T, C)
    const h = denseActivate(this.intermediate, a, this.config.hidden_act); // (B, T, F)
    const f = this.output.forward(h); // (B, T, C)
    const out = this.outputLayerNorm.forwardAdd(this.dropout.forward(f), a);
    if (!out.requiresGrad) releaseStorage(a, h, f);
    return out;
  }
}

/** Tokens per sequence: RoBERTa's positions start after pad_token_id, so 514 positions hold 512 tokens. */
function maxTokens(config: BertConfig): number {
  return config.model_type === 'roberta' ? config.max_position_embeddings - config.pad_token_id - 1 : config.max_position_embeddings;
}

export const BERT_CARD: ModelCard = {
  families: ['large-language', 'foundation'],
  inputModalities: ['text'],
  outputModalities: ['embedding', 'label', 'text'],
  architecture: 'encoder-only transformer (post-LayerNorm, learned positions, token-type embeddings, bidirectional attention, GELU MLP)',
  adaptability: ['full-finetune', 'lora', 'task-head', 'linear-probe'],
  applications: ['fill-mask', 'text classification', 'extractive question answering', 'named-entity recognition', 'sentence embeddings and retrieval'],
  examples: ['bert-base-uncased', 'bert-large-cased', 'roberta-base', 'roberta-large', 'distilroberta-base', 'all-MiniLM (sentence-transformers)'],
  primaryData: 'BooksCorpus and English Wikipedia (BERT); CC-News, OpenWebText and Stories as well (RoBERTa)',
  purpose: 'masked-language-model pretraining of bidirectional text representations, adapted with a small task head',
};

export interface BertModelOptions {
  /** include the pooler (bert.pooler.dense); default: when the checkpoint has it */
  pooler?: boolean;
}

/** The encoder (Hugging Face's BertModel / RobertaModel): embeddings, layers, optional pooler. */
export class BertModel extends Module implements EncoderModel {
  readonly kind = 'encoder' as const;
  readonly card = BERT_CARD;
  readonly embeddings: BertEmbeddings;
  readonly layers: BertLayer[];
  readonly pooler: Linear | null;
  readonly vocabSize: number;
  readonly maxPositions: number;

  constructor(
    readonly config: BertConfig,
    s: Scope = new Scope(new ParamSource(null, { initializerRange: config.initializer_range })),
    options: BertModelOptions = {},
  ) {
    super();
    const C = config.hidden_size;
    this.embeddings = this.module('embeddings', new BertEmbeddings(s.at('embeddings'), config));
    const layerList = this.module('encoder', new ModuleGroup()).add('layer', new ModuleGroup());
    this.layers = Array.from({ length: config.num_hidden_layers }, (_, i) => layerList.add(String(i), new BertLayer(s.at(`encoder.layer.${i}`), config)));
    const withPooler = options.pooler ?? s.has('pooler.dense.weight');
    this.pooler = withPooler ? this.module('pooler', new ModuleGroup()).add('dense', s.at('pooler').linear('dense', C, C, true)) : null;
    this.vocabSize = config.vocab_size;
    this.maxPositions = maxTokens(config);
  }

  encode(ids: Tensor, options: EncoderForwardOptions = {}): EncoderOutput {
    if (ids.ndim !== 2 || ids.dtype !== 'i32') throw new StrataError('shape', 'BertModel', `ids must be (B, T) i32, got ${ids.dtype} ${fmtShape(ids.shape)}`);
    const [B, T] = ids.shape as [number, number];
    if (T > this.maxPositions) throw new StrataError('index', 'BertModel', `${T} tokens exceed the ${this.maxPositions} the position table holds`);
    checkIds(options.attentionMask, B, T, 'attentionMask');
    const m = options.attentionMask;
    const mask = m ? where((m.dtype === 'bool' ? m : m.ne(0)).reshape(B, 1, 1, T), 0, MASKED) : null; // (B, 1, 1, T)
    let x = this.embeddings.forward(ids, options); // (B, T, C)
    for (const layer of this.layers) {
      const next = layer.forward(x, mask);
      // A forward that records no gradients gives each intermediate back for reuse once it is dead
      // (src/tensor/pool.ts): ~430 MB of new buffers a forward for BERT-base on 8 x 128 tokens.
      // An output that does not require grad means no op on the way saved its inputs.
      if (!next.requiresGrad) releaseStorage(x);
      x = next;
    }
    const pooled = this.pooler ? tanh(this.pooler.forward(x.select(1, 0))) : undefined; // (B, C)
    return pooled ? { lastHiddenState: x, pooled } : { lastHiddenState: x };
  }

  forward(ids: Tensor, options: EncoderForwardOptions = {}): EncoderOutput {
    return this.encode(ids, options);
  }
}

/** An encoder under its base prefix (`bert` or `roberta`) plus a task head. */
abstract class BertWithHead extends Module implements EncoderModel {
  readonly kind = 'encoder' as const;
  readonly card = BERT_CARD;
  readonly encoder: BertModel;
  readonly vocabSize: number;
  readonly maxPositions: number;

  constructor(
    readonly config: BertConfig,
    source: ParamSource,
    options: BertModelOptions,
  ) {
    super();
    const base = config.model_type;
    this.encoder = this.module(base, new BertModel(config, new Scope(source, `${base}.`), options));
    this.vocabSize = config.vocab_size;
    this.maxPositions = maxTokens(config);
  }

  encode(ids: Tensor, options: EncoderForwardOptions = {}): EncoderOutput {
    return this.encoder.encode(ids, options);
  }
}

function freshSource(config: BertConfig): ParamSource {
  return new ParamSource(null, { initializerRange: config.initializer_range });
}

/** Fill-mask: BERT's cls.predictions.* or RoBERTa's lm_head.*, decoder tied to the word embeddings. */
export class BertForMaskedLM extends BertWithHead {
  readonly transform: Linear;
  readonly transformNorm: LayerNorm;
  readonly bias: Tensor;

  constructor(config: BertConfig, source: ParamSource = freshSource(config)) {
    super(config, source, { pooler: source.checkpoint ? undefined : false });
    const C = config.hidden_size;
    const roberta = config.model_type === 'roberta';
    const s = roberta ? new Scope(source, 'lm_head.') : new Scope(source, 'cls.predictions.');
    const head = this.module(roberta ? 'lm_head' : 'cls', new ModuleGroup());
    const owner = roberta ? head : head.add('predictions', new ModuleGroup());
    const t = roberta ? s : s.at('transform');
    const tModule = roberta ? owner : owner.add('transform', new ModuleGroup());
    this.transform = tModule.add('dense', t.linear('dense', C, C, true));
    this.transformNorm = tModule.add(roberta ? 'layer_norm' : 'LayerNorm', t.layerNorm(roberta ? 'layer_norm' : 'LayerNorm', C, config.layer_norm_eps));
    this.bias = owner.addParam('bias', s.tensor('bias', [config.vocab_size], 'zeros'));
  }

  /** ids (B, T) -> logits (B, T, V) */
  forward(ids: Tensor, options: EncoderForwardOptions = {}): Tensor {
    const x = this.encode(ids, options).lastHiddenState; // (B, T, C)
    const act = this.config.model_type === 'roberta' ? 'gelu' : this.config.hidden_act;
    const h = this.transformNorm.forward(activate(this.transform.forward(x), act)); // (B, T, C)
    return linear(h, this.encoder.embeddings.wordEmbeddings.weight, this.bias); // (B, T, V)
  }
}

/** Sequence classification: BERT's classifier on the pooled [CLS]; RoBERTa's dense+tanh+out_proj on <s>. */
export class BertForSequenceClassification extends BertWithHead {
  /** BERT: classifier; RoBERTa: classifier.out_proj */
  readonly classifier: Linear;
  /** RoBERTa's classifier.dense */
  readonly dense: Linear | null;
  readonly dropout: Dropout;

  constructor(config: BertConfig, source: ParamSource = freshSource(config)) {
    const roberta = config.model_type === 'roberta';
    super(config, source, { pooler: roberta ? (source.checkpoint ? undefined : false) : true });
    const C = config.hidden_size;
    const L = config.num_labels;
    this.dropout = this.module('dropout', new Dropout(config.classifier_dropout ?? config.hidden_dropout_prob));
    if (roberta) {
      const s = new Scope(source, 'classifier.');
      const head = this.module('classifier', new ModuleGroup());
      this.dense = head.add('dense', s.linear('dense', C, C, true));
      this.classifier = head.add('out_proj', s.linear('out_proj', C, L, true));
    } else {
      this.dense = null;
      this.classifier = this.module('classifier', new Scope(source).linear('classifier', C, L, true));
    }
  }

  /** ids (B, T) -> logits (B, L) */
  forward(ids: Tensor, options: EncoderForwardOptions = {}): Tensor {
    const out = this.encode(ids, options);
    if (this.dense) {
      const first = this.dropout.forward(out.lastHiddenState.select(1, 0)); // (B, C)
      return this.classifier.forward(this.dropout.forward(tanh(this.dense.forward(first)))); // (B, L)
    }
    return this.classifier.forward(this.dropout.forward(out.pooled!)); // (B, L)
  }
}

/** Extractive QA: qa_outputs maps each token to start and end logits. */
export class BertForQuestionAnswering extends BertWithHead {
  readonly qaOutputs: Linear;

  constructor(config: BertConfig, source: ParamSource = freshSource(config)) {
    super(config, source, { pooler: source.checkpoint ? undefined : false });
    this.qaOutputs = this.module('qa_outputs', new Scope(source).linear('qa_outputs', config.hidden_size, 2, true));
  }

  /** ids (B, T) -> start and end logits, each (B, T) */
  forward(ids: Tensor, options: EncoderForwardOptions = {}): { startLogits: Tensor; endLogits: Tensor } {
    const logits = this.qaOutputs.forward(this.encode(ids, options).lastHiddenState); // (B, T, 2)
    return { startLogits: logits.select(2, 0), endLogits: logits.select(2, 1) };
  }
}
