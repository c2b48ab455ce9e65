// The JSON automaton: frames for objects, arrays, literals and numbers (strings and keys are in
// json-text-frames.ts), the dispatch on a value's first byte, and the ByteLanguage that steps a
// stack of them.

import type { ByteLanguage } from './constraint.js';
import { INF, MAX_EXP_DIGITS, MAX_FRAC_DIGITS, MAX_INT_DIGITS, numberCompletion, type ArrayNode, type KeyChoices, type Node, type NumberNode, type ObjectNode } from './json-nodes.js';
import { DONE, Frame, OPEN_VALUE, Stack, finish, push } from './json-stack.js';
import { KeyFrame, StringFrame } from './json-text-frames.js';

export interface Grammar {
  readonly root: Node;
  readonly maxDepth: number;
}

/** The byte b as the first of a value of `node` at remaining depth r, its parent stack `up`. */
function startValue(g: Grammar, node: Node, r: number, b: number, up: Stack | null, out: Stack[]): void {
  if (node.minLen[r] === INF) return;
  switch (node.kind) {
    case 'anyOf':
      for (const o of node.options) startValue(g, o, r, b, up, out);
      return;
    case 'object':
      if (b === 0x7b) push(new ObjectFrame(g, node, r, OBJ_OPEN, 0, false, -1), up, out);
      return;
    case 'array':
      if (b === 0x5b) push(new ArrayFrame(g, node, r, ARR_OPEN, 0, false), up, out);
      return;
    case 'string':
      if (b === 0x22) push(new StringFrame(node, 0, 0, 0, 0, node.dfa ? node.dfa.start : -1), up, out);
      return;
    case 'number':
      NumberFrame.start(node, b, up, out);
      return;
    case 'literal':
      LiteralFrame.start(node.values, null, null, b, up, out, 1);
      return;
  }
}

export class StartFrame extends Frame {
  constructor(
    private readonly g: Grammar,
    private readonly node: Node,
  ) {
    super();
  }
  step(b: number, _self: Stack, out: Stack[]): void {
    startValue(this.g, this.node, this.g.maxDepth, b, null, out);
  }
  key(): string {
    return 'S';
  }
  rest(): number {
    return this.node.minLen[this.g.maxDepth]!;
  }
}

const OBJ_OPEN = 0;
const OBJ_KEY = 1;
const OBJ_AFTER_KEY = 2;
const OBJ_AFTER_COLON = 3;
const OBJ_VALUE = 4;
const OBJ_AFTER_VALUE = 5;
const OBJ_AFTER_COMMA = 6;

class ObjectFrame extends Frame {
  constructor(
    private readonly g: Grammar,
    private readonly node: ObjectNode,
    /** remaining depth of this object (its members are at r - 1) */
    private readonly r: number,
    private readonly phase: number,
    /** the first declared property that may still come */
    private readonly next: number,
    /** a space was taken in the current gap */
    private readonly ws: boolean,
    /** the member whose key was read (-1: an additional key) */
    private readonly member: number,
  ) {
    super();
  }

  key(): string {
    return `o${this.node.id},${this.r},${this.phase},${this.next},${+this.ws},${this.member}`;
  }

  private with(phase: number, next = this.next, ws = false, member = this.member): ObjectFrame {
    return new ObjectFrame(this.g, this.node, this.r, phase, next, ws, member);
  }

  private get tail(): Float64Array {
    return this.node.tail[this.r]!;
  }

  private valueNode(member: number): Node {
    return member >= 0 ? this.node.props[member]!.node : this.node.additional!;
  }

  private canClose(): boolean {
    return this.node.requiredFrom[this.next] === this.node.props.length;
  }

  /** the keys that may come next: declared ones up to the first required, and whether other keys may */
  private choices(): KeyChoices {
    const k = this.r * (this.node.props.length + 1) + this.next;
    let c = this.node.choices.get(k);
    if (!c) {
      c = { keys: [], tags: [], after: [] };
      for (let j = this.next; j < this.node.props.length; j++) {
        const p = this.node.props[j]!;
        const v = p.node.minLen[this.r - 1]!;
        if (v < INF) {
          c.keys.push(p.key);
          c.tags.push(j);
          c.after.push(1 + v + this.tail[j + 1]! + 1);
        }
        if (p.required) break;
      }
      this.node.choices.set(k, c);
    }
    return c;
  }

