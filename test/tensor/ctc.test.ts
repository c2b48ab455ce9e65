// CTC loss against torch.nn.functional.ctc_loss (scripts/fixtures/ctc.py wrote the fixture in
// float64 from the same float32 logits). Tolerances: loss 1e-5 relative, gradient 1e-6 absolute
// (float32 log-softmax here, float64 there; observed ~1e-7).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StrataError } from '../../src/errors.js';
import { ctcLoss } from '../../src/tensor/ops/ctc.js';
import { fromArray } from '../../src/tensor/ops/creation.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, loadFixture } from '../helpers/fixtures.js';

const fixture = loadFixture('ctc');

function stored(key: string): Tensor {
  const t = fixture.tensors[key];
  if (!t) throw new Error(`ctc fixture has no tensor '${key}'`);
  return t;
}

function targetsOf(name: string): number[][] {
  const padded = stored(`${name}.targets`);
  const L = padded.shape[1]!;
  const flat = padded.toArray();
  const lengths = stored(`${name}.target_lengths`).toArray();
  return lengths.map((n, b) => flat.slice(b * L, b * L + n));
}

for (const [name, reduction] of [['mean', 'mean'], ['sum', 'sum'], ['tight', 'sum']] as const) {
  test(`ctcLoss equals torch's loss and gradient: ${name}`, () => {
    const logits = stored(`${name}.logits`).detach().requiresGrad_();
    const loss = ctcLoss(logits, targetsOf(name), { inputLengths: stored(`${name}.input_lengths`).toArray(), reduction });
    const expected = stored(`${name}.loss`).item();
    assert.ok(Math.abs(loss.item() - expected) <= 1e-5 * Math.abs(expected), `loss ${loss.item()} vs torch ${expected}`);
    loss.backward();
    assertClose(logits.grad!, stored(`${name}.grad`), { atol: 1e-6, rtol: 0 }, `${name} d loss / d logits`);
  });
}

test('a target no alignment fits is Infinity, or 0 with zeroInfinity, and the others still train', () => {
  const logits = fromArray(Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => Math.sin(i)), [2, 2, 3]).requiresGrad_();
  // [1, 1] needs three positions (1, blank, 1): two are too few
  assert.equal(ctcLoss(logits, [[1, 1], [2]], { reduction: 'sum' }).item(), Infinity);
  const loss = ctcLoss(logits, [[1, 1], [2]], { reduction: 'sum', zeroInfinity: true });
  assert.ok(Number.isFinite(loss.item()) && loss.item() > 0);
  loss.backward();
  const g = logits.grad!.toArray();
  assert.ok(g.slice(0, 6).every((v) => v === 0), 'the impossible sample sends no gradient');
  assert.ok(g.slice(6).some((v) => v !== 0), 'the possible one does');
});

test('bad targets and lengths are StrataErrors naming what is wrong', () => {
  const logits = fromArray(new Float32Array(2 * 4 * 3), [2, 4, 3]);
  assert.throws(() => ctcLoss(logits, [[1]]), (e) => e instanceof StrataError && /1 targets for a batch of 2/.test(e.message));
  assert.throws(() => ctcLoss(logits, [[1], [0]]), (e) => e instanceof StrataError && /other than the blank 0/.test(e.message));
  assert.throws(() => ctcLoss(logits, [[1], [3]]), (e) => e instanceof StrataError && /labels must be classes in \[0, 3\)/.test(e.message));
  assert.throws(() => ctcLoss(logits, [[1], []]), (e) => e instanceof StrataError && /target 1 is empty/.test(e.message));
  assert.throws(() => ctcLoss(logits, [[1], [2]], { inputLengths: [4, 5] }), (e) => e instanceof StrataError && /input length 5 of sample 1/.test(e.message));
  assert.throws(() => ctcLoss(fromArray(new Float32Array(3), [3]), []), (e) => e instanceof StrataError && /\(B, S, V\)/.test(e.message));
});
