// Encoder-decoder beam search against transformers' WhisperForConditionalGeneration.generate(
// num_beams=N) on the tiny random-weight Whisper of test/fixtures/models/whisper (written by
// scripts/fixtures/whisper_beam.py): 3 inputs, 3 and 4 beams, length penalties 1 and 0.5, early
// stopping, Whisper's timestamp grammar. The best hypothesis' tokens must equal transformers'
// exactly and its score (sum of log-probabilities / generated^lengthPenalty) within 1e-4. The
// fixture holds no near ties: its script checks that jittering the log-probabilities by 2e-3
// changes no output. Then a VisionEncoderDecoder against transformers the same way, the scorer
// alone against exhaustive search, the broadcast cross-attention view against a copy, bad input.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { generateEncoderDecoder } from '../../src/generation/encoder-decoder.js';
import { captionIds } from '../../src/pipelines/caption.js';
import type { VisionEncoderDecoderModel } from '../../src/models/vision-encoder-decoder.js';
import { beamSearchEncoderDecoder } from '../../src/generation/encoder-decoder-beam.js';
import { BeamScorer } from '../../src/generation/beam-scorer.js';
import { CrossAttentionStates } from '../../src/models/encoder-decoder.js';
import { assertClose, loadFixture } from '../helpers/fixtures.js';
import { BACKENDS, fixtureDir, report } from '../models/model-fixtures.js';

const MAX_NEW_TOKENS = 12;
const SCORE_TOL = 1e-4;
const DIR = fixtureDir('whisper');

interface Case {
  name: string;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping?: boolean;
  timestamps?: boolean;
}

const CASES: Case[] = [
  { name: 'b3', numBeams: 3, lengthPenalty: 1 },
  { name: 'b4', numBeams: 4, lengthPenalty: 1 },
  { name: 'b4_lp05', numBeams: 4, lengthPenalty: 0.5 },
  { name: 'b3_early', numBeams: 3, lengthPenalty: 1, earlyStopping: true },
  { name: 'b4_ts', numBeams: 4, lengthPenalty: 1, timestamps: true },
];

/** Rows of a (B, N) id tensor as lists, the -1 padding dropped. */
function rows(t: S.Tensor): number[][] {
  const [B, N] = t.shape as [number, number];
  const v = t.toArray();
  return Array.from({ length: B }, (_, b) => v.slice(b * N, (b + 1) * N).filter((x) => x >= 0));
}

