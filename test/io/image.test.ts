// Image inputs against the Python reference (scripts/fixtures/image.py: PIL 9.4 decoding and
// Hugging Face's PIL-backend CLIP/ViT preprocessing), stage by stage: decoded pixels, resized
// pixels, then pixel_values. Tolerances, all measured at 0 on the committed fixtures:
//   decode     lossless formats exact; JPEG and lossy WebP within 2 levels (decoder builds may round
//              differently; sharp's and PIL's agree exactly today)
//   resize     exact, every PIL filter, reducing and enlarging
//   crop + rescale + normalize   exact given PIL's resized pixels
//   end to end exact
// Then bad input: a PNG header claiming 20000 x 20000, truncated and non-image bytes, bad configs.
//
// Set STRATA_GOLDEN_REPORT=1 to print the observed differences.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { StrataError, type Tensor } from '../../src/index.js';
import {
  DEFAULT_MAX_IMAGE_PIXELS,
  RESAMPLE_FILTERS,
  centerCrop,
  imageProcessorConfig,
  imageProcessorConfigToJson,
  loadImage,
  parseImageProcessorConfig,
  pixelValuesFromResized,
  preprocessImages,
  readImageProcessorConfig,
  readSafetensors,
  resizeForProcessor,
  resizeImage,
  resizeOutputSize,
  rgbImage,
  type ImageProcessorConfig,
  type RgbImage,
} from '../../src/io/index.js';
import { FIXTURES_DIR, maxAbsDiff } from '../helpers/fixtures.js';

const DIR = path.join(FIXTURES_DIR, 'images');
const expected = readSafetensors(path.join(DIR, 'expected.safetensors'));
const ref = expected.tensors;
const FILES = JSON.parse(expected.metadata!.files!) as Record<string, string>;
const LOSSY = new Set(['photo', 'exif6', 'lossy_webp']);
const CONFIG_NAMES = ['clip', 'vit', 'clip_legacy', 'pad', 'upscale', 'capped'] as const;

function report(line: string): void {
  if (process.env.STRATA_GOLDEN_REPORT) console.log(`  ${line}`);
}

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-image-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function refTensor(key: string): Tensor {
  const t = ref[key];
  assert.ok(t, `fixture tensor '${key}' is missing`);
  return t;
}

/** An (H, W, 3) uint8 fixture tensor as an RgbImage. */
function refImage(key: string): RgbImage {
  const t = refTensor(key);
  return rgbImage(t.shape[1]!, t.shape[0]!, Uint8Array.from(t.toArray()), key);
}

/** Max |a - b| over two images' pixels, which must be the same size. */
function pixelDiff(actual: RgbImage, expectedKey: string): number {
  const t = refTensor(expectedKey);
  assert.deepEqual([actual.height, actual.width, 3], t.shape, `${expectedKey}: size`);
  const e = t.toArray();
  let worst = 0;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(actual.data[i]! - e[i]!));
  return worst;
}

function config(name: string): ImageProcessorConfig {
  return readImageProcessorConfig(path.join(DIR, `${name}.json`));
}

function runsOf(cfg: string): string[] {
  const prefix = `pixel_values.${cfg}.`;
  return Object.keys(ref).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
}

