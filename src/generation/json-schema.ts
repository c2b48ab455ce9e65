// JSON Schema → a constraint whose outputs always parse as JSON and validate against the schema
// (OpenAI's `response_format` json_schema and json_object modes).
//
// The schema is compiled to a graph of nodes (object, array, string, number, literal, anyOf);
// $refs become edges, so bounded recursion costs nothing extra. The output is read by a
// pushdown automaton over bytes: a state is an immutable stack of frames (one per open object,
// array, string, number or literal), a set of stacks when anyOf leaves several readings open.
// Every node knows, per remaining nesting depth, the fewest bytes of a valid value, which gives
// each state the fewest bytes that complete the output: with a token budget, the constraint only
// lets through tokens after which the output can still be closed in time.
//
// Output form, chosen so that a model cannot wander: no whitespace before or after the value,
// at most one space (no newlines) between tokens inside it; object keys in the schema's declared
// order (optional ones may be left out; with additionalProperties, other keys may come anywhere
// between them); numbers at most 15 integer and 15 fraction digits and a two-digit exponent.

import { StrataError } from '../errors.js';
import { BYTE_VOCABULARY, type ByteLanguage, type CharDfa, type ConstraintTokenizer, LanguageConstraint, TEXT_NEXT, TEXT_NEXT_BITS, TEXT_PENDING, compileRegex, dfaNext, tokenVocabulary } from './constraint.js';

const OP = 'json schema';
const INF = Infinity;
const DEFAULT_MAX_DEPTH = 20;
const MAX_INT_DIGITS = 15;
const MAX_FRAC_DIGITS = 15;
const MAX_EXP_DIGITS = 2;
/** with bounds, integer + fraction digits, so every value is exact in a double */
const MAX_BOUNDED_DIGITS = 15;
/** (DFA states) x (string length) table cells for a pattern with length bounds */
const MAX_TABLE = 4_000_000;

export interface JsonSchemaOptions {
  /** deepest nesting of objects and arrays (default 20); recursive $refs stop there */
  maxDepth?: number;
  /** when given, StrataError('argument') if the shortest valid output is longer (in bytes, so tokens at worst) */
  maxTokens?: number;
}

// ---------------------------------------------------------------------------------------------
// Schema nodes

interface Prop {
  name: string;
  /** the key as JSON text, quotes included */
  key: Uint8Array;
  /** the name's UTF-8 bytes (what an unescaped key spells) */
  raw: Uint8Array;
  node: Node;
  required: boolean;
}

interface KeyChoices {
  keys: Uint8Array[];
  tags: number[];
  /** bytes after each key: ':' value, the required members after it, '}' */
  after: number[];
}

