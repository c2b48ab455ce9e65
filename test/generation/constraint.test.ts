// Token constraints: the vocabulary's token bytes and trie, the trie-walking mask against a
// token-by-token check, the pattern DFA against JavaScript's RegExp, and the generation hook.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import llamaTokenizerJs from 'llama-tokenizer-js';
import * as G from '../../src/generation/index.js';
import { StrataError } from '../../src/errors.js';
import { loadTokenizer, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.js';
import { MarkovLM } from '../helpers/markov-lm.js';
import { QWEN3_DIR, SAMPLE_TEXTS, ggufFromLlamaTokenizerJs, randomTexts, type LlamaTokenizerJs } from '../tokenizers/helpers.js';

const { TEXT_NEXT } = await import('../../src/generation/constraint.js');

let qwen3: Tokenizer;
let llama2: Tokenizer;
before(async () => {
  qwen3 = await loadTokenizer(QWEN3_DIR);
  llama2 = tokenizerFromGguf(ggufFromLlamaTokenizerJs(llamaTokenizerJs as unknown as LlamaTokenizerJs));
});

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

const utf8 = new TextEncoder();

describe('token vocabulary', () => {
  test('plain JSON-string text states accept exactly valid UTF-8 without quote, backslash or controls', () => {
    const rnd = lcg(1);
    const fatal = new TextDecoder('utf-8', { fatal: true });
    const pools = [[0x41, 0x22, 0x5c, 0x0a], [0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0x80, 0x9f], [0xf0, 0x9f, 0x98, 0x80, 0xf4, 0x90, 0x8f, 0xc0, 0xe0, 0xbf, 0xff]];
    for (let k = 0; k < 5000; k++) {
      const bytes = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => {
        const pool = pools[Math.floor(rnd() * pools.length)]!;
        return pool[Math.floor(rnd() * pool.length)]!;
      });
      let state = 0;
      for (const b of bytes) if (state >= 0) state = TEXT_NEXT[state * 256 + b]!;
      let valid = !bytes.some((b) => b === 0x22 || b === 0x5c || b < 0x20);
      try {
        fatal.decode(Uint8Array.from(bytes));
      } catch {
        valid = false;
      }
      assert.equal(state === 0, valid, `bytes ${bytes.map((b) => b.toString(16)).join(' ')}`);
    }
  });

  test('token bytes spell what the tokenizer decodes (byte-level BPE and SentencePiece)', () => {
    for (const tok of [qwen3, llama2]) {
      const v = G.tokenVocabulary(tok);
      assert.equal(v.size, tok.vocabSize);
      // (NFC: the Qwen3 tokenizer normalizes)
      for (const text of [...SAMPLE_TEXTS, ...randomTexts(200, 3)].map((t) => t.normalize('NFC'))) {
        const ids = tok.encode(text, { addSpecialTokens: false });
        const parts = ids.map((id) => v.bytes[id]!);
        assert.ok(parts.every((p) => p !== null), `a token of ${JSON.stringify(text)} has no bytes`);
        const joined = new TextDecoder().decode(Buffer.concat(parts));
        // SentencePiece adds a word-start space that decoding the whole text drops
        assert.ok(joined === text || joined === ' ' + text, `${JSON.stringify(joined)} vs ${JSON.stringify(text)}`);
      }
      for (const id of tok.endOfGenerationIds) assert.equal(v.bytes[id], null);
      for (let id = 0; id < tok.vocabSize; id++) if (tok.isSpecial(id)) assert.equal(v.bytes[id], null);
    }
  });

  test('every token sits in the trie under its bytes; subtrees are contiguous token ranges', () => {
    const v = G.tokenVocabulary(llama2);
    const seen = new Set<number>();
    const walk = (node: number, prefix: number[]) => {
      for (let t = v.tokenStart[node]!; t < v.tokenStart[node + 1]!; t++) {
        const id = v.trieTokens[t]!;
        seen.add(id);
        assert.deepEqual([...v.bytes[id]!], prefix);
      }
      for (let c = node + 1; c < v.trieEnd[node]!; c = v.trieEnd[c]!) walk(c, [...prefix, v.trieByte[c]!]);
    };
    walk(0, []);
    assert.equal(seen.size, v.bytes.filter((b) => b !== null).length);
  });
});

/** allowed tokens by feeding each token's bytes on its own */
function bruteForce(c: G.LanguageConstraint<unknown>, vocab: G.TokenVocabulary, tokensLeft?: number): Uint8Array {
  const out = new Uint8Array(vocab.size);
  const room = tokensLeft === undefined || c.minRemaining > tokensLeft ? Infinity : tokensLeft - 1;
  const lang = (c as unknown as { language: G.ByteLanguage<unknown> }).language;
  for (let id = 0; id < vocab.size; id++) {
    const b = vocab.bytes[id];
    if (!b) continue;
    const states = c.feedBytes(b);
    if (states.length > 0 && Math.min(...states.map((s) => lang.minRemaining(s))) <= room) out[id] = 1;
  }
  if (c.accepts) for (const t of vocab.endTokens) out[t] = 1;
  return out;
}

