// Scenes: a dataset Strata makes itself, deterministically from a seed, for training and measuring
// image–text models (CLIP, captioners). Each scene is a small RGB image of one or two flat objects
// on a plain, slightly varying background, with its caption:
//
//   "a small red circle"
//   "a small red circle left of a large blue square"
//
// Objects: colour ∈ {red, green, blue, yellow, purple, orange}, shape ∈ {circle, square, triangle},
// size ∈ {small, large}. Two objects are related by {left of, right of, above, below}, and they are
// placed so that the relation holds unambiguously: along the relation's axis their extents are
// apart by a gap, and across it their centres differ by less than 0.4 of their distance along it.
//
// Held out: some colour+shape combinations (DEFAULT_HELD_OUT: 'purple triangle', 'orange square')
// never appear, as either object, in a 'seen' dataset (the training data); a 'held-out' dataset
// puts one of them first in every scene. Zero-shot classification of held-out images measures
// whether a model composes colour and shape words it learned apart.
//
// Scene `index` of a dataset is a pure function of (seed, index, options), so a dataset is lazy:
// nothing is stored, and any scene can be drawn again bit for bit.
//
// Rasterization is our own and anti-aliased: each pixel takes the share of a 4 x 4 grid of sample
// points that falls inside the shape, and blends the object's colour over the background by it.
//
// Coordinates: x right, y down, in pixels; pixel (x, y) covers [x, x + 1) x [y, y + 1).

import { StrataError } from '../errors.js';
import { type RgbImage, rgbImage } from '../io/image.js';
import { Generator } from '../tensor/random.js';

export const SCENE_COLOURS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'] as const;
export const SCENE_SHAPES = ['circle', 'square', 'triangle'] as const;
export const SCENE_SIZES = ['small', 'large'] as const;
export const SCENE_RELATIONS = ['left of', 'right of', 'above', 'below'] as const;

export type SceneColour = (typeof SCENE_COLOURS)[number];
export type SceneShape = (typeof SCENE_SHAPES)[number];
export type SceneSize = (typeof SCENE_SIZES)[number];
export type SceneRelation = (typeof SCENE_RELATIONS)[number];
/** A colour+shape combination, as written in captions: 'purple triangle'. */
export type SceneCombo = `${SceneColour} ${SceneShape}`;

/** Every colour+shape combination, colours first (red circle, red square, ..., orange triangle). */
export const SCENE_COMBOS: readonly SceneCombo[] = SCENE_COLOURS.flatMap((c) => SCENE_SHAPES.map((s) => `${c} ${s}` as SceneCombo));

/** The combinations kept out of training data by default. */
export const DEFAULT_HELD_OUT: readonly SceneCombo[] = ['purple triangle', 'orange square'];

/** The nominal RGB of each colour; every object varies from it by up to ±COLOUR_JITTER per channel. */
export const COLOUR_RGB: Readonly<Record<SceneColour, readonly [number, number, number]>> = {
  red: [215, 40, 40],
  green: [40, 165, 60],
  blue: [40, 80, 215],
  yellow: [235, 205, 30],
  purple: [135, 55, 175],
  orange: [240, 135, 25],
};
const COLOUR_JITTER = 10;

/** Half the width of an object as a fraction of the image side, before a ±5% jitter. */
const EXTENT: Record<SceneSize, number> = { small: 0.12, large: 0.2 };
/** Space kept clear at the image border, and between two related objects, as fractions of the side. */
const BORDER = 0.03;
const GAP = 0.06;
/** Across the relation's axis, centres differ by at most this share of their distance along it. */
const ACROSS = 0.4;
/** Sample points per pixel side (anti-aliasing). */
const SUPERSAMPLE = 4;

export interface SceneObject {
  colour: SceneColour;
  shape: SceneShape;
  size: SceneSize;
  /** the centre of the object's bounding square, in pixels */
  cx: number;
  cy: number;
  /** half the side of the bounding square: a circle's radius, a triangle's half base */
  extent: number;
  /** the colour drawn (the nominal colour with a little jitter) */
  rgb: readonly [number, number, number];
}

export interface Scene {
  /** the position of the scene in its dataset */
  index: number;
  image: RgbImage;
  /** one object, or the subject and the object of the relation */
  objects: readonly SceneObject[];
  /** how objects[0] stands to objects[1]; null for one object */
  relation: SceneRelation | null;
  /** "a small red circle" or "a small red circle left of a large blue square" */
  caption: string;
  background: readonly [number, number, number];
}

