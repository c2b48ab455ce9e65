// `strata pretrain` as a library call: train a tokenizer when none is given, pack the corpus,
// build a fresh model of the chosen architecture, train it, and leave RUN as a Hugging Face
// directory (config.json, model.safetensors, tokenizer.json, ...) that `strata generate` loads.
// RUN also holds train_config.json, metrics.jsonl and checkpoints/.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { type ModelConfig, createModel, parseModelConfig } from '../models/registry.js';
import { saveModel } from '../models/load.js';
import type { CausalLM } from '../models/types.js';
import { loadTokenizer } from '../tokenizers/index.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { saveTrainedTokenizer, trainByteLevelBpe } from '../tokenizers/bpe-trainer.js';
import { Generator } from '../tensor/random.js';
import { copyTokenizerFiles } from '../io/hf.js';
import { TokenWindows, packCorpus } from './data.js';
import { readDocuments, sourceFingerprint } from './sources.js';
import { CausalLMTask, type MaskedLM, MaskedLMTask, maskingOf } from './tasks.js';
import { startRunConfig } from './run-config.js';
import { Trainer, type TrainerCallbacks, type TrainResult } from './trainer.js';

export const PRETRAIN_ARCHS = ['llama', 'gpt2', 'bert'] as const;
export type PretrainArch = (typeof PRETRAIN_ARCHS)[number];

/** Everything `strata pretrain` takes; saved as RUN/train_config.json. */
export interface PretrainConfig {
  arch: PretrainArch;
  /** a file, folder, JSONL or corpus:NAME */
  data: string;
  /** JSONL text field */
  field?: string;
  /** a folder with tokenizer.json; default: train one on the data */
  tokenizer?: string;
  out: string;
  dim: number;
  layers: number;
  heads: number;
  /** llama only (GQA); default heads */
  kvHeads?: number;
  /** MLP width; default 4·dim (gpt2, bert) or ~8/3·dim rounded to 32 (llama) */
  ffn?: number;
  context: number;
  vocabSize: number;
  steps: number;
  batchSize: number;
  gradAccumulation: number;
  lr: number;
  warmupSteps?: number;
  weightDecay: number;
  seed: number;
  checkpointEvery: number;
  evalEvery: number;
  valFraction: number;
}

export const PRETRAIN_DEFAULTS = {
  arch: 'llama',
  dim: 128,
  layers: 4,
  heads: 4,
  context: 128,
  vocabSize: 4096,
  steps: 1000,
  batchSize: 16,
  gradAccumulation: 1,
  lr: 3e-3,
  weightDecay: 0.1,
  seed: 0,
  checkpointEvery: 100,
  evalEvery: 100,
  valFraction: 0.05,
} as const satisfies Partial<PretrainConfig>;

export { TRAIN_CONFIG_FILE } from './run-config.js';

export interface PretrainCallbacks extends TrainerCallbacks {
  /** one line about a phase (tokenizer training, packing, saving) */
  onLog?(message: string): void;
  onTokenizerProgress?(merges: number, target: number): void;
  onPackProgress?(documents: number, tokens: number): void;
}

export interface PretrainResult extends TrainResult {
  out: string;
  config: ModelConfig;
  parameters: number;
  corpusTokens: number;
}

const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

function check(cond: boolean, message: string): void {
  if (!cond) throw new StrataError('argument', 'pretrain', message);
}

