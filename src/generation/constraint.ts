// Constrained decoding: a TokenConstraint masks the logits of tokens that may not come next.
//
// The constraints here are byte-level languages (a JSON schema, say) run over the tokens' bytes.
// A vocabulary's token bytes are put once into a trie in depth-first order, so one walk of the
// trie per step, stepping the language's state one byte per edge, prunes every token under a
// rejected prefix at once; and a subtree of plain JSON-string text under a state that takes any
// such text is accepted whole (its tokens are a contiguous range of the trie's order).
//
// Also here: a regular expression (the ECMAScript subset JSON Schema patterns use) compiled to a
// DFA over code points, for languages that need one.

import { StrataError } from '../errors.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { CHAR_TO_BYTE } from '../tokenizers/pretokenize.js';

/**
 * Restricts which tokens may come next. Generation calls `mask` on a row's logits before
 * penalties and sampling, then `advance` with the chosen token, and ends the row once `done`.
 */
export interface TokenConstraint {
  /**
   * Sets the logits of tokens that may not come next to -Infinity (it may be called once per step
   * per row). `tokensLeft` (this one included), when given, lets the constraint keep room to finish.
   */
  mask(logits: Float32Array, tokensLeft?: number): void;
  /** The chosen token. */
  advance(token: number): void;
  /** Whether the output is complete and cannot go on (generation should stop). */
  readonly done: boolean;
  /** An independent copy in the same state. */
  clone?(): TokenConstraint;
}

// ---------------------------------------------------------------------------------------------
// Plain text inside a JSON string, byte by byte: what UTF-8 lets follow, and no '"', '\' or
// control character. States: 0 between characters; 1, 2, 3 continuation bytes still due (any
// 80-BF); 4 after E0 (A0-BF next), 5 after ED (80-9F: no surrogates), 6 after F0 (90-BF),
// 7 after F4 (80-8F: nothing past U+10FFFF).

export const TEXT_STATES = 8;
/** TEXT_NEXT[state * 256 + byte]: the next state, or -1 when the byte cannot come here. */
export const TEXT_NEXT: Int8Array = (() => {
  const t = new Int8Array(TEXT_STATES * 256).fill(-1);
  for (let b = 0x20; b < 0x80; b++) if (b !== 0x22 && b !== 0x5c) t[b] = 0;
  for (let b = 0xc2; b <= 0xdf; b++) t[b] = 1;
  t[0xe0] = 4;
  for (let b = 0xe1; b <= 0xef; b++) t[b] = 2;
  t[0xed] = 5;
  t[0xf0] = 6;
  for (let b = 0xf1; b <= 0xf3; b++) t[b] = 3;
  t[0xf4] = 7;
  const cont = (state: number, lo: number, hi: number, next: number) => {
    for (let b = lo; b <= hi; b++) t[state * 256 + b] = next;
  };
  cont(1, 0x80, 0xbf, 0);
  cont(2, 0x80, 0xbf, 1);
  cont(3, 0x80, 0xbf, 2);
  cont(4, 0xa0, 0xbf, 1);
  cont(5, 0x80, 0x9f, 1);
  cont(6, 0x90, 0xbf, 2);
  cont(7, 0x80, 0x8f, 2);
  return t;
})();
/** Continuation bytes still due in each text state. */
export const TEXT_PENDING = [0, 1, 2, 3, 2, 2, 3, 3] as const;
/** The lowest and highest value of the next continuation byte's six bits, per text state. */
export const TEXT_NEXT_BITS: readonly (readonly [number, number])[] = [[0, 0], [0, 63], [0, 63], [0, 63], [32, 63], [0, 31], [16, 63], [0, 15]];

// ---------------------------------------------------------------------------------------------
// Token vocabulary

/** What a constraint needs of a tokenizer. */
export type ConstraintTokenizer = Pick<Tokenizer, 'vocabSize' | 'encode' | 'decode' | 'idToToken' | 'isSpecial' | 'endOfGenerationIds'>;

/** The bytes of every token, and a trie of them in depth-first order. Built once per tokenizer. */
export interface TokenVocabulary {
  readonly size: number;
  /** each token's bytes; null for special tokens and tokens that decode to nothing */
  readonly bytes: readonly (Uint8Array | null)[];
  readonly endTokens: readonly number[];
  /** node 0 is the root (no bytes); a node's children follow it, each subtree is [node, trieEnd[node]) */
  readonly trieByte: Uint8Array;
  readonly trieEnd: Int32Array;
  /** tokens spelling exactly node u: trieTokens[tokenStart[u] .. tokenStart[u + 1]); under u: .. tokenStart[trieEnd[u]] */
  readonly tokenStart: Int32Array;
  readonly trieTokens: Int32Array;
  /** bit s: every byte path below the node is plain JSON-string text when started in text state s */
  readonly plainBelow: Uint8Array;
  /** bit s: as plainBelow, and every token below ends between characters */
  readonly cleanBelow: Uint8Array;
  /** characters (bytes other than UTF-8 continuation bytes) on the longest path below the node */
  readonly charsBelow: Int32Array;
  /** characters on the path to the node, and in each token */
  readonly nodeChars: Int32Array;
  readonly tokenChars: Int32Array;
}

