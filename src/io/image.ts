// Images in: decoding any format sharp reads (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG, ...) into
// 8-bit RGB, and the two geometric steps of an image processor, resize and center crop.
//
// Decoding follows what the Python side does (transformers' load_image: PIL open,
// ImageOps.exif_transpose, convert("RGB")), so the same file gives the same pixels here and there:
// - the EXIF orientation is applied;
// - an alpha channel is dropped by default, as PIL's RGBA -> RGB conversion does (the colour of a
//   transparent pixel survives); `alpha: 'white'` composites onto white instead;
// - grey images repeat the grey level in R, G and B; 16-bit images are scaled to 8 bits;
// - embedded ICC profiles are ignored (PIL does not colour-manage either);
// - multi-frame images (GIF, animated WebP, multi-page TIFF) give their first frame.
// On the committed fixtures (PNG, grey PNG, RGBA PNG, JPEG, JPEG with EXIF orientation 6, lossless
// and lossy WebP) the decoded pixels equal PIL 9.4's exactly.
//
// Resizing is not sharp's: libvips samples on a different pixel grid when it enlarges (a 4 -> 8
// linear enlargement gives 0 0 50 100 150 200 225 250 where PIL gives 0 25 75 125 175 213 238 250)
// and pre-shrinks with a box filter when it reduces by more than 2x. Against PIL on the fixtures,
// sharp's cubic/linear kernels were off by a mean of 0.25-0.9 levels (max 7) when reducing and
// 2.2-6.6 levels (max 136, at edges) when enlarging, which is too far for parity with models
// trained on PIL-preprocessed images. `resizeImage` is instead the separable, antialiased
// convolution PIL's Image.resize performs (support scaled by the reduction factor, pixel centres
// at i + 0.5, 8-bit fixed-point weights with 22 fractional bits, horizontal pass first), and it
// reproduces PIL's output bit for bit for every filter on the fixtures. It is plain synchronous
// TypeScript, so preprocessing is a synchronous tensor op; the price is speed on large photos
// (about 0.5 s to take 4000 x 3000 down to 298 x 224 bicubic on one core, where libvips takes tens of ms).

import fs from 'node:fs';
import type { OutputInfo } from 'sharp';
import { StrataError } from '../errors.js';

type SharpFactory = typeof import('sharp').default;
let sharpLoading: Promise<SharpFactory> | null = null;

/** sharp (libvips) is loaded on first use: importing Strata for text models should not pay ~0.2 s for it. */
function loadSharp(): Promise<SharpFactory> {
  sharpLoading ??= import('sharp').then(
    (m) => m.default,
    (err: unknown) => {
      sharpLoading = null;
      throw new StrataError('unsupported', 'loadImage', `the image decoder (sharp) could not be loaded: ${describeSharpError(err)}`);
    },
  );
  return sharpLoading;
}

/**
 * Loads the image decoder now rather than on the first loadImage. sharp's documentation asks for
 * it to be loaded in the main thread before worker threads use it (a worker exiting could
 * otherwise unload libvips under the others): a server decoding in workers calls this first.
 */
export async function preloadImageDecoder(): Promise<void> {
  await loadSharp();
}

/** A decoded image: 8-bit RGB, row-major (H, W, 3). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** width * height * 3 bytes: R, G, B of each pixel, rows top to bottom */
  readonly data: Uint8Array;
  /** where it came from, for messages: a path, or a name given for bytes */
  readonly source: string;
}

/** Default pixel limit of `loadImage` (8192 x 8192 = 2^26, about 67 megapixels: 192 MiB as RGB). */
export const DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192;

export interface LoadImageOptions {
  /**
   * Refuse images with more pixels than this (checked from the header, before any pixel is
   * decoded). Default DEFAULT_MAX_IMAGE_PIXELS.
   */
  maxPixels?: number;
  /** What happens to an alpha channel: 'drop' (default, as PIL's convert("RGB")) or 'white' (composite onto white). */
  alpha?: 'drop' | 'white';
  /** Name of the image in messages when the input is bytes (default '<buffer>'). */
  source?: string;
}