interface ObjectNode {
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

interface ArrayNode {
  kind: 'array';
  items: Node;
  minItems: number;
  maxItems: number;
  minLen: Float64Array;
  /** index among the compiled nodes */
  id: number;
}

interface StringNode {
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

interface NumberNode {
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

interface LiteralNode {
  kind: 'literal';
  values: Uint8Array[];
  /** the other keywords of an enum/const schema, which each value must also satisfy */
  guard: Node | null;
  path: string;
  minLen: Float64Array;
  /** index among the compiled nodes */
  id: number;
}

interface AnyOfNode {
  kind: 'anyOf';
  options: Node[];
  minLen: Float64Array;
  /** index among the compiled nodes */
  id: number;
}

type Node = ObjectNode | ArrayNode | StringNode | NumberNode | LiteralNode | AnyOfNode;

const encoder = new TextEncoder();
const bytesOf = (s: string): Uint8Array => encoder.encode(s);

// ---------------------------------------------------------------------------------------------
// Compiling a schema

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', '$schema', '$id', 'deprecated', 'readOnly', 'writeOnly', '$defs', 'definitions']);
const OBJECT_WORDS = ['properties', 'required', 'additionalProperties'];
const ARRAY_WORDS = ['items', 'minItems', 'maxItems'];
const STRING_WORDS = ['minLength', 'maxLength', 'pattern'];
const NUMBER_WORDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];
const KNOWN = new Set([...ANNOTATIONS, ...OBJECT_WORDS, ...ARRAY_WORDS, ...STRING_WORDS, ...NUMBER_WORDS, 'type', 'enum', 'const', 'anyOf', 'allOf', '$ref', 'nullable']);
const WHY_NOT: Record<string, string> = {
  oneOf: "'oneOf' is not supported (use 'anyOf')",
  format: "'format' is not supported (use 'pattern')",
  multipleOf: "'multipleOf' is not supported",
  patternProperties: "'patternProperties' is not supported",
  propertyNames: "'propertyNames' is not supported",
  minProperties: "'minProperties' is not supported",
  maxProperties: "'maxProperties' is not supported",
  prefixItems: "'prefixItems' is not supported",
  contains: "'contains' is not supported",
  uniqueItems: "'uniqueItems' is not supported",
  not: "'not' is not supported",
  if: "'if' is not supported",
  dependentRequired: "'dependentRequired' is not supported",
  dependentSchemas: "'dependentSchemas' is not supported",
  unevaluatedProperties: "'unevaluatedProperties' is not supported",
  unevaluatedItems: "'unevaluatedItems' is not supported",
};
const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const;
type TypeName = (typeof TYPES)[number];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type SchemaObject = Record<string, unknown>;

function isObject(v: unknown): v is SchemaObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class SchemaCompiler {
  readonly nodes: Node[] = [];
  private readonly memo = new Map<object, Node>();
  private readonly refStack = new Set<string>();
  readonly any: AnyOfNode;
  /** an empty anyOf: no value at all (the `false` schema) */
  readonly never: AnyOfNode;

  constructor(
    private readonly root: unknown,
    readonly maxDepth: number,
  ) {
    this.never = this.add<AnyOfNode>({ kind: 'anyOf', options: [] });
    this.any = this.add<AnyOfNode>({ kind: 'anyOf', options: [] });
    const anyObject = this.objectNode([], this.any);
    const anyArray = this.add<ArrayNode>({ kind: 'array', items: this.any, minItems: 0, maxItems: INF });
    this.any.options.push(
      anyObject,
      anyArray,
      this.stringNode(0, INF, null, '#'),
      this.numberNode(false, -INF, INF, false, false),
      this.add<LiteralNode>({ kind: 'literal', values: ['true', 'false', 'null'].map(bytesOf), guard: null, path: '#' }),
    );
  }

  fail(code: 'argument' | 'unsupported', path: string, message: string): never {
    throw new StrataError(code, OP, `${path}: ${message}`);
  }

  private add<T extends Node>(node: Omit<T, 'minLen' | 'id'>): T {
    const n = { ...node, minLen: new Float64Array(this.maxDepth + 1).fill(INF), id: this.nodes.length } as unknown as T;
    this.nodes.push(n);
    return n;
  }

  objectNode(props: Prop[], additional: Node | null): ObjectNode {
    const requiredFrom = new Int32Array(props.length + 1).fill(props.length);
    for (let i = props.length - 1; i >= 0; i--) requiredFrom[i] = props[i]!.required ? i : requiredFrom[i + 1]!;
    return this.add<ObjectNode>({ kind: 'object', props, additional, requiredFrom, tail: [], choices: new Map() });
  }

  stringNode(minLength: number, maxLength: number, dfa: CharDfa | null, path: string): StringNode {
    const node = this.add<StringNode>({ kind: 'string', minLength, maxLength, dfa, table: null, cap: 0, weighted: null });
    if (dfa) buildStringTable(node, (m) => this.fail('unsupported', path, m));
    return node;
  }

  numberNode(integer: boolean, lo: number, hi: number, loExclusive: boolean, hiExclusive: boolean): NumberNode {
    return this.add<NumberNode>({ kind: 'number', integer, lo, hi, loExclusive, hiExclusive, bounded: lo > -INF || hi < INF });
  }

  compile(schema: unknown, path: string): Node {
    if (schema === true) return this.any;
    if (schema === false) return this.never;
    if (!isObject(schema)) this.fail('argument', path, `a schema must be an object or a boolean, got ${JSON.stringify(schema)}`);
    const known = this.memo.get(schema);
    if (known) return known;
    for (const key of Object.keys(schema)) {
      if (KNOWN.has(key) || key.startsWith('x-')) continue;
      this.fail('unsupported', path, WHY_NOT[key] ?? `keyword '${key}' is not supported`);
    }
    if (schema.$ref !== undefined) {
      const extra = Object.keys(schema).filter((k) => k !== '$ref' && !ANNOTATIONS.has(k) && !k.startsWith('x-'));
      if (extra.length > 0) this.fail('unsupported', path, `'${extra[0]}' next to '$ref' is not supported`);
      const ref = schema.$ref;
      if (typeof ref !== 'string') this.fail('argument', path, `'$ref' must be a string`);
      const target = this.resolve(ref, path);
      if (this.refStack.has(ref) && !(isObject(target) && this.memo.has(target))) this.fail('unsupported', path, `'$ref' ${ref} refers to itself without an object or array in between`);
      this.refStack.add(ref);
      const node = this.compile(target, ref);
      this.refStack.delete(ref);
      return node;
    }
    if (schema.allOf !== undefined) {
      if (!Array.isArray(schema.allOf) || schema.allOf.length !== 1 || Object.keys(schema).some((k) => k !== 'allOf' && !ANNOTATIONS.has(k))) {
        this.fail('unsupported', path, "'allOf' is supported only with a single schema and nothing beside it");
      }
      return this.compile(schema.allOf[0], `${path}/allOf/0`);
    }
    if (schema.anyOf !== undefined) {
      if (!Array.isArray(schema.anyOf)) this.fail('argument', path, "'anyOf' must be an array");
      const extra = Object.keys(schema).filter((k) => k !== 'anyOf' && !ANNOTATIONS.has(k) && !k.startsWith('x-'));
      if (extra.length > 0) this.fail('unsupported', path, `'${extra[0]}' next to 'anyOf' is not supported (move it into each alternative)`);
      if (schema.anyOf.length === 0) this.fail('argument', path, "'anyOf' has no alternatives");
      const node = this.add<AnyOfNode>({ kind: 'anyOf', options: [] });
      this.memo.set(schema, node);
      schema.anyOf.forEach((s, i) => node.options.push(this.compile(s, `${path}/anyOf/${i}`)));
      return node;
    }
    if (schema.enum !== undefined || schema.const !== undefined) return this.literal(schema, path);

    let types: TypeName[];
    if (schema.type === undefined) {
      const has = (words: string[]) => words.some((w) => schema[w] !== undefined);
      const inferred: TypeName[] = [];
      if (has(OBJECT_WORDS)) inferred.push('object');
      if (has(ARRAY_WORDS)) inferred.push('array');
      if (has(STRING_WORDS)) inferred.push('string');
      if (has(NUMBER_WORDS)) inferred.push('number');
      if (inferred.length === 0) {
        if (schema.nullable === true) this.fail('argument', path, "'nullable' without 'type'");
        this.memo.set(schema, this.any);
        return this.any;
      }
      if (inferred.length > 1) this.fail('unsupported', path, `no 'type', and keywords of several types (${inferred.join(', ')})`);
      types = inferred;
    } else {
      const raw = Array.isArray(schema.type) ? schema.type : [schema.type];
      if (raw.length === 0) this.fail('argument', path, "'type' is an empty list");
      for (const t of raw) if (!TYPES.includes(t as TypeName)) this.fail('argument', path, `'type' ${JSON.stringify(t)} is not a JSON Schema type`);
      types = [...new Set(raw as TypeName[])];
    }
    if (schema.nullable === true && !types.includes('null')) types.push('null');
    if (types.includes('integer') && types.includes('number')) types = types.filter((t) => t !== 'integer');
    if (types.length === 1) {
      const node = this.typed(schema, types[0]!, path);
      this.memo.set(schema, node);
      return node;
    }
    const node = this.add<AnyOfNode>({ kind: 'anyOf', options: [] });
    this.memo.set(schema, node);
    for (const t of types) node.options.push(this.typed(schema, t, path));
    return node;
  }

  private resolve(ref: string, path: string): unknown {
    if (!ref.startsWith('#')) this.fail('unsupported', path, `'$ref' ${JSON.stringify(ref)}: only references inside the schema (#/...) are supported`);
    if (ref === '#') return this.root;
    if (!ref.startsWith('#/')) this.fail('unsupported', path, `'$ref' ${JSON.stringify(ref)}: anchors are not supported`);
    let at: unknown = this.root;
    for (const part of ref.slice(2).split('/')) {
      const key = decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~');
      if (!isObject(at) && !Array.isArray(at)) this.fail('argument', path, `'$ref' ${ref} does not resolve`);
      at = (at as Record<string, unknown>)[key];
      if (at === undefined) this.fail('argument', path, `'$ref' ${ref} does not resolve`);
    }
    return at;
  }

  private count(schema: SchemaObject, word: string, path: string, fallback: number): number {
    const v = schema[word];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail('argument', path, `'${word}' must be an integer >= 0, got ${JSON.stringify(v)}`);
    return v;
  }

  private typed(schema: SchemaObject, type: TypeName, path: string): Node {
    switch (type) {
      case 'null':
        return this.add<LiteralNode>({ kind: 'literal', values: [bytesOf('null')], guard: null, path });
      case 'boolean':
        return this.add<LiteralNode>({ kind: 'literal', values: [bytesOf('true'), bytesOf('false')], guard: null, path });
      case 'string': {
        const minLength = this.count(schema, 'minLength', path, 0);
        const maxLength = this.count(schema, 'maxLength', path, INF);
        if (minLength > maxLength) this.fail('argument', path, `'minLength' (${minLength}) is greater than 'maxLength' (${maxLength})`);
        let dfa: CharDfa | null = null;
        if (schema.pattern !== undefined) {
          if (typeof schema.pattern !== 'string') this.fail('argument', path, "'pattern' must be a string");
          dfa = compileRegex(schema.pattern, OP, path);
          if (dfa.start < 0) this.fail('argument', path, `'pattern' ${JSON.stringify(schema.pattern)} matches no string`);
        }
        return this.stringNode(minLength, maxLength, dfa, path);
      }
      case 'number':
      case 'integer': {
        const num = (word: string): number | undefined => {
          const v = schema[word];
          if (v === undefined) return undefined;
          if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(typeof v === 'boolean' ? 'unsupported' : 'argument', path, `'${word}' must be a number, got ${JSON.stringify(v)}`);
          return v;
        };
        let lo = -INF;
        let hi = INF;
        let loEx = false;
        let hiEx = false;
        const min = num('minimum');
        const xmin = num('exclusiveMinimum');
        const max = num('maximum');
        const xmax = num('exclusiveMaximum');
        if (min !== undefined) lo = min;
        if (xmin !== undefined && xmin >= lo) [lo, loEx] = [xmin, true];
        if (max !== undefined) hi = max;
        if (xmax !== undefined && xmax <= hi) [hi, hiEx] = [xmax, true];
        if (lo > hi || (lo === hi && (loEx || hiEx))) this.fail('argument', path, `'minimum'/'exclusiveMinimum' (${lo}) and 'maximum'/'exclusiveMaximum' (${hi}) leave no value`);
        const limit = 10 ** MAX_BOUNDED_DIGITS;
        if (lo >= limit || hi <= -limit) this.fail('unsupported', path, `bounds beyond ±1e${MAX_BOUNDED_DIGITS} are not supported`);
        return this.numberNode(type === 'integer', lo, hi, loEx, hiEx);
      }
      case 'array': {
        const minItems = this.count(schema, 'minItems', path, 0);
        const maxItems = this.count(schema, 'maxItems', path, INF);
        if (minItems > maxItems) this.fail('argument', path, `'minItems' (${minItems}) is greater than 'maxItems' (${maxItems})`);
        if (Array.isArray(schema.items)) this.fail('unsupported', path, "'items' as an array (tuple) is not supported");
        const node = this.add<ArrayNode>({ kind: 'array', items: this.never, minItems, maxItems });
        if (!this.memo.has(schema)) this.memo.set(schema, node);
        node.items = schema.items === undefined ? this.any : this.compile(schema.items, `${path}/items`);
        return node;
      }
      case 'object': {
        const properties = schema.properties ?? {};
        if (!isObject(properties)) this.fail('argument', path, "'properties' must be an object");
        const required = schema.required ?? [];
        if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) this.fail('argument', path, "'required' must be a list of strings");
        const req = new Set(required as string[]);
        const ap = schema.additionalProperties;
        if (ap !== undefined && typeof ap !== 'boolean' && !isObject(ap)) this.fail('argument', path, "'additionalProperties' must be a boolean or a schema");
        const node = this.objectNode([], null);
        if (!this.memo.has(schema)) this.memo.set(schema, node);
        node.additional = ap === undefined || ap === true ? this.any : ap === false ? null : this.compile(ap, `${path}/additionalProperties`);
        if (node.additional === this.never) node.additional = null;
        const props: Prop[] = Object.entries(properties).map(([name, s]) => ({
          name,
          key: bytesOf(JSON.stringify(name)),
          raw: bytesOf(name),
          node: this.compile(s, `${path}/properties/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`),
          required: req.has(name),
        }));
        for (const name of req) {
          if (Object.hasOwn(properties, name)) continue;
          // a required key the schema does not describe takes additionalProperties' schema
          if (!node.additional) this.fail('argument', path, `'required' names '${name}', which is not in 'properties', and additionalProperties is false`);
          props.push({ name, key: bytesOf(JSON.stringify(name)), raw: bytesOf(name), node: node.additional, required: true });
        }
        node.props = props;
        node.requiredFrom = new Int32Array(props.length + 1).fill(props.length);
        for (let i = props.length - 1; i >= 0; i--) node.requiredFrom[i] = props[i]!.required ? i : node.requiredFrom[i + 1]!;
        return node;
      }
    }
  }