const vocabularies = new WeakMap<object, TokenVocabulary>();

/** The token vocabulary of a tokenizer (cached: building it decodes every token once). */
export function tokenVocabulary(tokenizer: ConstraintTokenizer): TokenVocabulary {
  let v = vocabularies.get(tokenizer);
  if (!v) {
    v = buildVocabulary(tokenizer);
    vocabularies.set(tokenizer, v);
  }
  return v;
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const utf8 = new TextEncoder();

/**
 * A token's bytes as they appear in decoded output. Each token is decoded after a fixed one-letter
 * token, so a SentencePiece word-start space is kept; a token that is part of a UTF-8 character
 * (decodes to U+FFFD) is read from its vocabulary spelling: '<0xE4>' byte tokens, or the GPT-2
 * byte-level alphabet.
 */
function tokenBytes(tokenizer: ConstraintTokenizer, id: number, anchor: number | undefined, anchorText: string): Uint8Array | null {
  if (tokenizer.isSpecial(id)) return null;
  let text: string;
  try {
    text = anchor === undefined ? tokenizer.decode([id]) : tokenizer.decode([anchor, id]);
    if (anchor !== undefined) text = text.startsWith(anchorText) ? text.slice(anchorText.length) : tokenizer.decode([id]);
  } catch {
    return null;
  }
  if (text.includes('\uFFFD')) {
    let raw: string;
    try {
      raw = tokenizer.idToToken(id);
    } catch {
      return null;
    }
    const m = BYTE_TOKEN.exec(raw);
    if (m) return Uint8Array.of(parseInt(m[1]!, 16));
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const b = CHAR_TO_BYTE.get(raw.charCodeAt(i));
      if (b === undefined) return null;
      out[i] = b;
    }
    return out.length > 0 ? out : null;
  }
  return text.length > 0 ? utf8.encode(text) : null;
}

function buildVocabulary(tokenizer: ConstraintTokenizer): TokenVocabulary {
  const size = tokenizer.vocabSize;
  let anchor: number | undefined;
  let anchorText = '';
  try {
    const ids = tokenizer.encode('a', { addSpecialTokens: false });
    const text = ids.length === 1 ? tokenizer.decode(ids) : '';
    if (text.length > 0 && !text.includes('\uFFFD')) [anchor, anchorText] = [ids[0]!, text];
  } catch {
    anchor = undefined;
  }
  const bytes: (Uint8Array | null)[] = new Array(size);
  const keys: string[] = new Array(size);
  const ids: number[] = [];
  const ends = new Set(tokenizer.endOfGenerationIds);
  for (let id = 0; id < size; id++) {
    // an end token ends the output, never spells part of it
    const b = ends.has(id) ? null : tokenBytes(tokenizer, id, anchor, anchorText);
    bytes[id] = b;
    if (b) {
      keys[id] = String.fromCharCode(...b);
      ids.push(id);
    }
  }
  // byte strings as Latin-1 strings sort in byte order
  ids.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b));

  return vocabularyFromBytes(bytes, keys, ids, [...tokenizer.endOfGenerationIds].filter((id) => id >= 0 && id < size));
}

/** The trie of tokens `ids` (sorted by their bytes, `keys` the bytes as Latin-1 strings). */
function vocabularyFromBytes(bytes: (Uint8Array | null)[], keys: string[], ids: readonly number[], endTokens: number[]): TokenVocabulary {
  const trieByte: number[] = [0];
  const trieEnd: number[] = [0];
  const tokenStart: number[] = [0];
  const trieTokens: number[] = [];
  const path: number[] = [0]; // node of each prefix length of the previous key
  let prev = '';
  for (const id of ids) {
    const key = keys[id]!;
    let common = 0;
    while (common < key.length && common < prev.length && key.charCodeAt(common) === prev.charCodeAt(common)) common++;
    for (let d = prev.length; d > common; d--) trieEnd[path[d]!] = trieByte.length;
    for (let d = common + 1; d <= key.length; d++) {
      path[d] = trieByte.length;
      trieByte.push(key.charCodeAt(d - 1));
      trieEnd.push(0);
      tokenStart.push(trieTokens.length);
    }
    trieTokens.push(id);
    prev = key;
  }
  for (let d = prev.length; d >= 0; d--) trieEnd[path[d]!] = trieByte.length;
  const nodes = trieByte.length;
  tokenStart.push(trieTokens.length);

  const end = Int32Array.from(trieEnd);
  const byteOf = Uint8Array.from(trieByte);
  const starts = Int32Array.from(tokenStart);
  const plainBelow = new Uint8Array(nodes);
  const cleanBelow = new Uint8Array(nodes);
  const charsBelow = new Int32Array(nodes);
  for (let u = nodes - 1; u >= 0; u--) {
    let plain = 0xff;
    let clean = 0xff;
    let depth = 0;
    for (let c = u + 1; c < end[u]!; c = end[c]!) {
      const b = byteOf[c]!;
      depth = Math.max(depth, charsBelow[c]! + (b >= 0x80 && b < 0xc0 ? 0 : 1));
      const tokensAtC = starts[c + 1]! > starts[c]!;
      for (let s = 0; s < TEXT_STATES; s++) {
        const n = TEXT_NEXT[s * 256 + byteOf[c]!]!;
        if (n < 0 || !((plainBelow[c]! >> n) & 1)) plain &= ~(1 << s);
        if (n < 0 || !((cleanBelow[c]! >> n) & 1) || (tokensAtC && n !== 0)) clean &= ~(1 << s);
      }
    }
    plainBelow[u] = plain;
    cleanBelow[u] = clean;
    charsBelow[u] = depth;
  }
  const isChar = (b: number) => (b >= 0x80 && b < 0xc0 ? 0 : 1);
  const nodeChars = new Int32Array(nodes);
  for (let u = 0; u < nodes; u++) for (let c = u + 1; c < end[u]!; c = end[c]!) nodeChars[c] = nodeChars[u]! + isChar(byteOf[c]!);
  const tokenChars = new Int32Array(bytes.length);
  bytes.forEach((b, id) => b && (tokenChars[id] = b.reduce((n, x) => n + isChar(x), 0)));
  return {
    size: bytes.length,
    bytes,
    endTokens,
    trieByte: byteOf,
    trieEnd: end,
    tokenStart: starts,
    trieTokens: Int32Array.from(trieTokens),
    plainBelow,
    cleanBelow,
    charsBelow,
    nodeChars,
    tokenChars,
  };
}

