// CLIPForImageClassification against transformers 5 (scripts/fixtures/clip_image_classification.py),
// on every backend: the vision tower's final states and the logits of the head on the mean patch
// state. Max abs diff <= 1e-4 in f32. Also: the key names, and a save/load round trip.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { assertClose } from '../helpers/fixtures.js';
import { BACKENDS, expected, fixtureDir, tempDir } from './model-fixtures.js';

const TOL = { atol: 1e-4, rtol: 0 };

describe('CLIPForImageClassification', async () => {
  const loaded = await S.loadModel(fixtureDir('clip-cls'));
  const model = loaded.model as S.CLIPForImageClassification;
  const exp = expected('clip-cls');

  test('loads from config.json architectures with its labels, keys as transformers writes them', () => {
    assert.equal(loaded.architecture, 'CLIPForImageClassification');
    assert.ok(model instanceof S.CLIPForImageClassification);
    assert.equal(model.numLabels, 3);
    assert.deepEqual((loaded.config as S.CLIPConfig).id2label, { 0: 'circle', 1: 'square', 2: 'triangle' });
    const keys = model.namedParameters().map(([k]) => k);
    assert.ok(keys.includes('vision_model.pre_layrnorm.weight'));
    assert.ok(keys.includes('vision_model.encoder.layers.1.self_attn.q_proj.weight'));
    assert.deepEqual(keys.filter((k) => !k.startsWith('vision_model.')), ['classifier.weight', 'classifier.bias']);
    assert.deepEqual(model.classifier.weight.shape, [3, 32]);
  });

  for (const backend of BACKENDS) {
    test(`hidden states and logits match transformers on ${backend}`, () => {
      S.withBackend(backend, () =>
        S.noGrad(() => {
          const px = exp.pixel_values!;
          assertClose(model.encodeImage(px).lastHiddenState, exp.last_hidden_state!, TOL, `last_hidden_state (${backend})`);
          assertClose(model.forward(px), exp.logits!, TOL, `logits (${backend})`);
        }),
      );
    });
  }

  test('a CLIPModel config without labels keeps its config.json unchanged; a classifier saves and reloads', async () => {
    const clip = S.parseCLIPConfig(JSON.parse(fs.readFileSync(path.join(fixtureDir('clip'), 'config.json'), 'utf8')), 'config.json');
    assert.ok(!('id2label' in clip) && !('num_labels' in clip));
    const dir = tempDir();
    S.saveModel(dir, model, loaded.config, { architecture: loaded.architecture });
    const again = await S.loadModel(dir);
    assert.equal(again.architecture, 'CLIPForImageClassification');
    const a = S.noGrad(() => model.forward(exp.pixel_values!)).toArray();
    const b = S.noGrad(() => (again.model as S.CLIPForImageClassification).forward(exp.pixel_values!)).toArray();
    assert.deepEqual(b, a);
  });
});
