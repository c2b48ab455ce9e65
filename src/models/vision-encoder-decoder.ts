// VisionEncoderDecoderModel: an image encoder (ViT) and a text decoder (GPT-2 with cross-attention)
// joined as Hugging Face joins them, for image captioning. The encoder's final hidden states
// ([CLS] and every patch) are what the decoder cross-attends to; when the two hidden sizes differ,
// enc_to_dec_proj (nn.Linear) maps the encoder's width to the decoder's first. The decoder's LM
// head is tied to its token embedding (decoder.lm_head.weight is decoder.transformer.wte.weight).
//
// Parameter names are the checkpoint keys transformers writes: encoder.* (ViTModel's hub layout,
// pooler included), decoder.transformer.*, enc_to_dec_proj.*. config.json nests the two models'
// configs under `encoder` and `decoder`; decoder_start_token_id (the first decoder token) and
// pad_token_id sit at the top level.
//
// Shapes: B batch, Ci image channels, H x W image, N encoder tokens ([CLS] + patches),
// Ce encoder hidden, C decoder hidden, T decoder tokens, V vocab.

import { StrataError } from '../errors.js';
import { ConfigReader, type JsonObject } from '../io/config.js';
import { Module } from '../nn/module.js';
import type { Linear } from '../nn/layers.js';
import { linear } from '../tensor/ops/linalg.js';
import type { Tensor } from '../tensor/tensor.js';
import type { CrossAttentionStates, EncoderDecoderModel } from './encoder-decoder.js';
import { type GPT2Config, GPT2LMHeadModel, parseGPT2Config } from './gpt2.js';
import { PreallocatedKVCache } from './kv-cache.js';
import type { DecoderForwardOptions, KVCache, ModelCard } from './types.js';
import { type ViTConfig, ViTModel, parseViTConfig } from './vit.js';
import { ParamSource, Scope } from './weights.js';

/** config.json of a VisionEncoderDecoderModel (the fields Strata reads; names as Hugging Face writes them). */
export interface VisionEncoderDecoderConfig {
  model_type: 'vision-encoder-decoder';
  architectures: string[] | null;
  encoder: ViTConfig;
  decoder: GPT2Config;
  /** the token every caption starts from */
  decoder_start_token_id: number;
  pad_token_id: number | null;
  /** ends a caption; the decoder's eos_token_id when the top level has none */
  eos_token_id: number | null;
  is_encoder_decoder: true;
  tie_word_embeddings: false;
  /** the decoder's, for fresh initialization */
  initializer_range: number;
}

function nested(c: ConfigReader, name: 'encoder' | 'decoder', modelType: string): JsonObject {
  const sub = c.object(name) ?? c.fail(name, `is required (the ${name}'s config, model_type '${modelType}')`);
  const type = sub.has('model_type') ? sub.raw['model_type'] : null;
  if (type !== modelType) c.fail(`${name}.model_type`, `must be '${modelType}' (Strata's vision-encoder-decoder pairs a ViT encoder with a GPT-2 decoder), got ${JSON.stringify(type)}`);
  return sub.raw;
}

export function parseVisionEncoderDecoderConfig(raw: JsonObject, file: string): VisionEncoderDecoderConfig {
  const c = new ConfigReader(raw, file);
  const encoder = parseViTConfig(nested(c, 'encoder', 'vit'), `${file} (encoder)`);
  const decoder = parseGPT2Config(nested(c, 'decoder', 'gpt2'), `${file} (decoder)`);
  if (!decoder.add_cross_attention) c.fail('decoder.add_cross_attention', 'must be true: the decoder attends to the image through cross-attention');
  const start = c.optionalInt('decoder_start_token_id') ?? c.fail('decoder_start_token_id', 'is required (the first token of every caption)');
  const vocab = decoder.vocab_size;
  const token = (name: string, v: number | null) => {
    if (v !== null && v >= vocab) c.fail(name, `(${v}) is outside the decoder's vocabulary of ${vocab}`);
    return v;
  };
  token('decoder_start_token_id', start);
  return {
    model_type: 'vision-encoder-decoder',
    architectures: c.stringArray('architectures'),
    encoder,
    decoder,
    decoder_start_token_id: start,
    pad_token_id: token('pad_token_id', c.optionalInt('pad_token_id')),
    eos_token_id: token('eos_token_id', c.optionalInt('eos_token_id') ?? decoder.eos_token_id),
    is_encoder_decoder: true,
    tie_word_embeddings: false,
    initializer_range: decoder.initializer_range,
  };
}

