// Image classification with a trained head (ViTForImageClassification, CLIPForImageClassification):
// the image preprocessed as the checkpoint's preprocessor_config.json says, one forward pass, and
// the softmax over the labels config.json's id2label names, best first. (Zero-shot classification
// against labels given as text is zero-shot-image.ts.)
//
// Shapes: B images, L labels.

import { StrataError } from '../errors.js';
import type { RgbImage } from '../io/image.js';
import { type ImageProcessorConfig, preprocessImages, readImageProcessorConfig } from '../io/preprocessor.js';
import { CLIPForImageClassification } from '../models/clip/classification.js';
import { ViTForImageClassification } from '../models/vit.js';
import { noGrad } from '../tensor/grad-mode.js';
import { softmax } from '../tensor/ops/nn.js';
import { loadForInference } from './load.js';

export interface ImageClassificationPipeline {
  model: CLIPForImageClassification | ViTForImageClassification;
  processor: ImageProcessorConfig;
  /** label names by id (LABEL_i where config.json names none) */
  labels: string[];
}

/** Whether config.json's architecture puts a classification head on a vision tower. */
export function isImageClassifierArchitecture(architecture: string): boolean {
  return architecture === 'CLIPForImageClassification' || architecture === 'ViTForImageClassification';
}

/** Whether a loaded model is a vision tower with a classification head. */
export function isImageClassifier(model: unknown): model is CLIPForImageClassification | ViTForImageClassification {
  return model instanceof CLIPForImageClassification || model instanceof ViTForImageClassification;
}

/** An image classifier directory's preprocessor_config.json, read with its tower's defaults. */
export function imageClassifierProcessor(dir: string, model: CLIPForImageClassification | ViTForImageClassification): ImageProcessorConfig {
  return readImageProcessorConfig(dir, { family: model instanceof CLIPForImageClassification ? 'clip' : 'vit' });
}

/** Loads a directory holding an image classifier, its preprocessor_config.json and its labels. */
export async function loadImageClassificationPipeline(dir: string): Promise<ImageClassificationPipeline> {
  const m = await loadForInference(dir);
  if (!isImageClassifier(m.model)) {
    throw new StrataError('unsupported', dir, `is a ${m.architecture} (${m.modelType}), not an image classifier (ViTForImageClassification or CLIPForImageClassification)`);
  }
  const config = m.info['config'] as { id2label?: Record<string, string> | null };
  const labels = Array.from({ length: m.model.numLabels }, (_, i) => config.id2label?.[String(i)] ?? `LABEL_${i}`);
  return { model: m.model, processor: imageClassifierProcessor(dir, m.model), labels };
}

/** Label probabilities of one image, best first (ties keep label order). */
export function classifyImage(p: ImageClassificationPipeline, image: RgbImage): { labels: string[]; scores: number[] } {
  return classifyImages(p, [image])[0]!;
}

/** Label probabilities of each image, best first. */
export function classifyImages(p: ImageClassificationPipeline, images: readonly RgbImage[]): { labels: string[]; scores: number[] }[] {
  if (!Array.isArray(images) || images.length === 0) throw new StrataError('argument', 'classifyImage', 'needs at least one image');
  const probs = noGrad(() => softmax(p.model.forward(preprocessImages(images, p.processor)), -1)); // (B, L)
  const L = p.labels.length;
  const flat = probs.contiguous().toArray();
  return images.map((_, b) => {
    const row = flat.slice(b * L, (b + 1) * L);
    const order = row.map((_, i) => i).sort((x, y) => row[y]! - row[x]! || x - y);
    return { labels: order.map((i) => p.labels[i]!), scores: order.map((i) => row[i]!) };
  });
}
