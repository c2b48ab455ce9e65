// Frames that read a JSON string's bytes: a string value (lengths, pattern DFA) and an object key
// that is not a declared property.

import { TEXT_NEXT, TEXT_NEXT_BITS, TEXT_PENDING } from './token-vocabulary.js';
import { dfaNext } from './regex.js';
import { INF, rangeRest, stringRest, type StringNode } from './json-nodes.js';
import { Frame, Stack, finish } from './json-stack.js';

const SHORT_ESCAPES: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9 };

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

/** The code points a pending UTF-8 character can still become: [cp bits so far, text state]. */
function utf8Range(cp: number, state: number): [number, number] {
  let lo = cp;
  let hi = cp;
  const due = TEXT_PENDING[state]!;
  for (let i = 0; i < due; i++) {
    const [blo, bhi] = i === 0 ? TEXT_NEXT_BITS[state]! : [0, 63];
    lo = lo * 64 + blo;
    hi = hi * 64 + bhi;
  }
  return [lo, hi];
}

/**
 * Shared reading of a JSON string's bytes: UTF-8 (validated: no overlong forms, no surrogates)
 * and escapes (\uXXXX never a surrogate, so astral characters are written raw). `onChar` is
 * called with each finished code point; `onPending` with the range a partial one may become.
 */
abstract class TextFrame extends Frame {
  constructor(
    /** pending UTF-8 text state (0: none) */
    readonly utf8: number,
    /** 0: none; 1: after '\'; 2-5: after '\u' and esc - 2 hex digits */
    readonly esc: number,
    /** bits of the pending code point */
    readonly cp: number,
  ) {
    super();
  }

  protected abstract withText(utf8: number, esc: number, cp: number): TextFrame | null;
  /** the frame after a finished character, or null when it may not come */
  protected abstract onChar(cp: number): TextFrame | null;
  /** whether some character in [lo, hi] may come */
  protected abstract canTake(lo: number, hi: number): boolean;
  protected abstract close(self: Stack, out: Stack[]): void;

  step(b: number, self: Stack, out: Stack[]): void {
    let f: TextFrame | null = null;
    if (this.esc === 1) {
      const short = SHORT_ESCAPES[b];
      if (short !== undefined) f = this.onChar(short);
      else if (b === 0x75 && this.canTake(0, 0xffff)) f = this.withText(0, 2, 0);
    } else if (this.esc >= 2) {
      const h = hexValue(b);
      if (h < 0 || (this.esc === 3 && this.cp === 0xd && h >= 8)) return;
      const cp = this.cp * 16 + h;
      if (this.esc === 5) f = this.onChar(cp);
      else {
        const shift = 4 * (5 - this.esc);
        if (this.canTake(cp << shift, ((cp + 1) << shift) - 1)) f = this.withText(0, this.esc + 1, cp);
      }
    } else if (this.utf8 !== 0) {
      const next = TEXT_NEXT[this.utf8 * 256 + b]!;
      if (next < 0) return;
      const cp = this.cp * 64 + (b & 0x3f);
      if (next === 0) f = this.onChar(cp);
      else {
        const [lo, hi] = utf8Range(cp, next);
        if (this.canTake(lo, hi)) f = this.withText(next, 0, cp);
      }
    } else if (b === 0x22) {
      this.close(self, out);
      return;
    } else if (b === 0x5c) {
      if (this.canTake(0, 0xffff)) f = this.withText(0, 1, 0);
    } else if (b < 0x80) {
      if (b >= 0x20) f = this.onChar(b);
    } else {
      const next = TEXT_NEXT[b]!;
      if (next < 0) return;
      const cp = b & (b >= 0xf0 ? 0x07 : b >= 0xe0 ? 0x0f : 0x1f);
      const [lo, hi] = utf8Range(cp, next);
      if (this.canTake(lo, hi)) f = this.withText(next, 0, cp);
    }
    if (f) out.push(new Stack(f, self.up, self.tail));
  }

  /** bytes still due for the pending character, and the range it may become */
  protected pending(): { due: number; lo: number; hi: number } | null {
    if (this.esc === 1) return { due: 1, lo: 0, hi: 0xffff };
    if (this.esc >= 2) {
      const shift = 4 * (6 - this.esc);
      return { due: 6 - this.esc, lo: this.cp << shift, hi: ((this.cp + 1) << shift) - 1 };
    }
    if (this.utf8 !== 0) {
      const [lo, hi] = utf8Range(this.cp, this.utf8);
      return { due: TEXT_PENDING[this.utf8]!, lo, hi };
    }
    return null;
  }
}

export class StringFrame extends TextFrame {
  constructor(
    private readonly node: StringNode,
    utf8: number,
    esc: number,
    cp: number,
    /** characters so far */
    private readonly len: number,
    /** pattern DFA state (-1: no pattern) */
    private readonly dfa: number,
  ) {
    super(utf8, esc, cp);
  }

