// config.json of a Whisper checkpoint (model_type 'whisper'), with transformers' defaults (those of
// openai/whisper-tiny's shape) for absent fields. Token-id fields are checked against the
// vocabulary; suppress_tokens and begin_suppress_tokens here are the legacy copies, which
// generation_config.json overrides (see tokens.ts).

import { ConfigReader, type JsonObject } from '../../io/config.js';
import { ACTIVATIONS, type Activation } from '../vit.js';

/** config.json of a Whisper checkpoint (names as Hugging Face writes them). */
export interface WhisperConfig {
  model_type: 'whisper';
  architectures: string[] | null;
  vocab_size: number;
  /** mel bins of the input features: 80, or 128 for large-v3 */
  num_mel_bins: number;
  /** hidden size C of both stacks */
  d_model: number;
  encoder_layers: number;
  encoder_attention_heads: number;
  encoder_ffn_dim: number;
  decoder_layers: number;
  decoder_attention_heads: number;
  decoder_ffn_dim: number;
  /** the activation of every MLP; the convolutional front end always uses exact GELU */
  activation_function: Activation;
  /**
   * Encoder positions: the encoder takes exactly 2 x this many mel frames (the second convolution
   * halves them); 1500 positions = 3000 frames = 30 s of audio.
   */
  max_source_positions: number;
  /** longest decoder sequence (prompt + generated tokens) */
  max_target_positions: number;
  dropout: number;
  /** read for completeness; attention runs without dropout */
  attention_dropout: number;
  activation_dropout: number;
  /** read for completeness; every layer always runs */
  encoder_layerdrop: number;
  decoder_layerdrop: number;
  init_std: number;
  /** what a fresh model draws its weights with (init_std; the name every Strata config shares) */
  initializer_range: number;
  /** read for completeness: transformers computes sqrt(d_model) from it but never applies it */
  scale_embedding: boolean;
  /** <|startoftranscript|> */
  decoder_start_token_id: number;
  pad_token_id: number | null;
  bos_token_id: number | null;
  eos_token_id: number | null;
  suppress_tokens: number[] | null;
  begin_suppress_tokens: number[] | null;
  /** proj_out shares embed_tokens' weight (every released Whisper) */
  tie_word_embeddings: boolean;
}

function tokenList(c: ConfigReader, name: string, vocab: number): number[] | null {
  const ids = c.intOrInts(name);
  if (ids && ids.some((id) => id >= vocab)) c.fail(name, `holds token ids outside the vocabulary [0, ${vocab})`);
  return ids;
}

export function parseWhisperConfig(raw: JsonObject, file: string): WhisperConfig {
  const c = new ConfigReader(raw, file);
  const vocab = c.int('vocab_size', 51865, { min: 1 });
  const d = c.int('d_model', 384, { min: 4 });
  // the encoder's sinusoidal table splits the channels into sin and cos halves of at least two
  if (d % 2 !== 0) c.fail('d_model', `(${d}) must be even (sinusoidal positions split it into sin and cos halves)`);
  const heads = (name: string) => {
    const h = c.int(name, 6, { min: 1 });
    if (d % h !== 0) c.fail(name, `(${h}) must divide d_model (${d})`);
    return h;
  };
  const token = (name: string, fallback: number | null) => (Object.hasOwn(raw, name) && raw[name] === null ? null : c.has(name) ? c.int(name, 0, { min: 0, max: vocab - 1 }) : fallback !== null && fallback < vocab ? fallback : null);
  if (Array.isArray(raw['eos_token_id'])) c.fail('eos_token_id', 'must be one token id (<|endoftext|>)');
  const start = token('decoder_start_token_id', 50257);
  if (start === null) return c.fail('decoder_start_token_id', `is required: the id of <|startoftranscript|> in the vocabulary of ${vocab}`);
  const initStd = c.number('init_std', 0.02, { min: 0 });
  return {
    model_type: 'whisper',
    architectures: c.stringArray('architectures'),
    vocab_size: vocab,
    num_mel_bins: c.int('num_mel_bins', 80, { min: 1, max: 512 }),
    d_model: d,
    encoder_layers: c.int('encoder_layers', 4, { min: 1 }),
    encoder_attention_heads: heads('encoder_attention_heads'),
    encoder_ffn_dim: c.int('encoder_ffn_dim', 1536, { min: 1 }),
    decoder_layers: c.int('decoder_layers', 4, { min: 1 }),
    decoder_attention_heads: heads('decoder_attention_heads'),
    decoder_ffn_dim: c.int('decoder_ffn_dim', 1536, { min: 1 }),
    activation_function: c.choice('activation_function', ACTIVATIONS, 'gelu'),
    max_source_positions: c.int('max_source_positions', 1500, { min: 1 }),
    max_target_positions: c.int('max_target_positions', 448, { min: 2 }),
    dropout: c.number('dropout', 0, { min: 0, max: 1 }),
    attention_dropout: c.number('attention_dropout', 0, { min: 0, max: 1 }),
    activation_dropout: c.number('activation_dropout', 0, { min: 0, max: 1 }),
    encoder_layerdrop: c.number('encoder_layerdrop', 0, { min: 0, max: 1 }),
    decoder_layerdrop: c.number('decoder_layerdrop', 0, { min: 0, max: 1 }),
    init_std: initStd,
    initializer_range: c.number('initializer_range', initStd, { min: 0 }),
    scale_embedding: c.bool('scale_embedding', false),
    decoder_start_token_id: start,
    pad_token_id: token('pad_token_id', 50256),
    bos_token_id: token('bos_token_id', 50256),
    eos_token_id: token('eos_token_id', 50256),
    suppress_tokens: tokenList(c, 'suppress_tokens', vocab),
    begin_suppress_tokens: tokenList(c, 'begin_suppress_tokens', vocab),
    tie_word_embeddings: c.bool('tie_word_embeddings', true),
  };
}
