// The compiled form of a JSON schema: a graph of nodes (object, array, string, number, literal,
// anyOf), and what is worked out on it ahead of decoding: per string node with a pattern, the
// fewest bytes from each DFA state and length to a valid end; per node and remaining nesting
// depth, the fewest bytes of a valid value; for a bounded number, the fewest bytes that complete
// its text so far.

import type { CharDfa } from './regex.js';

export const INF = Infinity;
export const MAX_INT_DIGITS = 15;
export const MAX_FRAC_DIGITS = 15;
export const MAX_EXP_DIGITS = 2;
/** with bounds, integer + fraction digits, so every value is exact in a double */
export const MAX_BOUNDED_DIGITS = 15;
/** (DFA states) x (string length) table cells for a pattern with length bounds */
const MAX_TABLE = 4_000_000;

// ---------------------------------------------------------------------------------------------
// Schema nodes

export interface Prop {
  name: string;
  /** the key as JSON text, quotes included */
  key: Uint8Array;
  /** the name's UTF-8 bytes (what an unescaped key spells) */
  raw: Uint8Array;
  node: Node;
  required: boolean;
}

export interface KeyChoices {
  keys: Uint8Array[];
  tags: number[];
  /** bytes after each key: ':' value, the required members after it, '}' */
  after: number[];
}

export interface ObjectNode {
  kind: 'object';
  props: Prop[];
  /** the schema of other keys; null: none allowed */
  additional: Node | null;
  /** first required prop at or after i (props.length: none) */
  requiredFrom: Int32Array;
  /** per remaining depth r of the object: bytes of the required members from prop i on, each with its ',' */
  tail: Float64Array[];
  choices: Map<number, KeyChoices>;
  minLen: Float64Array;
  /** index among the compiled nodes */
  id: number;
}

export interface ArrayNode {
  kind: 'array';
  items: Node;
  minItems: number;
  maxItems: number;
  minLen: Float64Array;
  /** index among the compiled nodes */
  id: number;
}

export interface StringNode {
  kind: 'string';
  minLength: number;
  maxLength: number;
  dfa: CharDfa | null;
  /** with a DFA: fewest content bytes to a valid end, E[state * (cap + 1) + min(len, cap)] */
  table: Float64Array | null;
  cap: number;
  /** per DFA state: [lo, hi, target, weight ...] (weight: fewest bytes to write a code point of the range) */
  weighted: Float64Array[] | null;
  minLen: Float64Array;
  /** index among the compiled nodes */
  id: number;
}

export interface NumberNode {
  kind: 'number';
  integer: boolean;
  lo: number;
  hi: number;
  loExclusive: boolean;
  hiExclusive: boolean;
  bounded: boolean;
  minLen: Float64Array;
  /** index among the compiled nodes */
  id: number;
}

export interface LiteralNode {
  kind: 'literal';
  values: Uint8Array[];
  /** the other keywords of an enum/const schema, which each value must also satisfy */
  guard: Node | null;
  path: string;
  minLen: Float64Array;
  /** index among the compiled nodes */
  id: number;
}

export interface AnyOfNode {
  kind: 'anyOf';
  options: Node[];
  minLen: Float64Array;
  /** index among the compiled nodes */
  id: number;
}

export type Node = ObjectNode | ArrayNode | StringNode | NumberNode | LiteralNode | AnyOfNode;

// ---------------------------------------------------------------------------------------------
// String nodes: fewest content bytes to a valid end

/** Fewest bytes that write some code point of [lo, hi] inside a JSON string. */
function encodedBytes(lo: number, hi: number): number {
  let best = INF;
  const at = (cp: number) => {
    if (cp < lo || cp > hi) return;
    const n = cp < 0x20 ? ([8, 9, 10, 12, 13].includes(cp) ? 2 : 6) : cp === 0x22 || cp === 0x5c ? 2 : cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    best = Math.min(best, n);
  };
  for (const cp of [lo, lo + 1, lo + 2, hi, 8, 0x20, 0x23, 0x5d, 0x80, 0x800, 0x10000]) at(cp);
  return best;
}