/** A vocabulary of the 256 bytes (token i is byte i) and an end token 256: for byte-level use and tests. */
export const BYTE_VOCABULARY: TokenVocabulary = (() => {
  const bytes: (Uint8Array | null)[] = Array.from({ length: 256 }, (_, i) => Uint8Array.of(i));
  bytes.push(null);
  const keys = bytes.map((b) => (b ? String.fromCharCode(b[0]!) : ''));
  return vocabularyFromBytes(bytes, keys, Array.from({ length: 256 }, (_, i) => i), [256]);
})();

// ---------------------------------------------------------------------------------------------
// A token constraint from a byte-level language

/**
 * A language over bytes whose states are immutable values (so a trie walk can branch from any of
 * them). Nondeterminism is a set of states: `step` appends every state a byte leads to.
 */
export interface ByteLanguage<S> {
  step(state: S, byte: number, out: S[]): void;
  /** whether the bytes so far are a complete sentence */
  accepts(state: S): boolean;
  /**
   * Fewest bytes that complete a sentence from here (0 when it accepts). It must be exact or an
   * over-estimate that falls by at least one along some next byte, so keeping it within a budget
   * never leads to a state with no way out.
   */
  minRemaining(state: S): number;
  /**
   * The text state (TEXT_NEXT) when plain JSON-string text (valid UTF-8, no '"', '\\' or control
   * character) of up to plainChars(state) more characters is accepted from here; -1 otherwise.
   */
  plainText(state: S): number;
  /** how many more characters plain text may start from here (when plainText is not -1) */
  plainChars(state: S): number;
  /**
   * minRemaining after plain text that starts `chars` more characters and ends in text state
   * `text` (when plainText is not -1). It must not rise with more characters.
   */
  plainRemaining(state: S, chars: number, text: number): number;
  /** the states with duplicates left out (nondeterminism must not pile up equal readings) */
  dedupe?(states: S[]): S[];
}

/** A TokenConstraint that runs a ByteLanguage over the bytes of each token. */
export class LanguageConstraint<S> implements TokenConstraint {
  private ended = false;
  private finished: boolean | undefined;
  private allowed: Uint8Array | null = null;

  constructor(
    private readonly language: ByteLanguage<S>,
    private readonly vocab: TokenVocabulary,
    private states: readonly S[],
    private readonly op: string,
  ) {}

  /** the states after one byte, duplicates merged */
  private stepAll(states: readonly S[], b: number): S[] {
    const next: S[] = [];
    for (const s of states) this.language.step(s, b, next);
    return next.length > 1 && this.language.dedupe ? this.language.dedupe(next) : next;
  }

  get done(): boolean {
    if (this.ended) return true;
    if (this.finished === undefined) this.finished = this.states.some((s) => this.language.accepts(s)) && !this.canContinue();
    return this.finished;
  }

  /** whether some token's first byte continues one of the states */
  private canContinue(): boolean {
    const { trieEnd, trieByte } = this.vocab;
    const out: S[] = [];
    for (let c = 1; c < trieEnd[0]!; c = trieEnd[c]!) {
      for (const s of this.states) this.language.step(s, trieByte[c]!, out);
      if (out.length > 0) return true;
    }
    return false;
  }

  /** Fewest bytes that complete the output. */
  get minRemaining(): number {
    let best = Infinity;
    for (const s of this.states) best = Math.min(best, this.language.minRemaining(s));
    return best;
  }