async function rejectsWith(promise: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<StrataError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StrataError, `expected a StrataError, got ${caught === undefined ? 'success' : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

function throwsWith(fn: () => unknown, code: string, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

// ---- a PNG written by hand, for headers that lie -------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Signature, an IHDR claiming width x height 8-bit RGB, a tiny IDAT, IEND: valid chunks, far too little data. */
function lyingPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const idat = Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]); // zlib of one zero byte
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array())]);
}

// ---- decoding ------------------------------------------------------------------------------------

describe('loadImage', () => {
  for (const [name, file] of Object.entries(FILES)) {
    test(`${file} decodes to PIL's pixels`, async () => {
      const img = await loadImage(path.join(DIR, file));
      const diff = pixelDiff(img, `decoded.${name}`);
      report(`decode ${file}: ${img.width} x ${img.height}, max diff ${diff} levels`);
      assert.ok(diff <= (LOSSY.has(name) ? 2 : 0), `${file}: max diff ${diff} levels`);
      assert.equal(img.source, path.join(DIR, file));
    });
  }

  test('bytes decode as the file does, under the name given', async () => {
    const bytes = fs.readFileSync(path.join(DIR, 'photo.jpg'));
    const fromBytes = await loadImage(new Uint8Array(bytes), { source: 'upload.jpg' });
    const fromFile = await loadImage(path.join(DIR, 'photo.jpg'));
    assert.equal(fromBytes.source, 'upload.jpg');
    assert.deepEqual(fromBytes.data, fromFile.data);
    assert.equal((await loadImage(bytes)).source, '<buffer>');
  });

  test('EXIF orientation 6 is applied: stored 40 x 24, seen 24 x 40', async () => {
    const meta = await sharp(path.join(DIR, 'exif-orientation-6.jpg')).metadata();
    assert.deepEqual([meta.width, meta.height, meta.orientation], [40, 24, 6]);
    const img = await loadImage(path.join(DIR, 'exif-orientation-6.jpg'));
    assert.deepEqual([img.width, img.height], [24, 40]);
  });

  test('grey repeats the level in R, G and B', async () => {
    const img = await loadImage(path.join(DIR, 'gray.png'));
    for (let i = 0; i < img.data.length; i += 3) {
      assert.ok(img.data[i] === img.data[i + 1] && img.data[i] === img.data[i + 2], `pixel ${i / 3} is not grey`);
    }
  });

  test("alpha: dropped by default (PIL's convert), composited onto white on request", async () => {
    const file = path.join(DIR, 'rgba.png');
    const { data: rgba, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.channels, 4);
    const dropped = await loadImage(file);
    const white = await loadImage(file, { alpha: 'white' });
    let worst = 0;
    for (let p = 0; p < info.width * info.height; p++) {
      const a = rgba[p * 4 + 3]! / 255;
      for (let c = 0; c < 3; c++) {
        assert.equal(dropped.data[p * 3 + c], rgba[p * 4 + c], `dropped alpha keeps the colour of pixel ${p}`);
        const over = rgba[p * 4 + c]! * a + 255 * (1 - a);
        worst = Math.max(worst, Math.abs(white.data[p * 3 + c]! - over));
      }
    }
    assert.ok(worst <= 1, `white composite off by ${worst}`);
    assert.deepEqual([...white.data.subarray(0, 6)], [255, 255, 255, 255, 255, 255]); // transparent top rows
  });

  test('whatever else sharp reads: GIF, TIFF, AVIF, 16-bit PNG', async () => {
    const src = await loadImage(path.join(DIR, 'rgb.png'));
    const raw = sharp(src.data, { raw: { width: src.width, height: src.height, channels: 3 } });
    const tiff = await loadImage(await raw.clone().tiff({ compression: 'lzw' }).toBuffer());
    assert.deepEqual(tiff.data, src.data);
    for (const lossy of [await raw.clone().gif().toBuffer(), await raw.clone().avif({ quality: 80 }).toBuffer()]) {
      const img = await loadImage(lossy);
      assert.deepEqual([img.width, img.height, img.data.length], [48, 36, 48 * 36 * 3]);
    }
    // 16-bit samples scale to 8 bits: 0x8080 -> 128.
    const deep = new Uint16Array(4 * 3).fill(0x8080);
    const png16 = await sharp(deep, { raw: { width: 2, height: 2, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
    assert.equal((await sharp(png16).metadata()).depth, 'ushort');
    assert.deepEqual([...(await loadImage(png16)).data], new Array(12).fill(128));
  });
});

describe('loadImage: bad input is a clear error, never a crash or a runaway allocation', () => {
  test('a PNG header claiming 20000 x 20000 is refused before decoding', async () => {
    const png = lyingPng(20000, 20000);
    const before = process.memoryUsage().rss;
    const started = performance.now();
    await rejectsWith(loadImage(png), 'io', /<buffer>/, /20000 x 20000 = 400\.0 megapixels/, /over the limit of 67\.1 megapixels/);
    const ms = performance.now() - started;
    const grewMiB = (process.memoryUsage().rss - before) / 2 ** 20;
    report(`20000 x 20000 header refused in ${ms.toFixed(1)} ms, rss +${grewMiB.toFixed(1)} MiB`);
    assert.ok(grewMiB < 100, `rss grew ${grewMiB.toFixed(0)} MiB (decoding it would take 1144 MiB)`);
    // Under a raised limit it gets as far as the pixels, and the missing data is the error.
    await rejectsWith(loadImage(png, { maxPixels: 20000 * 20000 }), 'io', /not a readable image/);
  });

  test('the limit is configurable and names the size', async () => {
    const file = path.join(DIR, 'rgb.png');
    await rejectsWith(loadImage(file, { maxPixels: 1000 }), 'io', /48 x 36 = 0\.0 megapixels/, /1000 pixels/);
    assert.equal((await loadImage(file, { maxPixels: 48 * 36 })).width, 48);
    await rejectsWith(loadImage(file, { maxPixels: 0 }), 'argument', /maxPixels/);
    assert.equal(DEFAULT_MAX_IMAGE_PIXELS, 8192 * 8192);
  });

  test('truncated JPEG, PNG and WebP', async () => {
    for (const file of ['photo.jpg', 'large.png', 'lossless.webp']) {
      const bytes = fs.readFileSync(path.join(DIR, file));
      for (const keep of [0.6, 0.95]) {
        const err = await rejectsWith(loadImage(bytes.subarray(0, Math.floor(bytes.length * keep)), { source: file }), 'io', /not a readable image \(/);
        assert.ok(err.message.startsWith(`${file}: `), err.message);
        report(`${file} cut to ${keep}: ${err.message}`);
      }
    }
  });

  test('bytes that are not an image, an empty file, a missing file, a directory', async () => {
    await rejectsWith(loadImage(new Uint8Array(0)), 'io', /not a readable image \(no bytes\)/);
    await rejectsWith(loadImage(new TextEncoder().encode('hello, not an image at all')), 'io', /^<buffer>: not a readable image \(.*unsupported image format/);
    await rejectsWith(loadImage(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])), 'io', /not a readable image/);
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'empty.png'), '');
    fs.writeFileSync(path.join(dir, 'notes.png'), 'just text');
    await rejectsWith(loadImage(path.join(dir, 'empty.png')), 'io', /empty\.png: not a readable image \(the file is empty\)/);
    await rejectsWith(loadImage(path.join(dir, 'notes.png')), 'io', /notes\.png: not a readable image/);
    await rejectsWith(loadImage(path.join(dir, 'missing.png')), 'io', /missing\.png: file not found/);
    await rejectsWith(loadImage(dir), 'io', /not a file/);
    await rejectsWith(loadImage(42 as unknown as string), 'argument', /file path or a Uint8Array/);
  });

  test('an SVG asking for 100000 x 100000 is refused by size', async () => {
    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"></svg>');
    await rejectsWith(loadImage(svg), 'io', /100000 x 100000/);
  });
});