describe('trie mask', () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 6 },
      note: { type: 'string', minLength: 2 },
      code: { type: 'string', pattern: '^[a-f0-9]{2,6}$' },
      n: { type: 'number', minimum: -5, maximum: 70.5 },
      list: { type: 'array', items: { enum: ['on', 'off', 1, 10] }, maxItems: 3 },
    },
    required: ['name', 'note', 'code', 'n', 'list'],
    additionalProperties: { type: 'boolean' },
  };
  const prefixes = ['', '{', '{"name":"', '{"name":"ab', '{"name":"ab\\u00', '{"name":"x", "note":"\xe4', '{"name":"x","note":"yy","code":"a', '{"name":"x","note":"yy","code":"ab","n":-', '{"name":"x","note":"yy","code":"ab","n":7', '{"name":"x","note":"yy","code":"ab","n":7,"list":[1', '{"name":"x","note":"yy","code":"ab","n":7,"list":["on"],"ex', '{"name":"x","note":"yy","code":"ab","n":7,"list":[],"', '{"name":"x","note":"yy","code":"ab","n":7,"list":[],"na', '{"name":"\\u00e9\xe4\xb8', '{"name":"x","note":"\xf0\x9f'];

  test('equals a token-by-token check, with and without a budget (Qwen3 and Llama 2 vocabularies)', () => {
    const grammar = new G.JsonGrammar(schema);
    for (const tok of [qwen3, llama2]) {
      const vocab = G.tokenVocabulary(tok);
      for (const p of prefixes) {
        const c = grammar.constraint(tok);
        // Latin-1: '\xe4' is the raw byte E4, a character cut short
        const bytes = Uint8Array.from(Buffer.from(p, 'latin1'));
        assert.equal(c.pushBytes(bytes), bytes.length, p);
        const least = c.minRemaining;
        for (const left of [undefined, 200, least + 5, least + 3, least + 1, least, least - 1]) {
          const fast = c.allowedTokens(left).slice();
          const slow = bruteForce(c as G.LanguageConstraint<unknown>, vocab, left);
          const diff: string[] = [];
          for (let id = 0; id < vocab.size && diff.length < 5; id++) if (fast[id] !== slow[id]) diff.push(`${id} ${JSON.stringify(tok.decode([id]))} fast=${fast[id]}`);
          assert.deepEqual(diff, [], `${JSON.stringify(p)} tokensLeft=${left}`);
        }
      }
    }
  });

  test('mask sets disallowed logits to -Infinity and keeps the others', () => {
    const c = new G.JsonGrammar({ type: 'boolean' }).constraint(qwen3);
    const logits = new Float32Array(qwen3.vocabSize + 7).fill(1.5);
    c.mask(logits);
    const kept = [...logits.keys()].filter((i) => logits[i] === 1.5).map((i) => qwen3.decode([i]));
    assert.ok(kept.length > 0 && kept.every((s) => 'true'.startsWith(s) || 'false'.startsWith(s)), kept.join('|'));
    assert.equal(logits[qwen3.vocabSize + 3], -Infinity);
  });
});

describe('pattern DFA', () => {
  const cases: [string, string][] = [
    ['^[a-z]{2,4}-\\d+$', 'abz-019x'],
    ['^(\\([0-9]{3}\\))?[0-9]{3}-[0-9]{4}$', '(0123)-456'],
    ['ab|^c', 'abcx'],
    ['^(?:ab)*c?$', 'abc'],
    ['^[^aeiou\\s]+$', 'abe i\n'],
    ['x.y', 'xy.\n\u2028'],
    ['^\\w+@\\w+\\.(com|org)$', 'a@b.comorgx_'],
    ['^[\\u00e0-\\u00ff]{1,3}\\u{1F600}?$', 'à\u00ff\u{1F600}a'],
    ['^a{0,2}b{2,}$', 'ab'],
    ['^\\S\\s\\D\\W$', 'a 1!x'],
    ['^[-+]?\\d*\\.?\\d+$', '-+.12'],
    ['^(?<word>[A-Z][a-z]*)$', 'Aaz'],
    ['colou?r', 'colourx'],
  ];

  test('accepts exactly what RegExp with the u flag matches', () => {
    const rnd = lcg(7);
    for (const [pattern, alphabet] of cases) {
      const dfa = G.compileRegex(pattern, 'test', '#');
      const re = new RegExp(pattern, 'u');
      const chars = Array.from(alphabet);
      for (let k = 0; k < 3000; k++) {
        const s = Array.from({ length: Math.floor(rnd() * 9) }, () => chars[Math.floor(rnd() * chars.length)]!).join('');
        let state = dfa.start;
        for (const ch of s) if (state >= 0) state = G.dfaNext(dfa, state, ch.codePointAt(0)!);
        assert.equal(state >= 0 && dfa.accepting[state] === 1, re.test(s), `${pattern} on ${JSON.stringify(s)}`);
      }
    }
  });

  test('refuses what a DFA cannot do, naming it', () => {
    for (const [pattern, what] of [
      ['^(?=a)a$', 'lookahead'],
      ['(a)\\1', 'backreference'],
      ['\\bword', 'word boundary'],
      ['a^b', "'^'"],
      ['\\p{L}', 'Unicode property'],
      ['a{2000}', 'repetition'],
    ]) {
      assert.throws(
        () => G.compileRegex(pattern!, 'test', '#'),
        (e: unknown) => e instanceof StrataError && e.code === 'unsupported' && e.message.includes(what!),
        pattern,
      );
    }
    assert.throws(() => G.compileRegex('(a', 'test', '#'), (e: unknown) => e instanceof StrataError && e.code === 'argument');
  });
});

