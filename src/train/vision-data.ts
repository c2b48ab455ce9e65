// The images a vision fine-tuning run (train/vision-finetune.ts) trains and is tested on: a folder
// of the user's images (train/image-folder.ts), or labelled scenes generated for a task
// (train/scenes.ts), both preprocessed as the model's preprocessor_config.json says, exactly as
// inference preprocesses an image.
//
// Scene tasks: 'shape' (3-way) and 'colour' (6-way) of a single object, 'count' (one or two
// objects), 'relation' (4-way: how the first object of a two-object scene stands to the second).
// Training scenes come from one seed and test scenes from another, both far from the seeds
// zoo/clip-scenes was pretrained on, and every colour+shape combination may appear. Scenes are
// small and generated, so they are held as normalized floats; a folder's images are held as 8-bit
// pixels and normalized per batch (a quarter of the memory; see image-folder.ts).
//
// Shapes: N images, B batch, Ci image channels, H x W image.

import { StrataError } from '../errors.js';
import { type ImageProcessorConfig, preprocessImages } from '../io/preprocessor.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { type ByteImages, type ImageFolder, byteImageBatch, countByLabel, limitEntries, loadImageEntries, scanImageFolder, takeByteImages } from './image-folder.js';
import { type Scene, type SceneOptions, SCENE_COLOURS, SCENE_RELATIONS, SCENE_SHAPES, sceneDataset } from './scenes.js';

export const SCENE_TASKS = ['shape', 'colour', 'count', 'relation'] as const;
export type SceneTask = (typeof SCENE_TASKS)[number];

/** Seed offsets of the training and test scenes: far from the seeds the zoo's CLIP pretrained on (0 .. ~3e6). */
export const TRAIN_SCENE_SEED = 10_000_019;
export const TEST_SCENE_SEED = 20_000_003;

/** Label names of a scene task, by label id. */
export function sceneTaskLabels(task: SceneTask): readonly string[] {
  switch (task) {
    case 'shape':
      return SCENE_SHAPES;
    case 'colour':
      return SCENE_COLOURS;
    case 'count':
      return ['one', 'two'];
    case 'relation':
      return SCENE_RELATIONS;
  }
}

/** The scenes a task draws: one object for shape and colour, two for relation, either for count. */
function sceneOptionsFor(task: SceneTask, imageSize: number): SceneOptions {
  const twoObjects = task === 'relation' ? 1 : task === 'count' ? 0.5 : 0;
  return { imageSize, twoObjects, holdOut: [] };
}

/** The label id of a scene under a task. */
export function sceneTaskLabel(task: SceneTask, scene: Scene): number {
  const first = scene.objects[0]!;
  switch (task) {
    case 'shape':
      return SCENE_SHAPES.indexOf(first.shape);
    case 'colour':
      return SCENE_COLOURS.indexOf(first.colour);
    case 'count':
      return scene.objects.length - 1;
    case 'relation':
      if (!scene.relation) throw new StrataError('argument', 'sceneTaskLabel', `scene ${scene.index} has one object: the relation task needs two`);
      return SCENE_RELATIONS.indexOf(scene.relation);
  }
}

/** 'scenes:relation' -> 'relation' (a StrataError names the tasks otherwise). */
export function parseSceneTaskSpec(spec: string): SceneTask {
  const m = /^scenes:(.+)$/.exec(spec);
  const task = m?.[1];
  if (!task || !(SCENE_TASKS as readonly string[]).includes(task)) {
    throw new StrataError('argument', 'finetune', `image-classification data must be scenes:TASK with TASK one of ${SCENE_TASKS.join(', ')}, got '${spec.slice(0, 60)}'`);
  }
  return task as SceneTask;
}

/** Preprocessed images with their labels, held flat: image i is pixels[i * imageSize .. (i + 1) * imageSize). */
export interface FloatImages {
  /** (N, Ci, H, W) pixel values, normalized as the model's preprocessor says */
  pixels: Float32Array;
  /** [Ci, H, W] */
  imageShape: [number, number, number];
  labels: Int32Array;
  count: number;
}