function checkPixelLimit(value: number | undefined, op: string): number {
  const limit = value ?? DEFAULT_MAX_IMAGE_PIXELS;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new StrataError('argument', op, `maxPixels must be a positive integer, got ${limit}`);
  return limit;
}

function describeSharpError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, ' ').trim();
}

function unreadable(source: string, err: unknown): StrataError {
  return new StrataError('io', source, `not a readable image (${describeSharpError(err)})`);
}

function megapixels(n: number): string {
  return `${(n / 1e6).toFixed(1)} megapixels`;
}

/**
 * Decodes an image file (a path) or its bytes into 8-bit RGB. Anything that is not a complete,
 * readable image is a StrataError('io') naming the source; so is an image whose header claims
 * more than `maxPixels` pixels, refused before its pixels are decoded.
 */
export async function loadImage(input: string | Uint8Array, options: LoadImageOptions = {}): Promise<RgbImage> {
  const maxPixels = checkPixelLimit(options.maxPixels, 'loadImage');
  const alpha = options.alpha ?? 'drop';
  if (alpha !== 'drop' && alpha !== 'white') throw new StrataError('argument', 'loadImage', `alpha must be 'drop' or 'white', got ${String(alpha)}`);
  let source: string;
  if (typeof input === 'string') {
    source = input;
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new StrataError('io', source, code === 'ENOENT' ? 'file not found' : `cannot read file (${describeSharpError(err)})`);
    }
    if (!stat.isFile()) throw new StrataError('io', source, 'not a file');
    if (stat.size === 0) throw new StrataError('io', source, 'not a readable image (the file is empty)');
  } else if (input instanceof Uint8Array) {
    source = options.source ?? '<buffer>';
    if (input.byteLength === 0) throw new StrataError('io', source, 'not a readable image (no bytes)');
  } else {
    throw new StrataError('argument', 'loadImage', 'input must be a file path or a Uint8Array of image bytes');
  }

  const sharp = await loadSharp();
  // The header first: its dimensions decide whether the pixels are decoded at all.
  let width: number;
  let height: number;
  try {
    const meta = await sharp(input, { limitInputPixels: false, failOn: 'error' }).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
  } catch (err) {
    throw unreadable(source, err);
  }
  if (!(width > 0 && height > 0)) throw new StrataError('io', source, `not a readable image (no dimensions in its header: ${width} x ${height})`);
  if (width * height > maxPixels) {
    throw new StrataError(
      'io',
      source,
      `image is ${width} x ${height} = ${megapixels(width * height)}, over the limit of ${megapixels(maxPixels)} (${maxPixels} pixels; raise maxPixels to allow it)`,
    );
  }

  let data: Buffer;
  let info: OutputInfo;
  try {
    // failOn 'error' also refuses truncated data; limitInputPixels re-checks inside libvips.
    let pipeline = sharp(input, { autoOrient: true, ignoreIcc: true, failOn: 'error', limitInputPixels: maxPixels });
    pipeline = alpha === 'white' ? pipeline.flatten({ background: { r: 255, g: 255, b: 255 } }) : pipeline.removeAlpha();
    ({ data, info } = await pipeline.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw unreadable(source, err);
  }
  if (info.channels !== 3 || data.byteLength !== info.width * info.height * 3) {
    throw new StrataError('io', source, `not a readable image (decoded to ${info.channels} channels, ${data.byteLength} bytes for ${info.width} x ${info.height})`);
  }
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), source };
}

/** An RgbImage over pixels made in memory (e.g. generated scenes), checked for size. */
export function rgbImage(width: number, height: number, data: Uint8Array, source = '<pixels>'): RgbImage {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new StrataError('argument', 'rgbImage', `width and height must be positive integers, got ${width} x ${height}`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
    throw new StrataError('argument', 'rgbImage', `${width} x ${height} RGB needs ${width * height * 3} bytes, got ${data instanceof Uint8Array ? data.length : typeof data}`);
  }
  return { width, height, data, source };
}

// ---- resize: PIL's Image.resize for 8-bit images -------------------------------------------------

