// The two BPE algorithms of GGUF vocabularies, as llama.cpp runs them (llama-vocab.cpp):
//
// - byte-level BPE ('gpt2' model): a word's UTF-8 bytes, each as a GPT-2 table character, are
//   merged pair by pair, always the pair with the lowest merge rank first (leftmost on ties);
// - SentencePiece BPE ('llama' model): the whole text, spaces as '▁', is merged pair by pair,
//   always the pair whose concatenation is the vocabulary token with the highest score first
//   (leftmost on ties); characters left outside the vocabulary become <0xXX> byte tokens.
//
// Both keep the symbols in a linked list and the candidate merges in a heap, so a word of n
// symbols costs O(n log n), not a rescan of the whole word after every merge.

import { StrataError } from '../errors.js';
import { MergeQueue } from './merge-queue.js';
import type { TokenLookup } from './token-index.js';

const MERGED_AWAY = -1;
const NOT_A_PIECE = -2;

/** Largest rank and position the packed queue priority holds exactly (rank * 2^26 + position < 2^53). */
const POSITION_LIMIT = 1 << 26;

/**
 * Merge ranks over "pieces": every vocabulary token is the piece of the same number, and strings a
 * merge uses that are not tokens get piece numbers past the vocabulary (a malformed vocabulary
 * can name them; llama.cpp merges them all the same and spells the result out in bytes).
 */
export class ByteLevelBpe {
  private readonly pieceOf: Map<string, number>;
  private readonly pieces: string[];
  /** (left piece, right piece) → rank */
  private readonly rankOf = new Map<number, number>();
  /** rank → merged piece */
  private readonly mergedPiece: Int32Array;
  private readonly pieceStride: number;
  private readonly nTokens: number;
  private readonly cache = new Map<string, number[]>();
  private readonly queue = new MergeQueue();
  private symbols = new Int32Array(64);
  private prev = new Int32Array(64);
  private next = new Int32Array(64);

  /**
   * @param tokens the vocabulary (id → string, byte-level spelled)
   * @param tokenId string → id
   * @param merges 'left right' strings in rank order
   */
  constructor(
    tokens: readonly string[],
    private readonly tokenId: ReadonlyMap<string, number>,
    merges: readonly string[],
    private readonly ignoreMerges: boolean,
    source: string,
  ) {
    this.pieces = tokens.slice();
    this.nTokens = tokens.length;
    this.pieceOf = new Map(tokenId);
    const ranks: Array<[string, string, string]> = [];
    for (let i = 0; i < merges.length; i++) {
      const merge = merges[i]!;
      const space = merge.indexOf(' ', 1);
      if (space < 0) throw new StrataError('io', source, `tokenizer.ggml.merges[${i}]: '${merge.slice(0, 40)}' is not 'left right'`);
      const left = merge.slice(0, space);
      const right = merge.slice(space + 1);
      ranks.push([left, right, left + right]);
    }
    // every piece a merge can make is known before the pair keys are formed
    for (const [left, right, merged] of ranks) {
      this.intern(left);
      this.intern(right);
      this.intern(merged);
    }
    this.pieceStride = this.pieces.length;
    if (merges.length >= POSITION_LIMIT || this.pieceStride * this.pieceStride >= 2 ** 53) {
      throw new StrataError('unsupported', source, `${merges.length} merges over ${this.pieceStride} pieces is more than Strata handles`);
    }
    this.mergedPiece = new Int32Array(ranks.length);
    for (let rank = 0; rank < ranks.length; rank++) {
      const [left, right, merged] = ranks[rank]!;
      const key = this.pieceOf.get(left)! * this.pieceStride + this.pieceOf.get(right)!;
      // a repeated pair keeps its first (best) rank, as llama.cpp's bpe_ranks.emplace does
      if (!this.rankOf.has(key)) this.rankOf.set(key, rank);
      this.mergedPiece[rank] = this.pieceOf.get(merged)!;
    }
  }

  private intern(piece: string): number {
    let id = this.pieceOf.get(piece);
    if (id === undefined) {
      id = this.pieces.length;
      this.pieces.push(piece);
      this.pieceOf.set(piece, id);
    }
    return id;
  }

