// Image folders (torchvision ImageFolder / Hugging Face imagefolder layouts): labels sorted as
// Python sorts them, the seeded stratified held-out split, train/test and train/validation splits,
// every bad layout named, and decoding that gives exactly the pixel_values inference computes,
// skipping (and reporting) unreadable files.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { StrataError } from '../../src/errors.js';
import { loadImage } from '../../src/io/image.js';
import { imageProcessorConfig, preprocessImages } from '../../src/io/preprocessor.js';
import { byteImageBatch, limitEntries, loadImageEntries, scanImageFolder } from '../../src/train/image-folder.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'strata-image-folder-'));
}

/** A w x h image of one colour with seeded noise, written as PNG, JPEG or WebP by its extension. */
async function writeImage(file: string, colour: [number, number, number], w = 32, h = 32, seed = 1): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const data = Buffer.alloc(w * h * 3);
  let s = seed * 2654435761;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    data[i] = Math.max(0, Math.min(255, colour[i % 3]! + (s % 41) - 20));
  }
  const img = sharp(data, { raw: { width: w, height: h, channels: 3 } });
  const ext = path.extname(file);
  await (ext === '.jpg' ? img.jpeg() : ext === '.webp' ? img.webp({ lossless: true }) : img.png()).toFile(file);
}

/** Empty files with image names: enough for scanning, which decodes nothing. */
function touch(root: string, files: string[]): void {
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), '');
  }
}

const names = (entries: { relPath: string }[]) => entries.map((e) => e.relPath);

