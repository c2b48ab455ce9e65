// A tokenizer's vocabulary as bytes, for byte-level constraints: every token's bytes as they
// appear in decoded output, put once into a trie in depth-first order (one walk of the trie per
// step then prunes every token under a rejected prefix at once). Each node also records whether
// every path below it is plain JSON-string text, per UTF-8 text state, so a subtree under a state
// that takes any such text can be accepted whole: its tokens are a contiguous range of the order.

import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { CHAR_TO_BYTE } from '../tokenizers/pretokenize.js';

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