/** Validates a config and fills in the derived defaults. */
export function validatePretrainConfig(c: PretrainConfig): Required<Omit<PretrainConfig, 'field' | 'tokenizer' | 'warmupSteps'>> & PretrainConfig {
  check((PRETRAIN_ARCHS as readonly string[]).includes(c.arch), `--arch must be one of ${PRETRAIN_ARCHS.join(', ')}, got '${c.arch}'`);
  for (const k of ['dim', 'layers', 'heads', 'context', 'vocabSize', 'steps', 'batchSize', 'gradAccumulation'] as const) {
    check(Number.isInteger(c[k]) && c[k] >= 1, `${k} must be an integer >= 1, got ${c[k]}`);
  }
  check(c.dim % c.heads === 0, `heads (${c.heads}) must divide dim (${c.dim})`);
  check(c.arch !== 'llama' || (c.dim / c.heads) % 2 === 0, `the head size dim/heads (${c.dim / c.heads}) must be even for rotary positions`);
  const kvHeads = c.kvHeads ?? c.heads;
  check(Number.isInteger(kvHeads) && kvHeads >= 1 && c.heads % kvHeads === 0, `kvHeads (${kvHeads}) must divide heads (${c.heads})`);
  check(c.arch === 'llama' || kvHeads === c.heads, '--kv-heads applies to llama only');
  check(c.vocabSize >= 256 + 8 && c.vocabSize <= 1 << 20, `vocabSize must be in [264, ${1 << 20}], got ${c.vocabSize}`);
  check(c.lr > 0 && Number.isFinite(c.lr), `lr must be > 0, got ${c.lr}`);
  check(c.weightDecay >= 0, `weightDecay must be >= 0, got ${c.weightDecay}`);
  check(c.valFraction > 0 && c.valFraction < 0.5, `valFraction must be in (0, 0.5), got ${c.valFraction}`);
  check(Number.isInteger(c.checkpointEvery) && c.checkpointEvery >= 0, `checkpointEvery must be an integer >= 0, got ${c.checkpointEvery}`);
  check(Number.isInteger(c.evalEvery) && c.evalEvery >= 0, `evalEvery must be an integer >= 0, got ${c.evalEvery}`);
  const ffn = c.ffn ?? (c.arch === 'llama' ? Math.ceil((c.dim * 8) / 3 / 32) * 32 : 4 * c.dim);
  check(Number.isInteger(ffn) && ffn >= 1, `ffn must be an integer >= 1, got ${ffn}`);
  return { ...c, kvHeads, ffn };
}