/** Images with labels: normalized floats (scenes), or 8-bit pixels normalized per batch (an image folder: a quarter of the memory). */
export type LabelledImages = FloatImages | ByteImages;

/** The first `n` images of a set (a smaller label budget over the same scenes). */
export function takeImages<S extends LabelledImages>(set: S, n: number): S {
  if (!Number.isSafeInteger(n) || n < 1 || n > set.count) throw new StrataError('argument', 'takeImages', `n must be an integer in [1, ${set.count}], got ${n}`);
  if (!('pixels' in set)) return takeByteImages(set, n) as S;
  const per = set.imageShape[0] * set.imageShape[1] * set.imageShape[2];
  return { ...set, pixels: set.pixels.subarray(0, n * per), labels: set.labels.subarray(0, n), count: n };
}

/** (B, Ci, H, W) pixel values of some images of a set. */
export function imageBatch(set: LabelledImages, indices: readonly number[]): Tensor {
  if (!('pixels' in set)) return byteImageBatch(set, indices);
  const per = set.imageShape[0] * set.imageShape[1] * set.imageShape[2];
  const out = new Float32Array(indices.length * per);
  indices.forEach((i, b) => out.set(set.pixels.subarray(i * per, (i + 1) * per), b * per));
  return fromArray(out, [indices.length, ...set.imageShape]);
}

/** `count` labelled scenes of a task from `seed`, preprocessed for a model. */
export function sceneImageSet(task: SceneTask, options: { count: number; seed: number; processor: ImageProcessorConfig; imageSize: number }): FloatImages {
  const scenes = sceneDataset({ ...sceneOptionsFor(task, options.imageSize), count: options.count, seed: options.seed });
  const labels = new Int32Array(options.count);
  let pixels: Float32Array | null = null;
  let shape: [number, number, number] = [0, 0, 0];
  const CHUNK = 64;
  for (let start = 0; start < options.count; start += CHUNK) {
    const chunk: Scene[] = [];
    for (let i = start; i < Math.min(options.count, start + CHUNK); i++) {
      const s = scenes.get(i);
      labels[i] = sceneTaskLabel(task, s);
      chunk.push(s);
    }
    const px = preprocessImages(chunk.map((s) => s.image), options.processor); // (B, Ci, H, W)
    if (!pixels) {
      shape = px.shape.slice(1) as [number, number, number];
      pixels = new Float32Array(options.count * shape[0] * shape[1] * shape[2]);
    }
    pixels.set(px.contiguous().toArray() as unknown as Float32Array, start * shape[0] * shape[1] * shape[2]);
  }
  return { pixels: pixels!, imageShape: shape, labels, count: options.count };
}

/** Whether image-classification data names generated scenes (anything else is a folder). */
export function isSceneData(data: string): boolean {
  return data.startsWith('scenes:');
}

/** What a run trained and was tested on. */
export interface VisionDataSummary {
  /** label names by id */
  labels: readonly string[];
  train: LabelledImages;
  test: LabelledImages;
  /** images per label in each split */
  counts: { train: Record<string, number>; test: Record<string, number> };
  /** folder data: where the test images came from ('test', 'validation' or 'held-out'); null for scenes */
  testSource: string | null;
  /** folder data: files that could not be decoded and were left out, with the reason */
  skipped: { file: string; reason: string }[];
  /** folder data: entries passed over (not images by extension, or hidden) */
  ignored: number;
  /** folder data: a digest of the files (a resume with other files is refused) */
  fingerprint: string | null;
}

const SKIPS_NAMED = 5;

/** The settings that choose a run's images. */
export interface VisionDataSpec {
  /** a folder of class folders, or scenes:TASK */
  data: string;
  seed: number;
  /** scenes: how many to train and test on */
  trainScenes: number;
  testScenes: number;
  /** a folder without a test split: the share of each class held out (default 0.2) */
  testFraction?: number;
  /** a folder: a seeded subset of this many training images */
  trainLimit?: number;
}