describe('scanning a folder of class folders', () => {
  test('labels are the class folders sorted by code point; non-images and hidden entries are ignored and counted', () => {
    const root = tempDir();
    touch(root, ['zebra/1.png', 'zebra/2.JPG', 'ant/a.jpeg', 'ant/deep/b.webp', 'Bee/x.png', 'Bee/y.png', 'Bee/notes.txt', 'ant/.DS_Store', 'README.md', '.hidden/1.png']);
    const f = scanImageFolder(root, { testFraction: 0.5 });
    assert.deepEqual(f.labels, ['Bee', 'ant', 'zebra'], "Python's sorted(): upper case first");
    assert.equal(f.layout, 'classes');
    assert.equal(f.testSource, 'held-out');
    assert.equal(f.ignored, 3, 'notes.txt, .DS_Store, README.md (the hidden folder is not a class)');
    const all = [...f.train, ...f.test];
    assert.equal(all.length, 6);
    assert.ok(all.some((e) => e.relPath === 'ant/deep/b.webp' && e.label === 1), 'images in subfolders of a class belong to it');
    assert.ok(all.some((e) => e.relPath === 'zebra/2.JPG' && e.label === 2), 'extensions in any case');
    for (const e of all) assert.equal(e.file, path.join(root, e.relPath));
  });

  test('the held-out split: per class, seeded by path, at least one training image, stable under other classes changing', () => {
    const root = tempDir();
    const many = Array.from({ length: 20 }, (_, i) => `a/${String(i).padStart(2, '0')}.png`);
    touch(root, [...many, 'b/1.png', 'b/2.png', 'c/only.png', 'd/1.png', 'd/2.png', 'd/3.png']);
    const f = scanImageFolder(root, { testFraction: 0.25, seed: 3 });
    const count = (split: typeof f.train, label: number) => split.filter((e) => e.label === label).length;
    assert.deepEqual([0, 1, 2, 3].map((l) => count(f.test, l)), [5, 1, 0, 1], 'round(0.25 n), 0 for a single image');
    assert.deepEqual([0, 1, 2, 3].map((l) => count(f.train, l)), [15, 1, 1, 2]);
    // each split is in path order, and the same scan gives the same split
    assert.deepEqual(names(f.train), [...names(f.train)].sort());
    assert.deepEqual(scanImageFolder(root, { testFraction: 0.25, seed: 3 }), f);
    // another seed draws another held-out set from class a
    const other = scanImageFolder(root, { testFraction: 0.25, seed: 4 });
    assert.notDeepEqual(names(other.test.filter((e) => e.label === 0)), names(f.test.filter((e) => e.label === 0)));
    assert.notEqual(other.fingerprint, f.fingerprint);
    // a large fraction still leaves each class of >= 2 one training image
    const most = scanImageFolder(root, { testFraction: 0.99, seed: 3 });
    assert.deepEqual([0, 1, 2, 3].map((l) => count(most.train, l)), [1, 1, 1, 1]);
    // a new class changes nothing about the others' split
    touch(root, ['e/1.png', 'e/2.png']);
    const grown = scanImageFolder(root, { testFraction: 0.25, seed: 3 });
    assert.deepEqual(names(grown.test.filter((e) => e.label < 4)), names(f.test));
    assert.notEqual(grown.fingerprint, f.fingerprint);
  });

  test('train/ with test/ or validation/: the labels are train/\'s classes; a test split may lack a class', () => {
    const root = tempDir();
    touch(root, ['train/cat/1.png', 'train/cat/2.png', 'train/dog/1.png', 'train/fox/1.png', 'test/dog/9.png', 'test/cat/8.png', 'metadata.csv']);
    const f = scanImageFolder(root);
    assert.equal(f.layout, 'splits');
    assert.equal(f.testSource, 'test');
    assert.deepEqual(f.labels, ['cat', 'dog', 'fox']);
    assert.deepEqual(names(f.train), ['train/cat/1.png', 'train/cat/2.png', 'train/dog/1.png', 'train/fox/1.png']);
    assert.deepEqual(f.test.map((e) => [e.relPath, e.label]), [['test/cat/8.png', 0], ['test/dog/9.png', 1]]);
    assert.equal(f.ignored, 1);
    const v = tempDir();
    touch(v, ['train/a/1.png', 'train/b/1.png', 'validation/b/2.png']);
    const fv = scanImageFolder(v);
    assert.equal(fv.testSource, 'validation');
    assert.deepEqual(fv.test.map((e) => e.label), [1]);
    // test/ wins over validation/ when both are there
    touch(v, ['test/a/3.png']);
    assert.deepEqual(names(scanImageFolder(v).test), ['test/a/3.png']);
  });

  test('bad layouts are StrataErrors that name the folder and what is wrong', () => {
    const err = (root: string, re: RegExp, options = {}) =>
      assert.throws(() => scanImageFolder(root, options), (e: unknown) => e instanceof StrataError && re.test(e.message) && e.message.includes(root));
    const missing = path.join(tempDir(), 'nope');
    err(missing, /not found/);
    const file = path.join(tempDir(), 'x.png');
    fs.writeFileSync(file, '');
    err(file, /not a folder/);
    const empty = tempDir();
    touch(empty, ['loose.png']);
    err(empty, /has no class folders/);
    const one = tempDir();
    touch(one, ['cat/1.png', 'cat/2.png']);
    err(one, /one class folder \('cat'\): classification needs at least two/);
    const hollow = tempDir();
    touch(hollow, ['cat/1.png', 'dog/readme.txt']);
    err(hollow, /class folder 'dog' holds no images/);
    const unknown = tempDir();
    touch(unknown, ['train/cat/1.png', 'train/dog/1.png', 'test/cow/1.png']);
    err(unknown, /test class 'cow' has no folder in train/);
    const stray = tempDir();
    touch(stray, ['train/cat/1.png', 'train/dog/1.png', 'cat/1.png']);
    err(stray, /train\/ beside other folders \(cat\)/);
    const orphan = tempDir();
    touch(orphan, ['cat/1.png', 'dog/1.png', 'test/cat/2.png']);
    err(orphan, /has test\/ but no train\//);
    const split = tempDir();
    touch(split, ['train/cat/1.png', 'train/dog/1.png', 'test/cat/2.png']);
    err(split, /has a test\/ split, so no test fraction is held out/, { testFraction: 0.3 });
    const tiny = tempDir();
    touch(tiny, ['cat/1.png', 'dog/1.png']);
    err(tiny, /holds out no image/);
    assert.throws(() => scanImageFolder(one, { testFraction: 1 }), /testFraction must be in \(0, 1\)/);
  });

  test('limitEntries: a seeded subset in the original order', () => {
    const root = tempDir();
    touch(root, Array.from({ length: 30 }, (_, i) => `${i % 2 ? 'a' : 'b'}/${i}.png`));
    const f = scanImageFolder(root);
    const some = limitEntries(f.train, 7, 0);
    assert.equal(some.length, 7);
    assert.deepEqual(some, f.train.filter((e) => some.includes(e)), 'a subset, in order');
    assert.deepEqual(limitEntries(f.train, 7, 0), some);
    assert.notDeepEqual(limitEntries(f.train, 7, 1), some);
    assert.equal(limitEntries(f.train, 1000, 0).length, f.train.length);
    assert.throws(() => limitEntries(f.train, 0, 0), StrataError);
  });
});

describe('decoding a folder', () => {
  test('PNG, JPEG and WebP of any size come out as the pixel_values inference computes, bit for bit', async () => {
    const root = tempDir();
    await writeImage(path.join(root, 'red/wide.png'), [220, 30, 30], 48, 40, 1);
    await writeImage(path.join(root, 'red/photo.jpg'), [200, 40, 20], 37, 50, 2);
    await writeImage(path.join(root, 'blue/a.webp'), [20, 40, 210], 32, 32, 3);
    await writeImage(path.join(root, 'blue/sub/tall.png'), [30, 30, 230], 20, 45, 4);
    const f = scanImageFolder(root, { testFraction: 0.5 });
    const entries = [...f.train, ...f.test];
    const processors = {
      clip: imageProcessorConfig('clip', { size: { shortestEdge: 32, longestEdge: null }, cropSize: { height: 28, width: 28 } }),
      vit: imageProcessorConfig('vit', { size: { height: 24, width: 30 } }),
    };
    for (const [name, processor] of Object.entries(processors)) {
      const progress: number[] = [];
      const { images, skipped } = await loadImageEntries(entries, processor, { concurrency: 3, onProgress: (done, total) => progress.push(done / total) });
      assert.deepEqual(skipped, []);
      assert.equal(images.count, 4);
      const [h, w] = name === 'clip' ? [28, 28] : [24, 30];
      assert.deepEqual(images.imageShape, [3, h, w]);
      assert.equal(images.rgb.length, 4 * h * w * 3, 'one byte per channel per pixel');
      assert.deepEqual([...images.labels], entries.map((e) => e.label));
      assert.equal(progress.at(-1), 1);
      const expected = preprocessImages(await Promise.all(entries.map((e) => loadImage(e.file))), processor).toArray(); // (N, Ci, H, W)
      assert.deepEqual(byteImageBatch(images, [0, 1, 2, 3]).toArray(), expected, name);
      // a batch in another order is those rows
      const per = 3 * h * w;
      assert.deepEqual(byteImageBatch(images, [2]).toArray(), expected.slice(2 * per, 3 * per));
    }
  });

  test('unreadable files are skipped and named, the rest keep their order; mismatched sizes are an error naming the file', async () => {
    const root = tempDir();
    await writeImage(path.join(root, 'a/1.png'), [250, 0, 0]);
    fs.mkdirSync(path.join(root, 'a'), { recursive: true });
    fs.writeFileSync(path.join(root, 'a/2.png'), Buffer.from('not a png at all'));
    const good = await fs.promises.readFile(path.join(root, 'a/1.png'));
    fs.writeFileSync(path.join(root, 'a/3.png'), good.subarray(0, good.length >> 1)); // truncated
    await writeImage(path.join(root, 'b/1.png'), [0, 0, 250]);
    await writeImage(path.join(root, 'b/2.png'), [0, 0, 200]);
    const entries = scanImageFolder(root, { testFraction: 0.2 }).train.concat(scanImageFolder(root, { testFraction: 0.2 }).test).sort((x, y) => (x.relPath < y.relPath ? -1 : 1));
    const processor = imageProcessorConfig('vit', { size: { height: 16, width: 16 } });
    const { images, skipped } = await loadImageEntries(entries, processor);
    assert.deepEqual(skipped.map((s) => path.relative(root, s.file)), ['a/2.png', 'a/3.png']);
    for (const s of skipped) {
      assert.match(s.reason, /not a readable image/);
      assert.ok(s.reason.includes(s.file));
    }
    assert.deepEqual(images.files.map((file) => path.relative(root, file)), ['a/1.png', 'b/1.png', 'b/2.png']);
    assert.deepEqual([...images.labels], [0, 1, 1]);
    const expected = preprocessImages(await Promise.all(images.files.map((file) => loadImage(file))), processor).toArray();
    assert.deepEqual(byteImageBatch(images, [0, 1, 2]).toArray(), expected, 'rows moved up over the gaps');
    assert.throws(() => byteImageBatch(images, [3]), /out of range/);
    // shortest_edge without a crop keeps the aspect ratio: a batch cannot hold both shapes
    await writeImage(path.join(root, 'b/3.png'), [0, 0, 220], 64, 32);
    const uneven = scanImageFolder(root, { testFraction: 0.2 });
    const noCrop = imageProcessorConfig('clip', { size: { shortestEdge: 16, longestEdge: null }, doCenterCrop: false });
    await assert.rejects(loadImageEntries([...uneven.train, ...uneven.test], noCrop, { concurrency: 1 }), (e: unknown) => e instanceof StrataError && /b\/3\.png: comes out 32 x 16 after preprocessing but other images 16 x 16/.test(e.message));
  });
});