  /** Token ids of one pre-tokenized word, given in byte-level spelling. */
  encodeWord(word: string, out: number[]): void {
    const cached = this.cache.get(word);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const ids = this.merge(word);
    // words repeat (' the', ' and'); long runs rarely do and would pin their arrays
    if (word.length <= 256) {
      if (this.cache.size >= 65536) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (const id of ids) out.push(id);
  }

  private merge(word: string): number[] {
    if (this.ignoreMerges) {
      const whole = this.tokenId.get(word);
      if (whole !== undefined) return [whole];
    }
    const n = word.length;
    if (n >= POSITION_LIMIT) throw new StrataError('argument', 'encode', `a single word of ${n} bytes is too long`);
    if (this.symbols.length < n) {
      const size = Math.max(n, this.symbols.length * 2);
      this.symbols = new Int32Array(size);
      this.prev = new Int32Array(size);
      this.next = new Int32Array(size);
    }
    const { symbols, prev, next, queue } = this;
    for (let i = 0; i < n; i++) {
      // a character that is not even a piece can take part in no merge and names no token
      symbols[i] = this.pieceOf.get(word[i]!) ?? NOT_A_PIECE;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    queue.clear();
    for (let i = 0; i + 1 < n; i++) this.addPair(i, i + 1);
    while (queue.length > 0) {
      queue.pop();
      const left = queue.topLeft;
      const rank = Math.floor(queue.topPriority / POSITION_LIMIT);
      const right = next[left]!;
      // stale: the left symbol was merged away, or the pair is no longer this one
      if (symbols[left]! < 0 || right === -1 || symbols[right]! < 0) continue;
      if (this.rankOf.get(symbols[left]! * this.pieceStride + symbols[right]!) !== rank) continue;
      symbols[left] = this.mergedPiece[rank]!;
      symbols[right] = MERGED_AWAY;
      const after = next[right]!;
      next[left] = after;
      if (after !== -1) prev[after] = left;
      if (prev[left] !== -1) this.addPair(prev[left]!, left);
      if (after !== -1) this.addPair(left, after);
    }
    const ids: number[] = [];
    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = symbols[i]!;
      if (piece === NOT_A_PIECE) continue;
      if (piece < this.nTokens) {
        ids.push(piece);
        continue;
      }
      // not a token (only in malformed vocabularies): its characters one by one, as far as they are tokens
      for (const ch of this.pieces[piece]!) {
        const id = this.tokenId.get(ch);
        if (id !== undefined) ids.push(id);
      }
    }
    return ids;
  }

  private addPair(left: number, right: number): void {
    if (this.symbols[left]! < 0 || this.symbols[right]! < 0) return;
    const rank = this.rankOf.get(this.symbols[left]! * this.pieceStride + this.symbols[right]!);
    if (rank !== undefined) this.queue.push(rank * POSITION_LIMIT + left, left, right, 0);
  }
}

/** SentencePiece BPE over token scores (the 'llama' GGUF model). */
export class SentencePieceBpe {
  private readonly queue = new MergeQueue();

  /**
   * @param tokenId string → id
   * @param scores score of each id (higher merges first)
   * @param byteToken id of the token for each byte (<0xXX>), or -1 when the vocabulary has none
   */
  constructor(
    private readonly tokenId: TokenLookup,
    private readonly scores: Float64Array,
    private readonly byteToken: Int32Array,
  ) {}

  /** Token ids of text whose spaces are already '▁'. */
  encode(text: string, out: number[]): void {
    // symbols are code points: [start, end) in UTF-16 units
    const starts: number[] = [];
    for (let i = 0; i < text.length; ) {
      starts.push(i);
      const c = text.charCodeAt(i);
      i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
    }
    const n = starts.length;
    if (n === 0) return;
    const start = Int32Array.from(starts);
    const len = new Int32Array(n);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      len[i] = (i + 1 < n ? start[i + 1]! : text.length) - start[i]!;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const queue = this.queue;
    queue.clear();
    const addPair = (left: number, right: number): void => {
      if (left === -1 || right === -1) return;
      const size = len[left]! + len[right]!;
      const id = this.tokenId.get(text.slice(start[left]!, start[left]! + size));
      if (id === undefined) return;
      // the queue takes the lowest value first: negate the score
      queue.push(-this.scores[id]!, left, right, size);
    };
    for (let i = 0; i + 1 < n; i++) addPair(i, i + 1);
    while (queue.length > 0) {
      queue.pop();
      const left = queue.topLeft;
      const right = queue.topRight;
      // stale: either symbol was merged since, or the left one grew
      if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== queue.topSize) continue;
      len[left] = len[left]! + len[right]!;
      len[right] = 0;
      next[left] = next[right]!;
      if (next[right] !== -1) prev[next[right]!] = left;
      addPair(prev[left]!, left);
      addPair(left, next[left]!);
    }
    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = text.slice(start[i]!, start[i]! + len[i]!);
      const id = this.tokenId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const b of utf8.encode(piece)) {
        const byteId = this.byteToken[b]!;
        if (byteId >= 0) out.push(byteId);
      }
    }
  }
}

const utf8 = new TextEncoder();