  /** fewest bytes of an additional key's value, INF when none may come */
  private additionalMin(): number {
    return this.node.additional ? this.node.additional.minLen[this.r - 1]! : INF;
  }

  private freeKeyBytes(): number {
    return this.node.props.some((p) => p.raw.length === 0) ? 3 : 2;
  }

  step(b: number, self: Stack, out: Stack[]): void {
    const phase = this.phase;
    if (b === 0x20) {
      if (!this.ws && phase !== OBJ_KEY && phase !== OBJ_VALUE) out.push(new Stack(this.with(phase, this.next, true), self.up, self.tail));
      return;
    }
    switch (phase) {
      case OBJ_OPEN:
      case OBJ_AFTER_COMMA:
        if (b === 0x22) this.startKey(self, out);
        else if (b === 0x7d && phase === OBJ_OPEN && this.canClose()) out.push(finish(self.up, -1));
        return;
      case OBJ_AFTER_KEY:
        if (b === 0x3a) out.push(new Stack(this.with(OBJ_AFTER_COLON), self.up, self.tail));
        return;
      case OBJ_AFTER_COLON:
        startValue(this.g, this.valueNode(this.member), this.r - 1, b, new Stack(this.with(OBJ_VALUE), self.up, self.tail), out);
        return;
      case OBJ_AFTER_VALUE:
        if (b === 0x2c && (this.choices().keys.length > 0 || this.additionalMin() < INF)) out.push(new Stack(this.with(OBJ_AFTER_COMMA), self.up, self.tail));
        else if (b === 0x7d && this.canClose()) out.push(finish(self.up, -1));
        return;
    }
  }

  private startKey(self: Stack, out: Stack[]): void {
    const parent = new Stack(this.with(OBJ_KEY), self.up, self.tail);
    const c = this.choices();
    if (c.keys.length > 0) out.push(new Stack(new LiteralFrame(c.keys, c.tags, c.after, 1), parent, parent.tail));
    const extra = this.additionalMin();
    if (extra < INF) {
      const shadow = this.node.props.length > 0 ? this.node.props.map((p) => p.raw) : null;
      out.push(new Stack(new KeyFrame(shadow, 0, 0, 0, 1 + extra + this.tail[this.next]! + 1), parent, parent.tail));
    }
  }

  rest(): number {
    const t = this.tail;
    switch (this.phase) {
      case OBJ_OPEN:
        return (this.canClose() ? 0 : t[0]! - 1) + 1;
      case OBJ_AFTER_KEY:
        return 1 + this.valueNode(this.member).minLen[this.r - 1]! + t[this.next]! + 1;
      case OBJ_AFTER_COLON:
        return this.valueNode(this.member).minLen[this.r - 1]! + t[this.next]! + 1;
      case OBJ_AFTER_COMMA: {
        const c = this.choices();
        let best = this.additionalMin() + this.freeKeyBytes() + 1 + t[this.next]! + 1;
        for (let i = 0; i < c.keys.length; i++) best = Math.min(best, c.keys[i]!.length + c.after[i]!);
        return best;
      }
      default:
        return t[this.next]! + 1;
    }
  }

  override childTail(): number {
    return this.phase === OBJ_VALUE ? this.tail[this.next]! + 1 : 0;
  }

  override afterChild(tag: number): Frame {
    if (this.phase === OBJ_KEY) return this.with(OBJ_AFTER_KEY, tag >= 0 ? tag + 1 : this.next, false, tag);
    return this.with(OBJ_AFTER_VALUE);
  }
}

const ARR_OPEN = 0;
const ARR_VALUE = 1;
const ARR_AFTER_VALUE = 2;
const ARR_AFTER_COMMA = 3;

class ArrayFrame extends Frame {
  constructor(
    private readonly g: Grammar,
    private readonly node: ArrayNode,
    private readonly r: number,
    private readonly phase: number,
    /** items finished */
    private readonly count: number,
    private readonly ws: boolean,
  ) {
    super();
  }

  key(): string {
    return `a${this.node.id},${this.r},${this.phase},${this.count},${+this.ws}`;
  }

  private itemMin(): number {
    return this.node.items.minLen[this.r - 1]!;
  }

  /** fewest bytes after `count` items: more items to minItems, then ']' */
  private closing(count: number): number {
    const missing = Math.max(0, this.node.minItems - count);
    return missing === 0 ? 1 : missing * (1 + this.itemMin()) + 1;
  }

