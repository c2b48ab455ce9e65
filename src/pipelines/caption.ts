// Image captioning on a VisionEncoderDecoderModel: the image preprocessed as the checkpoint's
// preprocessor_config.json says, encoded once, then the caption decoded from
// decoder_start_token_id until the eos token or the token budget. Greedy decoding runs through
// the encoder-decoder generation loop (a batch of images at once); beam search runs the
// encoder-decoder beam search (scored as transformers' generate(num_beams)), each image's beams
// reading its cross-attention states without copies.
//
// Shapes: B images, K beams, N encoder tokens, C hidden, T tokens, V vocab.

import { StrataError } from '../errors.js';
import type { RgbImage } from '../io/image.js';
import { type ImageProcessorConfig, preprocessImages, readImageProcessorConfig } from '../io/preprocessor.js';
import { VisionEncoderDecoderModel } from '../models/vision-encoder-decoder.js';
import { encodeInputs, generateEncoderDecoder } from '../generation/encoder-decoder.js';
import { beamSearchEncoderDecoder } from '../generation/encoder-decoder-beam.js';
import type { FinishReason } from '../generation/generate.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { loadForInference } from './load.js';

/** What the captioning pipeline runs on. */
export interface CaptionPipelineParts {
  model: VisionEncoderDecoderModel;
  tokenizer: Tokenizer;
  processor: ImageProcessorConfig;
}

/**
 * Loads a captioner directory: config.json + weights (model_type 'vision-encoder-decoder'),
 * tokenizer.json and preprocessor_config.json, each required.
 */
export async function loadCaptionPipeline(dir: string): Promise<CaptionPipelineParts> {
  const m = await loadForInference(dir);
  if (!(m.model instanceof VisionEncoderDecoderModel)) throw new StrataError('unsupported', dir, `is a ${m.architecture} (${m.modelType}); captioning needs a VisionEncoderDecoderModel (model_type 'vision-encoder-decoder')`);
  if (!m.tokenizer) throw new StrataError('io', dir, 'has no tokenizer.json (captions are decoded with it)');
  return { model: m.model, tokenizer: m.tokenizer, processor: readImageProcessorConfig(dir) };
}

export interface CaptionOptions {
  /** most caption tokens (default: what the decoder's positions leave after the start token) */
  maxTokens?: number;
  /** 1 = greedy (default); more = beam search with that many beams */
  numBeams?: number;
  /** beam scores are sum(logprob) / length^lengthPenalty (default 1) */
  lengthPenalty?: number;
}

export interface Caption {
  text: string;
  /** caption ids, without the start token and the eos */
  tokens: number[];
  finishReason: FinishReason;
}

function checkOptions(model: VisionEncoderDecoderModel, o: CaptionOptions, op: string): { maxTokens: number; numBeams: number } {
  const room = model.maxPositions - 1;
  const maxTokens = o.maxTokens ?? room;
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > room) throw new StrataError('argument', op, `maxTokens must be an integer in [1, ${room}] (the decoder has ${model.maxPositions} positions), got ${o.maxTokens}`);
  const numBeams = o.numBeams ?? 1;
  if (!Number.isInteger(numBeams) || numBeams < 1 || numBeams > 64) throw new StrataError('argument', op, `numBeams must be an integer in [1, 64], got ${o.numBeams}`);
  return { maxTokens, numBeams };
}

/** The tokens that end a caption: the config's eos (the decoder's when the top level has none). */
export function captionStopTokens(model: VisionEncoderDecoderModel): number[] {
  const eos = model.config.eos_token_id;
  return eos === null ? [] : [eos];
}

/** Caption ids of pixel values (B, Ci, H, W): greedy for a batch, beam search one image at a time. */
export function captionIds(model: VisionEncoderDecoderModel, pixelValues: Tensor, options: CaptionOptions = {}): { tokens: number[]; finishReason: FinishReason }[] {
  const op = 'caption';
  const { maxTokens, numBeams } = checkOptions(model, options, op);
  const stopTokens = captionStopTokens(model);
  const states = encodeInputs(model, pixelValues); // (B, N, C)
  const B = states.shape[0]!;
  if (numBeams === 1) {
    const prompts = Array.from({ length: B }, () => [model.decoderStartTokenId]);
    return generateEncoderDecoder(model, states, prompts, { temperature: 0, maxTokens, stopTokens }).map((r) => ({ tokens: r.tokens, finishReason: r.finishReason }));
  }
  // scored as transformers' generate(num_beams) scores it; an image's beams share its cross-attention states
  const prompts = Array.from({ length: B }, () => [model.decoderStartTokenId]);
  return beamSearchEncoderDecoder(model, states, prompts, { numBeams, maxTokens, stopTokens, lengthPenalty: options.lengthPenalty }).map((hyps) => {
    const best = hyps[0];
    if (!best) throw new StrataError('argument', op, 'beam search finished no caption');
    return { tokens: best.tokens, finishReason: best.finishReason };
  });
}

/** Captions for images (decoded RGB), each preprocessed as the checkpoint says. */
export function captionImages(parts: CaptionPipelineParts, images: readonly RgbImage[], options: CaptionOptions = {}): Caption[] {
  if (!Array.isArray(images) || images.length === 0) throw new StrataError('argument', 'caption', 'needs at least one image');
  const pixelValues = preprocessImages(images, parts.processor); // (B, 3, H, W)
  return captionIds(parts.model, pixelValues, options).map((r) => ({ ...r, text: parts.tokenizer.decode(r.tokens, { skipSpecialTokens: true }).trim() }));
}

/** The caption of one image. */
export function caption(parts: CaptionPipelineParts, image: RgbImage, options: CaptionOptions = {}): Caption {
  return captionImages(parts, [image], options)[0]!;
}