/** E[state][len]: fewest content bytes from a DFA state, `len` characters in, to a valid end of the string. */
export function buildStringTable(node: StringNode, fail: (m: string) => never): void {
  const dfa = node.dfa!;
  const n = dfa.accepting.length;
  node.weighted = dfa.edges.map((e) => {
    const out = new Float64Array((e.length / 3) * 4);
    for (let i = 0; i < e.length / 3; i++) out.set([e[i * 3]!, e[i * 3 + 1]!, e[i * 3 + 2]!, encodedBytes(e[i * 3]!, e[i * 3 + 1]!)], i * 4);
    return out;
  });
  const { minLength: m, maxLength: M } = node;
  const cap = M < INF ? M : m;
  const K = M < INF ? M : m + n;
  if (n * (K + 1) > MAX_TABLE) fail(`'pattern' with 'minLength'/'maxLength' of ${cap} is too large`);
  // exact[k][s]: fewest bytes of exactly k characters from s to an accepting state
  let exact = new Float64Array(n).fill(INF);
  for (let s = 0; s < n; s++) if (dfa.accepting[s]) exact[s] = 0;
  const byK: Float64Array[] = [exact];
  for (let k = 1; k <= K; k++) {
    const next = new Float64Array(n).fill(INF);
    for (let s = 0; s < n; s++) {
      const w = node.weighted[s]!;
      let best = INF;
      for (let i = 0; i < w.length; i += 4) best = Math.min(best, w[i + 3]! + exact[w[i + 2]!]!);
      next[s] = best;
    }
    byK.push(next);
    exact = next;
  }
  const table = new Float64Array(n * (cap + 1)).fill(INF);
  for (let s = 0; s < n; s++) {
    for (let len = 0; len <= cap; len++) {
      const from = Math.max(0, m - len);
      const to = M < INF ? M - len : K;
      let best = INF;
      for (let k = from; k <= to; k++) best = Math.min(best, byK[k]![s]!);
      table[s * (cap + 1) + len] = best;
    }
  }
  node.table = table;
  node.cap = cap;
}

/** Fewest content bytes from (DFA state, length) to a valid end; without a DFA, from the lengths. */
export function stringRest(node: StringNode, state: number, len: number): number {
  if (!node.dfa) return len > node.maxLength ? INF : Math.max(0, node.minLength - len);
  if (len > node.maxLength) return INF;
  return node.table![state * (node.cap + 1) + Math.min(len, node.cap)]!;
}

/** Fewest bytes that finish a character of [lo, hi] and then the string, from `state` at `len` characters. */
export function rangeRest(node: StringNode, state: number, len: number, lo: number, hi: number): number {
  if (!node.dfa) return stringRest(node, -1, len + 1);
  const w = node.weighted![state]!;
  let best = INF;
  for (let i = 0; i < w.length; i += 4) if (w[i]! <= hi && w[i + 1]! >= lo) best = Math.min(best, stringRest(node, w[i + 2]!, len + 1));
  return best;
}

// ---------------------------------------------------------------------------------------------
// Fewest bytes of a value, per node and remaining depth

/**
 * Refuses anyOf alternatives that refer to one another in a cycle (through $refs, with no object
 * or array in between): such a schema has no meaning a validator can check (ajv recurses forever).
 */
export function refuseAnyOfCycles(nodes: readonly Node[], fail: (message: string) => never): void {
  const index = new Map<Node, number>();
  const low = new Map<Node, number>();
  const stack: Node[] = [];
  const onStack = new Set<Node>();
  const connect = (n: Node) => {
    index.set(n, index.size);
    low.set(n, index.get(n)!);
    stack.push(n);
    onStack.add(n);
    for (const o of n.kind === 'anyOf' ? n.options : []) {
      if (!index.has(o)) {
        connect(o);
        low.set(n, Math.min(low.get(n)!, low.get(o)!));
      } else if (onStack.has(o)) low.set(n, Math.min(low.get(n)!, index.get(o)!));
    }
    if (low.get(n) !== index.get(n)) return;
    const group: Node[] = [];
    let m: Node;
    do {
      m = stack.pop()!;
      onStack.delete(m);
      group.push(m);
    } while (m !== n);
    if (group.length > 1 || (n.kind === 'anyOf' && n.options.includes(n))) fail("'$ref' makes a cycle of 'anyOf' alternatives with no object or array in between");
  };
  for (const n of nodes) if (!index.has(n)) connect(n);
}

