// preprocessor_config.json of image models, and the preprocessing it describes: RGB images in,
// pixel_values (B, 3, H, W) float32 out.
//
// The semantics are those of Hugging Face's PIL-backend image processors (the "slow"
// CLIPImageProcessor / ViTImageProcessor of transformers 4, CLIPImageProcessorPil /
// ViTImageProcessorPil of transformers 5), step by step:
//   resize     size {shortest_edge}: short side -> s, long side int(s * long / short);
//              {shortest_edge, longest_edge}: the same with the long side capped (the short side
//              then becomes round-half-even(cap * short / long)); {height, width}: exactly that.
//              A bare integer size means {shortest_edge} for CLIP and a square for ViT.
//              Resampling is PIL's (see image.ts), bit-exact.
//   crop       (do_center_crop) at floor((size - crop) / 2), zero-padded where the crop is larger.
//   rescale    float32(uint8 as float64 * rescale_factor).
//   normalize  (x - float32(mean)) / float32(std) in float32.
// Given the same resized pixels, crop + rescale + normalize equal the Python reference exactly.
// The torchvision ("Fast") processors fuse rescale and normalize and resize with torchvision's
// antialias; configs naming them are read with the same (PIL) semantics here.
//
// The families differ only in their defaults (what an absent field means):
//   clip  resize shortest_edge 224, bicubic, center crop 224 x 224, OpenAI CLIP mean/std
//   vit   resize 224 x 224, bilinear, no crop, mean = std = 0.5
// Both rescale by 1/255. do_convert_rgb is read and kept for writing back; images here are always
// RGB already (image.ts), so it changes nothing.

import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { ConfigReader, type JsonObject, describeJson, readJsonObject } from './config.js';
import { DEFAULT_MAX_IMAGE_PIXELS, RESAMPLE_FILTERS, type ResampleFilter, type RgbImage, centerCropOffset, resizeImage } from './image.js';

export const PREPROCESSOR_CONFIG_FILE = 'preprocessor_config.json';

export type ImageProcessorFamily = 'clip' | 'vit';

/** How the resize step picks its output size. */
export type ResizeTarget =
  | { readonly shortestEdge: number; readonly longestEdge: number | null }
  | { readonly height: number; readonly width: number };

export interface CropSize {
  readonly height: number;
  readonly width: number;
}

export type RgbValues = readonly [number, number, number];

export interface ImageProcessorConfig {
  readonly family: ImageProcessorFamily;
  /** image_processor_type as written in the file (or the family's class name) */
  readonly processorType: string;
  readonly doResize: boolean;
  readonly size: ResizeTarget;
  readonly resample: ResampleFilter;
  readonly doCenterCrop: boolean;
  /** null when the config has no crop size (then doCenterCrop is false) */
  readonly cropSize: CropSize | null;
  readonly doRescale: boolean;
  readonly rescaleFactor: number;
  readonly doNormalize: boolean;
  readonly imageMean: RgbValues;
  readonly imageStd: RgbValues;
  readonly doConvertRgb: boolean;
}

export const OPENAI_CLIP_MEAN: RgbValues = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_CLIP_STD: RgbValues = [0.26862954, 0.26130258, 0.27577711];
export const IMAGENET_STANDARD_MEAN: RgbValues = [0.5, 0.5, 0.5];
export const IMAGENET_STANDARD_STD: RgbValues = [0.5, 0.5, 0.5];

/** Largest size, crop or edge a config may ask for (a side of DEFAULT_MAX_IMAGE_PIXELS). */
export const MAX_PROCESSOR_SIDE = Math.sqrt(DEFAULT_MAX_IMAGE_PIXELS);

const FAMILY_DEFAULTS: Record<ImageProcessorFamily, ImageProcessorConfig> = {
  clip: {
    family: 'clip',
    processorType: 'CLIPImageProcessor',
    doResize: true,
    size: { shortestEdge: 224, longestEdge: null },
    resample: 'bicubic',
    doCenterCrop: true,
    cropSize: { height: 224, width: 224 },
    doRescale: true,
    rescaleFactor: 1 / 255,
    doNormalize: true,
    imageMean: OPENAI_CLIP_MEAN,
    imageStd: OPENAI_CLIP_STD,
    doConvertRgb: true,
  },
  vit: {
    family: 'vit',
    processorType: 'ViTImageProcessor',
    doResize: true,
    size: { height: 224, width: 224 },
    resample: 'bilinear',
    doCenterCrop: false,
    cropSize: null,
    doRescale: true,
    rescaleFactor: 1 / 255,
    doNormalize: true,
    imageMean: IMAGENET_STANDARD_MEAN,
    imageStd: IMAGENET_STANDARD_STD,
    doConvertRgb: true,
  },
};

