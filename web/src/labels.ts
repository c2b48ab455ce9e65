// Label sets the Vision page offers with one click. Plain data, no DOM: the browser test reads it
// to check the scene set against the generator zoo/clip-scenes was trained on.

const COLOURS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'];
const SHAPES = ['circle', 'square', 'triangle'];

/** The first is the world zoo/clip-scenes knows: every colour+shape as "a {colour} {shape}". */
export const LABEL_PRESETS: readonly { name: string; labels: readonly string[] }[] = [
  { name: 'Scene colours and shapes', labels: COLOURS.flatMap((c) => SHAPES.map((s) => `a ${c} ${s}`)) },
  { name: 'Everyday photos', labels: ['a photo of a cat', 'a photo of a dog', 'a photo of a car', 'a diagram', 'text'] },
];