// ---- geometry ------------------------------------------------------------------------------------

describe('resizeImage equals PIL Image.resize', () => {
  const src = refImage('decoded.rgb');
  for (const key of Object.keys(ref).filter((k) => k.startsWith('filter.'))) {
    const [, code, size] = key.split('.');
    const filter = RESAMPLE_FILTERS[Number(code)]!;
    test(`${filter} 48 x 36 -> ${size!.replace('x', ' x ')}`, () => {
      const [w, h] = size!.split('x').map(Number);
      const diff = pixelDiff(resizeImage(src, w!, h!, filter), key);
      report(`resize ${filter} -> ${size}: max diff ${diff}`);
      assert.equal(diff, 0);
    });
  }

  test('same size is the image; bad sizes and outputs over the limit are refused before allocating', () => {
    assert.equal(resizeImage(src, 48, 36, 'bicubic'), src);
    throwsWith(() => resizeImage(src, 0, 10), 'argument', /positive integers/);
    throwsWith(() => resizeImage(src, 100000, 100000), 'argument', /100000 x 100000 = 10000\.0 megapixels is over the limit/);
    throwsWith(() => resizeImage(src, 10, 10, 'sinc' as never), 'argument', /unknown filter 'sinc'/);
    throwsWith(() => resizeImage({ width: 4, height: 4, data: new Uint8Array(5), source: 'x' }, 2, 2), 'argument', /width \* height \* 3/);
  });
});

test('centerCrop: floor offsets, zero padding where the crop is larger', () => {
  // 3 x 2 image whose pixel p holds (p, p, p)
  const img = rgbImage(3, 2, Uint8Array.from([0, 1, 2, 3, 4, 5].flatMap((p) => [p + 1, p + 1, p + 1])));
  const grey = (im: RgbImage) => Array.from(im.data).filter((_, i) => i % 3 === 0);
  assert.deepEqual(grey(centerCrop(img, 1, 2)), [1, 2]); // top (2-1)//2 = 0, left (3-2)//2 = 0
  assert.deepEqual(grey(centerCrop(img, 2, 1)), [2, 5]); // left 1
  // 4 x 3 crop of 3 x 2: pad 1 row (ceil(1/2) = 1 on top) and 1 column (on the left)
  assert.deepEqual(grey(centerCrop(img, 3, 4)), [0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6]);
  throwsWith(() => centerCrop(img, 0, 1), 'argument', /positive integers/);
});