export function computeMinLengths(nodes: readonly Node[], maxDepth: number, numberMin: (n: NumberNode) => number): void {
  // anyOf edges stay at one depth (and have no cycles left): options come first
  const order: Node[] = [];
  const seen = new Set<Node>();
  const visit = (n: Node) => {
    if (seen.has(n)) return;
    seen.add(n);
    if (n.kind === 'anyOf') for (const o of n.options) visit(o);
    if (n.kind === 'literal' && n.guard) visit(n.guard);
    order.push(n);
  };
  for (const n of nodes) visit(n);
  for (const n of nodes) n.minLen.fill(INF);
  for (let r = 0; r <= maxDepth; r++) {
    for (const n of order) {
      let v: number;
      switch (n.kind) {
        case 'string':
          v = 2 + stringRest(n, n.dfa ? n.dfa.start : -1, 0);
          break;
        case 'number':
          v = numberMin(n);
          break;
        case 'literal':
          v = Math.min(...n.values.map((b) => b.length));
          break;
        case 'anyOf':
          v = Math.min(INF, ...n.options.map((o) => o.minLen[r]!));
          break;
        case 'array': {
          const item = r > 0 ? n.items.minLen[r - 1]! : INF;
          v = r === 0 ? INF : n.minItems === 0 ? 2 : 2 + n.minItems * item + (n.minItems - 1);
          break;
        }
        case 'object': {
          if (r === 0) {
            v = INF;
            break;
          }
          const tail = new Float64Array(n.props.length + 1);
          for (let i = n.props.length - 1; i >= 0; i--) {
            const p = n.props[i]!;
            tail[i] = tail[i + 1]! + (p.required ? 1 + p.key.length + 1 + p.node.minLen[r - 1]! : 0);
          }
          n.tail[r] = tail;
          v = 2 + (n.requiredFrom[0]! < n.props.length ? tail[0]! - 1 : 0);
          break;
        }
      }
      n.minLen[r] = v;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Numbers with bounds

function inBounds(n: NumberNode, x: number): boolean {
  return (n.loExclusive ? x > n.lo : x >= n.lo) && (n.hiExclusive ? x < n.hi : x <= n.hi);
}

/** Whether some x = ±N / 10^m with N in [a, b] is within the bounds. */
function gridHits(n: NumberNode, neg: boolean, a: number, b: number, m: number): boolean {
  const scale = 10 ** m;
  const value = (N: number) => Number(`${neg ? '-' : ''}${N}e-${m}`);
  let lo = a;
  let hi = b;
  if (!neg) {
    if (n.lo > -INF) lo = Math.max(lo, Math.ceil(n.lo * scale) - 1);
    if (n.hi < INF) hi = Math.min(hi, Math.floor(n.hi * scale) + 1);
  } else {
    if (n.hi < INF) lo = Math.max(lo, Math.ceil(-n.hi * scale) - 1);
    if (n.lo > -INF) hi = Math.min(hi, Math.floor(-n.lo * scale) + 1);
  }
  if (lo > hi) return false;
  for (let N = lo; N <= hi && N <= lo + 3; N++) if (inBounds(n, value(N))) return true;
  for (let N = hi; N >= lo && N >= hi - 3; N--) if (inBounds(n, value(N))) return true;
  return hi - lo > 8;
}

/**
 * Fewest bytes that complete a bounded number from its text so far ('' before the first
 * character), INF when no completion is within the bounds. Values are digits only (no exponent).
 */
export function numberCompletion(n: NumberNode, text: string): number {
  if (text === '') return Math.min(numberCompletion(n, '0') + 1, ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((d) => numberCompletion(n, String(d)) + 1), numberCompletion(n, '-') + 1);
  const neg = text.startsWith('-');
  const body = neg ? text.slice(1) : text;
  const dot = body.indexOf('.');
  const intPart = dot < 0 ? body : body.slice(0, dot);
  const maxFrac = n.integer ? 0 : MAX_BOUNDED_DIGITS;
  let best = INF;
  if (dot < 0) {
    const len = intPart.length;
    for (let k = 0; len + k <= MAX_INT_DIGITS; k++) {
      if (len + k === 0) continue;
      if (intPart === '0' && k > 0) break;
      let a: number;
      let b: number;
      if (len === 0) [a, b] = k === 1 ? [0, 9] : [10 ** (k - 1), 10 ** k - 1];
      else [a, b] = [Number(intPart) * 10 ** k, Number(intPart) * 10 ** k + 10 ** k - 1];
      for (let m = 0; m <= Math.min(maxFrac, MAX_BOUNDED_DIGITS - len - k); m++) {
        const added = k + (m > 0 ? m + 1 : 0);
        if (added >= best) break;
        const s = 10 ** m;
        if (gridHits(n, neg, a * s, b * s + s - 1, m)) best = added;
      }
    }
    return best;
  }
  const frac = body.slice(dot + 1);
  const base = Number(intPart + frac);
  for (let j = frac.length === 0 ? 1 : 0; intPart.length + frac.length + j <= MAX_BOUNDED_DIGITS; j++) {
    if (j >= best) break;
    const s = 10 ** j;
    if (gridHits(n, neg, base * s, base * s + s - 1, frac.length + j)) best = j;
  }
  return best;
}
