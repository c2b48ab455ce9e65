// Image–text pipelines on a CLIP model: zero-shot image classification (which of some labels an
// image shows), image–text similarity, and retrieval both ways (rank texts for an image, images
// for a text).
//
// Texts are tokenized as the checkpoint's tokenizer says (CLIP tokenizers wrap a text in
// <|startoftext|> ... <|endoftext|>), cut to the text tower's position table keeping the last
// token (the eos the tower pools at), right-padded and masked. Images are preprocessed as the
// checkpoint's preprocessor_config.json says. Both run in batches, without gradients.
//
// Shapes: Bi images, Bt texts, T tokens, E embedding.

import { StrataError } from '../errors.js';
import type { RgbImage } from '../io/image.js';
import { type ImageProcessorConfig, preprocessImages, readImageProcessorConfig } from '../io/preprocessor.js';
import { CLIPModel, l2Normalize } from '../models/clip/index.js';
import { fromArray } from '../tensor/ops/creation.js';
import { cat } from '../tensor/ops/join.js';
import { noGrad } from '../tensor/grad-mode.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { loadForInference } from './load.js';

/** What the image–text pipelines run on. */
export interface ClipPipelineParts {
  clip: CLIPModel;
  tokenizer: Tokenizer;
  processor: ImageProcessorConfig;
}

/**
 * Loads a CLIP directory for the pipelines: config.json + weights, tokenizer.json and
 * preprocessor_config.json, each required (a StrataError names what is missing).
 */
export async function loadClipPipeline(dir: string): Promise<ClipPipelineParts> {
  const m = await loadForInference(dir);
  if (!(m.model instanceof CLIPModel)) throw new StrataError('unsupported', dir, `is a ${m.architecture} (${m.modelType}); image–text pipelines need a CLIP model (model_type 'clip')`);
  if (!m.tokenizer) throw new StrataError('io', dir, 'has no tokenizer.json (the text tower needs one)');
  return { clip: m.model, tokenizer: m.tokenizer, processor: readImageProcessorConfig(dir, { family: 'clip' }) };
}

/** Images or texts embedded per forward pass. */
const CHUNK = 32;

export interface ClipTextBatch {
  /** (Bt, T) i32 */
  ids: Tensor;
  /** (Bt, T) i32, 1 on real tokens */
  attentionMask: Tensor;
  /** real tokens in the batch */
  tokens: number;
}

function checkTexts(texts: readonly string[], op: string, what = 'texts'): void {
  if (!Array.isArray(texts) || texts.length === 0) throw new StrataError('argument', op, `needs at least one of ${what}`);
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw new StrataError('argument', op, `${what}[${i}] must be a string, got ${typeof t}`);
  });
}

function checkImages(images: readonly RgbImage[], op: string): void {
  if (!Array.isArray(images) || images.length === 0) throw new StrataError('argument', op, 'needs at least one image');
}

/**
 * Texts -> ids (Bt, T) and an attention mask for CLIP's text tower: each text as the tokenizer
 * encodes it (special tokens included), at most `maxLength` tokens (a longer one keeps its first
 * maxLength - 1 tokens and its last), right-padded with the pad token (or eos, as CLIP pads).
 */
export function tokenizeForClip(tokenizer: Tokenizer, texts: readonly string[], maxLength: number): ClipTextBatch {
  checkTexts(texts, 'tokenizeForClip');
  if (!Number.isSafeInteger(maxLength) || maxLength < 2) throw new StrataError('argument', 'tokenizeForClip', `maxLength must be an integer >= 2, got ${maxLength}`);
  const rows = texts.map((text) => {
    const ids = tokenizer.encode(text);
    if (ids.length === 0) throw new StrataError('argument', 'tokenizeForClip', `'${text}' encodes to no tokens`);
    return ids.length > maxLength ? [...ids.slice(0, maxLength - 1), ids[ids.length - 1]!] : ids;
  });
  const pad = tokenizer.special.pad ?? tokenizer.special.eos ?? 0;
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(B * T).fill(pad);
  const mask = new Int32Array(B * T);
  let tokens = 0;
  rows.forEach((r, b) => {
    ids.set(r, b * T);
    mask.fill(1, b * T, b * T + r.length);
    tokens += r.length;
  });
  return { ids: fromArray(ids, [B, T], { dtype: 'i32' }), attentionMask: fromArray(mask, [B, T], { dtype: 'i32' }), tokens };
}

/** Normalized image embeddings (Bi, E) of images, preprocessed as `processor` says. */
export function clipImageEmbeddings(clip: CLIPModel, processor: ImageProcessorConfig, images: readonly RgbImage[]): Tensor {
  checkImages(images, 'clipImageEmbeddings');
  return noGrad(() => {
    const parts: Tensor[] = [];
    for (let i = 0; i < images.length; i += CHUNK) {
      const pixels = preprocessImages(images.slice(i, i + CHUNK), processor); // (b, 3, H, W)
      parts.push(l2Normalize(clip.getImageFeatures(pixels))); // (b, E)
    }
    return parts.length === 1 ? parts[0]! : cat(parts, 0); // (Bi, E)
  });
}