  key(): string {
    return `s${this.node.id},${this.utf8},${this.esc},${this.cp},${this.len},${this.dfa}`;
  }

  protected withText(utf8: number, esc: number, cp: number): TextFrame {
    return new StringFrame(this.node, utf8, esc, cp, this.len, this.dfa);
  }

  protected onChar(cp: number): TextFrame | null {
    const { node } = this;
    const len = this.len + 1;
    if (len > node.maxLength) return null;
    let state = -1;
    if (node.dfa) {
      state = dfaNext(node.dfa, this.dfa, cp);
      if (state < 0 || stringRest(node, state, len) === INF) return null;
    }
    // past every length bound the count no longer matters
    const keep = node.maxLength < INF ? len : Math.min(len, node.minLength);
    return new StringFrame(node, 0, 0, 0, keep, state);
  }

  protected canTake(lo: number, hi: number): boolean {
    return rangeRest(this.node, this.dfa, this.len, lo, hi) < INF;
  }

  private shortEscapeRest(): number {
    let best = INF;
    for (const cp of Object.values(SHORT_ESCAPES)) best = Math.min(best, rangeRest(this.node, this.dfa, this.len, cp, cp));
    return best;
  }

  protected close(self: Stack, out: Stack[]): void {
    if (this.len >= this.node.minLength && (!this.node.dfa || this.node.dfa.accepting[this.dfa])) out.push(finish(self.up, -1));
  }

  rest(): number {
    const p = this.pending();
    if (!p) return stringRest(this.node, this.dfa, this.len) + 1;
    let best = p.due + rangeRest(this.node, this.dfa, this.len, p.lo, p.hi);
    if (this.esc === 1) best = Math.min(1 + this.shortEscapeRest(), 5 + rangeRest(this.node, this.dfa, this.len, 0, 0xffff));
    return best + 1;
  }

  override plainText(): number {
    return this.esc === 0 && !this.node.dfa ? this.utf8 : -1;
  }

  override plainChars(): number {
    return this.node.maxLength - this.len - (this.utf8 !== 0 ? 1 : 0);
  }

  override plainRest(chars: number, text: number): number {
    return TEXT_PENDING[text]! + stringRest(this.node, -1, this.len + (this.utf8 !== 0 ? 1 : 0) + chars) + 1;
  }
}

/**
 * An object key that is not a declared property (additionalProperties). It may not spell a
 * declared name (those come in their declared place), so while it is still a prefix of one,
 * escapes are refused: the bytes then spell the key exactly.
 */
export class KeyFrame extends TextFrame {
  constructor(
    /** declared names the key is still a prefix of (null: none) */
    private readonly shadow: readonly Uint8Array[] | null,
    utf8: number,
    esc: number,
    cp: number,
    /** bytes of ':' value, the required members after it, '}' */
    private readonly after: number,
    private readonly pos = 0,
  ) {
    super(utf8, esc, cp);
  }

  override step(b: number, self: Stack, out: Stack[]): void {
    if (!this.shadow || this.esc !== 0 || b === 0x22) {
      super.step(b, self, out);
      return;
    }
    if (b === 0x5c) return;
    const start = out.length;
    super.step(b, self, out);
    if (out.length === start) return;
    const shadow = this.shadow.filter((n) => n.length > this.pos && n[this.pos] === b);
    const f = out[start]!.frame as KeyFrame;
    out[start] = new Stack(new KeyFrame(shadow.length > 0 ? shadow : null, f.utf8, f.esc, f.cp, this.after, this.pos + 1), self.up, self.tail);
  }

  key(): string {
    return `k${this.utf8},${this.esc},${this.cp},${this.after},${this.pos},${this.shadow?.map((n) => n.join(' ')).join(',')}`;
  }

  protected withText(utf8: number, esc: number, cp: number): TextFrame {
    return new KeyFrame(this.shadow, utf8, esc, cp, this.after, this.pos);
  }

  protected onChar(): TextFrame {
    return new KeyFrame(this.shadow, 0, 0, 0, this.after, this.pos);
  }

  protected canTake(): boolean {
    return true;
  }

  private spellsDeclared(): boolean {
    return this.shadow !== null && this.shadow.some((n) => n.length === this.pos);
  }

  protected close(self: Stack, out: Stack[]): void {
    if (!this.spellsDeclared()) out.push(finish(self.up, -1));
  }

  rest(): number {
    const p = this.pending();
    return (p ? p.due : this.spellsDeclared() ? 1 : 0) + 1 + this.after;
  }

  override plainText(): number {
    return this.esc === 0 && !this.shadow ? this.utf8 : -1;
  }

  override plainChars(): number {
    return INF;
  }

  override plainRest(_chars: number, text: number): number {
    return TEXT_PENDING[text]! + 1 + this.after;
  }
}
