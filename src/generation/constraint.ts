// Constrained decoding: a TokenConstraint masks the logits of tokens that may not come next.
//
// The constraints here are byte-level languages (a JSON schema, say) run over the tokens' bytes.
// A vocabulary's token bytes are put once into a trie in depth-first order (token-vocabulary.ts),
// so one walk of the trie per step, stepping the language's state one byte per edge, prunes every
// token under a rejected prefix at once; and a subtree of plain JSON-string text under a state
// that takes any such text is accepted whole (its tokens are a contiguous range of the trie's order).
//
// A regular expression compiled to a DFA over code points, for languages that need one, is in
// regex.ts; both are re-exported here.

import { StrataError } from '../errors.js';
import { TEXT_NEXT, type TokenVocabulary } from './token-vocabulary.js';

export {
  TEXT_STATES,
  TEXT_NEXT,
  TEXT_PENDING,
  TEXT_NEXT_BITS,
  BYTE_VOCABULARY,
  tokenVocabulary,
  type ConstraintTokenizer,
  type TokenVocabulary,
} from './token-vocabulary.js';
export { compileRegex, dfaNext, type CharDfa } from './regex.js';

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