export const VISION_ENCODER_DECODER_CARD: ModelCard = {
  families: ['multi-modal', 'foundation'],
  inputModalities: ['image'],
  outputModalities: ['text'],
  architecture:
    'vision encoder-decoder transformer (ViT image encoder: patch embedding, [CLS], learned positions, bidirectional attention; GPT-2 text decoder: causal self-attention, cross-attention to every image token, GELU MLP, LM head tied to the token embeddings)',
  adaptability: ['full-finetune', 'lora', 'prompting'],
  applications: ['image captioning', 'image-to-text (OCR-style transcription)', 'visual descriptions for retrieval and accessibility'],
  examples: ['nlpconnect/vit-gpt2-image-captioning', 'ydshieh/vit-gpt2-coco-en', 'microsoft/trocr-base-handwritten (architecture)'],
  primaryData: 'images paired with captions (COCO Captions: 120k images, 5 captions each); the halves usually start from an ImageNet ViT and a web-text GPT-2',
  purpose: 'conditional text generation from an image: a pretrained vision encoder and a pretrained language model joined by cross-attention and trained with teacher-forced cross-entropy on captions',
};

/** Teacher-forced outputs of a VisionEncoderDecoderModel. */
export interface VisionEncoderDecoderOutput {
  /** (B, T, V) */
  logits: Tensor;
  /** (B, N, C): encoder states after enc_to_dec_proj, what the decoder attends to */
  encoderStates: Tensor;
}

export class VisionEncoderDecoderModel extends Module implements EncoderDecoderModel {
  readonly kind = 'encoder-decoder' as const;
  readonly card = VISION_ENCODER_DECODER_CARD;
  readonly encoder: ViTModel;
  readonly decoder: GPT2LMHeadModel;
  /** maps encoder width Ce to decoder width C; null when they are equal */
  readonly encToDecProj: Linear | null;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly decoderStartTokenId: number;
  readonly imageSize: readonly [number, number];
  readonly numChannels: number;

  constructor(
    readonly config: VisionEncoderDecoderConfig,
    source: ParamSource = new ParamSource(null, { initializerRange: config.initializer_range }),
  ) {
    super();
    const s = new Scope(source);
    // the pooler is unused here, but transformers' ViTModel has one, so checkpoints round-trip whole
    const pooler = source.checkpoint ? s.has('encoder.pooler.dense.weight') : true;
    this.encoder = this.module('encoder', new ViTModel(config.encoder, s.at('encoder'), { pooler }));
    this.decoder = this.module('decoder', new GPT2LMHeadModel(config.decoder, source, 'decoder.'));
    const ce = config.encoder.hidden_size;
    const c = config.decoder.n_embd;
    this.encToDecProj = ce === c ? null : this.module('enc_to_dec_proj', s.linear('enc_to_dec_proj', ce, c, true));
    this.vocabSize = config.decoder.vocab_size;
    this.maxPositions = config.decoder.n_positions;
    this.decoderStartTokenId = config.decoder_start_token_id;
    this.imageSize = this.encoder.imageSize;
    this.numChannels = this.encoder.numChannels;
  }

  /** pixel values (B, Ci, H, W) -> encoder states (B, N, C) in the decoder's width */
  encode(pixelValues: Tensor): Tensor {
    const h = this.encoder.encodeImage(pixelValues).lastHiddenState; // (B, N, Ce)
    return this.encToDecProj ? this.encToDecProj.forward(h) : h; // (B, N, C)
  }

  crossAttention(encoderStates: Tensor): CrossAttentionStates {
    return this.decoder.transformer.crossAttention(encoderStates);
  }

  /** ids (B, T) -> logits (B, T, V), or (B, 1, V) with lastOnly */
  decode(ids: Tensor, cross: CrossAttentionStates, options: DecoderForwardOptions = {}): Tensor {
    const h = this.decoder.transformer.forward(ids, options, cross); // (B, T, C)
    return linear(h, this.decoder.transformer.wte.weight); // (B, T, V)
  }

  /** Teacher-forced pass (training, parity): pixels (B, Ci, H, W) and decoder ids (B, T) -> logits (B, T, V). */
  forward(pixelValues: Tensor, decoderIds: Tensor): VisionEncoderDecoderOutput {
    if (decoderIds.ndim !== 2 || decoderIds.shape[0] !== pixelValues.shape[0]) {
      throw new StrataError('shape', 'VisionEncoderDecoderModel', `decoder ids must be (B, T) with one row per image (${pixelValues.shape[0]}), got (${decoderIds.shape.join(', ')})`);
    }
    const encoderStates = this.encode(pixelValues);
    return { logits: this.decode(decoderIds, this.crossAttention(encoderStates)), encoderStates };
  }

  createCache(batch: number, maxLength: number): KVCache {
    const c = this.config.decoder;
    return new PreallocatedKVCache(c.n_layer, batch, c.n_head, maxLength, c.n_embd / c.n_head);
  }
}