describe('encoder-decoder beam search: Whisper against transformers', async () => {
  const model = (await S.loadModel(DIR)).model as S.WhisperForConditionalGeneration;
  const tokenizer = await S.loadTokenizer(DIR);
  const raw = JSON.parse(fs.readFileSync(path.join(DIR, 'generation_config.json'), 'utf8')) as Record<string, unknown>;
  const settings = S.whisperDecodingConfig(model.config, raw, tokenizer);
  const eot = settings.tokens.endOfText;
  const exp = loadFixture('whisper-beam').tensors;
  const features = exp.input_features!; // (3, M, F)

  for (const backend of BACKENDS) {
    test(`the best beam equals transformers' generate(num_beams) on ${backend}: tokens exactly, score within ${SCORE_TOL}`, () => {
      S.withBackend(backend, () => {
        const states = S.noGrad(() => model.encode(features)); // (3, S, C)
        for (const c of CASES) {
          const prompt = S.decoderPrompt(settings, { language: 'en', task: 'transcribe', timestamps: c.timestamps ?? false });
          const results = beamSearchEncoderDecoder(model, states, [prompt, prompt, prompt], {
            numBeams: c.numBeams,
            lengthPenalty: c.lengthPenalty,
            earlyStopping: c.earlyStopping,
            maxTokens: MAX_NEW_TOKENS,
            stopTokens: [eot],
            rules: S.decodingRules(settings, c.timestamps ?? false),
          });
          const scores = exp[`scores_${c.name}`]!.toArray();
          rows(exp[`tokens_${c.name}`]!).forEach((want, b) => {
            const best = results[b]![0]!;
            const stopped = want[want.length - 1] === eot;
            assert.deepEqual(best.tokens, stopped ? want.slice(0, -1) : want, `${c.name} input ${b}: tokens`);
            assert.equal(best.finishReason, stopped ? 'stop' : 'length', `${c.name} input ${b}: finish`);
            assert.equal(best.scoredTokens, want.length, `${c.name} input ${b}: scored tokens`);
            const d = Math.abs(best.score - scores[b]!);
            assert.ok(d < SCORE_TOL, `${c.name} input ${b}: score ${best.score} vs transformers ${scores[b]} (diff ${d})`);
            assert.ok(Math.abs(best.score - best.sumLogprob / Math.pow(best.scoredTokens, c.lengthPenalty)) < 1e-9);
            report(`whisper beam ${c.name} input ${b} on ${backend}: score diff ${d.toExponential(2)}`);
          });
        }
      });
    });
  }

  test('the fixture is not greedy in disguise: greedy decoding (checked against transformers too) differs from the beams', () => {
    const states = S.noGrad(() => model.encode(features));
    const prompt = S.decoderPrompt(settings, { language: 'en', task: 'transcribe' });
    const greedy = generateEncoderDecoder(model, states, [prompt, prompt, prompt], { maxTokens: MAX_NEW_TOKENS, stopTokens: [eot], rules: S.decodingRules(settings, false), temperature: 0 });
    const want = rows(exp.tokens_greedy!).map((r) => (r[r.length - 1] === eot ? r.slice(0, -1) : r));
    assert.deepEqual(
      greedy.map((g) => g.tokens),
      want,
    );
    for (const name of ['b3', 'b4']) assert.notDeepEqual(rows(exp[`tokens_${name}`]!), rows(exp.tokens_greedy!), name);
    const all = CASES.flatMap((c) => rows(exp[`tokens_${c.name}`]!));
    assert.ok(all.some((r) => r[r.length - 1] === eot) && all.some((r) => r[r.length - 1] !== eot), 'rows that stop and rows that run to the limit');
  });

  test('more hypotheses come best first, each scored by its own length', () => {
    const states = S.noGrad(() => model.encode(features.slice(0, 0, 1)));
    const prompt = S.decoderPrompt(settings, { language: 'en', task: 'transcribe' });
    const [hyps] = beamSearchEncoderDecoder(model, states, [prompt], { numBeams: 4, maxTokens: MAX_NEW_TOKENS, stopTokens: [eot], rules: S.decodingRules(settings, false), numReturnSequences: 4 });
    assert.equal(hyps!.length, 4);
    for (let i = 1; i < 4; i++) assert.ok(hyps![i - 1]!.score >= hyps![i]!.score);
    assert.deepEqual(hyps![0]!.tokens, rows(exp.tokens_b4!)[0]!.slice(0, -1));
  });

  for (const backend of BACKENDS) {
    test(`K beams read one input's cross-attention through a broadcast view (batch stride 0) as they would a copy, on ${backend}`, () => {
      S.withBackend(backend, () =>
        S.noGrad(() => {
          const cross = model.crossAttention(model.encode(features.slice(0, 2, 3))); // (1, H, S, D) per layer
          const k = 3;
          const view = new CrossAttentionStates(
            cross.keys.map((t) => t.expand(k, t.shape[1]!, t.shape[2]!, t.shape[3]!)),
            cross.values.map((t) => t.expand(k, t.shape[1]!, t.shape[2]!, t.shape[3]!)),
          );
          assert.equal(view.keys[0]!.strides[0], 0);
          const copy = new CrossAttentionStates(
            view.keys.map((t) => t.contiguous()),
            view.values.map((t) => t.contiguous()),
          );
          const ids = S.tensor(
            [
              [321, 322, 329, 333, 80],
              [321, 322, 329, 333, 56],
              [321, 322, 329, 333, 101],
            ],
            { dtype: 'i32' },
          );
          assertClose(model.decode(ids, view), model.decode(ids, copy), { atol: 1e-6, rtol: 0 }, 'broadcast cross-attention');
        }),
      );
    });
  }

  test('bad input is a StrataError naming what is wrong', () => {
    const states = S.noGrad(() => model.encode(features.slice(0, 0, 1)));
    const prompt = S.decoderPrompt(settings, { language: 'en', task: 'transcribe' });
    const run = (o: Partial<Parameters<typeof beamSearchEncoderDecoder>[3]>, prompts: number[][] = [prompt]) => () => beamSearchEncoderDecoder(model, states, prompts, { numBeams: 2, maxTokens: 4, ...o });
    assert.throws(run({ numBeams: 0 }), /numBeams must be an integer >= 1/);
    assert.throws(run({ numBeams: 2.5 }), /numBeams/);
    assert.throws(run({ maxTokens: 0 }), /maxTokens must be an integer >= 1/);
    assert.throws(run({ maxTokens: 61 }), /exceeds the decoder's 64 positions/);
    assert.throws(run({ numReturnSequences: 3 }), /numReturnSequences must be an integer in \[1, numBeams = 2\]/);
    assert.throws(run({ lengthPenalty: Number.NaN }), /lengthPenalty must be a finite number/);
    assert.throws(run({ earlyStopping: 'sometimes' as never }), /earlyStopping must be true, false or 'never'/);
    assert.throws(run({}, [[]]), /at least one token/);
    assert.throws(run({}, [[321, 9999]]), /outside the vocabulary/);
    assert.throws(run({}, [prompt, prompt]), /encoder states must be \(B, S, C\) with B = 2/);
    for (const f of [run({ numBeams: 0 }), run({ maxTokens: 61 })]) assert.throws(f, S.StrataError);
  });

  test('an aborted search returns each input its best running beam, marked abort', () => {
    const states = S.noGrad(() => model.encode(features.slice(0, 1, 2)));
    const prompt = S.decoderPrompt(settings, { language: 'en', task: 'transcribe' });
    const controller = new AbortController();
    controller.abort();
    const [hyps] = beamSearchEncoderDecoder(model, states, [prompt], { numBeams: 3, maxTokens: 8, stopTokens: [eot], signal: controller.signal });
    assert.equal(hyps![0]!.finishReason, 'abort');
    assert.equal(hyps![0]!.tokens.length, 1, 'stopped after the first step');
  });
});

// A first-order Markov source over 3 tokens: 0 and 1 are text, 2 ends. Log-probabilities of the
// next token given the last one (the first row is the start).
const L = Math.log;
// (probabilities chosen so that no two sequences tie)
const START = [L(0.47), L(0.33), L(0.2)];
const NEXT = [
  [L(0.13), L(0.58), L(0.29)],
  [L(0.41), L(0.07), L(0.52)],
];

/** The Markov source's next-token log-probabilities after `tokens`. */
function markovRow(tokens: readonly number[]): Float32Array {
  return Float32Array.from(tokens.length === 0 ? START : NEXT[tokens[tokens.length - 1]!]!);
}

/**
 * Next-token log-probabilities over the same 3 tokens that depend on the whole prefix (a hash of
 * it), so that no two sequences share a product of the same factors and none tie.
 */
function prefixRow(tokens: readonly number[]): Float32Array {
  let h = 1;
  for (const t of tokens) h = h * 3 + t + 1;
  const logits = [2 * Math.sin(h * 12.9898), 2 * Math.sin(h * 78.233), 2 * Math.sin(h * 37.719) - 0.5];
  const lse = Math.log(logits.reduce((a, x) => a + Math.exp(x), 0));
  return Float32Array.from(logits, (x) => x - lse);
}

/** Every sequence of at most `maxTokens` tokens (2 ends one) with its summed log-probability. */
function enumerate(next: (tokens: readonly number[]) => Float32Array, maxTokens: number): { tokens: number[]; logprob: number; scored: number; stop: boolean }[] {
  const out: { tokens: number[]; logprob: number; scored: number; stop: boolean }[] = [];
  const walk = (tokens: number[], logprob: number) => {
    const row = next(tokens);
    for (let t = 0; t < 3; t++) {
      const lp = logprob + row[t]!;
      if (t === 2) out.push({ tokens, logprob: lp, scored: tokens.length + 1, stop: true });
      else if (tokens.length + 1 === maxTokens) out.push({ tokens: [...tokens, t], logprob: lp, scored: maxTokens, stop: false });
      else walk([...tokens, t], lp);
    }
  };
  walk([], 0);
  return out;
}

function runScorer(scorer: BeamScorer, next: (tokens: readonly number[]) => Float32Array): void {
  while (!scorer.done) scorer.step(scorer.running.map((b) => next(b.tokens)));
}

describe('BeamScorer', () => {
  test('with room for every hypothesis, the finished list is every sequence ranked by sum(logprob) / generated^lengthPenalty (the stop token counted)', () => {
    const maxTokens = 4;
    const all = enumerate(prefixRow, maxTokens);
    // 15 sequences that stop and 16 that reach the limit: 32 beams keep every candidate
    assert.equal(all.length, 31);
    for (const lengthPenalty of [0, 1, 2, -0.5]) {
      const scorer = new BeamScorer({ numBeams: 32, maxTokens, lengthPenalty, stopTokens: [2] });
      runScorer(scorer, prefixRow);
      const want = all.map((s) => ({ ...s, score: s.logprob / Math.pow(s.scored, lengthPenalty) })).sort((a, b) => b.score - a.score);
      assert.deepEqual(
        scorer.finished.map((h) => [h.tokens, h.finishReason, h.scoredTokens]),
        want.map((s) => [s.tokens, s.stop ? 'stop' : 'length', s.scored]),
        `lengthPenalty ${lengthPenalty}`,
      );
      scorer.finished.forEach((h, i) => assert.ok(Math.abs(h.score - want[i]!.score) < 1e-6, `score ${h.score} vs ${want[i]!.score}`));
    }
  });

  test('an ending continuation outside the first K of the 2K candidates is not kept; beams that cannot win stop the search', () => {
    // K = 1, 2K = 2 candidates a step: the first step's best is 0 (0.47), the stop (0.2) ranks third
    const one = new BeamScorer({ numBeams: 1, maxTokens: 5, stopTokens: [2] });
    one.step([markovRow([])]);
    assert.equal(one.finished.length, 0);
    assert.deepEqual(one.running[0]!.tokens, [0]);
    // from 0: 1 (0.58) runs, the stop (0.29) ranks second, outside the first K = 1, and is dropped
    one.step([markovRow([0])]);
    assert.equal(one.finished.length, 0);
    // from 1: the stop (0.52) ranks first and is kept; the running [0, 1, 0] (0.41) scores below it
    // at its length and cannot recover, so the search ends before its 5-token budget
    one.step([markovRow([0, 1])]);
    assert.deepEqual(
      one.finished.map((h) => [h.tokens, h.finishReason]),
      [[[0, 1], 'stop']],
    );
    assert.ok(one.done);
    // earlyStopping true ends as soon as K hypotheses are done
    const early = new BeamScorer({ numBeams: 2, maxTokens: 10, earlyStopping: true, stopTokens: [2] });
    runScorer(early, markovRow);
    assert.equal(early.finished.length, 2);
    assert.ok(early.length < 10);
  });
});

// The same search on a VisionEncoderDecoderModel (ViT + GPT-2 with cross-attention) against
// transformers' VisionEncoderDecoderModel.generate(num_beams) (scripts/fixtures/
// vision_encoder_decoder_beam.py): 3 images, 3 beams at length penalty 1 and 4 beams at 2.
describe('encoder-decoder beam search: VisionEncoderDecoder against transformers', async () => {
  const model = (await S.loadModel(fixtureDir('vision-encoder-decoder'))).model as S.EncoderDecoderModel;
  const exp = loadFixture('vision-encoder-decoder-beam').tensors;
  const cases = [
    { name: 'b3', numBeams: 3, lengthPenalty: 1 },
    { name: 'b4_lp2', numBeams: 4, lengthPenalty: 2 },
  ];
  for (const backend of BACKENDS) {
    test(`the best beam equals transformers' on ${backend}: tokens exactly, score within ${SCORE_TOL}`, () => {
      S.withBackend(backend, () => {
        const states = S.noGrad(() => model.encode(exp.pixel_values!)); // (3, N, C)
        const start = [model.decoderStartTokenId];
        for (const c of cases) {
          const results = beamSearchEncoderDecoder(model, states, [start, start, start], { numBeams: c.numBeams, lengthPenalty: c.lengthPenalty, maxTokens: 8, stopTokens: [1] });
          const scores = exp[`scores_${c.name}`]!.toArray();
          rows(exp[`tokens_${c.name}`]!).forEach((want, b) => {
            const best = results[b]![0]!;
            assert.deepEqual(best.tokens, want, `${c.name} image ${b}: tokens`);
            assert.equal(best.finishReason, 'length');
            assert.ok(Math.abs(best.score - scores[b]!) < SCORE_TOL, `${c.name} image ${b}: score ${best.score} vs transformers ${scores[b]}`);
          });
          assert.notDeepEqual(rows(exp[`tokens_${c.name}`]!), rows(exp.tokens_greedy!), `${c.name} differs from greedy`);
        }
      });
    });
  }

  test('the caption pipeline with beams gives the same ids (its beam search is this one)', () => {
    const ved = model as unknown as VisionEncoderDecoderModel;
    for (const c of cases) {
      const got = captionIds(ved, exp.pixel_values!, { numBeams: c.numBeams, lengthPenalty: c.lengthPenalty, maxTokens: 8 });
      assert.deepEqual(got.map((r) => r.tokens), rows(exp[`tokens_${c.name}`]!), c.name);
    }
  });
});
