// BERT and RoBERTa against the PyTorch references of scripts/fixtures/models.py, on every backend:
// hidden states and each head's outputs (fill-mask logits, pooled output, classification logits,
// QA start/end logits) for a batch whose second row is right-padded (attention mask (B, T)).
// Max abs diff <= 1e-4 in f32. Set STRATA_GOLDEN_REPORT=1 to print the observed diffs.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import { assertClose } from '../helpers/fixtures.js';
import { BACKENDS, expected, fixtureDir, report } from './model-fixtures.js';

const TOL = { atol: 1e-4, rtol: 0 };

interface Case {
  name: string;
  architecture: string;
  outputs(model: S.StrataModel, ids: S.Tensor, mask: S.Tensor): Record<string, S.Tensor>;
}

const hidden = (model: S.StrataModel, ids: S.Tensor, mask: S.Tensor): Record<string, S.Tensor> => {
  const out = (model as S.EncoderModel).encode(ids, { attentionMask: mask });
  return out.pooled ? { last_hidden_state: out.lastHiddenState, pooled: out.pooled } : { last_hidden_state: out.lastHiddenState };
};

const CASES: Case[] = [
  {
    name: 'bert',
    architecture: 'BertForMaskedLM',
    outputs: (m, ids, mask) => ({ ...hidden(m, ids, mask), logits: (m as S.BertForMaskedLM).forward(ids, { attentionMask: mask }) }),
  },
  {
    name: 'bert-cls',
    architecture: 'BertForSequenceClassification',
    outputs: (m, ids, mask) => ({ ...hidden(m, ids, mask), logits: (m as S.BertForSequenceClassification).forward(ids, { attentionMask: mask }) }),
  },
  {
    name: 'bert-qa',
    architecture: 'BertForQuestionAnswering',
    outputs: (m, ids, mask) => {
      const qa = (m as S.BertForQuestionAnswering).forward(ids, { attentionMask: mask });
      return { ...hidden(m, ids, mask), start_logits: qa.startLogits, end_logits: qa.endLogits };
    },
  },
  {
    name: 'roberta',
    architecture: 'RobertaForMaskedLM',
    outputs: (m, ids, mask) => ({ ...hidden(m, ids, mask), logits: (m as S.BertForMaskedLM).forward(ids, { attentionMask: mask }) }),
  },
  {
    name: 'roberta-cls',
    architecture: 'RobertaForSequenceClassification',
    outputs: (m, ids, mask) => ({ ...hidden(m, ids, mask), logits: (m as S.BertForSequenceClassification).forward(ids, { attentionMask: mask }) }),
  },
];

for (const c of CASES) {
  describe(c.name, async () => {
    const loaded = await S.loadModel(fixtureDir(c.name));
    const exp = expected(c.name);

    test('loads the head that architectures[0] names, in eval mode', () => {
      assert.equal(loaded.architecture, c.architecture);
      assert.equal(loaded.model.kind, 'encoder');
      assert.ok(loaded.model.namedModules().every(([, m]) => !m.training));
    });

    for (const backend of BACKENDS) {
      test(`outputs match PyTorch on ${backend}`, () => {
        S.withBackend(backend, () =>
          S.noGrad(() => {
            const got = c.outputs(loaded.model, exp.input_ids!, exp.attention_mask!);
            const wanted = Object.keys(exp).filter((k) => k !== 'input_ids' && k !== 'attention_mask');
            assert.deepEqual(Object.keys(got).sort(), wanted.sort(), 'every reference output is checked');
            for (const [key, t] of Object.entries(got)) {
              const d = assertClose(t, exp[key]!, TOL, `${c.name} ${key} (${backend})`);
              report(`${c.name} ${key} on ${backend}: max abs diff ${d.toExponential(2)}`);
            }
          }),
        );
      });
    }
  });
}

describe('encoder details', () => {
  test('padding changes nothing for the real tokens of a row', async () => {
    const { model } = await S.loadModel(fixtureDir('bert'));
    const exp = expected('bert');
    const ids = exp.input_ids!.slice(0, 1, 2).slice(1, 0, 7).contiguous(); // row 1 without its 3 padding tokens
    const alone = S.noGrad(() => (model as S.EncoderModel).encode(ids).lastHiddenState); // (1, 7, C)
    assertClose(alone, exp.last_hidden_state!.slice(0, 1, 2).slice(1, 0, 7), TOL, 'unpadded row');
  });

  test('RoBERTa numbers positions from pad_token_id + 1 and skips padding', async () => {
    const { model } = await S.loadModel(fixtureDir('roberta'));
    const exp = expected('roberta');
    const ids = exp.input_ids!;
    // explicit positions equal to the default ones give the same states
    const pad = 1;
    const rows = ids.tolist() as number[][];
    const pos = rows.map((r) => {
      let n = 0;
      return r.map((v) => (v === pad ? pad : pad + ++n));
    });
    const out = S.noGrad(() => (model as S.EncoderModel).encode(ids, { attentionMask: exp.attention_mask!, positionIds: S.tensor(pos, { dtype: 'i32' }) }));
    assertClose(out.lastHiddenState, exp.last_hidden_state!, TOL, 'explicit roberta positions');
  });

  test('a base-model architecture loads the encoder alone (strict: false skips the head)', async () => {
    const { model, architecture } = await S.loadModel(fixtureDir('bert'), { architecture: 'BertModel', strict: false });
    assert.equal(architecture, 'BertModel');
    // a standalone BertModel is named as Hugging Face saves one (no prefix); it read the prefixed keys
    assert.ok(model.namedParameters().every(([k]) => /^(embeddings|encoder|pooler)\./.test(k)));
    const exp = expected('bert');
    const out = S.noGrad(() => (model as S.EncoderModel).encode(exp.input_ids!, { attentionMask: exp.attention_mask! }));
    assertClose(out.pooled!, exp.pooled!, TOL, 'BertModel pooled');
  });

  test('input errors: ids dtype, sequence length, mask shape', async () => {
    const { model } = await S.loadModel(fixtureDir('roberta'));
    const enc = model as S.EncoderModel;
    assert.equal(enc.maxPositions, 40, "42 positions after pad_token_id 1 hold 40 tokens");
    assert.throws(() => enc.encode(S.tensor([[0, 5, 2]])), /ids must be \(B, T\) i32/);
    assert.throws(() => enc.encode(S.zeros([1, 41], { dtype: 'i32' })), /41 tokens exceed the 40/);
    assert.throws(() => enc.encode(S.zeros([1, 4], { dtype: 'i32' }), { attentionMask: S.ones([1, 3], { dtype: 'bool' }) }), /attentionMask must be \(B, T\) = \(1, 4\)/);
  });
});