/** Resampling filters, named as in PIL; their index is PIL's resample code (0 NEAREST ... 5 HAMMING). */
export const RESAMPLE_FILTERS = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming'] as const;
export type ResampleFilter = (typeof RESAMPLE_FILTERS)[number];

interface Kernel {
  /** half-width at scale 1 */
  support: number;
  weight(x: number): number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const KERNELS: Record<Exclude<ResampleFilter, 'nearest'>, Kernel> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    weight: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  hamming: {
    support: 1,
    weight: (x) => {
      const a = Math.abs(x);
      if (a === 0) return 1;
      if (a >= 1) return 0;
      const px = a * Math.PI;
      return (Math.sin(px) / px) * (0.54 + 0.46 * Math.cos(px));
    },
  },
  // Keys' cubic convolution with a = -0.5 (Catmull-Rom), as PIL's BICUBIC.
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** Fractional bits of the fixed-point weights for 8-bit samples (32 - 8 - 2, leaving headroom). */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;

/** Per output sample along one axis: the first input index, the tap count, and integer weights. */
interface AxisWeights {
  taps: number; // weights per output sample (room for the widest)
  first: Int32Array; // (out,)
  count: Int32Array; // (out,)
  weights: Int32Array; // (out, taps)
}

function axisWeights(inSize: number, outSize: number, kernel: Kernel): AxisWeights {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const invScale = 1 / filterScale; // multiplied, not divided: the weights must round as PIL's do
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const w = new Float64Array(taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
    let total = 0;
    for (let i = 0; i < n; i++) {
      w[i] = kernel.weight((i + lo - center + 0.5) * invScale);
      total += w[i]!;
    }
    for (let i = 0; i < n; i++) {
      const v = total !== 0 ? w[i]! / total : w[i]!;
      // round half away from zero, as the C cast of v * ONE +- 0.5 does
      weights[o * taps + i] = Math.trunc(v < 0 ? v * ONE - 0.5 : v * ONE + 0.5);
    }
    first[o] = lo;
    count[o] = n;
  }
  return { taps, first, count, weights };
}

function clip8(acc: number): number {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One convolution pass along x: (H, W, 3) -> (H, outW, 3). */
function resampleHorizontal(src: Uint8Array, width: number, height: number, outWidth: number, kernel: Kernel): Uint8Array {
  const { taps, first, count, weights } = axisWeights(width, outWidth, kernel);
  const out = new Uint8Array(outWidth * height * 3);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let o = 0; o < outWidth; o++) {
      const base = row + first[o]! * 3;
      const wo = o * taps;
      let r = ONE / 2;
      let g = ONE / 2;
      let b = ONE / 2;
      for (let i = 0, n = count[o]!; i < n; i++) {
        const k = weights[wo + i]!;
        const p = base + i * 3;
        r += src[p]! * k;
        g += src[p + 1]! * k;
        b += src[p + 2]! * k;
      }
      const q = (y * outWidth + o) * 3;
      out[q] = clip8(r);
      out[q + 1] = clip8(g);
      out[q + 2] = clip8(b);
    }
  }
  return out;
}

/** One convolution pass along y: (H, W, 3) -> (outH, W, 3). */
function resampleVertical(src: Uint8Array, width: number, height: number, outHeight: number, kernel: Kernel): Uint8Array {
  const { taps, first, count, weights } = axisWeights(height, outHeight, kernel);
  const stride = width * 3;
  const out = new Uint8Array(stride * outHeight);
  const acc = new Float64Array(stride); // exact: integer sums stay far below 2^53
  for (let o = 0; o < outHeight; o++) {
    acc.fill(ONE / 2);
    // whole input rows at a time, so memory is read in order
    for (let i = 0, n = count[o]!; i < n; i++) {
      const k = weights[o * taps + i]!;
      const row = (first[o]! + i) * stride;
      for (let x = 0; x < stride; x++) acc[x] += src[row + x]! * k;
    }
    const base = o * stride;
    for (let x = 0; x < stride; x++) out[base + x] = clip8(acc[x]!);
  }
  return out;
}