export interface SceneOptions {
  /** side of the square image in pixels (default 64, at least 16) */
  imageSize?: number;
  /** share of scenes with two objects, in [0, 1] (default 0.5) */
  twoObjects?: number;
  /** colour+shape combinations held out (default DEFAULT_HELD_OUT) */
  holdOut?: readonly SceneCombo[];
  /**
   * 'seen' (default): no object is a held-out combination (training data, and seen-combination
   * evaluation). 'held-out': the first object of every scene is a held-out combination.
   */
  combos?: 'seen' | 'held-out';
}

export interface SceneDatasetOptions extends SceneOptions {
  count: number;
  seed: number;
}

interface CheckedSceneOptions {
  imageSize: number;
  twoObjects: number;
  holdOut: readonly SceneCombo[];
  combos: 'seen' | 'held-out';
  /** the combinations the first object may take, and those the second may take */
  first: readonly SceneCombo[];
  second: readonly SceneCombo[];
}

const OP = 'sceneDataset';

function checkOptions(options: SceneOptions): CheckedSceneOptions {
  const imageSize = options.imageSize ?? 64;
  if (!Number.isSafeInteger(imageSize) || imageSize < 16 || imageSize > 4096) throw new StrataError('argument', OP, `imageSize must be an integer in [16, 4096], got ${imageSize}`);
  const twoObjects = options.twoObjects ?? 0.5;
  if (!(typeof twoObjects === 'number' && twoObjects >= 0 && twoObjects <= 1)) throw new StrataError('argument', OP, `twoObjects must be a fraction in [0, 1], got ${String(twoObjects)}`);
  const holdOut = options.holdOut ?? DEFAULT_HELD_OUT;
  if (!Array.isArray(holdOut)) throw new StrataError('argument', OP, 'holdOut must be an array of combinations such as "purple triangle"');
  for (const c of holdOut) {
    if (!SCENE_COMBOS.includes(c)) throw new StrataError('argument', OP, `holdOut: '${String(c)}' is not a colour+shape combination (e.g. 'purple triangle'; colours ${SCENE_COLOURS.join(', ')}; shapes ${SCENE_SHAPES.join(', ')})`);
  }
  const combos = options.combos ?? 'seen';
  if (combos !== 'seen' && combos !== 'held-out') throw new StrataError('argument', OP, `combos must be 'seen' or 'held-out', got ${String(combos)}`);
  const seen = SCENE_COMBOS.filter((c) => !holdOut.includes(c));
  if (!seen.length) throw new StrataError('argument', OP, 'holdOut leaves no combination to draw seen objects from');
  if (combos === 'held-out' && !holdOut.length) throw new StrataError('argument', OP, "combos 'held-out' needs at least one held-out combination");
  return { imageSize, twoObjects, holdOut, combos, first: combos === 'seen' ? seen : holdOut, second: combos === 'seen' ? seen : SCENE_COMBOS };
}

