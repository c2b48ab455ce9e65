// config.json text: transformers 5's strict config classes refuse an int where they declare a
// float (initializer_factor 1 must be written 1.0), at any depth of nested sub-configs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configJsonText } from '../../src/io/hf.js';

test('float fields are written with a decimal point, other numbers as they are', () => {
  const text = configJsonText({ initializer_factor: 1, layer_norm_eps: 1e-5, hidden_size: 128, vision_config: { attention_dropout: 0, num_hidden_layers: 4 }, rms_norm_eps: -2, vocab_size: 1 });
  assert.match(text, /"initializer_factor": 1\.0,\n/);
  assert.match(text, /"layer_norm_eps": 0\.00001,\n/);
  assert.match(text, /"attention_dropout": 0\.0,\n/);
  assert.match(text, /"rms_norm_eps": -2\.0,\n/);
  assert.match(text, /"hidden_size": 128,\n/);
  assert.match(text, /"num_hidden_layers": 4\n/);
  assert.match(text, /"vocab_size": 1\n}\n$/);
  assert.deepEqual(JSON.parse(text), { initializer_factor: 1, layer_norm_eps: 1e-5, hidden_size: 128, vision_config: { attention_dropout: 0, num_hidden_layers: 4 }, rms_norm_eps: -2, vocab_size: 1 });
});
