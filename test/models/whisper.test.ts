// Whisper against transformers 5 (scripts/fixtures/whisper.py), stage by stage: the log-mel front
// end against WhisperFeatureExtractor, the tokenizer, the encoder's states, the decoder's logits
// (one pass and token by token with the KV cache), language detection, then greedy generation with
// and without timestamps, with a given and a detected language, and translation. Tensors within
// 1e-4 (max abs diff printed with STRATA_GOLDEN_REPORT=1), generated ids equal.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { generateEncoderDecoder } from '../../src/generation/encoder-decoder.js';
import { detectLanguage, windowFeatures } from '../../src/pipelines/transcribe.js';
import { assertClose } from '../helpers/fixtures.js';
import { BACKENDS, expected, fixtureDir, report, tempDir } from './model-fixtures.js';

const TOL = { atol: 1e-4, rtol: 0 };
const DIR = fixtureDir('whisper');
const MAX_NEW_TOKENS = 16;

function rawConfig(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
}

function rawGenerationConfig(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(DIR, 'generation_config.json'), 'utf8')) as Record<string, unknown>;
}

/** Rows of a (B, N) id tensor as lists, the -1 padding dropped. */
function rows(t: S.Tensor): number[][] {
  const [B, N] = t.shape as [number, number];
  const v = t.toArray();
  return Array.from({ length: B }, (_, b) => v.slice(b * N, (b + 1) * N).filter((x) => x >= 0));
}