/** Allows tokens in a fixed order, then is done. */
class Sequence implements G.TokenConstraint {
  private i = 0;
  constructor(private readonly tokens: number[]) {}
  mask(logits: Float32Array): void {
    for (let t = 0; t < logits.length; t++) if (t !== this.tokens[this.i]) logits[t] = -Infinity;
  }
  advance(token: number): void {
    assert.equal(token, this.tokens[this.i]);
    this.i++;
  }
  get done(): boolean {
    return this.i === this.tokens.length;
  }
  clone(): Sequence {
    const c = new Sequence(this.tokens);
    c.i = this.i;
    return c;
  }
}

/** A byte-level tokenizer: token i < 256 is byte i, 256 ends the text. */
const byteTokenizer = {
  vocabSize: 257,
  endOfGenerationIds: [256],
  encode: (text: string) => [...utf8.encode(text)],
  decode: (ids: readonly number[]) => new TextDecoder().decode(Uint8Array.from(ids.filter((i) => i < 256))),
  idToToken: (id: number) => (id === 256 ? '<eos>' : `<0x${id.toString(16).toUpperCase().padStart(2, '0')}>`),
  isSpecial: (id: number) => id === 256,
};

describe('generation with a constraint', () => {
  const uniform = Array.from({ length: 5 }, () => [0, 0, 0, 0, 0]);

  test('masks before sampling, finishes with stop when done; an instance is cloned per batch row', () => {
    const r = G.generate(new MarkovLM(uniform), [0], { temperature: 1, seed: 3, maxTokens: 10, constraint: new Sequence([3, 1, 4]) });
    assert.deepEqual(r.tokens, [3, 1, 4]);
    assert.equal(r.finishReason, 'stop');
    const batch = G.generateBatch(new MarkovLM(uniform), [[0], [1, 2]], { temperature: 0, maxTokens: 10, constraint: new Sequence([2, 2]) });
    assert.deepEqual(
      batch.map((b) => [b.tokens, b.finishReason]),
      [
        [[2, 2], 'stop'],
        [[2, 2], 'stop'],
      ],
    );
    const made: Sequence[] = [];
    G.generateBatch(new MarkovLM(uniform), [[0], [1]], { maxTokens: 4, constraint: () => (made.push(new Sequence([1])), made.at(-1)!) });
    assert.equal(made.length, 2);
    const noClone = { mask() {}, advance() {}, done: false };
    assert.throws(() => G.generateBatch(new MarkovLM(uniform), [[0], [1]], { constraint: noClone }), /factory/);
  });

  test('logprobs come from the masked distribution', () => {
    const L = Math.log;
    const table = Array.from({ length: 4 }, () => [L(0.1), L(0.2), L(0.3), L(0.4)]);
    const allowTwo = { mask: (l: Float32Array) => ((l[0] = -Infinity), (l[3] = -Infinity)), advance() {}, done: false };
    const r = G.generate(new MarkovLM(table), [0], { temperature: 0, maxTokens: 1, logprobs: 3, constraint: allowTwo });
    assert.deepEqual(r.tokens, [2]);
    assert.ok(Math.abs(r.logprobs![0]!.logprob - L(0.6)) < 1e-5);
    assert.deepEqual(
      r.logprobs![0]!.top.map((t) => t.token),
      [2, 1],
    );
  });

  test('a JSON schema through generate() over a byte vocabulary: random bytes, always valid JSON', () => {
    const flat = new MarkovLM(Array.from({ length: 257 }, () => new Array(257).fill(0)));
    const schema = { type: 'object', properties: { a: { type: 'array', items: { type: 'integer' }, maxItems: 4 }, b: { type: 'string' } }, required: ['a', 'b'], additionalProperties: false };
    const factory = G.jsonSchemaConstraint(schema, byteTokenizer);
    for (let seed = 0; seed < 20; seed++) {
      const r = G.generate(flat, [0], { temperature: 1, seed, maxTokens: 40, constraint: factory, stopTokens: [256], tokenizer: byteTokenizer });
      const value = JSON.parse(r.text!);
      assert.equal(r.finishReason, 'stop');
      assert.ok(Array.isArray(value.a) && value.a.length <= 4 && value.a.every(Number.isInteger) && typeof value.b === 'string', r.text);
      assert.ok(r.tokens.length <= 40);
    }
  });
});
