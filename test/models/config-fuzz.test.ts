// Mutated config.json files (truncations, byte flips, swapped value types, absurd numbers) either
// parse into a valid typed config or fail with a StrataError naming the file: never a crash, a
// hang, or a model sized by a corrupt field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as S from '../../src/index.js';
import { readConfigJson } from '../../src/io/hf.js';
import { parseModelConfig } from '../../src/models/index.js';

const SOURCES = ['gpt2', 'llama-gqa', 'qwen2', 'mistral', 'palm', 'bert', 'roberta-cls'];
const WEIRD: unknown[] = [null, -1, 0, 1e300, 2 ** 53, 0.5, 'x', true, [], {}, [1, 2], NaN];

test('a few thousand mutated config.json files parse or fail cleanly', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-cfg-'));
  const file = path.join(dir, 'config.json');
  const g = new S.Generator(2024);
  let parsed = 0;
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    const src = readFileSync(path.join('test/fixtures/models', SOURCES[i % SOURCES.length]!, 'config.json'), 'utf8');
    let text: string;
    const kind = i % 3;
    if (kind === 0) text = src.slice(0, g.integer(0, src.length));
    else if (kind === 1) {
      const bytes = Buffer.from(src);
      for (let f = 0; f < 1 + g.integer(0, 3); f++) bytes[g.integer(0, bytes.length)] = g.integer(0, 256);
      text = bytes.toString('latin1');
    } else {
      const obj = JSON.parse(src) as Record<string, unknown>;
      const keys = Object.keys(obj);
      for (let f = 0; f < 1 + g.integer(0, 3); f++) obj[keys[g.integer(0, keys.length)]!] = WEIRD[g.integer(0, WEIRD.length)];
      text = JSON.stringify(obj);
    }
    writeFileSync(file, text);
    try {
      const { raw, file: f } = readConfigJson(dir);
      const { config } = parseModelConfig(raw, f);
      // whatever parsed must describe a model of sane, finite dimensions
      for (const [k, v] of Object.entries(config)) {
        if (typeof v === 'number') assert.ok(Number.isFinite(v), `${k} = ${v}`);
      }
      parsed++;
    } catch (err) {
      assert.ok(err instanceof S.StrataError, `mutation ${i} threw ${String(err)}`);
      assert.equal(err.code === 'io' || err.code === 'unsupported', true, `mutation ${i}: code ${err.code}`);
      assert.ok(err.message.includes('config.json'), `mutation ${i}: message does not name the file: ${err.message}`);
      rejected++;
    }
  }
  assert.ok(parsed > 0 && rejected > 0, `parsed ${parsed}, rejected ${rejected}`);
});