describe('whisper', async () => {
  const loaded = await S.loadModel(DIR);
  const model = loaded.model as S.WhisperForConditionalGeneration;
  const tokenizer = await S.loadTokenizer(DIR);
  const exp = expected('whisper');
  const settings = S.whisperDecodingConfig(model.config, rawGenerationConfig(), tokenizer);
  const eot = settings.tokens.endOfText;

  test('loads WhisperForConditionalGeneration, in eval mode, as an encoder-decoder', () => {
    assert.equal(loaded.architecture, 'WhisperForConditionalGeneration');
    assert.equal(loaded.modelType, 'whisper');
    assert.equal(model.kind, 'encoder-decoder');
    assert.ok(model.namedModules().every(([, m]) => !m.training));
    assert.equal(model.vocabSize, 385);
    assert.equal(model.maxPositions, 64);
    assert.equal(model.inputFrames, 100);
    assert.equal(model.numMelBins, 80);
    assert.equal(model.projOut, null, 'proj_out is tied to the token embeddings');
    assert.deepEqual(loaded.unusedKeys, []);
    assert.equal(model.card, S.WHISPER_CARD);
    assert.deepEqual(S.architectureCard('whisper', 'WhisperForConditionalGeneration').inputModalities, ['audio']);
  });

  test('stage 1, front end: log-mel features equal WhisperFeatureExtractor', (t) => {
    const waves = exp.waveforms!;
    const lengths = exp.lengths!.toArray();
    for (let b = 0; b < 2; b++) {
      const samples = waves.select(0, b).toFloat32Array().subarray(0, lengths[b]);
      const ours = windowFeatures(samples, 16000, 80, { nFft: 400, hop: 160 }); // (M, F)
      const d = assertClose(ours, exp.input_features!.select(0, b), TOL, `input_features row ${b}`);
      t.diagnostic(`input_features row ${b}: max abs diff ${d.toExponential(2)}`);
      report(`whisper input_features row ${b}: max abs diff ${d.toExponential(2)}`);
    }
  });

  test('stage 2, tokenizer: special tokens in Whisper order, text ids as the fixture encoded them', () => {
    const t = settings.tokens;
    assert.deepEqual(
      [t.endOfText, t.startOfTranscript, t.translate, t.transcribe, t.startOfPrev, t.noSpeech, t.noTimestamps, t.timestampBegin],
      [320, 321, 328, 329, 331, 332, 333, 334],
    );
    assert.deepEqual([...t.languages], [['en', 322], ['de', 323], ['fr', 324], ['es', 325], ['ja', 326], ['haw', 327]]);
    assert.equal(tokenizer.idToToken(334), '<|0.00|>');
    assert.equal(tokenizer.idToToken(384), '<|1.00|>');
    const ids = exp.decoder_input_ids!.toArray();
    assert.deepEqual(tokenizer.encode(' hello world', { addSpecialTokens: false }).slice(0, 3), ids.slice(4, 7));
    assert.deepEqual(ids.slice(0, 4), S.decoderPrompt(settings, { language: 'en', task: 'transcribe' }));
    // the same ids with the tokenizer alone (no generation_config.json)
    const fromTokenizer = S.whisperDecodingConfig(model.config, null, tokenizer);
    assert.deepEqual(fromTokenizer.tokens, settings.tokens);
    assert.equal(fromTokenizer.maxInitialTimestampIndex, null);
    assert.deepEqual(fromTokenizer.suppressTokens, settings.suppressTokens, 'config.json carries the legacy copy');
  });

  for (const backend of BACKENDS) {
    test(`stages 3 and 4, encoder states and decoder logits match transformers on ${backend}`, (t) => {
      S.withBackend(backend, () =>
        S.noGrad(() => {
          const out = model.forward(exp.input_features!, exp.decoder_input_ids!);
          for (const [key, x] of [['encoder_last_hidden_state', out.encoderLastHiddenState], ['logits', out.logits]] as const) {
            const d = assertClose(x, exp[key]!, TOL, `whisper ${key} (${backend})`);
            t.diagnostic(`${key}: max abs diff ${d.toExponential(2)}`);
            report(`whisper ${key} on ${backend}: max abs diff ${d.toExponential(2)}`);
          }
        }),
      );
    });
  }

  test('token by token with the KV cache gives the one-pass logits; cross-attention states are computed once', () => {
    S.noGrad(() => {
      const states = model.encode(exp.input_features!);
      const cross = model.crossAttention(states);
      assert.equal(cross.keys.length, 2);
      assert.deepEqual(cross.keys[0]!.shape, [2, 4, 50, 8]);
      const ids = exp.decoder_input_ids!;
      const cache = model.createCache(2, 7);
      const prefill = model.decode(ids.slice(1, 0, 4), cross, { cache }); // (B, 4, V)
      const steps = [prefill];
      for (let i = 4; i < 7; i++) steps.push(model.decode(ids.slice(1, i, i + 1), cross, { cache }));
      assert.equal(cache.length, 7);
      assertClose(S.cat(steps, 1), exp.logits!, TOL, 'cached logits');
      const last = model.decode(ids, cross, { lastOnly: true }); // (B, 1, V)
      assertClose(last, exp.logits!.slice(1, 6, 7), TOL, 'lastOnly logits');
    });
  });

  test('language detection: the language tokens after <|startoftranscript|>', () => {
    const states = S.noGrad(() => model.encode(exp.input_features!));
    const d = detectLanguage(model, settings, states);
    const byId = new Map([...settings.tokens.languages].map(([code, id]) => [id, code]));
    assert.deepEqual(d.languages, exp.detected_language!.toArray().map((id) => byId.get(id)));
    const logits = exp.language_logits!; // (B, V)
    for (let b = 0; b < 2; b++) {
      const probs = d.probabilities[b]!;
      const sum = [...probs.values()].reduce((a, x) => a + x, 0);
      assert.ok(Math.abs(sum - 1) < 1e-6);
      // probabilities are the softmax of the reference's language logits
      const ref = [...settings.tokens.languages.values()].map((id) => logits.select(0, b).toArray()[id]!);
      const max = Math.max(...ref);
      const z = ref.reduce((a, x) => a + Math.exp(x - max), 0);
      [...probs.values()].forEach((p, i) => assert.ok(Math.abs(p - Math.exp(ref[i]! - max) / z) < 1e-4));
    }
  });

  const cases: { name: string; language: string | null; task: S.WhisperTask; timestamps: boolean }[] = [
    { name: 'en_notimestamps', language: 'en', task: 'transcribe', timestamps: false },
    { name: 'en_timestamps', language: 'en', task: 'transcribe', timestamps: true },
    { name: 'detect', language: null, task: 'transcribe', timestamps: false },
    { name: 'translate', language: 'de', task: 'translate', timestamps: false },
  ];
  for (const backend of BACKENDS) {
    test(`greedy generation equals transformers' generate() on ${backend}: given and detected language, timestamps, translation`, () => {
      S.withBackend(backend, () => {
        const states = S.noGrad(() => model.encode(exp.input_features!));
        const detected = detectLanguage(model, settings, states).languages;
        for (const c of cases) {
          const prompts = [0, 1].map((b) => S.decoderPrompt(settings, { language: c.language ?? detected[b], task: c.task, timestamps: c.timestamps }));
          const results = generateEncoderDecoder(model, states, prompts, { maxTokens: MAX_NEW_TOKENS, stopTokens: [eot], rules: S.decodingRules(settings, c.timestamps), temperature: 0 });
          rows(exp[`generated_${c.name}`]!).forEach((want, b) => {
            const prompt = want.slice(0, prompts[b]!.length);
            assert.deepEqual(prompts[b], prompt, `${c.name} row ${b}: prompt`);
            const end = want.indexOf(eot, prompt.length);
            const tokens = want.slice(prompt.length, end < 0 ? undefined : end);
            assert.deepEqual(results[b]!.tokens, tokens, `${c.name} row ${b}: tokens`);
            assert.equal(results[b]!.finishReason, end < 0 ? 'length' : 'stop', `${c.name} row ${b}: finish`);
          });
        }
      });
    });
  }

  test('the fixture covers both ends: rows that stop at <|endoftext|> and rows that run to the limit', () => {
    const all = cases.flatMap((c) => rows(exp[`generated_${c.name}`]!));
    assert.ok(all.some((r) => r.slice(4).includes(eot)));
    assert.ok(all.some((r) => !r.slice(3).includes(eot)));
  });

  test('timestamps generated under the rules come in pairs and never go back', () => {
    const tb = settings.tokens.timestampBegin!;
    for (const row of rows(exp.generated_en_timestamps!)) {
      const gen = row.slice(3).filter((t) => t !== eot);
      assert.ok(gen[0]! >= tb, 'the first token is a timestamp');
      const times = gen.filter((t) => t >= tb);
      for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!);
    }
  });

  test('a fresh model draws sinusoidal encoder positions equal to the checkpoint table', () => {
    const { config } = S.parseModelConfig(rawConfig(), 'config.json');
    const fresh = S.createModel(config) as S.WhisperForConditionalGeneration;
    const table = fresh.model.encoder.embedPositions.weight;
    assertClose(table, model.model.encoder.embedPositions.weight, { atol: 1e-6, rtol: 0 }, 'sinusoids');
    assert.deepEqual(
      fresh.namedParameters().map(([k]) => k).sort(),
      model.namedParameters().map(([k]) => k).sort(),
    );
  });

  test('parameters are the checkpoint keys', () => {
    const keys = new Set(model.namedParameters().map(([k]) => k));
    for (const k of [
      'model.encoder.conv1.weight',
      'model.encoder.conv2.bias',
      'model.encoder.embed_positions.weight',
      'model.encoder.layers.1.self_attn.k_proj.weight',
      'model.encoder.layer_norm.weight',
      'model.decoder.embed_tokens.weight',
      'model.decoder.embed_positions.weight',
      'model.decoder.layers.0.encoder_attn.q_proj.bias',
      'model.decoder.layers.1.encoder_attn_layer_norm.weight',
      'model.decoder.layers.1.final_layer_norm.bias',
      'model.decoder.layer_norm.bias',
    ]) {
      assert.ok(keys.has(k), k);
    }
    assert.ok(!keys.has('model.encoder.layers.0.self_attn.k_proj.bias'), 'k_proj has no bias');
    assert.ok(!keys.has('proj_out.weight'), 'proj_out is tied');
  });

  test('save and load round trip; an untied proj_out is read from its own tensor', async () => {
    const dir = tempDir('strata-whisper-save-');
    S.saveModel(dir, model, loaded.config);
    const again = (await S.loadModel(dir)).model as S.WhisperForConditionalGeneration;
    const logits = S.noGrad(() => again.forward(exp.input_features!, exp.decoder_input_ids!).logits);
    assertClose(logits, exp.logits!, TOL, 'reloaded logits');

    const untied = tempDir('strata-whisper-untied-');
    const tensors: Record<string, S.Tensor> = Object.fromEntries(model.namedParameters());
    tensors['proj_out.weight'] = model.model.decoder.embedTokens.weight.mul(0.5);
    S.writeHFDirectory(untied, { ...rawConfig(), tie_word_embeddings: false }, tensors);
    const u = (await S.loadModel(untied)).model as S.WhisperForConditionalGeneration;
    assert.ok(u.projOut);
    const half = S.noGrad(() => u.forward(exp.input_features!, exp.decoder_input_ids!).logits);
    assertClose(half, exp.logits!.mul(0.5), TOL, 'untied proj_out');
    // tied, a saved proj_out.weight is a duplicate and skipped
    S.writeHFDirectory(untied, rawConfig(), tensors);
    assert.deepEqual((await S.loadModel(untied)).unusedKeys, []);
  });

  test('trainable: teacher-forced cross-entropy reaches every parameter and a few AdamW steps lower it', () => {
    const { config } = S.parseModelConfig(rawConfig(), 'config.json');
    const fresh = S.createModel(config, { generator: new S.Generator(3) }) as S.WhisperForConditionalGeneration;
    fresh.train();
    const ids = exp.decoder_input_ids!; // (B, 7): predict ids[1:] from ids[:-1]
    const inputs = ids.slice(1, 0, 6);
    const labels = ids.slice(1, 1, 7).contiguous();
    const loss = () => S.crossEntropy(fresh.forward(exp.input_features!, inputs).logits, labels);
    const first = loss();
    first.backward();
    for (const [name, p] of fresh.namedParameters()) assert.ok(p.grad && p.grad.abs().sum().item() > 0, `${name} has a gradient`);
    const opt = new S.optim.AdamW(fresh.parameters(), { lr: 3e-3 });
    opt.step();
    for (let i = 0; i < 4; i++) {
      opt.zeroGrad();
      loss().backward();
      opt.step();
    }
    assert.ok(S.noGrad(() => loss()).item() < first.item());
  });

  test('input errors: feature shape, decoder length, config fields', () => {
    assert.throws(() => model.encode(S.zeros([1, 80, 3000])), /WhisperEncoder: input features must be \(B, 80, 100\) f32 .* got f32 \(1, 80, 3000\)/);
    assert.throws(() => model.encode(S.zeros([1, 128, 100])), /input features must be \(B, 80, 100\)/);
    const cross = S.noGrad(() => model.crossAttention(model.encode(S.zeros([1, 80, 100]))));
    assert.throws(() => model.decode(S.zeros([1, 65], { dtype: 'i32' }), cross), /positions up to 64 exceed the 64/);
    assert.throws(() => model.decode(S.zeros([2, 3], { dtype: 'i32' }), cross), /the decoder has 2 rows but the encoder states/);
    const bad = (fields: Record<string, unknown>) => () => S.parseModelConfig({ ...rawConfig(), ...fields }, 'config.json');
    assert.throws(bad({ d_model: 30 }), /field 'encoder_attention_heads' \(4\) must divide d_model \(30\)/);
    assert.throws(bad({ d_model: 33, encoder_attention_heads: 3, decoder_attention_heads: 3 }), /field 'd_model' \(33\) must be even/);
    assert.throws(bad({ decoder_start_token_id: 999 }), /field 'decoder_start_token_id' must be <= 384/);
    assert.throws(bad({ suppress_tokens: [1, 4000] }), /field 'suppress_tokens' holds token ids outside the vocabulary/);
    assert.throws(() => S.whisperDecodingConfig(model.config, { ...rawGenerationConfig(), no_timestamps_token_id: 400 }, tokenizer), /<\|notimestamps\|> is token 400, outside the model's vocabulary/);
  });
});