/** image_processor_type / feature_extractor_type values read with each family's defaults. */
const KNOWN_TYPES: Record<string, ImageProcessorFamily> = {
  CLIPImageProcessor: 'clip',
  CLIPImageProcessorFast: 'clip',
  CLIPImageProcessorPil: 'clip',
  CLIPFeatureExtractor: 'clip',
  ViTImageProcessor: 'vit',
  ViTImageProcessorFast: 'vit',
  ViTImageProcessorPil: 'vit',
  ViTFeatureExtractor: 'vit',
};

/** A config of one family: its defaults with `overrides` on top (for models made here). */
export function imageProcessorConfig(family: ImageProcessorFamily, overrides: Partial<Omit<ImageProcessorConfig, 'family'>> = {}): ImageProcessorConfig {
  const base = FAMILY_DEFAULTS[family];
  if (!base) throw new StrataError('argument', 'imageProcessorConfig', `unknown family ${describeJson(family)} (expected 'clip' or 'vit')`);
  const config = { ...base, ...overrides, family };
  // Round-trip through the JSON form so a programmatic config gets the same checks as a file.
  return parseImageProcessorConfig(imageProcessorConfigToJson(config), 'imageProcessorConfig');
}

function side(r: ConfigReader, name: string): number {
  return r.requiredInt(name, { min: 1, max: MAX_PROCESSOR_SIDE });
}

function readSize(cfg: ConfigReader, family: ImageProcessorFamily, fallback: ResizeTarget): ResizeTarget {
  if (!cfg.has('size')) return fallback;
  if (typeof cfg.raw.size === 'number') {
    const s = side(cfg, 'size');
    return family === 'clip' ? { shortestEdge: s, longestEdge: null } : { height: s, width: s };
  }
  const size = cfg.object('size');
  if (!size) return cfg.fail('size', 'is required');
  const keys = Object.keys(size.raw).filter((k) => size.has(k));
  if (size.has('shortest_edge')) {
    const extra = keys.filter((k) => k !== 'shortest_edge' && k !== 'longest_edge');
    if (extra.length) cfg.fail('size', `mixes shortest_edge with ${extra.join(', ')}; use {shortest_edge[, longest_edge]} or {height, width}`);
    const shortestEdge = side(size, 'shortest_edge');
    return { shortestEdge, longestEdge: size.has('longest_edge') ? side(size, 'longest_edge') : null };
  }
  if (size.has('height') || size.has('width')) {
    const extra = keys.filter((k) => k !== 'height' && k !== 'width');
    if (extra.length) cfg.fail('size', `mixes height/width with ${extra.join(', ')}; use {shortest_edge[, longest_edge]} or {height, width}`);
    return { height: side(size, 'height'), width: side(size, 'width') };
  }
  return cfg.fail('size', `must be an integer, {shortest_edge[, longest_edge]} or {height, width}; got keys ${keys.length ? keys.join(', ') : '(none)'}`);
}

function readCropSize(cfg: ConfigReader): CropSize | null {
  if (!cfg.has('crop_size')) return null;
  if (typeof cfg.raw.crop_size === 'number') {
    const s = side(cfg, 'crop_size');
    return { height: s, width: s };
  }
  const crop = cfg.object('crop_size');
  if (!crop) return null;
  return { height: side(crop, 'height'), width: side(crop, 'width') };
}

/** A number or a list of 3 numbers (one per channel), as image_mean / image_std. */
function readRgb(cfg: ConfigReader, name: string, fallback: RgbValues, positive: boolean): RgbValues {
  if (!cfg.has(name)) return fallback;
  const v = cfg.raw[name];
  const list = typeof v === 'number' ? [v, v, v] : v;
  if (!Array.isArray(list) || list.length !== 3 || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    cfg.fail(name, `must be a number or a list of 3 finite numbers (R, G, B), got ${describeJson(v)}`);
  }
  if (positive && !list.every((x: number) => x > 0)) cfg.fail(name, `must be > 0 per channel, got [${list.join(', ')}]`);
  return [list[0], list[1], list[2]] as RgbValues;
}

function readResample(cfg: ConfigReader, fallback: ResampleFilter): ResampleFilter {
  if (!cfg.has('resample')) return fallback;
  const code = cfg.raw.resample;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code >= RESAMPLE_FILTERS.length) {
    cfg.fail('resample', `must be a PIL resampling code (${RESAMPLE_FILTERS.map((f, i) => `${i} ${f}`).join(', ')}), got ${describeJson(code)}`);
  }
  return RESAMPLE_FILTERS[code]!;
}