/** PIL's NEAREST: source index floor((i + 0.5) * in / out), the position stepped by repeated addition as PIL does. */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const step = inSize / outSize;
  const idx = new Int32Array(outSize);
  let pos = step * 0.5;
  for (let o = 0; o < outSize; o++) {
    idx[o] = Math.min(Math.floor(pos), inSize - 1);
    pos += step;
  }
  return idx;
}

function resizeNearest(img: RgbImage, width: number, height: number): Uint8Array {
  const xs = nearestIndices(img.width, width);
  const ys = nearestIndices(img.height, height);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = ys[y]! * img.width;
    for (let x = 0; x < width; x++) {
      const p = (row + xs[x]!) * 3;
      const q = (y * width + x) * 3;
      out[q] = img.data[p]!;
      out[q + 1] = img.data[p + 1]!;
      out[q + 2] = img.data[p + 2]!;
    }
  }
  return out;
}

export interface ResizeOptions {
  /** Refuse outputs with more pixels than this (default DEFAULT_MAX_IMAGE_PIXELS). */
  maxPixels?: number;
}

function checkImage(img: RgbImage, op: string): void {
  if (
    !img ||
    !Number.isSafeInteger(img.width) ||
    !Number.isSafeInteger(img.height) ||
    img.width < 1 ||
    img.height < 1 ||
    !(img.data instanceof Uint8Array) ||
    img.data.length !== img.width * img.height * 3
  ) {
    throw new StrataError('argument', op, `expected an RgbImage with width * height * 3 bytes, got ${img ? `${img.width} x ${img.height} with ${img.data?.length} bytes` : String(img)}`);
  }
}

/**
 * Resizes to width x height with one of PIL's filters, equal to PIL's Image.resize (without
 * reducing_gap) on an RGB image. A same-size resize returns the image unchanged.
 */
export function resizeImage(img: RgbImage, width: number, height: number, filter: ResampleFilter = 'bicubic', options: ResizeOptions = {}): RgbImage {
  checkImage(img, 'resizeImage');
  const limit = checkPixelLimit(options.maxPixels, 'resizeImage');
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new StrataError('argument', 'resizeImage', `target size must be positive integers, got ${width} x ${height}`);
  }
  if (width * height > limit) {
    throw new StrataError('argument', 'resizeImage', `resizing ${img.source} to ${width} x ${height} = ${megapixels(width * height)} is over the limit of ${megapixels(limit)}`);
  }
  if (width === img.width && height === img.height) return img;
  if (filter === 'nearest') return { width, height, data: resizeNearest(img, width, height), source: img.source };
  const kernel = (KERNELS as Record<string, Kernel | undefined>)[filter];
  if (!kernel) throw new StrataError('argument', 'resizeImage', `unknown filter '${String(filter)}' (expected one of ${RESAMPLE_FILTERS.join(', ')})`);
  let data = img.data;
  let w = img.width;
  if (width !== w) {
    data = resampleHorizontal(data, w, img.height, width, kernel);
    w = width;
  }
  if (height !== img.height) data = resampleVertical(data, w, img.height, height, kernel);
  return { width, height, data, source: img.source };
}

/**
 * The top-left corner of a centered crop along one axis: floor((size - crop) / 2), negative when
 * the crop is larger (the image then sits ceil((crop - size) / 2) in, on zeros).
 */
export function centerCropOffset(size: number, crop: number): number {
  return Math.floor((size - crop) / 2);
}

/** A height x width crop from the center; where the crop is larger than the image it is padded with black (0). */
export function centerCrop(img: RgbImage, height: number, width: number): RgbImage {
  checkImage(img, 'centerCrop');
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new StrataError('argument', 'centerCrop', `crop size must be positive integers, got ${width} x ${height}`);
  }
  if (width === img.width && height === img.height) return img;
  const top = centerCropOffset(img.height, height);
  const left = centerCropOffset(img.width, width);
  const out = new Uint8Array(width * height * 3);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(width, img.width - left);
  for (let y = Math.max(0, -top); y < Math.min(height, img.height - top); y++) {
    const from = ((y + top) * img.width + x0 + left) * 3;
    out.set(img.data.subarray(from, from + (x1 - x0) * 3), (y * width + x0) * 3);
  }
  return { width, height, data: out, source: img.source };
}