/** Normalized text embeddings (Bt, E). */
export function clipTextEmbeddings(clip: CLIPModel, tokenizer: Tokenizer, texts: readonly string[]): Tensor {
  checkTexts(texts, 'clipTextEmbeddings');
  return noGrad(() => {
    const parts: Tensor[] = [];
    for (let i = 0; i < texts.length; i += CHUNK) {
      const batch = tokenizeForClip(tokenizer, texts.slice(i, i + CHUNK), clip.maxPositions);
      parts.push(l2Normalize(clip.getTextFeatures(batch.ids, { attentionMask: batch.attentionMask }))); // (b, E)
    }
    return parts.length === 1 ? parts[0]! : cat(parts, 0); // (Bt, E)
  });
}

function rows(t: Tensor): number[][] {
  const [R, C] = t.shape as [number, number];
  const flat = t.contiguous().toArray();
  return Array.from({ length: R }, (_, r) => flat.slice(r * C, (r + 1) * C));
}

function softmax(xs: readonly number[]): number[] {
  const max = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** Indices of xs, largest value first (ties keep their order). */
function order(xs: readonly number[]): number[] {
  return xs.map((_, i) => i).sort((a, b) => xs[b]! - xs[a]! || a - b);
}

export interface ImageTextSimilarity {
  /** (Bi, Bt) cosine similarity of each image with each text */
  similarity: number[][];
  /** (Bi, Bt) the model's logits: exp(logit_scale) * similarity */
  logitsPerImage: number[][];
  /** per image, the text indices, most similar first */
  textRanking: number[][];
  /** per text, the image indices, most similar first */
  imageRanking: number[][];
}

/** Every image against every text. */
export function imageTextSimilarity(clip: CLIPModel, tokenizer: Tokenizer, processor: ImageProcessorConfig, images: readonly RgbImage[], texts: readonly string[]): ImageTextSimilarity {
  checkImages(images, 'imageTextSimilarity');
  checkTexts(texts, 'imageTextSimilarity');
  const imageEmbeds = clipImageEmbeddings(clip, processor, images); // (Bi, E)
  const textEmbeds = clipTextEmbeddings(clip, tokenizer, texts); // (Bt, E)
  const similarity = rows(noGrad(() => imageEmbeds.matmul(textEmbeds.transpose(0, 1)))); // (Bi, Bt)
  const scale = Math.exp(clip.logitScale.item());
  const byText = texts.map((_, t) => similarity.map((row) => row[t]!));
  return {
    similarity,
    logitsPerImage: similarity.map((row) => row.map((s) => s * scale)),
    textRanking: similarity.map(order),
    imageRanking: byText.map(order),
  };
}

export interface ZeroShotResult {
  /** the labels, most probable first */
  labels: string[];
  /** their probabilities (softmax over the image's logits against every label), same order */
  scores: number[];
}

/** Which of `labels` the image shows: a softmax over logits_per_image, sorted best first. */
export function zeroShotClassify(clip: CLIPModel, tokenizer: Tokenizer, processor: ImageProcessorConfig, image: RgbImage, labels: readonly string[]): ZeroShotResult {
  checkTexts(labels, 'zeroShotClassify', 'labels');
  return zeroShotClassifyMany(clip, tokenizer, processor, [image], labels)[0]!;
}

/** zeroShotClassify for several images, the labels embedded once. */
export function zeroShotClassifyMany(clip: CLIPModel, tokenizer: Tokenizer, processor: ImageProcessorConfig, images: readonly RgbImage[], labels: readonly string[]): ZeroShotResult[] {
  checkTexts(labels, 'zeroShotClassify', 'labels');
  const { logitsPerImage } = imageTextSimilarity(clip, tokenizer, processor, images, labels);
  return logitsPerImage.map((logits) => {
    const probs = softmax(logits);
    const ranked = order(probs);
    return { labels: ranked.map((i) => labels[i]!), scores: ranked.map((i) => probs[i]!) };
  });
}

export interface TextRanking {
  /** the texts, best match first */
  texts: string[];
  /** softmax over the image's logits against the texts, same order */
  scores: number[];
  /** cosine similarities, same order */
  similarities: number[];
}

/** Retrieval of texts for an image: every text ranked by its similarity to the image. */
export function rankTexts(clip: CLIPModel, tokenizer: Tokenizer, processor: ImageProcessorConfig, image: RgbImage, texts: readonly string[]): TextRanking {
  const r = imageTextSimilarity(clip, tokenizer, processor, [image], texts);
  const probs = softmax(r.logitsPerImage[0]!);
  const ranked = r.textRanking[0]!;
  return { texts: ranked.map((i) => texts[i]!), scores: ranked.map((i) => probs[i]!), similarities: ranked.map((i) => r.similarity[0]![i]!) };
}

export interface ImageRanking {
  /** indices into the images, best match first */
  indices: number[];
  /** softmax over the text's logits against the images (logits_per_text), same order */
  scores: number[];
  /** cosine similarities, same order */
  similarities: number[];
}

/** Retrieval of images for a text: every image ranked by its similarity to the text. */
export function rankImages(clip: CLIPModel, tokenizer: Tokenizer, processor: ImageProcessorConfig, text: string, images: readonly RgbImage[]): ImageRanking {
  const r = imageTextSimilarity(clip, tokenizer, processor, images, [text]);
  const column = r.similarity.map((row) => row[0]!);
  const probs = softmax(r.logitsPerImage.map((row) => row[0]!));
  const ranked = r.imageRanking[0]!;
  return { indices: ranked, scores: ranked.map((i) => probs[i]!), similarities: ranked.map((i) => column[i]!) };
}