  private literal(schema: SchemaObject, path: string): LiteralNode {
    let values: unknown[];
    if (schema.const !== undefined) {
      if (schema.enum !== undefined) this.fail('unsupported', path, "'enum' and 'const' together are not supported");
      values = [schema.const];
    } else {
      if (!Array.isArray(schema.enum)) this.fail('argument', path, "'enum' must be an array");
      values = schema.enum;
      if (values.length === 0) this.fail('argument', path, "'enum' has no values");
    }
    const texts = [...new Set(values.map((v) => canonicalJson(v as Json, path, this)))];
    const rest = Object.fromEntries(Object.entries(schema).filter(([k]) => k !== 'enum' && k !== 'const' && !ANNOTATIONS.has(k)));
    const node = this.add<LiteralNode>({ kind: 'literal', values: texts.map(bytesOf), guard: null, path });
    this.memo.set(schema, node);
    if (Object.keys(rest).length > 0) node.guard = this.compile(rest, path);
    return node;
  }
}

/** JSON text of an enum/const value as the output must spell it (JSON.stringify's form). */
function canonicalJson(v: Json, path: string, c: SchemaCompiler): string {
  if (typeof v === 'number' && !Number.isFinite(v)) c.fail('argument', path, `'enum'/'const' value ${v} is not JSON`);
  const text = JSON.stringify(v);
  if (text === undefined) c.fail('argument', path, `'enum'/'const' value is not JSON`);
  return text;
}

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
function buildStringTable(node: StringNode, fail: (m: string) => never): void {
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
function stringRest(node: StringNode, state: number, len: number): number {
  if (!node.dfa) return len > node.maxLength ? INF : Math.max(0, node.minLength - len);
  if (len > node.maxLength) return INF;
  return node.table![state * (node.cap + 1) + Math.min(len, node.cap)]!;
}

/** Fewest bytes that finish a character of [lo, hi] and then the string, from `state` at `len` characters. */
function rangeRest(node: StringNode, state: number, len: number, lo: number, hi: number): number {
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
function refuseAnyOfCycles(nodes: readonly Node[], fail: (message: string) => never): void {
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

function computeMinLengths(nodes: readonly Node[], maxDepth: number, numberMin: (n: NumberNode) => number): void {
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
function numberCompletion(n: NumberNode, text: string): number {
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

// ---------------------------------------------------------------------------------------------
// The automaton: frames on an immutable stack

/** Returned by completeTag when the frame is not a finished value. */
const OPEN_VALUE = -2;

abstract class Frame {
  /** appends the stacks `self` (this frame on top) reaches on byte b */
  abstract step(b: number, self: Stack, out: Stack[]): void;
  /** equal for frames in the same state (to merge readings that have become one) */
  abstract key(): string;
  /** fewest bytes that finish this frame */
  abstract rest(): number;
  /** fewest bytes of this frame after the child above it is finished */
  childTail(): number {
    return 0;
  }
  afterChild(_tag: number): Frame {
    throw new Error('not a container');
  }
  /** a tag when the frame holds a finished value that could still go on (number, enum prefix) */
  completeTag(): number {
    return OPEN_VALUE;
  }
  plainText(): number {
    return -1;
  }
  plainChars(): number {
    return 0;
  }
  plainRest(_chars: number, _text: number): number {
    return INF;
  }
}

let stackIds = 0;

class Stack {
  readonly id = stackIds++;
  constructor(
    readonly frame: Frame,
    readonly up: Stack | null,
    /** fewest bytes of the frames below once this one is finished */
    readonly tail: number,
  ) {}
}

class DoneFrame extends Frame {
  step(): void {}
  key(): string {
    return 'D';
  }
  rest(): number {
    return 0;
  }
}
const DONE = new Stack(new DoneFrame(), null, 0);

/** The stack once the top frame's value is finished: its parent moves past the value. */
function finish(up: Stack | null, tag: number): Stack {
  return up ? new Stack(up.frame.afterChild(tag), up.up, up.tail) : DONE;
}

function push(frame: Frame, up: Stack | null, out: Stack[]): void {
  out.push(new Stack(frame, up, up ? up.frame.childTail() + up.tail : 0));
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

class StartFrame extends Frame {
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

class StringFrame extends TextFrame {
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
class KeyFrame extends TextFrame {
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

interface Grammar {
  readonly root: Node;
  readonly maxDepth: number;
}

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

const LANGUAGE = new JsonLanguage();

/** A compiled schema: the grammar and the start state of its automaton. */
export class JsonGrammar {
  /** fewest bytes of a valid output */
  readonly minLength: number;
  private readonly grammar: Grammar;

  constructor(schema: object | boolean, options: JsonSchemaOptions = {}) {
    const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > 1000) throw new StrataError('argument', OP, `maxDepth must be an integer in [1, 1000], got ${maxDepth}`);
    const c = new SchemaCompiler(schema, maxDepth);
    // `true` (json_object mode) means any JSON object
    const root = schema === true ? c.any.options[0]! : c.compile(schema, '#');
    const numberMin = (n: NumberNode) => (n.bounded ? numberCompletion(n, '') : 1);
    refuseAnyOfCycles(c.nodes, (m) => c.fail('unsupported', '#', m));
    computeMinLengths(c.nodes, maxDepth, numberMin);
    this.grammar = { root, maxDepth };
    // enum values must satisfy the keywords beside them: keep those the automaton of those accepts
    let filtered = false;
    for (const n of c.nodes) {
      if (n.kind !== 'literal' || !n.guard) continue;
      const guard: Grammar = { root: n.guard, maxDepth };
      n.values = n.values.filter((v) => runBytes(guard, v));
      if (n.values.length === 0) c.fail('argument', n.path, "no value of 'enum'/'const' satisfies the keywords beside it");
      filtered = true;
    }
    if (filtered) computeMinLengths(c.nodes, maxDepth, numberMin);
    this.minLength = root.minLen[maxDepth]!;
    if (this.minLength === INF) c.fail('argument', '#', `the schema has no valid value${maxDepth < DEFAULT_MAX_DEPTH ? ` within maxDepth ${maxDepth}` : ''} (a required property, item or alternative that cannot be satisfied, or recursion without an end)`);
    if (options.maxTokens !== undefined && this.minLength > options.maxTokens) {
      throw new StrataError('argument', OP, `the shortest output the schema allows is ${this.minLength} bytes, more than max_tokens (${options.maxTokens}) may hold`);
    }
  }

  /** the automaton's start states */
  start(): Stack[] {
    return [new Stack(new StartFrame(this.grammar, this.grammar.root), null, 0)];
  }

  /** A constraint for a tokenizer's vocabulary. */
  constraint(tokenizer: ConstraintTokenizer): LanguageConstraint<Stack> {
    return new LanguageConstraint(LANGUAGE, tokenVocabulary(tokenizer), this.start(), OP);
  }

  /**
   * A byte-level matcher: a constraint over BYTE_VOCABULARY, where token i < 256 is byte i and
   * token 256 ends the output.
   */
  matcher(): LanguageConstraint<Stack> {
    return new LanguageConstraint(LANGUAGE, BYTE_VOCABULARY, this.start(), OP);
  }
}

function runBytes(g: Grammar, bytes: Uint8Array): boolean {
  let states = [new Stack(new StartFrame(g, g.root), null, 0)];
  for (const b of bytes) {
    const next: Stack[] = [];
    for (const s of states) LANGUAGE.step(s, b, next);
    states = LANGUAGE.dedupe(next);
    if (states.length === 0) return false;
  }
  return states.some((s) => LANGUAGE.accepts(s));
}

/**
 * A constraint factory for `response_format`: each call gives a fresh constraint (one per row of
 * a batch). `schema` is a JSON Schema, or `true` for json_object mode (any JSON object). Throws
 * StrataError('unsupported') naming a keyword Strata cannot enforce, StrataError('argument') for
 * a schema no value satisfies; both are the client's fault (HTTP 400).
 */
export function jsonSchemaConstraint(schema: object | true, tokenizer: ConstraintTokenizer, options: JsonSchemaOptions = {}): () => LanguageConstraint<Stack> {
  const grammar = new JsonGrammar(schema, options);
  const vocab = tokenVocabulary(tokenizer);
  return () => new LanguageConstraint(LANGUAGE, vocab, grammar.start(), OP);
}

export type { Stack as JsonState };