  step(b: number, self: Stack, out: Stack[]): void {
    const { phase, node } = this;
    if (b === 0x20) {
      if (!this.ws && phase !== ARR_VALUE) out.push(new Stack(new ArrayFrame(this.g, node, this.r, phase, this.count, true), self.up, self.tail));
      return;
    }
    if (phase === ARR_AFTER_VALUE) {
      if (b === 0x2c && this.count < node.maxItems) out.push(new Stack(new ArrayFrame(this.g, node, this.r, ARR_AFTER_COMMA, this.count, false), self.up, self.tail));
      else if (b === 0x5d && this.count >= node.minItems) out.push(finish(self.up, -1));
      return;
    }
    if (phase === ARR_OPEN && b === 0x5d) {
      if (node.minItems === 0) out.push(finish(self.up, -1));
      return;
    }
    if (this.count < node.maxItems) {
      startValue(this.g, node.items, this.r - 1, b, new Stack(new ArrayFrame(this.g, node, this.r, ARR_VALUE, this.count, false), self.up, self.tail), out);
    }
  }

  rest(): number {
    switch (this.phase) {
      case ARR_OPEN:
        return this.node.minItems === 0 ? 1 : this.node.minItems * (this.itemMin() + 1);
      case ARR_AFTER_COMMA:
        return this.itemMin() + this.closing(this.count + 1);
      default:
        return this.closing(this.count);
    }
  }

  override childTail(): number {
    return this.closing(this.count + 1);
  }

  override afterChild(): Frame {
    return new ArrayFrame(this.g, this.node, this.r, ARR_AFTER_VALUE, this.count + 1, false);
  }
}

/** A literal among several (enum values, or the declared keys that may come next). */
class LiteralFrame extends Frame {
  constructor(
    private readonly options: readonly Uint8Array[],
    private readonly tags: readonly number[] | null,
    /** bytes after each option (keys); null for values */
    private readonly after: readonly number[] | null,
    private readonly pos: number,
  ) {
    super();
  }

  /** Starts (or continues, from `pos`) the literals whose byte at pos - 1 is b. */
  static start(options: readonly Uint8Array[], tags: readonly number[] | null, after: readonly number[] | null, b: number, up: Stack | null, out: Stack[], pos: number): void {
    const keep: Uint8Array[] = [];
    const keepTags: number[] = [];
    const keepAfter: number[] = [];
    let whole = -1;
    for (let i = 0; i < options.length; i++) {
      const o = options[i]!;
      if (o.length < pos || o[pos - 1] !== b) continue;
      if (o.length === pos) whole = keep.length;
      keep.push(o);
      keepTags.push(tags ? tags[i]! : -1);
      if (after) keepAfter.push(after[i]!);
    }
    if (keep.length === 0) return;
    if (keep.length === 1 && whole === 0) {
      out.push(finish(up, keepTags[0]!));
      return;
    }
    const frame = new LiteralFrame(keep, tags ? keepTags : null, after ? keepAfter : null, pos);
    out.push(new Stack(frame, up, up ? up.frame.childTail() + up.tail : 0));
  }

  step(b: number, self: Stack, out: Stack[]): void {
    LiteralFrame.start(this.options, this.tags, this.after, b, self.up, out, this.pos + 1);
  }

  key(): string {
    return `l${this.pos},${this.tags?.join(' ')},${this.after?.join(' ')},${this.options.map((o) => o.join(' ')).join(',')}`;
  }

  rest(): number {
    let best = INF;
    for (let i = 0; i < this.options.length; i++) best = Math.min(best, this.options[i]!.length - this.pos + (this.after ? this.after[i]! : 0));
    return best;
  }

  override completeTag(): number {
    for (let i = 0; i < this.options.length; i++) if (this.options[i]!.length === this.pos) return this.tags ? this.tags[i]! : -1;
    return OPEN_VALUE;
  }
}

const NUM_SIGN = 0;
const NUM_ZERO = 1;
const NUM_INT = 2;
const NUM_DOT = 3;
const NUM_FRAC = 4;
const NUM_EXP = 5;
const NUM_EXP_SIGN = 6;
const NUM_EXP_DIGITS = 7;

class NumberFrame extends Frame {
  constructor(
    private readonly node: NumberNode,
    private readonly phase: number,
    /** digits in the current part (integer, fraction or exponent) */
    private readonly digits: number,
    /** with bounds: the text so far and the fewest bytes that complete it */
    private readonly text: string,
    private readonly need: number,
  ) {
    super();
  }

