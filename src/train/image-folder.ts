// Labelled images from a folder, in the layout torchvision's ImageFolder and Hugging Face's
// `imagefolder` read:
//
//   PATH/cat/001.jpg, PATH/dog/x.png, ...                  one folder per class; a share of each
//                                                          class (testFraction) is held out
//   PATH/train/cat/..., PATH/test/cat/...                  splits, each holding class folders
//   PATH/train/..., PATH/validation/...                    (validation when there is no test/)
//
// Labels are the class folder names (of train/ for splits), sorted by code point as Python's
// sorted() orders them, so label ids agree with torchvision and with `datasets`. A class folder's
// images may sit in subfolders of it. Files are images by their extension (IMAGE_EXTENSIONS, what
// sharp decodes); other files (a README, metadata.csv, .DS_Store) and hidden entries are ignored
// and counted.
//
// The held-out split is stratified and seeded: within each class the files are ranked by a hash of
// (seed, path relative to PATH), and the first round(testFraction * n) go to test, never all of
// them (a class of n >= 2 keeps at least one training image; a class of one image trains on it).
// A file's side depends only on its class's files, not on the order a disk lists them.
//
// Decoding skips unreadable files instead of failing the run: one corrupt JPEG among 10,000 should
// not cost the other 9,999. Each skip is returned (file and reason) for the caller to count and
// name; a class left without training images, or no test image left, is still an error.
//
// Memory: images are kept as 8-bit RGB after the processor's resize and center crop, i.e. exactly
// the pixels inference would normalize, and normalized per batch (byteImageBatch). A 224 x 224
// image costs 224 * 224 * 3 = 150,528 bytes (147 KiB), a quarter of its float32 pixel_values
// (602,112 bytes): 10,000 images hold 1.5 GB instead of 6 GB. Measured: 300 640 x 480 JPEGs to
// CLIP's 224 x 224 in 8.5 s (28 ms each, on 2 cores busy with other training), RSS +79 MB, of which
// the kept images are 45 MB; the rest is libvips' and the decode buffers' working set.
//
// Shapes: N images, B batch, Ci image channels (3), H x W image after resize and crop.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { type RgbImage, centerCrop, loadImage } from '../io/image.js';
import { type ImageProcessorConfig, pixelValuesFromResized, resizeForProcessor } from '../io/preprocessor.js';
import type { Tensor } from '../tensor/tensor.js';

/** Extensions read as images (lower case): the formats sharp decodes that photos come in. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];
/** Folder names of a test split, in the order they are looked for. */
export const TEST_SPLIT_NAMES = ['test', 'validation'] as const;
export const DEFAULT_TEST_FRACTION = 0.2;

export interface ImageFolderEntry {
  /** the file, as found under the root */
  file: string;
  /** its path relative to the root, '/'-separated (what the held-out hash reads) */
  relPath: string;
  /** label id (index into the sorted class names) */
  label: number;
}

export interface ImageFolder {
  root: string;
  /** class folder names, sorted: label id -> name */
  labels: string[];
  /** 'classes': PATH/<class>/...; 'splits': PATH/train/<class>/... */
  layout: 'classes' | 'splits';
  /** where the test images come from */
  testSource: 'held-out' | (typeof TEST_SPLIT_NAMES)[number];
  train: ImageFolderEntry[];
  test: ImageFolderEntry[];
  /** files and folders passed over: not images by their extension, or hidden */
  ignored: number;
  /** a digest of every image's path, size and modification time (a resumed run checks its data did not change) */
  fingerprint: string;
}

export interface ScanImageFolderOptions {
  /** share of each class held out when there is no test split (default 0.2); refused with one */
  testFraction?: number;
  /** seed of the held-out hash (default 0) */
  seed?: number;
}

const OP = 'imageFolder';

/** Python's sorted() order on str: by code point (JavaScript's default compares UTF-16 units). */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

function readDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new StrataError('io', dir, `cannot list the folder (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Sub-folders (symbolic links to folders too) and the count of other non-hidden entries. */
function subfolders(dir: string): { folders: string[]; others: number } {
  const folders: string[] = [];
  let others = 0;
  for (const d of readDir(dir)) {
    if (d.name.startsWith('.')) continue;
    const isDir = d.isDirectory() || (d.isSymbolicLink() && statOrNull(path.join(dir, d.name))?.isDirectory() === true);
    if (isDir) folders.push(d.name);
    else others++;
  }
  return { folders: folders.sort(byCodePoint), others };
}

/** Image files under a class folder (recursively, each real folder once), and how many entries were passed over. */
function imagesUnder(dir: string, root: string): { files: { file: string; relPath: string; size: number; mtimeMs: number }[]; ignored: number } {
  const files: { file: string; relPath: string; size: number; mtimeMs: number }[] = [];
  let ignored = 0;
  const seen = new Set<string>();
  const walk = (d: string): void => {
    const real = fs.realpathSync(d);
    if (seen.has(real)) return; // a link back up the tree
    seen.add(real);
    for (const e of readDir(d)) {
      const p = path.join(d, e.name);
      if (e.name.startsWith('.')) {
        ignored++;
        continue;
      }
      const st = e.isSymbolicLink() ? statOrNull(p) : null;
      if (e.isDirectory() || st?.isDirectory()) walk(p);
      else if ((e.isFile() || st?.isFile()) && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) {
        const s = st ?? fs.statSync(p);
        files.push({ file: p, relPath: path.relative(root, p).split(path.sep).join('/'), size: s.size, mtimeMs: s.mtimeMs });
      } else ignored++;
    }
  };
  walk(dir);
  return { files: files.sort((a, b) => byCodePoint(a.relPath, b.relPath)), ignored };
}

/** Every class folder of `dir` with its images; an empty class folder is an error naming it. */
function readClasses(dir: string, root: string): { classes: Map<string, ReturnType<typeof imagesUnder>['files']>; ignored: number } {
  const { folders, others } = subfolders(dir);
  let ignored = others;
  const classes = new Map<string, ReturnType<typeof imagesUnder>['files']>();
  for (const name of folders) {
    const found = imagesUnder(path.join(dir, name), root);
    if (!found.files.length) {
      throw new StrataError('io', path.join(dir, name), `the class folder '${name}' holds no images (files ending ${IMAGE_EXTENSIONS.join(', ')})`);
    }
    classes.set(name, found.files);
    ignored += found.ignored;
  }
  return { classes, ignored };
}

/** A number in [0, 1) for a file under a seed: where it ranks for the held-out split. */
function pathHash(seed: number, relPath: string): number {
  return createHash('sha256').update(`${seed}\0${relPath}`).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * The classes, splits and image files of an image folder (see the file comment). Nothing is
 * decoded here. Bad layouts are StrataErrors naming the folder: not a folder, no class folders, a
 * single class, an empty class folder, a test class that training lacks, split folders beside
 * class folders, a held-out fraction that leaves no test image.
 */
export function scanImageFolder(root: string, options: ScanImageFolderOptions = {}): ImageFolder {
  const seed = options.seed ?? 0;
  const st = statOrNull(root);
  if (!st) throw new StrataError('io', root, 'not found (image-classification data is a folder with one subfolder of images per class)');
  if (!st.isDirectory()) throw new StrataError('io', root, 'not a folder (image-classification data is a folder with one subfolder of images per class)');
  const { folders: top, others: rootFiles } = subfolders(root);
  const layout = top.includes('train') ? 'splits' : 'classes';
  let testName: (typeof TEST_SPLIT_NAMES)[number] | null = null;
  if (layout === 'splits') {
    testName = TEST_SPLIT_NAMES.find((n) => top.includes(n)) ?? null;
    const strays = top.filter((n) => n !== 'train' && !(TEST_SPLIT_NAMES as readonly string[]).includes(n));
    if (strays.length) throw new StrataError('io', root, `has train/ beside other folders (${strays.slice(0, 4).join(', ')}): with split folders, the class folders go inside train/ and test/`);
  } else {
    const orphan = top.find((n) => (TEST_SPLIT_NAMES as readonly string[]).includes(n));
    if (orphan) throw new StrataError('io', root, `has ${orphan}/ but no train/: put the training class folders in train/ (or use no split folders at all)`);
  }
  if (testName && options.testFraction !== undefined) throw new StrataError('argument', root, `has a ${testName}/ split, so no test fraction is held out; leave testFraction unset`);
  const testFraction = options.testFraction ?? DEFAULT_TEST_FRACTION;
  if (!testName && !(testFraction > 0 && testFraction < 1)) throw new StrataError('argument', OP, `testFraction must be in (0, 1), got ${testFraction}`);

  const trainDir = layout === 'splits' ? path.join(root, 'train') : root;
  const train = readClasses(trainDir, root);
  const labels = [...train.classes.keys()];
  if (labels.length === 0) throw new StrataError('io', trainDir, 'has no class folders: put the images of each class in a subfolder named after it (PATH/cat/1.jpg, PATH/dog/2.jpg)');
  if (labels.length === 1) throw new StrataError('io', trainDir, `has one class folder ('${labels[0]}'): classification needs at least two`);
  // with split folders, files at the top (metadata.csv, a README) sit beside them
  let ignored = train.ignored + (layout === 'splits' ? rootFiles : 0);
  const trainEntries: ImageFolderEntry[] = [];
  const testEntries: ImageFolderEntry[] = [];
  const fingerprint = createHash('sha256').update(`${layout}\0${testName ?? testFraction}\0${seed}\0`);
  const add = (to: ImageFolderEntry[], label: number) => (f: { file: string; relPath: string; size: number; mtimeMs: number }) => {
    to.push({ file: f.file, relPath: f.relPath, label });
    fingerprint.update(`${to === trainEntries ? 'train' : 'test'}\0${label}\0${f.relPath}\0${f.size}\0${f.mtimeMs}\n`);
  };
  if (testName) {
    const testDir = path.join(root, testName);
    const test = readClasses(testDir, root);
    ignored += test.ignored;
    const unknown = [...test.classes.keys()].filter((k) => !train.classes.has(k));
    if (unknown.length) throw new StrataError('io', path.join(testDir, unknown[0]!), `the ${testName} class '${unknown[0]}' has no folder in train/ (training classes: ${labels.slice(0, 8).join(', ')}${labels.length > 8 ? ', ...' : ''})`);
    labels.forEach((name, label) => train.classes.get(name)!.forEach(add(trainEntries, label)));
    labels.forEach((name, label) => (test.classes.get(name) ?? []).forEach(add(testEntries, label)));
  } else {
    labels.forEach((name, label) => {
      const files = train.classes.get(name)!;
      const n = files.length;
      const nTest = n >= 2 ? Math.min(n - 1, Math.round(testFraction * n)) : 0;
      const ranked = files.map((f) => ({ f, h: pathHash(seed, f.relPath) })).sort((a, b) => a.h - b.h || byCodePoint(a.f.relPath, b.f.relPath));
      const held = new Set(ranked.slice(0, nTest).map((r) => r.f));
      // each split in path order, so the order a disk lists files in changes nothing
      files.filter((f) => !held.has(f)).forEach(add(trainEntries, label));
      files.filter((f) => held.has(f)).forEach(add(testEntries, label));
    });
    if (!testEntries.length) {
      throw new StrataError('io', root, `a test fraction of ${testFraction} holds out no image (the classes have ${Math.min(...labels.map((l) => train.classes.get(l)!.length))}-${Math.max(...labels.map((l) => train.classes.get(l)!.length))} images): add images, raise the fraction or give a test/ folder`);
    }
  }
  return { root, labels, layout, testSource: testName ?? 'held-out', train: trainEntries, test: testEntries, ignored, fingerprint: fingerprint.digest('hex').slice(0, 16) };
}

/** `n` of the entries chosen by a seeded hash of their paths (a labelled-data budget), in their original order. */
export function limitEntries(entries: readonly ImageFolderEntry[], n: number, seed: number): ImageFolderEntry[] {
  if (!Number.isSafeInteger(n) || n < 1) throw new StrataError('argument', OP, `a training limit must be a positive integer, got ${n}`);
  if (n >= entries.length) return [...entries];
  const chosen = new Set(entries.map((e) => ({ e, h: pathHash(seed + 1, e.relPath) })).sort((a, b) => a.h - b.h).slice(0, n).map((r) => r.e));
  return entries.filter((e) => chosen.has(e));
}

/** Images kept as 8-bit RGB after resize and crop, with their labels (see the file comment for memory). */
export interface ByteImages {
  /** (N, H, W, Ci) bytes: each image as its processor resized and center-cropped it */
  rgb: Uint8Array;
  /** the processor that normalizes a batch (its resize and crop are already done) */
  processor: ImageProcessorConfig;
  /** [Ci, H, W] of a batch row */
  imageShape: [number, number, number];
  labels: Int32Array;
  count: number;
  /** where each image came from, for messages */
  files: readonly string[];
}

export interface LoadImagesOptions {
  /** files decoded at once (sharp decodes off the main thread; resizing is on it); default 4 */
  concurrency?: number;
  /** called after each file, read or skipped */
  onProgress?(done: number, total: number): void;
}

export interface LoadedImages {
  images: ByteImages;
  /** files that could not be read, in entry order, with the reason */
  skipped: { file: string; reason: string }[];
}

/**
 * Decodes, resizes and crops the entries' images as `processor` says (what inference does before
 * normalizing). A file that is not a readable image (or resizes to nothing) is skipped and
 * reported; every image must come out the same size, which a center crop or a {height, width}
 * resize guarantees, otherwise the first that differs is an error naming it.
 */
export async function loadImageEntries(entries: readonly ImageFolderEntry[], processor: ImageProcessorConfig, options: LoadImagesOptions = {}): Promise<LoadedImages> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new StrataError('argument', OP, `concurrency must be a positive integer, got ${concurrency}`);
  const n = entries.length;
  const fixed = processor.doCenterCrop && processor.cropSize ? processor.cropSize : processor.doResize && 'height' in processor.size ? processor.size : null;
  let size: { height: number; width: number } | null = fixed ? { height: fixed.height, width: fixed.width } : null;
  let rgb: Uint8Array | null = null;
  const ok = new Uint8Array(n);
  const reasons: (string | undefined)[] = new Array<string | undefined>(n);
  let next = 0;
  let done = 0;
  const prepare = async (e: ImageFolderEntry): Promise<RgbImage> => {
    const resized = resizeForProcessor(await loadImage(e.file), processor);
    return processor.doCenterCrop && processor.cropSize ? centerCrop(resized, processor.cropSize.height, processor.cropSize.width) : resized;
  };
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const e = entries[i]!;
      let img: RgbImage | null = null;
      try {
        img = await prepare(e);
      } catch (err) {
        if (!(err instanceof StrataError)) throw err;
        reasons[i] = err.message;
      }
      if (img) {
        size ??= { height: img.height, width: img.width };
        if (img.height !== size.height || img.width !== size.width) {
          throw new StrataError('shape', e.file, `comes out ${img.width} x ${img.height} after preprocessing but other images ${size.width} x ${size.height}: a training batch needs one size (give preprocessor_config.json a crop_size or a {height, width} size)`);
        }
        const per = size.height * size.width * 3;
        rgb ??= new Uint8Array(n * per); // (N, H, W, Ci)
        rgb.set(img.data, i * per);
        ok[i] = 1;
      }
      options.onProgress?.(++done, n);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, n)) }, worker));
  // close the gaps the skipped files left, keeping entry order
  const per = size ? size.height * size.width * 3 : 0;
  const labels: number[] = [];
  const files: string[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (let i = 0; i < n; i++) {
    if (!ok[i]) {
      skipped.push({ file: entries[i]!.file, reason: reasons[i]! });
      continue;
    }
    if (labels.length !== i) rgb!.copyWithin(labels.length * per, i * per, (i + 1) * per);
    labels.push(entries[i]!.label);
    files.push(entries[i]!.file);
  }
  const data = rgb ? (rgb as Uint8Array).subarray(0, labels.length * per) : new Uint8Array(0);
  const shape: [number, number, number] = [3, size?.height ?? 0, size?.width ?? 0];
  return { images: { rgb: data, processor, imageShape: shape, labels: Int32Array.from(labels), count: labels.length, files }, skipped };
}

/** (B, Ci, H, W) pixel_values of some images of a set: the processor's rescale and normalize, as at inference. */
export function byteImageBatch(set: ByteImages, indices: readonly number[]): Tensor {
  const [, h, w] = set.imageShape;
  const per = h * w * 3;
  const images = indices.map((i): RgbImage => {
    if (!Number.isSafeInteger(i) || i < 0 || i >= set.count) throw new StrataError('index', OP, `image ${i} is out of range for ${set.count} images`);
    return { width: w, height: h, data: set.rgb.subarray(i * per, (i + 1) * per), source: set.files[i] ?? `image ${i}` };
  });
  // already cropped to the crop size, so the crop below is at offset 0 and changes nothing
  return pixelValuesFromResized(images, set.processor); // (B, Ci, H, W)
}

/** The first `n` images of a set. */
export function takeByteImages(set: ByteImages, n: number): ByteImages {
  const per = set.imageShape[1] * set.imageShape[2] * 3;
  return { ...set, rgb: set.rgb.subarray(0, n * per), labels: set.labels.subarray(0, n), count: n, files: set.files.slice(0, n) };
}

/** Images per label name. */
export function countByLabel(labels: Int32Array | readonly number[], names: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(names.map((l) => [l, 0]));
  for (const l of labels) counts[names[l]!] = (counts[names[l]!] ?? 0) + 1;
  return counts;
}
