// Token string -> id for a vocabulary held as an array of strings, in one Int32Array hash table
// (open addressing, linear probing, FNV-1a over UTF-16 units) that points back into the array.
// A JS Map of a 32k-token vocabulary costs ≈ 1 MB of heap, plus as much again of garbage from its
// rehashing while it grows; this table is 256 KB outside the heap and holds no strings of its own.
// A loaded GGUF model keeps its tokenizer for its whole life, so this is memory every
// `strata generate` run carries.

/** What encoders need of a vocabulary: a token's id, or undefined when it has none. */
export interface TokenLookup {
  get(token: string): number | undefined;
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class TokenIndex implements TokenLookup {
  private readonly slots: Int32Array; // id + 1 per slot, 0 where empty
  private readonly mask: number;

  /**
   * Indexes `tokens` (which it keeps and must not change). When two ids spell the same token,
   * `onDuplicate(first, later)` is called for the lowest such later id before anything else is
   * indexed past it, and the later id is left out.
   */
  constructor(
    private readonly tokens: readonly string[],
    onDuplicate: (first: number, later: number) => void,
  ) {
    let size = 16;
    while (size < tokens.length * 2) size *= 2; // at most half full: short probe runs
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let id = 0; id < tokens.length; id++) {
      const t = tokens[id]!;
      let i = hash(t) & this.mask;
      for (;;) {
        const s = this.slots[i]!;
        if (s === 0) {
          this.slots[i] = id + 1;
          break;
        }
        if (tokens[s - 1] === t) {
          onDuplicate(s - 1, id);
          break;
        }
        i = (i + 1) & this.mask;
      }
    }
  }

  get(token: string): number | undefined {
    let i = hash(token) & this.mask;
    for (;;) {
      const s = this.slots[i]!;
      if (s === 0) return undefined;
      if (this.tokens[s - 1] === token) return s - 1;
      i = (i + 1) & this.mask;
    }
  }
}