/** A 32-bit mix of (seed, index): the generator seed of one scene. */
function sceneSeed(seed: number, index: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul((Math.floor(seed / 2 ** 32) >>> 0) + 0x27d4eb2f, 0x85ebca6b);
  h ^= Math.imul((index >>> 0) + 0x165667b1, 0xc2b2ae35);
  h ^= Math.imul(Math.floor(index / 2 ** 32) >>> 0, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function pick<T>(g: Generator, items: readonly T[]): T {
  return items[Math.min(items.length - 1, Math.floor(g.uniform() * items.length))]!;
}

/** Uniform in [lo, hi]. */
function between(g: Generator, lo: number, hi: number): number {
  return lo + g.uniform() * (hi - lo);
}

function drawObject(g: Generator, combos: readonly SceneCombo[], side: number): Omit<SceneObject, 'cx' | 'cy'> {
  const [colour, shape] = pick(g, combos).split(' ') as [SceneColour, SceneShape];
  const size = pick(g, SCENE_SIZES);
  const extent = EXTENT[size] * side * between(g, 0.95, 1.05);
  const rgb = COLOUR_RGB[colour].map((v) => Math.max(0, Math.min(255, Math.round(v + between(g, -COLOUR_JITTER, COLOUR_JITTER))))) as unknown as [number, number, number];
  return { colour, shape, size, extent, rgb };
}

/** Places two objects so that `relation` holds; returns their centres. */
function placePair(g: Generator, a: number, b: number, relation: SceneRelation, side: number): { ax: number; ay: number; bx: number; by: number } {
  const border = BORDER * side;
  // along the axis: the distance between the centres, then where the pair sits
  const minDistance = a + b + GAP * side;
  const maxDistance = side - 2 * border - a - b;
  const d = between(g, minDistance, Math.max(minDistance, maxDistance));
  const aFirst = relation === 'left of' || relation === 'above';
  const [lowExtent, highExtent] = aFirst ? [a, b] : [b, a];
  const low = between(g, border + lowExtent, Math.max(border + lowExtent, side - border - highExtent - d));
  const alongA = aFirst ? low : low + d;
  const alongB = aFirst ? low + d : low;
  // across the axis: a anywhere, b within ACROSS * d of it
  const acrossA = between(g, border + a, side - border - a);
  const acrossB = between(g, Math.max(border + b, acrossA - ACROSS * d), Math.min(side - border - b, acrossA + ACROSS * d));
  const horizontal = relation === 'left of' || relation === 'right of';
  return horizontal ? { ax: alongA, ay: acrossA, bx: alongB, by: acrossB } : { ax: acrossA, ay: alongA, bx: acrossB, by: alongB };
}

/**
 * A signed distance to the object's outline, negative inside, that changes by at most 1 per pixel
 * moved (exact for the circle; the largest of the edges' distances for the square and triangle).
 */
function signedDistance(o: SceneObject, x: number, y: number): number {
  const dx = x - o.cx;
  const dy = y - o.cy;
  const e = o.extent;
  switch (o.shape) {
    case 'circle':
      return Math.hypot(dx, dy) - e;
    case 'square':
      // the whole bounding square: its corners set it apart from the circle
      return Math.max(Math.abs(dx), Math.abs(dy)) - e;
    case 'triangle':
      // apex (0, -e), base from (-e, e) to (e, e); the slanted edges' normals have length sqrt(5) / 2
      return Math.max(dy - e, (Math.abs(dx) - (dy + e) / 2) / TRIANGLE_EDGE_NORM);
  }
}
const TRIANGLE_EDGE_NORM = Math.sqrt(5) / 2;
/** The farthest a sample point lies from its pixel's centre. */
const SAMPLE_REACH = ((SUPERSAMPLE - 1) / (2 * SUPERSAMPLE)) * Math.SQRT2;

/** The pixel rectangle an object can touch, clipped to the image: [x0, x1) x [y0, y1). */
function pixelBounds(o: SceneObject, side: number): [number, number, number, number] {
  const clip = (v: number) => Math.max(0, Math.min(side, v));
  return [clip(Math.floor(o.cx - o.extent)), clip(Math.ceil(o.cx + o.extent) + 1), clip(Math.floor(o.cy - o.extent)), clip(Math.ceil(o.cy + o.extent) + 1)];
}

/**
 * The share of each pixel an object covers (side x side, row-major, values k / 16): the mask the
 * image was drawn with. For tests and for measuring where an object is.
 */
export function objectCoverage(object: SceneObject, side: number): Float32Array {
  const out = new Float32Array(side * side);
  const [x0, x1, y0, y1] = pixelBounds(object, side);
  const n = SUPERSAMPLE;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      // every sample of a pixel far enough inside (or outside) lands alike: no need to test them
      const centre = signedDistance(object, x + 0.5, y + 0.5);
      if (centre < -SAMPLE_REACH - 1e-9) out[y * side + x] = 1;
      if (Math.abs(centre) <= SAMPLE_REACH + 1e-9) {
        let hits = 0;
        for (let sy = 0; sy < n; sy++) for (let sx = 0; sx < n; sx++) if (signedDistance(object, x + (sx + 0.5) / n, y + (sy + 0.5) / n) <= 0) hits++;
        out[y * side + x] = hits / (n * n);
      }
    }
  }
  return out;
}

function paint(data: Uint8Array, object: SceneObject, side: number): void {
  const coverage = objectCoverage(object, side);
  const [x0, x1, y0, y1] = pixelBounds(object, side);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const c = coverage[y * side + x]!;
      if (c === 0) continue;
      const p = (y * side + x) * 3;
      for (let k = 0; k < 3; k++) data[p + k] = Math.round(data[p + k]! * (1 - c) + object.rgb[k]! * c);
    }
  }
}