  /**
   * 1 for each token that may come next. With `tokensLeft`, a token is allowed only if the output
   * can still be completed within the tokens left after it, one byte per token at worst (every
   * vocabulary this is used with has single-byte tokens); ignored when even that is impossible.
   */
  allowedTokens(tokensLeft?: number): Uint8Array {
    const allowed = this.allowed ?? (this.allowed = new Uint8Array(this.vocab.size));
    allowed.fill(0);
    if (this.ended) return allowed;
    let room = tokensLeft === undefined ? Infinity : tokensLeft - 1;
    if (room < this.minRemaining - 1) room = Infinity;
    this.walk(0, this.states, room, allowed);
    if (this.states.some((s) => this.language.accepts(s))) for (const t of this.vocab.endTokens) allowed[t] = 1;
    if (room !== Infinity && !allowed.includes(1)) return this.allowedTokens(undefined);
    return allowed;
  }

  private walk(node: number, states: readonly S[], room: number, allowed: Uint8Array): void {
    const { trieByte, trieEnd } = this.vocab;
    const end = trieEnd[node]!;
    for (let c = node + 1; c < end; c = trieEnd[c]!) {
      const next = this.stepAll(states, trieByte[c]!);
      if (next.length > 0) this.visit(c, next, room, allowed);
    }
  }

  /** Trie node c, reached in `states`: its tokens, then what lies below it. */
  private visit(c: number, states: readonly S[], room: number, allowed: Uint8Array): void {
    const { tokenStart, trieTokens } = this.vocab;
    const lang = this.language;
    let rest = 0;
    if (room !== Infinity) {
      rest = Infinity;
      for (const s of states) rest = Math.min(rest, lang.minRemaining(s));
    }
    if (rest <= room) for (let t = tokenStart[c]!, e = tokenStart[c + 1]!; t < e; t++) allowed[trieTokens[t]!] = 1;
    if (states.length === 1) {
      const p = lang.plainText(states[0]!);
      if (p >= 0) {
        this.plainWalk(c, states[0]!, p, 0, lang.plainChars(states[0]!), room, [], allowed);
        return;
      }
    }
    this.walk(c, states, room, allowed);
  }

  /**
   * Below a state `s` inside plain text: follows only the UTF-8 text state `p` and the characters
   * started since s (`chars`, at most `limit`), without stepping the language, until a byte leaves
   * plain text (a quote, a backslash); the state there is found by replaying `path` from s.
   */
  private plainWalk(node: number, s: S, p: number, chars: number, limit: number, room: number, path: number[], allowed: Uint8Array): void {
    const { trieByte, trieEnd, tokenStart, trieTokens, plainBelow, cleanBelow, charsBelow, nodeChars, tokenChars } = this.vocab;
    const lang = this.language;
    const end = trieEnd[node]!;
    for (let c = node + 1; c < end; c = trieEnd[c]!) {
      const b = trieByte[c]!;
      const n = TEXT_NEXT[p * 256 + b]!;
      if (n < 0) {
        let states: S[] = [s];
        for (const x of [...path, b]) if (states.length > 0) states = this.stepAll(states, x);
        if (states.length > 0) this.visit(c, states, room, allowed);
        continue;
      }
      const started = chars + (p === 0 ? 1 : 0);
      if (started > limit) continue;
      const tokensHere = tokenStart[c + 1]! > tokenStart[c]!;
      if (((plainBelow[c]! >> n) & 1) === 1 && started + charsBelow[c]! <= limit) {
        // all plain below and within the length: minRemaining there is at most `base` + 3
        // (a split character), at least its value after the most characters
        const base = room === Infinity ? 0 : lang.plainRemaining(s, started, 0);
        let whole = base + 3 <= room;
        if (!whole && base <= room && ((cleanBelow[c]! >> n) & 1) === 1) whole = n === 0 || !tokensHere || lang.plainRemaining(s, started, n) <= room;
        if (whole) {
          for (let t = tokenStart[c]!, e = tokenStart[trieEnd[c]!]!; t < e; t++) allowed[trieTokens[t]!] = 1;
          continue;
        }
        if (lang.plainRemaining(s, started + charsBelow[c]!, 0) > room) continue;
      } else if (((plainBelow[c]! >> n) & 1) === 1 && (room === Infinity || lang.plainRemaining(s, started, 0) + 3 <= room)) {
        // all plain below, but some tokens too long: each token's characters decide
        const offset = started - nodeChars[c]!;
        for (let t = tokenStart[c]!, e = tokenStart[trieEnd[c]!]!; t < e; t++) {
          const id = trieTokens[t]!;
          if (offset + tokenChars[id]! <= limit) allowed[id] = 1;
        }
        continue;
      }
      if (tokensHere && (room === Infinity || lang.plainRemaining(s, started, n) <= room)) {
        for (let t = tokenStart[c]!, e = tokenStart[c + 1]!; t < e; t++) allowed[trieTokens[t]!] = 1;
      }
      path.push(b);
      this.plainWalk(c, s, n, started, limit, room, path, allowed);
      path.pop();
    }
  }

