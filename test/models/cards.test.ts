// Model cards from the registry and the family comparison computed from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BERT_CARD,
  GPT2_CARD,
  LLAMA_CARD,
  MODELS,
  MODEL_TYPES,
  architectureCard,
  cardJson,
  comparisonCells,
  createModel,
  familyComparison,
  parseModelConfig,
  registeredArchitectures,
  type ModelCard,
  type ModelEntry,
  type ModelConfig,
  type RegisteredArchitecture,
} from '../../src/models/index.js';

/** The smallest config.json of each model_type, so every architecture can be built. */
const TINY: Record<string, Record<string, unknown>> = {
  gpt2: { vocab_size: 16, n_positions: 8, n_embd: 8, n_layer: 1, n_head: 2 },
  llama: { vocab_size: 16, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8 },
  bert: { vocab_size: 16, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8, pad_token_id: 1 },
  vit: { hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, image_size: 8, patch_size: 4 },
  clip: {
    projection_dim: 8,
    text_config: { vocab_size: 16, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8, eos_token_id: 15 },
    vision_config: { hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, image_size: 8, patch_size: 4 },
  },
  whisper: {
    vocab_size: 16,
    num_mel_bins: 4,
    d_model: 8,
    encoder_layers: 1,
    decoder_layers: 1,
    encoder_attention_heads: 2,
    decoder_attention_heads: 2,
    encoder_ffn_dim: 16,
    decoder_ffn_dim: 16,
    max_source_positions: 4,
    max_target_positions: 8,
    decoder_start_token_id: 15,
    eos_token_id: 14,
    pad_token_id: 14,
    bos_token_id: 14,
  },
  'vision-encoder-decoder': {
    encoder: { model_type: 'vit', hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, image_size: 8, patch_size: 4 },
    decoder: { model_type: 'gpt2', vocab_size: 16, n_positions: 8, n_embd: 8, n_layer: 1, n_head: 2, add_cross_attention: true },
    decoder_start_token_id: 0,
  },
  llava: {
    image_token_index: 15,
    vision_config: { hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2, image_size: 8, patch_size: 4 },
    text_config: { vocab_size: 16, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8 },
  },
};
const tinyConfig = (modelType: string): Record<string, unknown> => ({ model_type: modelType, ...(TINY[modelType] ?? (['bert', 'roberta'].includes(modelType) ? TINY.bert : TINY.llama)) });

test('every architecture of every model_type is listed once, with a complete card', () => {
  const listed = registeredArchitectures();
  const expected = MODEL_TYPES.flatMap((t) => Object.keys((MODELS[t] as ModelEntry<ModelConfig>).architectures).map((a) => `${t}/${a}`));
  assert.deepEqual(listed.map((a) => `${a.modelType}/${a.architecture}`), expected);
  for (const { card, modelType, architecture } of listed) {
    const where = `${modelType}/${architecture}`;
    assert.ok(card.families.length > 0, where);
    assert.ok(card.inputModalities.length > 0 && card.outputModalities.length > 0, where);
    assert.ok(card.architecture && card.primaryData && card.purpose, where);
    assert.ok(card.adaptability.length > 0 && card.applications.length > 0 && card.examples.length > 0, where);
    assert.deepEqual(architectureCard(modelType, architecture), card);
  }
  assert.throws(() => architectureCard('llama', 'NoSuchArchitecture'), /no registered architecture 'NoSuchArchitecture'/);
});

test("the registry's cards are the cards the model classes carry", () => {
  for (const a of registeredArchitectures()) {
    const { config } = parseModelConfig(tinyConfig(a.modelType) as never, 'config.json');
    const model = createModel(config, { architecture: a.architecture });
    // a class carries its network's card or, once it adapts it to its head, the architecture's card
    assert.ok(model.card === a.baseCard || JSON.stringify(model.card) === JSON.stringify(a.card), `${a.modelType}/${a.architecture}`);
  }
});

test('a head keeps the family, inputs and provenance of its base card and changes what comes out', () => {
  const byName = new Map(registeredArchitectures().map((a) => [`${a.modelType}/${a.architecture}`, a]));
  const get = (key: string): RegisteredArchitecture => byName.get(key) ?? assert.fail(key);
  assert.deepEqual(get('llama/LlamaForCausalLM').card, LLAMA_CARD);
  assert.deepEqual(get('gpt2/GPT2LMHeadModel').card, GPT2_CARD);
  for (const [key, base] of [['llama/LlamaForSequenceClassification', LLAMA_CARD], ['gpt2/GPT2ForSequenceClassification', GPT2_CARD], ['mistral/MistralForSequenceClassification', LLAMA_CARD], ['bert/BertForSequenceClassification', BERT_CARD]] as const) {
    const { card, head, baseCard } = get(key);
    assert.equal(head, 'sequence-classification');
    assert.equal(baseCard, base);
    assert.deepEqual(card.outputModalities, ['label'], key);
    for (const field of ['families', 'inputModalities', 'examples', 'primaryData', 'purpose'] as const) assert.deepEqual(card[field], base[field], `${key} ${field}`);
    assert.ok(card.architecture.startsWith(base.architecture) && card.architecture.includes('sequence-classification head'));
    assert.ok(!card.adaptability.includes('prompting'), 'a classifier does not generate, so it cannot be prompted');
    assert.ok(card.applications.includes('text classification'));
  }
  assert.deepEqual(get('bert/BertModel').card.outputModalities, ['embedding']);
  assert.deepEqual(get('roberta/RobertaForMaskedLM').card.outputModalities, ['text']);
  assert.deepEqual(get('bert/BertForQuestionAnswering').card.applications, ['extractive question answering']);
});

