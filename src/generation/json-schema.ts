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
//
// Here: compiling a schema to nodes (json-nodes.ts) and the public JsonGrammar and
// jsonSchemaConstraint; the automaton's frames are in json-stack.ts, json-text-frames.ts and
// json-automaton.ts.

import { StrataError } from '../errors.js';
import { BYTE_VOCABULARY, type ConstraintTokenizer, LanguageConstraint, tokenVocabulary } from './constraint.js';
import { compileRegex, type CharDfa } from './regex.js';
import {
  INF,
  MAX_BOUNDED_DIGITS,
  buildStringTable,
  computeMinLengths,
  numberCompletion,
  refuseAnyOfCycles,
  type AnyOfNode,
  type ArrayNode,
  type LiteralNode,
  type Node,
  type NumberNode,
  type ObjectNode,
  type Prop,
  type StringNode,
} from './json-nodes.js';
import { Stack } from './json-stack.js';
import { LANGUAGE, StartFrame, type Grammar } from './json-automaton.js';

const OP = 'json schema';
const DEFAULT_MAX_DEPTH = 20;

export interface JsonSchemaOptions {
  /** deepest nesting of objects and arrays (default 20); recursive $refs stop there */
  maxDepth?: number;
  /** when given, StrataError('argument') if the shortest valid output is longer (in bytes, so tokens at worst) */
  maxTokens?: number;
}

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