describe('whisper decoding rules', () => {
  // a toy vocabulary: 0..9 text, 10 = <|endoftext|>, 11 = <|notimestamps|>, 12.. = <|0.00|>, <|0.02|>, ...
  const EOT = 10;
  const NO_TS = 11;
  const TB = 12;
  const V = 20;
  const rules = new S.TimestampRules(TB, NO_TS, EOT, 3);
  const allowed = (tokens: number[], promptLength: number, logits = new Float32Array(V)): number[] => {
    rules.process(logits, tokens, promptLength);
    return [...logits.keys()].filter((i) => logits[i]! > -Infinity);
  };
  const P = [99, 98]; // a prompt of two tokens

  test('the first token is a timestamp, at most max_initial_timestamp_index steps in', () => {
    assert.deepEqual(allowed([...P], 2), [12, 13, 14, 15]);
  });

  test('after a pair (or the first timestamp) comes text; after text and one timestamp, a timestamp or the end', () => {
    assert.deepEqual(allowed([...P, 13], 2), [...Array(NO_TS).keys()], 'after the opening timestamp: text or the end');
    assert.deepEqual(allowed([...P, 13, 4, 15, 15], 2), [...Array(NO_TS).keys()], 'after a pair: text');
    // (text that is likely enough, so that the timestamps' total does not outweigh it)
    const likelyText = () => Float32Array.from({ length: V }, (_, i) => (i <= EOT ? 5 : 0));
    assert.deepEqual(allowed([...P, 13, 4, 15], 2, likelyText()), [EOT, 15, 16, 17, 18, 19], 'after text and an end timestamp: its partner (>= it) or the end');
    assert.deepEqual(allowed([...P, 13, 4], 2, likelyText()), [...Array(NO_TS).keys(), 14, 15, 16, 17, 18, 19], 'after text: text or a later timestamp');
  });

  test('timestamps win when their total probability beats the best text token', () => {
    const logits = new Float32Array(V).fill(-5);
    logits[3] = 1; // the best text token
    for (let i = TB; i < V; i++) logits[i] = 0.5; // each below it, together above it
    assert.deepEqual(allowed([...P, 13, 4], 2, logits), [14, 15, 16, 17, 18, 19]);
    const one = new Float32Array(V).fill(-5);
    one[3] = 1;
    one[16] = 0.5;
    assert.deepEqual(allowed([...P, 13, 4], 2, one).includes(3), true);
  });

  test('suppression: always, and at the first step only', () => {
    const always = new S.SuppressTokens([1, 2]);
    const begin = new S.SuppressAtBegin([3, EOT]);
    const a = new Float32Array(V);
    always.process(a);
    begin.process(a, [...P], 2);
    assert.deepEqual([1, 2, 3, EOT].map((i) => a[i]), [-Infinity, -Infinity, -Infinity, -Infinity]);
    const b = new Float32Array(V);
    begin.process(b, [...P, 5], 2);
    assert.ok(b.every((x) => x === 0));
  });

  test('segments split at timestamps; an open segment ends at the window end', () => {
    const tb = TB;
    assert.deepEqual(S.timedSegments([tb, 1, 2, tb + 5, tb + 5, 3, tb + 9], tb, 1), [
      { start: 0, end: 0.1, tokens: [1, 2] },
      { start: 0.1, end: 0.18, tokens: [3] },
    ]);
    assert.deepEqual(S.timedSegments([tb + 2, 4, 5], tb, 1), [{ start: 0.04, end: 1, tokens: [4, 5] }]);
    assert.deepEqual(S.timedSegments([tb, tb + 1, tb + 1, tb + 3], tb, 1), [], 'segments without text are dropped');
    assert.deepEqual(S.timedSegments([6, tb + 1, EOT, 7], tb, 1, EOT), [{ start: 0, end: 0.02, tokens: [6] }]);
  });
});