/** The config.json of a fresh model for the chosen architecture and tokenizer. */
export function pretrainModelConfig(c: ReturnType<typeof validatePretrainConfig>, tokenizer: Tokenizer): ModelConfig {
  const sp = tokenizer.special;
  const vocab = tokenizer.vocabSize;
  let raw: Record<string, unknown>;
  switch (c.arch) {
    case 'llama':
      raw = {
        model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: vocab, hidden_size: c.dim, intermediate_size: c.ffn,
        num_hidden_layers: c.layers, num_attention_heads: c.heads, num_key_value_heads: c.kvHeads, max_position_embeddings: c.context,
        rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, hidden_act: 'silu', initializer_range: 0.02,
        bos_token_id: sp.bos ?? null, eos_token_id: sp.eos ?? null, pad_token_id: sp.pad ?? null,
      };
      break;
    case 'gpt2':
      raw = {
        model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: vocab, n_embd: c.dim, n_layer: c.layers, n_head: c.heads,
        n_positions: c.context, n_inner: c.ffn, activation_function: 'gelu_new', initializer_range: 0.02,
        bos_token_id: sp.bos ?? sp.eos ?? null, eos_token_id: sp.eos ?? null,
      };
      break;
    case 'bert':
      raw = {
        model_type: 'bert', architectures: ['BertForMaskedLM'], vocab_size: vocab, hidden_size: c.dim, num_hidden_layers: c.layers,
        num_attention_heads: c.heads, intermediate_size: c.ffn, max_position_embeddings: c.context, type_vocab_size: 2,
        hidden_act: 'gelu', pad_token_id: sp.pad ?? 0, initializer_range: 0.02, layer_norm_eps: 1e-12,
      };
      break;
  }
  return parseModelConfig(raw as never, 'pretrain').config;
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

async function prepareTokenizer(c: PretrainConfig, resume: boolean, cb: PretrainCallbacks): Promise<Tokenizer> {
  if (c.tokenizer) {
    const tok = await loadTokenizer(c.tokenizer);
    copyTokenizerFiles(c.tokenizer, c.out);
    return tok;
  }
  if (resume && fs.existsSync(path.join(c.out, 'tokenizer.json'))) return loadTokenizer(c.out);
  cb.onLog?.(`training a byte-level BPE tokenizer (vocab ${c.vocabSize}) on ${c.data}`);
  const trained = trainByteLevelBpe(
    (function* () {
      for (const d of readDocuments(c.data, { field: c.field })) yield d.text;
    })(),
    {
      vocabSize: c.vocabSize,
      specialTokens: c.arch === 'bert' ? BERT_SPECIALS : undefined,
      chatTemplate: c.arch === 'bert' ? null : undefined,
      onProgress: cb.onTokenizerProgress,
    },
  );
  if (c.arch === 'bert') {
    // name the encoder's roles, as a BERT tokenizer_config.json does
    const [pad, unk, cls, sep, mask] = BERT_SPECIALS;
    const config = trained.tokenizerConfig as Record<string, unknown>;
    delete config['bos_token'];
    delete config['eos_token'];
    Object.assign(config, { pad_token: pad, unk_token: unk, cls_token: cls, sep_token: sep, mask_token: mask, additional_special_tokens: [] });
    // [CLS] text [SEP] (and [CLS] a [SEP] b [SEP]): the classification head reads the [CLS] position
    const json = trained.tokenizerJson as { added_tokens: { id: number; content: string }[]; post_processor?: unknown };
    const idOf = (t: string) => json.added_tokens.find((a) => a.content === t)!.id;
    const special = (id: string, typeId = 0) => ({ SpecialToken: { id, type_id: typeId } });
    const sequence = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
    json.post_processor = {
      type: 'TemplateProcessing',
      single: [special(cls!), sequence('A', 0), special(sep!)],
      pair: [special(cls!), sequence('A', 0), special(sep!), sequence('B', 1), special(sep!, 1)],
      special_tokens: Object.fromEntries([cls!, sep!].map((t) => [t, { id: t, ids: [idOf(t)], tokens: [t] }])),
    };
  }
  saveTrainedTokenizer(c.out, trained);
  return loadTokenizer(c.out);
}

/** Pretrains a model from scratch (or resumes a run) and saves it as a Hugging Face directory in `out`. */
export async function pretrain(given: PretrainConfig, options: { resume?: boolean } & PretrainCallbacks = {}): Promise<PretrainResult> {
  const resume = options.resume ?? false;
  const c = startRunConfig(given, resume, validatePretrainConfig);
  const tokenizer = await prepareTokenizer(c, resume, options);
  const packed = packCorpus(c.data, { tokenizer, cacheDir: path.join(c.out, 'data-cache'), source: { field: c.field }, onProgress: options.onPackProgress });
  options.onLog?.(`corpus: ${packed.tokens} tokens in ${packed.documents} documents`);
  const windows = new TokenWindows(packed, { context: c.context, valFraction: c.valFraction, seed: c.seed });
  const config = pretrainModelConfig(c, tokenizer);
  const model = createModel(config, { generator: new Generator(c.seed) });
  const lmOptions = { batchSize: c.batchSize, seed: c.seed };
  let task;
  if (c.arch === 'bert') {
    task = new MaskedLMTask(model as unknown as MaskedLM, windows, { ...lmOptions, ...maskingOf(tokenizer, 'pretrain') });
  } else {
    task = new CausalLMTask(model as CausalLM, windows, lmOptions);
  }
  const configDigest = digest({ config, data: sourceFingerprint(c.data, { field: c.field }), batch: c.batchSize, accum: c.gradAccumulation, context: c.context, seed: c.seed, lr: c.lr });
  const trainer = new Trainer(
    model,
    task,
    {
      steps: c.steps, lr: c.lr, warmupSteps: c.warmupSteps, weightDecay: c.weightDecay, gradAccumulation: c.gradAccumulation, seed: c.seed,
      checkpointEvery: c.checkpointEvery, evalEvery: c.evalEvery, runDir: c.out, resume, configDigest,
    },
    options,
  );
  const result = trainer.run();
  model.eval();
  const ids = config as { bos_token_id?: number | null; eos_token_id?: number | number[] | null };
  const generationConfig = { bos_token_id: ids.bos_token_id ?? null, eos_token_id: ids.eos_token_id ?? null, max_new_tokens: 128, do_sample: true, temperature: 0.8, top_p: 0.95 };
  saveModel(c.out, model, config, { generationConfig: c.arch === 'bert' ? null : generationConfig });
  options.onLog?.(`saved the model to ${c.out}`);
  return { ...result, out: c.out, config, parameters: model.numParameters(), corpusTokens: packed.tokens };
}