test('resizeOutputSize follows transformers (int truncation, round-half-even cap)', () => {
  assert.deepEqual(resizeOutputSize(480, 640, { shortestEdge: 224, longestEdge: null }), [224, 298]);
  assert.deepEqual(resizeOutputSize(640, 480, { shortestEdge: 224, longestEdge: null }), [298, 224]);
  assert.deepEqual(resizeOutputSize(224, 224, { shortestEdge: 224, longestEdge: null }), [224, 224]);
  assert.deepEqual(resizeOutputSize(36, 48, { shortestEdge: 16, longestEdge: 18 }), [14, 18]); // round(13.5) = 14
  assert.deepEqual(resizeOutputSize(36, 54, { shortestEdge: 16, longestEdge: 18 }), [12, 18]);
  assert.deepEqual(resizeOutputSize(36, 48, { shortestEdge: 16, longestEdge: 100 }), [16, 21]);
  assert.deepEqual(resizeOutputSize(36, 48, { height: 7, width: 9 }), [7, 9]);
});

// ---- preprocessor_config.json and pixel_values ---------------------------------------------------

describe('preprocessing matches the Python reference', () => {
  for (const name of CONFIG_NAMES) {
    for (const image of runsOf(name)) {
      test(`${name}: ${image}`, async () => {
        const cfg = config(name);
        const expectedPixels = refTensor(`pixel_values.${name}.${image}`);
        // stage 1: resize
        const resized = resizeForProcessor(refImage(`decoded.${image}`), cfg);
        const resizeDiff = pixelDiff(resized, `resized.${name}.${image}`);
        // stage 2: crop + rescale + normalize from PIL's own resized pixels
        const fromPil = pixelValuesFromResized([refImage(`resized.${name}.${image}`)], cfg);
        const stage2 = maxAbsDiff(fromPil, expectedPixels);
        // end to end from the file
        const loaded = await loadImage(path.join(DIR, FILES[image]!));
        const whole = preprocessImages([loaded], cfg);
        const e2e = maxAbsDiff(whole, expectedPixels);
        report(`${name}/${image}: resize ${resizeDiff} levels, crop+rescale+normalize ${stage2}, end to end ${e2e}, shape (${whole.shape.join(', ')})`);
        assert.equal(resizeDiff, 0, 'resized pixels');
        assert.equal(stage2, 0, 'crop + rescale + normalize');
        assert.equal(e2e, 0, 'end to end');
        assert.equal(whole.dtype, 'f32');
      });
    }
  }

  test('a batch is (B, 3, H, W), each image as it is alone', () => {
    const cfg = config('clip');
    const names = runsOf('clip');
    const batch = preprocessImages(names.map((n) => refImage(`decoded.${n}`)), cfg);
    assert.deepEqual(batch.shape, [names.length, 3, 16, 16]);
    const all = batch.toArray();
    names.forEach((n, b) => {
      const one = refTensor(`pixel_values.clip.${n}`).toArray();
      const slice = all.slice(b * one.length, (b + 1) * one.length);
      assert.deepEqual(Array.from(slice), Array.from(one), n);
    });
  });

  test('images of different output sizes cannot share a batch', () => {
    const cfg = config('capped'); // no crop: rgb -> 18 x 14, exif6 -> 11 x 18
    throwsWith(() => preprocessImages([refImage('decoded.rgb'), refImage('decoded.exif6')], cfg), 'shape', /image 1 \(decoded\.exif6\) comes out 11 x 18 but image 0 \(decoded\.rgb\) 18 x 14/);
    throwsWith(() => preprocessImages([], cfg), 'argument', /at least one image/);
  });
});