export interface ReadImageProcessorOptions {
  /**
   * The family to read the file with when its image_processor_type is absent or not one Strata
   * knows (its semantics are then assumed to be CLIP's or ViT's).
   */
  family?: ImageProcessorFamily;
}

/** Parses the object of a preprocessor_config.json; `file` names it in messages. */
export function parseImageProcessorConfig(raw: JsonObject, file: string, options: ReadImageProcessorOptions = {}): ImageProcessorConfig {
  const cfg = new ConfigReader(raw, file);
  const typeField = cfg.has('image_processor_type') ? 'image_processor_type' : 'feature_extractor_type';
  const processorType = cfg.has(typeField) ? cfg.string(typeField, '') : null;
  const known = processorType !== null ? KNOWN_TYPES[processorType] : undefined;
  const family = known ?? options.family;
  if (!family) {
    const supported = Object.keys(KNOWN_TYPES).join(', ');
    throw new StrataError(
      'unsupported',
      file,
      processorType === null
        ? `names no image_processor_type; pass the family ('clip' or 'vit') to read it (known types: ${supported})`
        : `image_processor_type '${processorType}' is not supported (known: ${supported}); pass the family ('clip' or 'vit') to read it with that family's semantics`,
    );
  }
  const d = FAMILY_DEFAULTS[family];
  const doCenterCrop = cfg.bool('do_center_crop', d.doCenterCrop);
  const cropSize = readCropSize(cfg) ?? d.cropSize;
  if (doCenterCrop && !cropSize) cfg.fail('crop_size', 'is required when do_center_crop is true');
  return {
    family,
    processorType: processorType ?? d.processorType,
    doResize: cfg.bool('do_resize', d.doResize),
    size: readSize(cfg, family, d.size),
    resample: readResample(cfg, d.resample),
    doCenterCrop,
    cropSize,
    doRescale: cfg.bool('do_rescale', d.doRescale),
    rescaleFactor: cfg.number('rescale_factor', d.rescaleFactor, { above: 0 }),
    doNormalize: cfg.bool('do_normalize', d.doNormalize),
    imageMean: readRgb(cfg, 'image_mean', d.imageMean, false),
    imageStd: readRgb(cfg, 'image_std', d.imageStd, true),
    doConvertRgb: cfg.bool('do_convert_rgb', d.doConvertRgb),
  };
}

/** Reads preprocessor_config.json from a model directory, or a config file given directly. */
export function readImageProcessorConfig(dirOrFile: string, options: ReadImageProcessorOptions = {}): ImageProcessorConfig {
  let file = dirOrFile;
  if (fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isDirectory()) {
    file = path.join(dirOrFile, PREPROCESSOR_CONFIG_FILE);
    if (!fs.existsSync(file)) throw new StrataError('io', dirOrFile, `has no ${PREPROCESSOR_CONFIG_FILE} (an image model directory needs one)`);
  }
  return parseImageProcessorConfig(readJsonObject(file), file, options);
}

