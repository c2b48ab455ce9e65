// Scenes: the same seed draws the same bytes; two objects stand as their caption says (checked on
// the drawn pixels' centroids); held-out combinations never reach training data; images hold
// exactly the objects their metadata lists; PNG bytes decode back to the same pixels.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StrataError } from '../../src/errors.js';
import { loadImage } from '../../src/io/image.js';
import {
  COLOUR_RGB,
  DEFAULT_HELD_OUT,
  SCENE_COMBOS,
  type Scene,
  type SceneObject,
  comboLabel,
  encodePng,
  generateScene,
  objectCoverage,
  sceneCaption,
  sceneDataset,
} from '../../src/train/scenes.js';

const comboOf = (o: SceneObject) => `${o.colour} ${o.shape}`;

/** The coverage-weighted centroid and the extent of an object's drawn pixels. */
function measure(o: SceneObject, side: number): { x: number; y: number; x0: number; x1: number; y0: number; y1: number } {
  const cov = objectCoverage(o, side);
  let w = 0;
  let sx = 0;
  let sy = 0;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const c = cov[y * side + x]!;
      if (c === 0) continue;
      w += c;
      sx += c * (x + 0.5);
      sy += c * (y + 0.5);
      [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x + 1), Math.min(y0, y), Math.max(y1, y + 1)];
    }
  }
  assert.ok(w > 0, 'an object covers some pixels');
  return { x: sx / w, y: sy / w, x0, x1, y0, y1 };
}

