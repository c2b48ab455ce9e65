// `strata eval` for image classifiers (CLIPForImageClassification, ViTForImageClassification, as
// `strata finetune --task image-classification` saves them) on a folder of labelled images in the
// layout that command trains on (image-folder.ts): class folders, whose every image is scored, or
// train/ + test/ (or validation/), whose test split is. Class folders are matched to the model's
// id2label by name; images are preprocessed with the model's preprocessor_config.json exactly as
// inference does; unreadable files are skipped and counted, as in training.

import { StrataError } from '../errors.js';
import { imageClassifierProcessor } from '../pipelines/image-classification.js';
import { type ImageFolder, loadImageEntries, scanImageFolder } from './image-folder.js';
import { type ImageClassifierModel, evaluateImages } from './vision-finetune.js';

export interface ImageEvaluation {
  examples: number;
  /** val_loss, val_accuracy, val_f1, as the fine-tune reports them */
  metrics: Record<string, number>;
  /** where the scored images came from: every image of the class folders, or the test split (held out of train/ when there is none) */
  split: 'all' | ImageFolder['testSource'];
  skipped: { file: string; reason: string }[];
}

/** Accuracy, F1 and loss of an image classifier on a folder of labelled images. */
export async function evaluateImageFolder(modelDir: string, model: ImageClassifierModel, id2label: Record<string, string> | null, data: string, onLog?: (message: string) => void): Promise<ImageEvaluation> {
  const names = id2label ? Object.entries(id2label).sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => v) : [];
  if (names.length !== model.numLabels) throw new StrataError('argument', modelDir, `config.json's id2label names ${names.length} labels, the model's head has ${model.numLabels}: the image folders are matched to the labels by name`);
  const index = new Map(names.map((n, i) => [n, i]));
  const folder = scanImageFolder(data);
  const entries = folder.layout === 'splits' ? folder.test : [...folder.train, ...folder.test];
  for (const label of new Set(entries.map((e) => folder.labels[e.label]!))) {
    if (!index.has(label)) throw new StrataError('argument', data, `class folder '${label}' is not one of the model's labels (${names.join(', ')})`);
  }
  const processor = imageClassifierProcessor(modelDir, model);
  let last = 0;
  const { images, skipped } = await loadImageEntries(entries, processor, {
    onProgress: (done, total) => {
      if (done === total || Date.now() - last > 5000) {
        last = Date.now();
        onLog?.(`decoding images: ${done}/${total}`);
      }
    },
  });
  if (images.count === 0) throw new StrataError('io', data, `none of its ${entries.length} images could be read`);
  // the folder's label ids become the model's
  for (let i = 0; i < images.count; i++) images.labels[i] = index.get(folder.labels[images.labels[i]!]!)!;
  return { examples: images.count, metrics: evaluateImages(model, images), split: folder.layout === 'splits' ? folder.testSource : 'all', skipped };
}
