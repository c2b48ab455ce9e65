// Models for the server tests: a tiny random-weight LLaMA beside a 512-token byte-level BPE
// tokenizer trained here (ChatML template), and the tiny BERT fixture with its WordPiece vocabulary.

import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Generator } from '../../src/tensor/random.js';
import { createModel, parseModelConfig, saveModel } from '../../src/models/index.js';
import { saveTrainedTokenizer, trainByteLevelBpe } from '../../src/tokenizers/bpe-trainer.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { writeTinyWordPiece } from '../helpers/tiny-wordpiece.js';

const CORPUS = [
  'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse,',
  'and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world.',
  'It is a way I have of driving off the spleen and regulating the circulation.',
  'The quick brown fox jumps over the lazy dog. Hello, world! How are you today? I am fine, thank you.',
  '{"name": "Ishmael", "age": 30, "ship": "Pequod", "crew": ["Ahab", "Starbuck", "Queequeg"], "ok": true, "value": null}',
];

function vocabSize(json: object): number {
  const j = json as { model: { vocab: Record<string, number> }; added_tokens: { id: number }[] };
  return Math.max(...Object.values(j.model.vocab), ...j.added_tokens.map((t) => t.id)) + 1;
}

export interface ServeModels {
  llama: string;
  bert: string;
  root: string;
}

/** Writes the models into a fresh temporary folder; `contextLength` sets the LLaMA's max_position_embeddings. */
export function writeServeModels(contextLength = 4096): ServeModels {
  const root = mkdtempSync(path.join(tmpdir(), 'strata-serve-'));
  process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  const llama = path.join(root, 'tiny-llama');
  const trained = trainByteLevelBpe(
    Array.from({ length: 20 }, () => CORPUS).flat(),
    { vocabSize: 512, minFrequency: 1 },
  );
  saveTrainedTokenizer(llama, trained);
  const raw = {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    // the trainer stops early when the corpus runs out of pairs: take the size it reached
    vocab_size: vocabSize(trained.tokenizerJson),
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: contextLength,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    bos_token_id: 0,
    eos_token_id: 0,
  };
  const { config } = parseModelConfig(raw, 'config.json');
  saveModel(llama, createModel(config, { generator: new Generator(7) }), config);
  const bert = path.join(root, 'tiny-bert');
  cpSync(path.join(FIXTURES_DIR, 'models', 'bert'), bert, { recursive: true });
  rmSync(path.join(bert, 'expected.safetensors'));
  writeTinyWordPiece(bert);
  return { llama, bert, root };
}