  key(): string {
    return `n${this.node.id},${this.phase},${this.digits},${this.text}`;
  }

  static start(node: NumberNode, b: number, up: Stack | null, out: Stack[]): void {
    let phase: number;
    if (b === 0x2d) phase = NUM_SIGN;
    else if (b === 0x30) phase = NUM_ZERO;
    else if (b > 0x30 && b <= 0x39) phase = NUM_INT;
    else return;
    const f = NumberFrame.make(node, phase, phase === NUM_SIGN ? 0 : 1, '', b);
    if (f) push(f, up, out);
  }

  private static make(node: NumberNode, phase: number, digits: number, before: string, b: number): NumberFrame | null {
    if (!node.bounded) return new NumberFrame(node, phase, digits, '', 0);
    const text = before + String.fromCharCode(b);
    const need = numberCompletion(node, text);
    return need === INF ? null : new NumberFrame(node, phase, digits, text, need);
  }

  step(b: number, self: Stack, out: Stack[]): void {
    const { node, phase, digits } = this;
    const digit = b >= 0x30 && b <= 0x39;
    const exp = (b === 0x65 || b === 0x45) && !node.integer && !node.bounded;
    let f: NumberFrame | null = null;
    const to = (p: number, d: number) => NumberFrame.make(node, p, d, this.text, b);
    switch (phase) {
      case NUM_SIGN:
        if (digit) f = to(b === 0x30 ? NUM_ZERO : NUM_INT, 1);
        break;
      case NUM_ZERO:
      case NUM_INT:
        if (digit && phase === NUM_INT && digits < MAX_INT_DIGITS) f = to(NUM_INT, digits + 1);
        else if (b === 0x2e && !node.integer) f = to(NUM_DOT, 0);
        else if (exp) f = to(NUM_EXP, 0);
        break;
      case NUM_DOT:
        if (digit) f = to(NUM_FRAC, 1);
        break;
      case NUM_FRAC:
        if (digit && digits < MAX_FRAC_DIGITS) f = to(NUM_FRAC, digits + 1);
        else if (exp) f = to(NUM_EXP, 0);
        break;
      case NUM_EXP:
        if (b === 0x2b || b === 0x2d) f = to(NUM_EXP_SIGN, 0);
        else if (digit) f = to(NUM_EXP_DIGITS, 1);
        break;
      case NUM_EXP_SIGN:
        if (digit) f = to(NUM_EXP_DIGITS, 1);
        break;
      case NUM_EXP_DIGITS:
        if (digit && digits < MAX_EXP_DIGITS) f = to(NUM_EXP_DIGITS, digits + 1);
        break;
    }
    if (f) out.push(new Stack(f, self.up, self.tail));
  }

  rest(): number {
    if (this.node.bounded) return this.need;
    return this.phase === NUM_SIGN || this.phase === NUM_DOT || this.phase === NUM_EXP || this.phase === NUM_EXP_SIGN ? 1 : 0;
  }

  override completeTag(): number {
    return this.rest() === 0 ? -1 : OPEN_VALUE;
  }
}

// ---------------------------------------------------------------------------------------------
// The language

class JsonLanguage implements ByteLanguage<Stack> {
  step(state: Stack, b: number, out: Stack[]): void {
    state.frame.step(b, state, out);
    // a finished number or enum value may also end here, the byte then belonging to its parent
    if (state.up && state.frame.completeTag() !== OPEN_VALUE) {
      const parent = finish(state.up, state.frame.completeTag());
      parent.frame.step(b, parent, out);
    }
  }

  accepts(state: Stack): boolean {
    return state === DONE || (state.up === null && state.frame.completeTag() !== OPEN_VALUE);
  }

  /** Alternatives that finished the same way leave equal stacks over one shared stack: keep one. */
  dedupe(states: Stack[]): Stack[] {
    if (states.length < 2) return states;
    const seen = new Set<string>();
    return states.filter((s) => {
      const k = `${s.frame.key()}@${s.up ? s.up.id : -1}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }

  minRemaining(state: Stack): number {
    return state.frame.rest() + state.tail;
  }

  plainText(state: Stack): number {
    return state.frame.plainText();
  }

  plainChars(state: Stack): number {
    return state.frame.plainChars();
  }

  plainRemaining(state: Stack, chars: number, text: number): number {
    return state.frame.plainRest(chars, text) + state.tail;
  }
}

export const LANGUAGE = new JsonLanguage();