describe('scene generator', () => {
  test('the same seed draws the same bytes and captions, in any order of access', () => {
    const a = sceneDataset({ count: 40, seed: 7 });
    const b = sceneDataset({ count: 40, seed: 7 });
    const backwards = Array.from({ length: 40 }, (_, i) => b.get(39 - i)).reverse();
    [...a].forEach((s, i) => {
      assert.deepEqual(s.image.data, backwards[i]!.image.data, `scene ${i} bytes`);
      assert.equal(s.caption, backwards[i]!.caption);
      assert.deepEqual(s.image.data, generateScene(7, i).image.data);
    });
    const other = sceneDataset({ count: 40, seed: 8 });
    const same = [...a].filter((s, i) => Buffer.from(s.image.data).equals(Buffer.from(other.get(i).image.data))).length;
    assert.equal(same, 0, 'another seed draws other scenes');
  });

  test('images are imageSize square RGB; backgrounds vary a little; object colours stay near their names', () => {
    for (const imageSize of [16, 32, 64, 96]) {
      const s = sceneDataset({ count: 1, seed: 1, imageSize }).get(0);
      assert.equal(s.image.width, imageSize);
      assert.equal(s.image.height, imageSize);
      assert.equal(s.image.data.length, imageSize * imageSize * 3);
    }
    const scenes = [...sceneDataset({ count: 200, seed: 3 })];
    const greys = new Set(scenes.map((s) => s.background.join(',')));
    assert.ok(greys.size > 50, 'backgrounds differ between scenes');
    for (const s of scenes) {
      for (const v of s.background) assert.ok(v >= 205 && v <= 255, `background ${s.background}`);
      for (const o of s.objects) o.rgb.forEach((v, k) => assert.ok(Math.abs(v - COLOUR_RGB[o.colour][k]!) <= 10, `${o.colour} ${o.rgb}`));
    }
  });

  test('captions name the objects, their sizes and the relation', () => {
    const re = /^a (small|large) (red|green|blue|yellow|purple|orange) (circle|square|triangle)( (left of|right of|above|below) a (small|large) (red|green|blue|yellow|purple|orange) (circle|square|triangle))?$/;
    for (const s of sceneDataset({ count: 300, seed: 5 })) {
      assert.match(s.caption, re);
      const [a, b] = s.objects;
      const expected = b ? `a ${a!.size} ${comboOf(a!)} ${s.relation} a ${b.size} ${comboOf(b)}` : `a ${a!.size} ${comboOf(a!)}`;
      assert.equal(s.caption, expected);
      assert.equal(sceneCaption(s, { size: false }), expected.replace(/ (small|large)/g, ''));
    }
    assert.equal(comboLabel('purple triangle'), 'a purple triangle');
    assert.equal(comboLabel('red circle', 'a photo of a {colour} {shape}'), 'a photo of a red circle');
  });

  test('two objects stand as the relation says: drawn centroids in order, apart along the axis, closer across it', () => {
    const scenes = [...sceneDataset({ count: 400, seed: 11, twoObjects: 1 })];
    const relations = new Set<string>();
    for (const s of scenes) {
      assert.equal(s.objects.length, 2);
      relations.add(s.relation!);
      const a = measure(s.objects[0]!, 64);
      const b = measure(s.objects[1]!, 64);
      const horizontal = s.relation === 'left of' || s.relation === 'right of';
      const along = horizontal ? b.x - a.x : b.y - a.y; // > 0 when a comes first (left / above)
      const across = horizontal ? b.y - a.y : b.x - a.x;
      const aFirst = s.relation === 'left of' || s.relation === 'above';
      assert.ok(aFirst ? along > 0 : along < 0, `${s.caption}: centroids ${a.x.toFixed(1)},${a.y.toFixed(1)} and ${b.x.toFixed(1)},${b.y.toFixed(1)}`);
      assert.ok(Math.abs(across) < Math.abs(along), `${s.caption}: the relation is the dominant direction`);
      // the drawn extents do not overlap along the axis: nothing is ambiguous or occluded
      const [first, second] = aFirst ? [a, b] : [b, a];
      assert.ok(horizontal ? first.x1 <= second.x0 : first.y1 <= second.y0, `${s.caption}: the objects are apart`);
    }
    assert.equal(relations.size, 4, 'every relation occurs');
  });

  test('the pixels are the background, the objects where they cover a pixel fully, and blends at their edges', () => {
    for (const s of sceneDataset({ count: 60, seed: 13 })) {
      const covers = s.objects.map((o) => objectCoverage(o, 64));
      for (let p = 0; p < 64 * 64; p++) {
        const px = [...s.image.data.subarray(p * 3, p * 3 + 3)];
        const full = s.objects.findIndex((_, k) => covers[k]![p] === 1);
        if (full >= 0) assert.deepEqual(px, [...s.objects[full]!.rgb]);
        else if (covers.every((c) => c[p] === 0)) assert.deepEqual(px, [...s.background]);
      }
    }
  });

  test('small objects are smaller than large ones', () => {
    const area = (o: SceneObject) => objectCoverage(o, 64).reduce((a, b) => a + b, 0);
    const byShape = new Map<string, { small: number[]; large: number[] }>();
    for (const s of sceneDataset({ count: 300, seed: 17 })) {
      for (const o of s.objects) {
        const entry = byShape.get(o.shape) ?? { small: [], large: [] };
        entry[o.size].push(area(o));
        byShape.set(o.shape, entry);
      }
    }
    for (const [shape, { small, large }] of byShape) assert.ok(Math.max(...small) * 2 < Math.min(...large), `${shape}: small ${Math.max(...small)} vs large ${Math.min(...large)}`);
  });

  test('held-out combinations never appear in seen (training) scenes, as either object', () => {
    const seen = [...sceneDataset({ count: 2000, seed: 0 })];
    const combos = new Set(seen.flatMap((s) => s.objects.map(comboOf)));
    for (const h of DEFAULT_HELD_OUT) assert.ok(!combos.has(h), `${h} leaked into training scenes`);
    assert.equal(combos.size, SCENE_COMBOS.length - DEFAULT_HELD_OUT.length, 'every other combination occurs');
    for (const s of seen) for (const h of DEFAULT_HELD_OUT) assert.ok(!s.caption.includes(h), `${s.caption} names ${h}`);

    const custom = ['red circle', 'blue square'] as const;
    for (const s of sceneDataset({ count: 500, seed: 1, holdOut: custom })) for (const o of s.objects) assert.ok(!(custom as readonly string[]).includes(comboOf(o)));

    const heldOut = [...sceneDataset({ count: 200, seed: 2, combos: 'held-out', twoObjects: 0 })];
    assert.ok(heldOut.every((s) => DEFAULT_HELD_OUT.includes(comboOf(s.objects[0]!) as never)));
    assert.equal(new Set(heldOut.map((s) => comboOf(s.objects[0]!))).size, DEFAULT_HELD_OUT.length);
  });

  test('twoObjects sets the share of two-object scenes', () => {
    const count = (f: number) => [...sceneDataset({ count: 400, seed: 4, twoObjects: f })].filter((s: Scene) => s.objects.length === 2).length;
    assert.equal(count(0), 0);
    assert.equal(count(1), 400);
    const half = count(0.5);
    assert.ok(half > 150 && half < 250, `${half} of 400`);
  });

  test('bad options are StrataErrors that say what is wrong', () => {
    const bad: [object, RegExp][] = [
      [{ count: 0, seed: 0 }, /count/],
      [{ count: 1, seed: -1 }, /seed/],
      [{ count: 1, seed: 0, imageSize: 8 }, /imageSize/],
      [{ count: 1, seed: 0, twoObjects: 2 }, /twoObjects/],
      [{ count: 1, seed: 0, holdOut: ['pink circle'] }, /pink circle/],
      [{ count: 1, seed: 0, holdOut: SCENE_COMBOS }, /no combination/],
      [{ count: 1, seed: 0, combos: 'held-out', holdOut: [] }, /held-out/],
    ];
    for (const [options, message] of bad) assert.throws(() => sceneDataset(options as never), (e: unknown) => e instanceof StrataError && message.test(e.message));
    assert.throws(() => sceneDataset({ count: 3, seed: 0 }).get(3), StrataError);
  });

  test('PNG bytes decode back to the same pixels', async () => {
    const s = sceneDataset({ count: 1, seed: 21, twoObjects: 1 }).get(0);
    const png = await encodePng(s.image);
    assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
    const back = await loadImage(png);
    assert.equal(back.width, 64);
    assert.deepEqual(back.data, s.image.data);
  });
});