describe('preprocessor_config.json', () => {
  test('CLIP and ViT fields, and the legacy integer sizes', () => {
    const clip = config('clip');
    assert.equal(clip.family, 'clip');
    assert.deepEqual(clip.size, { shortestEdge: 20, longestEdge: null });
    assert.deepEqual(clip.cropSize, { height: 16, width: 16 });
    assert.equal(clip.resample, 'bicubic');
    assert.deepEqual(clip.imageMean, [0.48145466, 0.4578275, 0.40821073]);
    const vit = config('vit');
    assert.deepEqual([vit.family, vit.resample, vit.doCenterCrop, vit.cropSize], ['vit', 'bilinear', false, null]);
    assert.deepEqual(vit.size, { height: 18, width: 14 });
    const legacy = config('clip_legacy');
    assert.deepEqual([legacy.processorType, legacy.size, legacy.cropSize], ['CLIPFeatureExtractor', { shortestEdge: 20, longestEdge: null }, { height: 18, width: 18 }]);
    assert.equal(legacy.rescaleFactor, 1 / 255); // default
    // a bare integer size is a square for ViT
    assert.deepEqual(parseImageProcessorConfig({ image_processor_type: 'ViTImageProcessor', size: 32 }, 'p.json').size, { height: 32, width: 32 });
  });

  test('family defaults, and a round trip through the JSON layout', () => {
    const clip = imageProcessorConfig('clip');
    assert.deepEqual([clip.size, clip.cropSize, clip.resample, clip.doCenterCrop], [{ shortestEdge: 224, longestEdge: null }, { height: 224, width: 224 }, 'bicubic', true]);
    const vit = imageProcessorConfig('vit', { size: { height: 64, width: 64 } });
    assert.deepEqual([vit.size, vit.imageMean, vit.doCenterCrop], [{ height: 64, width: 64 }, [0.5, 0.5, 0.5], false]);
    for (const name of CONFIG_NAMES) {
      const cfg = config(name);
      const json = imageProcessorConfigToJson(cfg);
      assert.deepEqual(parseImageProcessorConfig(json, 'roundtrip.json'), cfg, name);
    }
  });

  test('read from a model directory', () => {
    const dir = tempDir();
    throwsWith(() => readImageProcessorConfig(dir), 'io', /has no preprocessor_config\.json/);
    fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify(imageProcessorConfigToJson(imageProcessorConfig('vit'))));
    assert.equal(readImageProcessorConfig(dir).family, 'vit');
    throwsWith(() => readImageProcessorConfig(path.join(dir, 'nope.json')), 'io', /file not found/);
  });

  test('bad fields are errors that name the file and the field', () => {
    const base = { image_processor_type: 'CLIPImageProcessor' };
    const bad = (fields: Record<string, unknown>, ...patterns: RegExp[]) =>
      throwsWith(() => parseImageProcessorConfig({ ...base, ...fields }, 'pp.json'), 'io', /^pp\.json: /, ...patterns);
    bad({ resample: 7 }, /field 'resample' must be a PIL resampling code \(0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming\), got 7/);
    bad({ resample: 'bicubic' }, /'resample'/);
    bad({ size: { longest: 3 } }, /field 'size' must be an integer, \{shortest_edge\[, longest_edge\]\} or \{height, width\}; got keys longest/);
    bad({ size: { height: 10 } }, /field 'size\.width' is required/);
    bad({ size: { shortest_edge: 10, height: 3 } }, /mixes shortest_edge with height/);
    bad({ size: 0 }, /field 'size' must be >= 1/);
    bad({ size: 100000 }, /field 'size' must be <= 8192/);
    bad({ size: '224' }, /field 'size' must be an object/);
    bad({ crop_size: { height: 5 } }, /'crop_size\.width' is required/);
    bad({ image_mean: [0.5, 0.5] }, /field 'image_mean' must be a number or a list of 3 finite numbers/);
    bad({ image_std: [0.5, 0, 0.5] }, /field 'image_std' must be > 0 per channel/);
    bad({ rescale_factor: -1 }, /field 'rescale_factor' must be > 0/);
    bad({ do_normalize: 'yes' }, /field 'do_normalize' must be true or false/);
    throwsWith(() => parseImageProcessorConfig({ image_processor_type: 'ViTImageProcessor', do_center_crop: true }, 'v.json'), 'io', /crop_size' is required when do_center_crop is true/);
    // A scalar mean/std applies to every channel, as in transformers.
    assert.deepEqual(parseImageProcessorConfig({ ...base, image_mean: 0.25 }, 'pp.json').imageMean, [0.25, 0.25, 0.25]);
  });

  test('an unknown or missing processor type needs a family', () => {
    throwsWith(() => parseImageProcessorConfig({ image_processor_type: 'DetrImageProcessor' }, 'd.json'), 'unsupported', /'DetrImageProcessor' is not supported/, /CLIPImageProcessor/);
    throwsWith(() => parseImageProcessorConfig({ size: 32 }, 'n.json'), 'unsupported', /names no image_processor_type/);
    const cfg = parseImageProcessorConfig({ image_processor_type: 'SiglipImageProcessor', size: { height: 32, width: 32 } }, 's.json', { family: 'vit' });
    assert.deepEqual([cfg.family, cfg.processorType, cfg.size], ['vit', 'SiglipImageProcessor', { height: 32, width: 32 }]);
  });
});
