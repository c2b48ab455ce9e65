// Encoder pipelines on the tiny BERT fixtures (PyTorch-checked weights) with a WordPiece tokenizer.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadForInference } from '../../src/pipelines/load.js';
import { answerExtractive, classifyText, embedTexts, fillMask } from '../../src/pipelines/index.js';
import { BertForMaskedLM, BertForQuestionAnswering, BertForSequenceClassification } from '../../src/models/bert.js';
import { writeTinyWordPiece } from '../helpers/tiny-wordpiece.js';

const dirs: Record<string, string> = {};

before(() => {
  for (const name of ['bert', 'bert-cls', 'bert-qa']) {
    const d = mkdtempSync(path.join(tmpdir(), `strata-${name}-`));
    cpSync(path.join('test/fixtures/models', name), d, { recursive: true });
    writeTinyWordPiece(d);
    dirs[name] = d;
  }
});

describe('encoder pipelines', () => {
  test('fill-mask: probabilities sorted and summing below 1, the mask filled in the sequence', async () => {
    const m = await loadForInference(dirs.bert!);
    assert.ok(m.model instanceof BertForMaskedLM);
    const [preds] = fillMask(m.model, m.tokenizer!, 'the capital of france is [MASK] .', 5);
    assert.equal(preds!.length, 5);
    for (let i = 1; i < preds!.length; i++) assert.ok(preds![i - 1]!.score >= preds![i]!.score);
    assert.ok(preds!.reduce((a, p) => a + p.score, 0) <= 1 + 1e-6);
    assert.ok(preds![0]!.sequence.startsWith('the capital of france is'));
    assert.throws(() => fillMask(m.model as BertForMaskedLM, m.tokenizer!, 'no mask here'), /no mask token/);
  });

  test('feature extraction: padding does not change a sentence embedding; normalize gives unit vectors', async () => {
    const m = await loadForInference(dirs.bert!);
    const enc = (m.model as BertForMaskedLM).encoder;
    const alone = embedTexts(enc, m.tokenizer!, ['the cat'], { pooling: 'mean' })[0]!;
    const batched = embedTexts(enc, m.tokenizer!, ['the cat', 'the dog was in the city of paris on the river'], { pooling: 'mean' })[0]!;
    assert.equal(alone.length, 32);
    for (let i = 0; i < alone.length; i++) assert.ok(Math.abs(alone[i]! - batched[i]!) < 1e-5, `dim ${i}: ${alone[i]} vs ${batched[i]}`);
    const unit = embedTexts(enc, m.tokenizer!, ['the dog', 'a cat'], { pooling: 'cls', normalize: true });
    for (const v of unit) assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
  });

  test('text classification and extractive question answering', async () => {
    const c = await loadForInference(dirs['bert-cls']!);
    assert.ok(c.model instanceof BertForSequenceClassification);
    const labels = classifyText(c.model, c.tokenizer!, 'the dog was little');
    assert.ok(Math.abs(labels.reduce((a, l) => a + l.score, 0) - 1) < 1e-5);
    for (let i = 1; i < labels.length; i++) assert.ok(labels[i - 1]!.score >= labels[i]!.score);
    const q = await loadForInference(dirs['bert-qa']!);
    assert.ok(q.model instanceof BertForQuestionAnswering);
    const a = answerExtractive(q.model, q.tokenizer!, 'what is the capital of france', 'paris is the capital city of france');
    assert.ok(a.start <= a.end && a.end - a.start < 30);
    assert.ok('paris is the capital city of france'.includes(a.answer), a.answer);
    assert.ok(a.score > 0 && a.score <= 1);
  });

  test('strata embed and fill-mask --json', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
    const e = run('embed', '--model', dirs.bert!, '--normalize', '--json', 'the cat', 'a dog');
    assert.equal(e.status, 0, e.stderr);
    const out = JSON.parse(e.stdout);
    assert.equal(out.embeddings.length, 2);
    assert.equal(out.dim, 32);
    const f = run('fill-mask', '--model', dirs.bert!, '--top-k', '3', '--json', 'the [MASK] was little');
    assert.equal(f.status, 0, f.stderr);
    assert.equal(JSON.parse(f.stdout).masks[0].length, 3);
    const bad = run('fill-mask', '--model', dirs['bert-cls']!, 'the [MASK]');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /not a masked language model/);
  });
});
