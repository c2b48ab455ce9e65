// Decoder-only beam search against transformers' model.generate(input_ids, num_beams=N,
// do_sample=False) on the tiny random-weight GPT-2 and LLaMA checkpoints of test/fixtures/models
// (fixture written by scripts/fixtures/decoder_beam.py): 3 prompts each, 3 and 4 beams, length
// penalties 1, 0.5 and 2, early stopping false, true and 'never', an end token that some best
// hypotheses end on. The best hypothesis' tokens must equal transformers' exactly and its score
// (sum of log-probabilities / generated^lengthPenalty, the end token counted) within 1e-4. The
// fixture holds no near ties: its script checks that jittering the log-probabilities by 2e-3
// changes no output. Then: one beam is greedy (both checked against transformers' greedy), more
// hypotheses come best first, bad options are refused.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import { beamSearch } from '../../src/generation/beam.js';
import type { EarlyStopping } from '../../src/generation/beam-scorer.js';
import { generate } from '../../src/generation/generate.js';
import { loadFixture } from '../helpers/fixtures.js';
import { BACKENDS, fixtureDir, report } from '../models/model-fixtures.js';

const MAX_NEW_TOKENS = 10;
const SCORE_TOL = 1e-4;
const MODELS = { gpt2: 'gpt2', llama: 'llama-gqa' } as const;

interface Case {
  name: string;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping?: EarlyStopping;
}

const CASES: Case[] = [
  { name: 'b3', numBeams: 3, lengthPenalty: 1 },
  { name: 'b4', numBeams: 4, lengthPenalty: 1 },
  { name: 'b4_lp05', numBeams: 4, lengthPenalty: 0.5 },
  { name: 'b3_lp2', numBeams: 3, lengthPenalty: 2 },
  { name: 'b3_early', numBeams: 3, lengthPenalty: 1, earlyStopping: true },
  { name: 'b4_lp05_early', numBeams: 4, lengthPenalty: 0.5, earlyStopping: true },
  { name: 'b4_never', numBeams: 4, lengthPenalty: 1, earlyStopping: 'never' },
];

/** Rows of a (B, N) id tensor as lists, the -1 padding dropped. */
function rows(t: S.Tensor): number[][] {
  const [B, N] = t.shape as [number, number];
  const v = t.toArray();
  return Array.from({ length: B }, (_, b) => v.slice(b * N, (b + 1) * N).filter((x) => x >= 0));
}

const exp = loadFixture('decoder-beam').tensors;