/** "small red circle" (or "red circle" without the size). */
export function objectPhrase(o: Pick<SceneObject, 'colour' | 'shape' | 'size'>, options: { size?: boolean } = {}): string {
  return options.size === false ? `${o.colour} ${o.shape}` : `${o.size} ${o.colour} ${o.shape}`;
}

/** A scene's caption; `size: false` leaves the sizes out ("a red circle left of a blue square"). */
export function sceneCaption(scene: Pick<Scene, 'objects' | 'relation'>, options: { size?: boolean } = {}): string {
  const [a, b] = scene.objects;
  const first = `a ${objectPhrase(a!, options)}`;
  return b && scene.relation ? `${first} ${scene.relation} a ${objectPhrase(b, options)}` : first;
}

/** The zero-shot label of a combination: the template with {colour} and {shape} filled in (default "a {colour} {shape}"). */
export function comboLabel(combo: SceneCombo, template = 'a {colour} {shape}'): string {
  const [colour, shape] = combo.split(' ') as [string, string];
  return template.replaceAll('{colour}', colour).replaceAll('{shape}', shape);
}

/** Scene `index` of the dataset with this seed and these options. */
export function generateScene(seed: number, index: number, options: SceneOptions = {}): Scene {
  return drawScene(seed, index, checkOptions(options));
}

function drawScene(seed: number, index: number, o: CheckedSceneOptions): Scene {
  const side = o.imageSize;
  const g = new Generator(sceneSeed(seed, index));
  // the background: a light grey level, each channel a little off it
  const grey = between(g, 215, 245);
  const background = [0, 1, 2].map(() => Math.round(grey + between(g, -6, 6))) as unknown as [number, number, number];
  const two = g.uniform() < o.twoObjects;
  const a = drawObject(g, o.first, side);
  let objects: SceneObject[];
  let relation: SceneRelation | null = null;
  if (two) {
    const b = drawObject(g, o.second, side);
    relation = pick(g, SCENE_RELATIONS);
    const at = placePair(g, a.extent, b.extent, relation, side);
    objects = [
      { ...a, cx: at.ax, cy: at.ay },
      { ...b, cx: at.bx, cy: at.by },
    ];
  } else {
    const border = BORDER * side + a.extent;
    objects = [{ ...a, cx: between(g, border, side - border), cy: between(g, border, side - border) }];
  }
  const data = new Uint8Array(side * side * 3);
  for (let p = 0; p < side * side; p++) data.set(background, p * 3);
  for (const obj of objects) paint(data, obj, side);
  const scene = { index, objects, relation, background };
  return { ...scene, image: rgbImage(side, side, data, `scene:${seed}:${index}`), caption: sceneCaption(scene) };
}

/** A deterministic, lazy list of scenes: scene i is drawn when asked for, the same every time. */
export class SceneDataset implements Iterable<Scene> {
  readonly count: number;
  readonly seed: number;
  readonly imageSize: number;
  readonly holdOut: readonly SceneCombo[];
  readonly combos: 'seen' | 'held-out';
  private readonly checked: CheckedSceneOptions;

  constructor(options: SceneDatasetOptions) {
    if (typeof options !== 'object' || options === null) throw new StrataError('argument', OP, 'options must be an object with count and seed');
    const { count, seed } = options;
    if (!Number.isSafeInteger(count) || count < 1) throw new StrataError('argument', OP, `count must be an integer >= 1, got ${String(count)}`);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new StrataError('argument', OP, `seed must be an integer >= 0, got ${String(seed)}`);
    this.checked = checkOptions(options);
    this.count = count;
    this.seed = seed;
    this.imageSize = this.checked.imageSize;
    this.holdOut = this.checked.holdOut;
    this.combos = this.checked.combos;
  }

  get(index: number): Scene {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.count) throw new StrataError('index', OP, `scene ${index} is out of range for ${this.count} scenes`);
    return drawScene(this.seed, index, this.checked);
  }

  *[Symbol.iterator](): Iterator<Scene> {
    for (let i = 0; i < this.count; i++) yield this.get(i);
  }
}

/** `count` scenes drawn from `seed` (see SceneOptions for what they hold). */
export function sceneDataset(options: SceneDatasetOptions): SceneDataset {
  return new SceneDataset(options);
}

/** PNG bytes of an image (through sharp), e.g. to look at scenes or feed them to the CLI. */
export async function encodePng(image: RgbImage): Promise<Uint8Array> {
  const sharp = (await import('sharp')).default;
  const png = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