  mask(logits: Float32Array, tokensLeft?: number): void {
    const allowed = this.allowedTokens(tokensLeft);
    const n = Math.min(logits.length, allowed.length);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (allowed[i]) any = true;
      else logits[i] = -Infinity;
    }
    logits.fill(-Infinity, n);
    if (!any) throw new StrataError('argument', this.op, 'no token of the vocabulary can continue the output');
  }

  advance(token: number): void {
    if (this.ended) throw new StrataError('argument', this.op, `token ${token} after the end of the output`);
    if (this.vocab.endTokens.includes(token)) {
      if (!this.states.some((s) => this.language.accepts(s))) throw new StrataError('argument', this.op, `end token ${token} before the output is complete`);
      this.ended = true;
      return;
    }
    const bytes = token >= 0 && token < this.vocab.size ? this.vocab.bytes[token] : null;
    if (!bytes) throw new StrataError('argument', this.op, `token ${token} may not appear in the output`);
    const states = this.feedBytes(bytes);
    if (states.length === 0) throw new StrataError('argument', this.op, `token ${token} (${JSON.stringify(new TextDecoder().decode(bytes))}) cannot continue the output`);
    this.states = states;
    this.finished = undefined;
  }

  /** The states after some bytes (empty when they are rejected); the constraint is unchanged. */
  feedBytes(bytes: Uint8Array): S[] {
    let states: S[] = [...this.states];
    for (const b of bytes) {
      states = this.stepAll(states, b);
      if (states.length === 0) break;
    }
    return states;
  }

  /** Takes bytes directly (no tokenizer involved); returns how many were accepted before one was rejected. */
  pushBytes(bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length; i++) {
      const next = this.stepAll(this.states, bytes[i]!);
      if (next.length === 0) return i;
      this.states = next;
      this.finished = undefined;
    }
    return bytes.length;
  }

  /** Whether the output so far is complete (an end token may come). */
  get accepts(): boolean {
    return this.ended || this.states.some((s) => this.language.accepts(s));
  }

  /** The bytes that may come next (for byte-level checks and tests). */
  allowedBytes(): number[] {
    const out: number[] = [];
    for (let b = 0; b < 256; b++) {
      const next: S[] = [];
      for (const s of this.states) this.language.step(s, b, next);
      if (next.length > 0) out.push(b);
    }
    return out;
  }

  clone(): LanguageConstraint<S> {
    const c = new LanguageConstraint(this.language, this.vocab, this.states, this.op);
    c.ended = this.ended;
    return c;
  }
}

// ---------------------------------------------------------------------------------------------
// Regular expressions → DFA over code points

/** A DFA over Unicode scalar values; every state can reach an accepting one. */
export interface CharDfa {
  /** -1 when the language is empty */
  readonly start: number;
  readonly accepting: Uint8Array;
  /** per state: [lo, hi, target, lo, hi, target, ...] sorted by lo */
  readonly edges: readonly Int32Array[];
}

/** The state after code point `cp`, or -1. */
export function dfaNext(dfa: CharDfa, state: number, cp: number): number {
  const e = dfa.edges[state]!;
  let lo = 0;
  let hi = e.length / 3 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < e[mid * 3]!) hi = mid - 1;
    else if (cp > e[mid * 3 + 1]!) lo = mid + 1;
    else return e[mid * 3 + 2]!;
  }
  return -1;
}

/** Code point sets as sorted, disjoint, non-adjacent [lo, hi] pairs, flattened. */
type Ranges = number[];
const MAX_CP = 0x10ffff;