test('cardJson gives the snake_case card of GET /v1/models', () => {
  const json = cardJson(LLAMA_CARD);
  assert.deepEqual(Object.keys(json), ['families', 'input_modalities', 'output_modalities', 'architecture', 'adaptability', 'applications', 'examples', 'primary_data', 'purpose']);
  assert.deepEqual(json.input_modalities, LLAMA_CARD.inputModalities);
  assert.equal(json.primary_data, LLAMA_CARD.primaryData);
  assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
});

test('the comparison of the registered families is the union of their cards', () => {
  const rows = familyComparison();
  assert.deepEqual(rows.map((r) => r.family), ['large-language', 'foundation', 'multi-modal']);
  const [llm, foundation, multiModal] = rows as [typeof rows[0], typeof rows[0], typeof rows[0]];
  const textTypes = ['gpt2', 'llama', 'mistral', 'qwen2', 'palm', 'bert', 'roberta'];
  for (const row of [llm, foundation]) {
    assert.equal(row.note, null);
    assert.ok(textTypes.every((t) => row.modelTypes.includes(t)));
    assert.ok(row.inputModalities.includes('text'));
    assert.deepEqual(new Set(row.outputModalities), new Set(['text', 'label', 'embedding']));
    for (const card of [GPT2_CARD, LLAMA_CARD, BERT_CARD]) {
      assert.ok(row.purpose.includes(card.purpose));
      assert.ok(row.primaryData.includes(card.primaryData));
      for (const example of card.examples) assert.ok(row.examples.includes(example), example);
    }
    assert.deepEqual(row.architecture.slice(0, 2), ['decoder-only transformer', 'encoder-only transformer']);
    assert.ok(row.applications.includes('text generation') && row.applications.includes('fill-mask'));
  }
  assert.deepEqual(llm.modelTypes, textTypes);
  assert.deepEqual(llm.inputModalities, ['text']);
  assert.deepEqual(foundation.modelTypes, [...MODEL_TYPES]);
  assert.ok(foundation.inputModalities.includes('image'), 'ViT and CLIP are vision foundation models');
  assert.equal(multiModal.note, null);
  assert.deepEqual(multiModal.modelTypes, ['clip', 'whisper', 'vision-encoder-decoder', 'llava']);
  assert.deepEqual(new Set(multiModal.inputModalities), new Set(['text', 'image', 'audio']));
  assert.deepEqual(multiModal.architecture, ['dual-encoder transformer', 'encoder-decoder transformer', 'vision encoder-decoder transformer', 'vision-language decoder']);
  assert.equal(comparisonCells(multiModal).modelTypes, 'clip, whisper, vision-encoder-decoder, llava');
  // a family without models says so
  const textOnly = familyComparison(registeredArchitectures().filter((a) => textTypes.includes(a.modelType)));
  assert.equal(textOnly[2]!.note, 'no registered model yet');
  assert.deepEqual(textOnly[2]!.modelTypes, []);
  assert.deepEqual(textOnly[2]!.inputModalities, []);
  assert.equal(comparisonCells(textOnly[2]!).modelTypes, 'no registered model yet');
  assert.equal(comparisonCells(textOnly[2]!).purpose, '—');
});

const DUAL_ENCODER: ModelCard = {
  families: ['multi-modal', 'foundation'],
  inputModalities: ['image', 'text'],
  outputModalities: ['embedding'],
  architecture: 'dual encoder (ViT image tower, transformer text tower, contrastive projection)',
  adaptability: ['linear-probe', 'full-finetune'],
  applications: ['zero-shot image classification', 'image-text retrieval'],
  examples: ['a test dual encoder'],
  primaryData: 'image-text pairs from the web',
  purpose: 'contrastive image-text pretraining',
};

test('a new card changes the rows of its families and only those', () => {
  const registered = registeredArchitectures();
  const before = familyComparison(registered);
  const fake: RegisteredArchitecture = { modelType: 'test-dual', architecture: 'TestDualModel', head: 'none', baseCard: DUAL_ENCODER, card: DUAL_ENCODER };
  const [llm, foundation, multiModal] = familyComparison([...registered, fake]);
  assert.deepEqual(llm, before[0]);
  assert.equal(multiModal!.note, null);
  assert.deepEqual(multiModal!.modelTypes, [...before[2]!.modelTypes, 'test-dual']);
  assert.ok(multiModal!.inputModalities.includes('image') && multiModal!.inputModalities.includes('text'));
  assert.ok(multiModal!.primaryDataType.includes('image') && multiModal!.primaryDataType.includes('text'));
  assert.deepEqual(multiModal!.architecture, [...before[2]!.architecture, 'dual encoder']);
  assert.ok(multiModal!.examples.includes('a test dual encoder'));
  for (const a of DUAL_ENCODER.applications) assert.ok(multiModal!.applications.includes(a), a);
  assert.ok(comparisonCells(multiModal!).purpose.includes('contrastive image-text pretraining'));
  assert.ok(foundation!.modelTypes.includes('test-dual') && !before[1]!.modelTypes.includes('test-dual'));
  assert.ok(foundation!.examples.includes('a test dual encoder'));
  // and with no cards at all, every family says it has none
  assert.ok(familyComparison([]).every((r) => r.note === 'no registered model yet' && r.applications.length === 0));
});