/** The label names of data: a scene task's, or a folder's sorted class folders (`folder` is the scan, for visionData). */
export function visionLabels(c: VisionDataSpec): { labels: readonly string[]; folder: ImageFolder | null } {
  if (isSceneData(c.data)) return { labels: sceneTaskLabels(parseSceneTaskSpec(c.data)), folder: null };
  const folder = scanImageFolder(c.data, { testFraction: c.testFraction, seed: c.seed });
  return { labels: folder.labels, folder };
}

/** The training and test images of a config: generated scenes, or a folder decoded and preprocessed as `processor` says (skips logged). */
export async function visionData(c: VisionDataSpec, processor: ImageProcessorConfig, imageSize: number, options: { folder?: ImageFolder | null; onLog?: (message: string) => void } = {}): Promise<VisionDataSummary> {
  const onLog = options.onLog;
  if (isSceneData(c.data)) {
    const task = parseSceneTaskSpec(c.data);
    const labels = sceneTaskLabels(task);
    const train = sceneImageSet(task, { count: c.trainScenes, seed: TRAIN_SCENE_SEED + c.seed, processor, imageSize });
    const test = sceneImageSet(task, { count: c.testScenes, seed: TEST_SCENE_SEED + c.seed, processor, imageSize });
    onLog?.(`${task}: ${train.count} training and ${test.count} test scenes, labels ${labels.join(', ')}`);
    const counts = { train: countByLabel(train.labels, labels), test: countByLabel(test.labels, labels) };
    return { labels, train, test, counts, testSource: null, skipped: [], ignored: 0, fingerprint: null };
  }
  const folder = options.folder ?? scanImageFolder(c.data, { testFraction: c.testFraction, seed: c.seed });
  const trainEntries = c.trainLimit !== undefined ? limitEntries(folder.train, c.trainLimit, c.seed) : folder.train;
  const total = trainEntries.length + folder.test.length;
  onLog?.(`${c.data}: ${folder.labels.length} classes (${folder.labels.slice(0, 10).join(', ')}${folder.labels.length > 10 ? ', ...' : ''}), ${trainEntries.length} training and ${folder.test.length} test images (${folder.testSource}); decoding`);
  let last = Date.now();
  const progress = (offset: number) => (done: number) => {
    if (offset + done === total || Date.now() - last > 5_000) {
      last = Date.now();
      onLog?.(`decoding images: ${offset + done}/${total}`);
    }
  };
  const train = await loadImageEntries(trainEntries, processor, { onProgress: progress(0) });
  const test = await loadImageEntries(folder.test, processor, { onProgress: progress(trainEntries.length) });
  const skipped = [...train.skipped, ...test.skipped];
  if (skipped.length) {
    onLog?.(`skipped ${skipped.length} unreadable file${skipped.length > 1 ? 's' : ''} of ${total}: ${skipped.slice(0, SKIPS_NAMED).map((s) => s.reason).join('; ')}${skipped.length > SKIPS_NAMED ? '; ...' : ''}`);
  }
  const counts = { train: countByLabel(train.images.labels, folder.labels), test: countByLabel(test.images.labels, folder.labels) };
  if (c.trainLimit === undefined) {
    const lost = folder.labels.find((l) => counts.train[l] === 0);
    if (lost) throw new StrataError('io', c.data, `no training image of class '${lost}' could be read (${skipped.length} files skipped)`);
  }
  if (!train.images.count) throw new StrataError('io', c.data, `none of the ${trainEntries.length} training images could be read`);
  if (!test.images.count) throw new StrataError('io', c.data, `none of the ${folder.test.length} test images could be read`);
  return { labels: folder.labels, train: train.images, test: test.images, counts, testSource: folder.testSource, skipped, ignored: folder.ignored, fingerprint: folder.fingerprint };
}
