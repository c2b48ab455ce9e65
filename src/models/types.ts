import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';

/** The three families of the taxonomy. A model can belong to more than one (BERT is an LLM and a foundation model). */
export type ModelFamily = 'large-language' | 'foundation' | 'multi-modal';
export type Modality = 'text' | 'image' | 'audio' | 'video' | 'embedding' | 'label' | 'action';
export type AdaptationMethod = 'full-finetune' | 'lora' | 'task-head' | 'linear-probe' | 'prompting' | 'instruction-tuning';

/** What every model class declares about itself (shown by `strata models`, `strata inspect`, GET /v1/models). */
export interface ModelCard {
  readonly families: readonly ModelFamily[];
  readonly inputModalities: readonly Modality[];
  readonly outputModalities: readonly Modality[];
  /** e.g. "decoder-only transformer (pre-norm, RMSNorm, RoPE, SwiGLU, GQA)" */
  readonly architecture: string;
  readonly adaptability: readonly AdaptationMethod[];
  readonly applications: readonly string[];
  /** well-known checkpoints of this architecture, for the taxonomy table */
  readonly examples: readonly string[];
  readonly primaryData: string;
  readonly purpose: string;
}

/** Generation glue is keyed by architecture family, not by model. */
export type ArchitectureKind = 'decoder-only' | 'encoder' | 'vision-encoder' | 'encoder-decoder' | 'vision-encoder-decoder' | 'dual-encoder';

/**
 * A preallocated key/value cache for one model and batch: per layer, K and V of shape
 * (B, Hkv, maxLength, D). `length` positions are filled; a forward pass with T new tokens writes
 * positions [length, length + T) and attends over [0, length + T).
 */
export interface KVCache {
  readonly batch: number;
  readonly maxLength: number;
  /** positions already filled (the same for every sequence; padding is expressed by the attention mask) */
  length: number;
  /** Writes k/v (B, Hkv, T, D) of `layer` at [length, length + T) and returns views over [0, length + T). */
  update(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor };
  /** Marks T more positions filled (called once per forward pass, after the last layer). */
  advance(t: number): void;
  /** Keeps only the given batch rows, in this order (beam search reorders beams). */
  reorder(rows: readonly number[]): void;
  /** Forgets everything (length = 0). */
  reset(): void;
}

export interface DecoderForwardOptions {
  /** cache to read from and append to; without one the pass is stateless */
  cache?: KVCache;
  /**
   * (B, S) bool, true where a key position holds a real token (S = cache length + T). Left-padded
   * batches use it to hide padding; omitted = every position is real.
   */
  attentionMask?: Tensor;
  /** (B, T) i32 positions of the new tokens; default cache.length + [0, T) for every row */
  positionIds?: Tensor;
  /** compute logits only for the last position of each row (generation prefill) */
  lastOnly?: boolean;
  /**
   * (B, T, C) input embeddings used in place of the token embeddings of `ids` (which still give
   * the shape): a vision-language model puts projected image features at its image tokens.
   * Supported by the llama family.
   */
  inputsEmbeds?: Tensor;
  /**
   * Called between layers, once the layer's intermediate tensors are garbage (generation collects
   * them there during a long prefill). Supported by the llama family.
   */
  afterLayer?: () => void;
}

/** A decoder-only language model (GPT-2, LLaMA and its configurations). */
export interface CausalLM extends Module {
  readonly kind: 'decoder-only';
  readonly card: ModelCard;
  readonly vocabSize: number;
  /** longest context the position scheme supports */
  readonly maxPositions: number;
  /** ids (B, T) i32 -> logits (B, T, V), or (B, 1, V) with lastOnly */
  forward(ids: Tensor, options?: DecoderForwardOptions): Tensor;
  createCache(batch: number, maxLength: number): KVCache;
}

export interface EncoderOutput {
  /** (B, T, C) */
  lastHiddenState: Tensor;
  /** (B, C), the pooler's tanh(dense(CLS)) when the model has one */
  pooled?: Tensor;
}

export interface EncoderForwardOptions {
  /** (B, T) bool or integer, nonzero where a position holds a real token; omitted = no padding */
  attentionMask?: Tensor;
  /** (B, T) i32 segment ids; default zeros */
  tokenTypeIds?: Tensor;
  /** (B, T) i32 positions; default as the model numbers them (RoBERTa skips padding) */
  positionIds?: Tensor;
}

/** A bidirectional text encoder (BERT, RoBERTa) with or without a task head. */
export interface EncoderModel extends Module {
  readonly kind: 'encoder';
  readonly card: ModelCard;
  readonly vocabSize: number;
  readonly maxPositions: number;
  /** ids (B, T) i32 -> hidden states (and the pooled vector when the model has a pooler) */
  encode(ids: Tensor, options?: EncoderForwardOptions): EncoderOutput;
}

/** An image encoder (ViT) with or without a task head. */
export interface VisionEncoderModel extends Module {
  readonly kind: 'vision-encoder';
  readonly card: ModelCard;
  /** (height, width) of the images the position table fits */
  readonly imageSize: readonly [number, number];
  readonly numChannels: number;
  /** tokens the position table holds: patches + 1 ([CLS]) */
  readonly maxPositions: number;
  /** 0: images have no token vocabulary (kept so code over every StrataModel can read it) */
  readonly vocabSize: 0;
  /** pixel values (B, Ci, H, W) f32 -> hidden states (B, 1 + patches, C) (and the pooled vector when the model has a pooler) */
  encodeImage(pixelValues: Tensor): EncoderOutput;
}

/** Options of a text tower's forward pass (CLIP). */
export interface TextTowerOptions {
  /** (B, T) bool or integer, nonzero where a position holds a real token; omitted = no padding */
  attentionMask?: Tensor;
  /** (B, T) i32 positions; default 0..T-1 */
  positionIds?: Tensor;
}

/** An image tower and a text tower projecting into one embedding space (CLIP). */
export interface DualEncoderModel extends Module {
  readonly kind: 'dual-encoder';
  readonly card: ModelCard;
  readonly vocabSize: number;
  /** longest text the text tower's position table holds */
  readonly maxPositions: number;
  readonly imageSize: readonly [number, number];
  readonly numChannels: number;
  /** pixel values (B, Ci, H, W) -> projected image features (B, E), not normalized */
  getImageFeatures(pixelValues: Tensor): Tensor;
  /** ids (B, T) i32 -> projected text features (B, E), not normalized */
  getTextFeatures(ids: Tensor, options?: TextTowerOptions): Tensor;
}