function normalize(r: Ranges): Ranges {
  const pairs: [number, number][] = [];
  for (let i = 0; i < r.length; i += 2) pairs.push([r[i]!, r[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: Ranges = [];
  for (const [lo, hi] of pairs) {
    if (out.length > 0 && lo <= out[out.length - 1]! + 1) out[out.length - 1] = Math.max(out[out.length - 1]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function complement(r: Ranges): Ranges {
  const out: Ranges = [];
  let next = 0;
  for (let i = 0; i < r.length; i += 2) {
    if (r[i]! > next) out.push(next, r[i]! - 1);
    next = r[i + 1]! + 1;
  }
  if (next <= MAX_CP) out.push(next, MAX_CP);
  return out;
}

const DIGIT: Ranges = [0x30, 0x39];
const WORD: Ranges = normalize([0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a]);
const SPACE: Ranges = normalize([9, 13, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff]);
const DOT: Ranges = complement(normalize([0x0a, 0x0a, 0x0d, 0x0d, 0x2028, 0x2029]));
const ANY: Ranges = [0, MAX_CP];

type RegexAst = { t: 'set'; r: Ranges } | { t: 'seq'; items: RegexAst[] } | { t: 'alt'; items: RegexAst[] } | { t: 'rep'; item: RegexAst; min: number; max: number };

const MAX_REPEAT = 1000;
const MAX_NFA_STATES = 20000;
const MAX_DFA_STATES = 4000;

/** Parses the ECMAScript ('u' flag) regular expressions JSON Schema uses, refusing what a DFA cannot do. */
class RegexParser {
  private readonly cps: number[];
  private i = 0;

  constructor(
    private readonly source: string,
    private readonly fail: (code: 'argument' | 'unsupported', message: string) => never,
  ) {
    this.cps = Array.from(source, (c) => c.codePointAt(0)!);
  }

  private peek(): number | undefined {
    return this.cps[this.i];
  }

  private unsupported(what: string): never {
    return this.fail('unsupported', `'pattern' ${JSON.stringify(this.source)}: ${what} is not supported`);
  }

  /** The whole pattern: alternatives, each anchored or searched (implicit .* around it). */
  parse(): RegexAst {
    const alternatives: RegexAst[] = [];
    for (;;) {
      let anchoredStart = false;
      if (this.peek() === 0x5e) {
        anchoredStart = true;
        this.i++;
      }
      const { seq, anchoredEnd } = this.sequence(true);
      const items: RegexAst[] = [];
      if (!anchoredStart) items.push({ t: 'rep', item: { t: 'set', r: ANY }, min: 0, max: Infinity });
      items.push(seq);
      if (!anchoredEnd) items.push({ t: 'rep', item: { t: 'set', r: ANY }, min: 0, max: Infinity });
      alternatives.push({ t: 'seq', items });
      if (this.peek() === undefined) break;
      if (this.peek() === 0x7c) {
        this.i++;
        continue;
      }
      this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: unbalanced ')'`);
    }
    return alternatives.length === 1 ? alternatives[0]! : { t: 'alt', items: alternatives };
  }

  private alternation(): RegexAst {
    const items: RegexAst[] = [this.sequence(false).seq];
    while (this.peek() === 0x7c) {
      this.i++;
      items.push(this.sequence(false).seq);
    }
    return items.length === 1 ? items[0]! : { t: 'alt', items };
  }

  private sequence(top: boolean): { seq: RegexAst; anchoredEnd: boolean } {
    const items: RegexAst[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x7c || c === 0x29) break;
      if (c === 0x24) {
        this.i++;
        const after = this.peek();
        if (top && (after === undefined || after === 0x7c)) return { seq: { t: 'seq', items }, anchoredEnd: true };
        this.unsupported("'$' other than at the end");
      }
      if (c === 0x5e) this.unsupported("'^' other than at the start");
      let atom = this.atom();
      atom = this.quantified(atom);
      items.push(atom);
    }
    return { seq: { t: 'seq', items }, anchoredEnd: false };
  }

  private quantified(atom: RegexAst): RegexAst {
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === 0x2a) [min, max] = [0, Infinity];
    else if (c === 0x2b) [min, max] = [1, Infinity];
    else if (c === 0x3f) [min, max] = [0, 1];
    else if (c === 0x7b) {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(String.fromCodePoint(...this.cps.slice(this.i, this.i + 24)));
      if (!m) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: bad '{' quantifier`);
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) this.unsupported(`a repetition count over ${MAX_REPEAT}`);
      if (max < min) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: {${min},${max}} is out of order`);
      this.i += m[0].length - 1;
    } else return atom;
    this.i++;
    if (this.peek() === 0x3f) this.i++; // lazy: the same language
    const q = this.peek();
    if (q === 0x2a || q === 0x2b || q === 0x3f || q === 0x7b) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: nothing to repeat`);
    return { t: 'rep', item: atom, min, max };
  }

  private atom(): RegexAst {
    const c = this.cps[this.i++]!;
    switch (c) {
      case 0x28: {
        // group
        if (this.peek() === 0x3f) {
          const k = this.cps[this.i + 1];
          if (k === 0x3a) this.i += 2;
          else if (k === 0x3c && this.cps[this.i + 2] !== 0x3d && this.cps[this.i + 2] !== 0x21) {
            const close = this.cps.indexOf(0x3e, this.i);
            if (close < 0) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: unterminated group name`);
            this.i = close + 1;
          } else this.unsupported('a lookahead or lookbehind');
        }
        const inner = this.alternation();
        if (this.cps[this.i++] !== 0x29) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: missing ')'`);
        return inner;
      }
      case 0x5b:
        return { t: 'set', r: this.charClass() };
      case 0x2e:
        return { t: 'set', r: DOT };
      case 0x5c:
        return { t: 'set', r: this.escape(false) };
      case 0x2a:
      case 0x2b:
      case 0x3f:
      case 0x7b:
        return this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: nothing to repeat`);
      default:
        return { t: 'set', r: [c, c] };
    }
  }

  private charClass(): Ranges {
    let negate = false;
    if (this.peek() === 0x5e) {
      negate = true;
      this.i++;
    }
    const r: Ranges = [];
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: missing ']'`);
      if (c === 0x5d && !first) break;
      first = false;
      const lo = this.classAtom();
      if (this.peek() === 0x2d && this.cps[this.i + 1] !== 0x5d && this.cps[this.i + 1] !== undefined) {
        this.i++;
        const hi = this.classAtom();
        if (lo.length !== 2 || hi.length !== 2 || lo[0] !== lo[1] || hi[0] !== hi[1]) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: a class escape in a range`);
        if (hi[0]! < lo[0]!) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: a range out of order`);
        r.push(lo[0]!, hi[0]!);
      } else r.push(...lo);
    }
    this.i++;
    const set = normalize(r);
    return negate ? complement(set) : set;
  }

  private classAtom(): Ranges {
    const c = this.cps[this.i++]!;
    if (c === 0x5c) return this.escape(true);
    return [c, c];
  }

  private hex(count: number): number {
    const digits = String.fromCodePoint(...this.cps.slice(this.i, this.i + count));
    if (digits.length !== count || !/^[0-9a-fA-F]+$/.test(digits)) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: bad hex escape`);
    this.i += count;
    return parseInt(digits, 16);
  }

  private escape(inClass: boolean): Ranges {
    const c = this.cps[this.i++];
    if (c === undefined) return this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: ends in '\\'`);
    const ch = String.fromCodePoint(c);
    const single = (cp: number): Ranges => [cp, cp];
    switch (ch) {
      case 'd':
        return DIGIT;
      case 'D':
        return complement(DIGIT);
      case 'w':
        return WORD;
      case 'W':
        return complement(WORD);
      case 's':
        return SPACE;
      case 'S':
        return complement(SPACE);
      case 'n':
        return single(10);
      case 'r':
        return single(13);
      case 't':
        return single(9);
      case 'v':
        return single(11);
      case 'f':
        return single(12);
      case '0':
        if (this.peek() !== undefined && this.peek()! >= 0x30 && this.peek()! <= 0x39) this.unsupported('an octal escape');
        return single(0);
      case 'x':
        return single(this.hex(2));
      case 'u': {
        if (this.peek() === 0x7b) {
          const close = this.cps.indexOf(0x7d, this.i);
          if (close < 0) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: bad \\u{...} escape`);
          this.i++;
          const cp = this.hex(close - this.i);
          this.i++;
          return single(cp);
        }
        const cp = this.hex(4);
        // a surrogate pair written as two escapes is one character
        if (cp >= 0xd800 && cp <= 0xdbff && this.cps[this.i] === 0x5c && this.cps[this.i + 1] === 0x75) {
          const save = this.i;
          this.i += 2;
          const low = this.hex(4);
          if (low >= 0xdc00 && low <= 0xdfff) return single(0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00));
          this.i = save;
        }
        return single(cp);
      }
      case 'c': {
        const l = this.cps[this.i++];
        if (l === undefined || !/[a-zA-Z]/.test(String.fromCodePoint(l))) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: bad \\c escape`);
        return single(l % 32);
      }
      case 'b':
        if (inClass) return single(8);
        return this.unsupported("a word boundary '\\b'");
      case 'B':
        return this.unsupported("'\\B'");
      case 'p':
      case 'P':
        return this.unsupported('a Unicode property escape');
      case 'k':
        return this.unsupported('a named backreference');
      default:
        if (/[1-9]/.test(ch)) return this.unsupported('a backreference');
        if (/[A-Za-z0-9]/.test(ch)) this.fail('argument', `'pattern' ${JSON.stringify(this.source)}: unknown escape '\\${ch}'`);
        return single(c);
    }
  }
}

/** Thompson NFA: state i has epsilon edges eps[i] and at most one set edge set[i] → to[i]. */
class Nfa {
  readonly eps: number[][] = [];
  readonly set: (Ranges | null)[] = [];
  readonly to: number[] = [];

  state(): number {
    if (this.eps.length >= MAX_NFA_STATES) throw new RangeError('too many NFA states');
    this.eps.push([]);
    this.set.push(null);
    this.to.push(-1);
    return this.eps.length - 1;
  }

  /** a fragment for the AST, from `from` to a new end state */
  build(ast: RegexAst, from: number): number {
    switch (ast.t) {
      case 'set': {
        const end = this.state();
        const mid = this.state();
        this.eps[from]!.push(mid);
        this.set[mid] = ast.r;
        this.to[mid] = end;
        return end;
      }
      case 'seq': {
        let at = from;
        for (const item of ast.items) at = this.build(item, at);
        return at;
      }
      case 'alt': {
        const end = this.state();
        for (const item of ast.items) {
          const start = this.state();
          this.eps[from]!.push(start);
          this.eps[this.build(item, start)]!.push(end);
        }
        return end;
      }
      case 'rep': {
        let at = from;
        for (let k = 0; k < ast.min; k++) at = this.build(ast.item, at);
        if (ast.max === Infinity) {
          const loop = this.state();
          this.eps[at]!.push(loop);
          const end = this.build(ast.item, loop);
          this.eps[end]!.push(loop);
          return loop;
        }
        const end = this.state();
        this.eps[at]!.push(end);
        for (let k = ast.min; k < ast.max; k++) {
          at = this.build(ast.item, at);
          this.eps[at]!.push(end);
        }
        return end;
      }
    }
  }

  closure(states: Iterable<number>): number[] {
    const seen = new Set<number>();
    const stack = [...states];
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      for (const t of this.eps[s]!) if (!seen.has(t)) stack.push(t);
    }
    return [...seen].sort((a, b) => a - b);
  }
}

/**
 * Compiles a JSON Schema `pattern` (ECMAScript regular expression with the 'u' flag, searched in
 * the string unless anchored with ^ and $) to a DFA over code points. Lone surrogates are never
 * produced. Throws StrataError('unsupported') for what a DFA cannot express (lookaround,
 * backreferences, \b) and for patterns whose automaton is too large.
 */
export function compileRegex(pattern: string, op: string, where: string): CharDfa {
  const fail = (code: 'argument' | 'unsupported', message: string): never => {
    throw new StrataError(code, op, `${where}: ${message}`);
  };
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    fail('argument', `'pattern' ${JSON.stringify(pattern)} is not a valid regular expression: ${(err as Error).message}`);
  }
  const ast = new RegexParser(pattern, fail).parse();
  const nfa = new Nfa();
  const start = nfa.state();
  let accept: number;
  try {
    accept = nfa.build(ast, start);
  } catch (err) {
    if (err instanceof RangeError) fail('unsupported', `'pattern' ${JSON.stringify(pattern)} is too large`);
    throw err;
  }

  // elementary intervals: every set edge is a union of them; surrogates left out
  const cuts = new Set<number>([0, 0xd800, 0xe000, MAX_CP + 1]);
  for (const r of nfa.set) {
    if (!r) continue;
    for (let i = 0; i < r.length; i += 2) {
      cuts.add(r[i]!);
      cuts.add(r[i + 1]! + 1);
    }
  }
  const points = [...cuts].sort((a, b) => a - b);
  const intervals: [number, number][] = [];
  for (let i = 0; i + 1 < points.length; i++) if (points[i]! !== 0xd800) intervals.push([points[i]!, points[i + 1]! - 1]);
  const intervalIndex = (cp: number): number => {
    let lo = 0;
    let hi = intervals.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (intervals[mid]![0] <= cp) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  // the elementary intervals of each set edge
  const covers: number[][] = nfa.set.map((r) => {
    if (!r) return [];
    const out: number[] = [];
    for (let i = 0; i < r.length; i += 2) {
      for (let k = intervalIndex(r[i]!); k < intervals.length && intervals[k]![1] <= r[i + 1]!; k++) {
        if (intervals[k]![0] >= r[i]!) out.push(k);
      }
    }
    return out;
  });

  const ids = new Map<string, number>();
  const sets: number[][] = [];
  const raw: Map<number, number>[] = []; // per DFA state: interval → target
  const intern = (set: number[]): number => {
    const key = set.join(',');
    let id = ids.get(key);
    if (id === undefined) {
      if (sets.length >= MAX_DFA_STATES) fail('unsupported', `'pattern' ${JSON.stringify(pattern)} is too complex (over ${MAX_DFA_STATES} automaton states)`);
      id = sets.length;
      ids.set(key, id);
      sets.push(set);
      raw.push(new Map());
    }
    return id;
  };
  intern(nfa.closure([start]));
  for (let d = 0; d < sets.length; d++) {
    const buckets = new Map<number, number[]>();
    for (const s of sets[d]!) {
      if (!nfa.set[s]) continue;
      for (const k of covers[s]!) {
        let b = buckets.get(k);
        if (!b) buckets.set(k, (b = []));
        b.push(nfa.to[s]!);
      }
    }
    for (const [k, targets] of buckets) raw[d]!.set(k, intern(nfa.closure(targets)));
  }
  const n = sets.length;
  const accepting = new Uint8Array(n);
  for (let d = 0; d < n; d++) if (sets[d]!.includes(accept)) accepting[d] = 1;
  // live states reach an accepting one
  const live = new Uint8Array(n);
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (let d = 0; d < n; d++) for (const t of raw[d]!.values()) preds[t]!.push(d);
  const queue: number[] = [];
  for (let d = 0; d < n; d++) if (accepting[d]) queue.push(d);
  for (const d of queue) live[d] = 1;
  while (queue.length > 0) {
    const d = queue.pop()!;
    for (const p of preds[d]!) {
      if (!live[p]) {
        live[p] = 1;
        queue.push(p);
      }
    }
  }
  // renumber the live states, merge adjacent intervals with one target
  const renum = new Int32Array(n).fill(-1);
  let m = 0;
  for (let d = 0; d < n; d++) if (live[d]) renum[d] = m++;
  const edges: Int32Array[] = [];
  const acc = new Uint8Array(m);
  for (let d = 0; d < n; d++) {
    if (!live[d]) continue;
    acc[renum[d]!] = accepting[d]!;
    const list: number[] = [];
    const ks = [...raw[d]!.keys()].sort((a, b) => a - b);
    for (const k of ks) {
      const t = renum[raw[d]!.get(k)!]!;
      if (t < 0) continue;
      const [lo, hi] = intervals[k]!;
      const L = list.length;
      if (L > 0 && list[L - 1] === t && list[L - 2]! + 1 === lo) list[L - 2] = hi;
      else list.push(lo, hi, t);
    }
    edges.push(Int32Array.from(list));
  }
  return { start: renum[0]!, accepting: acc, edges };
}