/** The preprocessor_config.json object for a config, in Hugging Face's layout. */
export function imageProcessorConfigToJson(config: ImageProcessorConfig): JsonObject {
  const size = 'shortestEdge' in config.size
    ? { shortest_edge: config.size.shortestEdge, ...(config.size.longestEdge !== null ? { longest_edge: config.size.longestEdge } : {}) }
    : { height: config.size.height, width: config.size.width };
  return {
    image_processor_type: config.processorType,
    do_resize: config.doResize,
    size,
    resample: RESAMPLE_FILTERS.indexOf(config.resample),
    do_center_crop: config.doCenterCrop,
    ...(config.cropSize ? { crop_size: { height: config.cropSize.height, width: config.cropSize.width } } : {}),
    do_rescale: config.doRescale,
    rescale_factor: config.rescaleFactor,
    do_normalize: config.doNormalize,
    image_mean: [...config.imageMean],
    image_std: [...config.imageStd],
    do_convert_rgb: config.doConvertRgb,
  };
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The (height, width) the resize step produces for an image of height x width. Mirrors
 * transformers' get_resize_output_image_size / get_size_with_aspect_ratio, float operations in
 * the same order so the truncations land on the same integers.
 */
export function resizeOutputSize(height: number, width: number, size: ResizeTarget): [number, number] {
  if (!('shortestEdge' in size)) return [size.height, size.width];
  let edge = size.shortestEdge;
  if (size.longestEdge === null) {
    const [short, long] = width <= height ? [width, height] : [height, width];
    const newLong = Math.trunc((edge * long) / short);
    return width <= height ? [newLong, edge] : [edge, newLong];
  }
  const cap = size.longestEdge;
  const lo = Math.min(height, width);
  const hi = Math.max(height, width);
  let raw: number | null = null;
  if ((hi / lo) * edge > cap) {
    raw = (cap * lo) / hi;
    edge = roundHalfEven(raw);
  }
  if ((height <= width && height === edge) || (width <= height && width === edge)) return [height, width];
  const s = raw ?? edge;
  if (width < height) return [Math.trunc((s * height) / width), edge];
  return [edge, Math.trunc((s * width) / height)];
}

/** The resize step of a config (the image itself when do_resize is false). */
export function resizeForProcessor(image: RgbImage, config: ImageProcessorConfig): RgbImage {
  if (!config.doResize) return image;
  const [h, w] = resizeOutputSize(image.height, image.width, config.size);
  if (h < 1 || w < 1) {
    throw new StrataError('argument', 'preprocessImages', `${image.source}: a ${image.width} x ${image.height} image resizes to ${w} x ${h}, which is empty`);
  }
  return resizeImage(image, w, h, config.resample);
}

/** The value each 8-bit level of one channel becomes after rescale and normalize (float32 math). */
function channelTable(config: ImageProcessorConfig, c: 0 | 1 | 2): Float32Array {
  const table = new Float32Array(256);
  const mean = Math.fround(config.imageMean[c]);
  const std = Math.fround(config.imageStd[c]);
  for (let v = 0; v < 256; v++) {
    let x = config.doRescale ? Math.fround(v * config.rescaleFactor) : v;
    if (config.doNormalize) x = Math.fround(Math.fround(x - mean) / std);
    table[v] = x;
  }
  return table;
}

/**
 * Crop, rescale and normalize already-resized images into pixel_values (B, 3, H, W) float32.
 * Every image must come out the same size (a center crop or a {height, width} resize sees to that).
 */
export function pixelValuesFromResized(images: readonly RgbImage[], config: ImageProcessorConfig): Tensor {
  if (!Array.isArray(images) || images.length === 0) throw new StrataError('argument', 'preprocessImages', 'needs at least one image');
  const crop = config.doCenterCrop ? config.cropSize : null;
  const outH = crop ? crop.height : images[0]!.height;
  const outW = crop ? crop.width : images[0]!.width;
  images.forEach((img, i) => {
    const h = crop ? crop.height : img.height;
    const w = crop ? crop.width : img.width;
    if (h !== outH || w !== outW) {
      throw new StrataError(
        'shape',
        'preprocessImages',
        `image ${i} (${img.source}) comes out ${w} x ${h} but image 0 (${images[0]!.source}) ${outW} x ${outH}; ` +
          'a batch needs one size (use do_center_crop or a {height, width} size)',
      );
    }
  });
  const tables = [channelTable(config, 0), channelTable(config, 1), channelTable(config, 2)];
  const plane = outH * outW;
  const out = new Float32Array(images.length * 3 * plane); // (B, 3, H, W)
  images.forEach((img, b) => {
    // A crop is an offset into the image; rows/columns outside it are the zero padding (level 0).
    const top = crop ? centerCropOffset(img.height, outH) : 0;
    const left = crop ? centerCropOffset(img.width, outW) : 0;
    for (let c = 0; c < 3; c++) {
      const table = tables[c]!;
      const pad = table[0]!;
      const base = (b * 3 + c) * plane;
      for (let y = 0; y < outH; y++) {
        const sy = y + top;
        const rowOut = base + y * outW;
        if (sy < 0 || sy >= img.height) {
          out.fill(pad, rowOut, rowOut + outW);
          continue;
        }
        for (let x = 0; x < outW; x++) {
          const sx = x + left;
          out[rowOut + x] = sx < 0 || sx >= img.width ? pad : table[img.data[(sy * img.width + sx) * 3 + c]!]!;
        }
      }
    }
  });
  return fromArray(out, [images.length, 3, outH, outW]);
}

/** The whole preprocessing of a config: resize, crop, rescale, normalize -> pixel_values (B, 3, H, W) f32. */
export function preprocessImages(images: readonly RgbImage[], config: ImageProcessorConfig): Tensor {
  if (!Array.isArray(images) || images.length === 0) throw new StrataError('argument', 'preprocessImages', 'needs at least one image');
  return pixelValuesFromResized(images.map((img) => resizeForProcessor(img, config)), config);
}