describe('whisper prompts and languages', async () => {
  const model = (await S.loadModel(DIR)).model as S.WhisperForConditionalGeneration;
  const tokenizer = await S.loadTokenizer(DIR);
  const settings = S.whisperDecodingConfig(model.config, rawGenerationConfig(), tokenizer);

  test('prompts: language, task and <|notimestamps|> in Whisper order', () => {
    assert.deepEqual(S.decoderPrompt(settings, { language: 'de', task: 'translate' }), [321, 323, 328, 333]);
    assert.deepEqual(S.decoderPrompt(settings, { language: 'haw', timestamps: true }), [321, 327, 329]);
    assert.throws(() => S.decoderPrompt(settings, {}), /a multilingual model needs the language/);
  });

  test('languages by code, name or token; unknown ones are refused with the known list', () => {
    assert.equal(S.resolveLanguage(settings, 'EN'), 'en');
    assert.equal(S.resolveLanguage(settings, 'German'), 'de');
    assert.equal(S.resolveLanguage(settings, '<|fr|>'), 'fr');
    assert.equal(S.resolveLanguage(settings, 'castilian'), 'es');
    assert.equal(S.resolveLanguage(settings, 'hawaiian'), 'haw');
    assert.throws(() => S.resolveLanguage(settings, 'italian'), /language 'italian' is not one this model knows \(en, de, fr, es, ja, haw\)/);
    assert.throws(() => S.resolveLanguage(settings, 'klingon'), /not one this model knows/);
  });

  test('an English-only model: no language or task tokens, no translation', () => {
    const gen = rawGenerationConfig();
    delete gen.lang_to_id;
    delete gen.task_to_id;
    gen.is_multilingual = false;
    const en = S.whisperDecodingConfig(model.config, gen, null);
    assert.equal(en.multilingual, false);
    assert.deepEqual(S.decoderPrompt(en, {}), [321, 333]);
    assert.deepEqual(S.decoderPrompt(en, { language: 'en', timestamps: true }), [321]);
    assert.equal(S.resolveLanguage(en, 'English'), 'en');
    assert.throws(() => S.resolveLanguage(en, 'de'), /English-only model; it cannot take language 'de'/);
    assert.throws(() => S.decoderPrompt(en, { task: 'translate' }), /cannot translate/);
  });
});