for (const [key, dir] of Object.entries(MODELS)) {
  describe(`decoder beam search: ${dir} against transformers`, async () => {
    const model = (await S.loadModel(fixtureDir(dir))).model as S.CausalLM;
    const prompts = rows(exp[`prompts_${key}`]!);
    const eos = exp[`eos_${key}`]!.toArray()[0]!;
    /** transformers' rows of a case: the end token dropped, and whether it was there */
    const wanted = (name: string) => rows(exp[`tokens_${key}_${name}`]!).map((r) => ({ tokens: r[r.length - 1] === eos ? r.slice(0, -1) : r, stopped: r[r.length - 1] === eos, scored: r.length }));

    for (const backend of BACKENDS) {
      test(`the best beam equals transformers' generate(num_beams) on ${backend}: tokens exactly, score within ${SCORE_TOL}`, () => {
        S.withBackend(backend, () => {
          for (const c of CASES) {
            const scores = exp[`scores_${key}_${c.name}`]!.toArray();
            wanted(c.name).forEach((want, p) => {
              const [best] = beamSearch(model, prompts[p]!, { numBeams: c.numBeams, lengthPenalty: c.lengthPenalty, earlyStopping: c.earlyStopping, maxTokens: MAX_NEW_TOKENS, stopTokens: [eos] });
              const at = `${key} ${c.name} prompt ${p}`;
              assert.deepEqual(best!.tokens, want.tokens, `${at}: tokens`);
              assert.equal(best!.finishReason, want.stopped ? 'stop' : 'length', `${at}: finish`);
              const d = Math.abs(best!.score - scores[p]!);
              assert.ok(d < SCORE_TOL, `${at}: score ${best!.score} vs transformers ${scores[p]} (diff ${d})`);
              assert.ok(Math.abs(best!.score - best!.logprob / Math.pow(want.scored, c.lengthPenalty)) < 1e-9, `${at}: score is logprob / scored^lp`);
              report(`decoder beam ${key} ${c.name} prompt ${p} on ${backend}: score diff ${d.toExponential(2)}`);
            });
          }
        });
      });
    }

    test('one beam is greedy decoding, and both equal transformers greedy', () => {
      const greedy = wanted('greedy');
      prompts.forEach((prompt, p) => {
        const [one] = beamSearch(model, prompt, { numBeams: 1, maxTokens: MAX_NEW_TOKENS, stopTokens: [eos] });
        const g = generate(model, prompt, { temperature: 0, maxTokens: MAX_NEW_TOKENS, stopTokens: [eos] });
        assert.deepEqual(one!.tokens, greedy[p]!.tokens, `${key} prompt ${p}: one beam`);
        assert.deepEqual(g.tokens, greedy[p]!.tokens, `${key} prompt ${p}: greedy`);
        assert.equal(one!.finishReason, g.finishReason);
      });
    });

    test('the fixture exercises the search: beams differ from greedy, and some best hypotheses end on the end token', () => {
      const greedy = rows(exp[`tokens_${key}_greedy`]!);
      assert.ok(
        CASES.some((c) => JSON.stringify(rows(exp[`tokens_${key}_${c.name}`]!)) !== JSON.stringify(greedy)),
        'some case differs from greedy',
      );
      const all = CASES.flatMap((c) => wanted(c.name));
      assert.ok(all.some((w) => w.stopped) && all.some((w) => !w.stopped), 'rows that stop and rows that run to the limit');
    });

    test('more hypotheses come best first, each scored by its own length', () => {
      const hyps = beamSearch(model, prompts[2]!, { numBeams: 4, lengthPenalty: 0.5, maxTokens: MAX_NEW_TOKENS, stopTokens: [eos] });
      assert.ok(hyps.length >= 2 && hyps.length <= 4);
      for (let i = 1; i < hyps.length; i++) assert.ok(hyps[i - 1]!.score >= hyps[i]!.score);
      for (const h of hyps) assert.ok(Math.abs(h.score - h.logprob / Math.pow(h.tokens.length + (h.finishReason === 'stop' ? 1 : 0), 0.5)) < 1e-9);
      assert.deepEqual(hyps[0]!.tokens, wanted('b4_lp05')[2]!.tokens);
      assert.equal(beamSearch(model, prompts[2]!, { numBeams: 4, maxTokens: MAX_NEW_TOKENS, stopTokens: [eos], numReturnSequences: 1 }).length, 1);
    });
  });
}

describe('decoder beam search: bad options', async () => {
  const model = (await S.loadModel(fixtureDir('gpt2'))).model as S.CausalLM;
  test('are refused with a StrataError naming the option', () => {
    const bad = (o: Partial<Parameters<typeof beamSearch>[2]>, re: RegExp) =>
      assert.throws(
        () => beamSearch(model, [5, 6], { numBeams: 2, maxTokens: 4, ...o }),
        (e: unknown) => e instanceof S.StrataError && re.test(e.message),
      );
    bad({ numBeams: 0 }, /numBeams must be an integer >= 1/);
    bad({ maxTokens: 0 }, /maxTokens must be an integer >= 1/);
    bad({ maxTokens: 40 }, /exceeds the model's context of 32/);
    bad({ lengthPenalty: Number.NaN }, /lengthPenalty must be a finite number/);
    bad({ earlyStopping: 'sometimes' as unknown as EarlyStopping }, /earlyStopping must be true, false or 'never'/);
    bad({ numReturnSequences: 0 }, /numReturnSequences must be an integer >= 1/);
    assert.throws(() => beamSearch(model, [], { numBeams: 2 }), /a prompt must hold at least one token/);
  });
});
