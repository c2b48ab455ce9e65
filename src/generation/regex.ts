// A regular expression (the ECMAScript subset JSON Schema patterns use) compiled to a DFA over
// code points, for languages that need one.

import { StrataError } from '../errors.js';

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
