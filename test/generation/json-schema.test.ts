// JSON Schema constraints: the automaton alone (valid documents accepted byte by byte, mutations
// rejected where they go wrong, random walks always valid), the schemas it refuses, and
// generation with a random-weight LLaMA and real tokenizers — every output parses and validates
// against the schema with ajv.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import llamaTokenizerJs from 'llama-tokenizer-js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import * as S from '../../src/index.js';
import * as G from '../../src/generation/index.js';
import { StrataError } from '../../src/errors.js';
import { createModel, parseModelConfig } from '../../src/models/index.js';
import type { LlamaForCausalLM } from '../../src/models/llama.js';
import { loadTokenizer, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.js';
import { QWEN3_DIR, ggufFromLlamaTokenizerJs, type LlamaTokenizerJs } from '../tokenizers/helpers.js';

type Schema = Record<string, unknown> | boolean;

const ajv = new Ajv2020({ strict: false, allErrors: false });
const validators = new Map<Schema, (v: unknown) => boolean>();
function valid(schema: Schema, text: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  let v = validators.get(schema);
  if (!v) {
    // json_object mode (`true`) means an object
    const compiled = ajv.compile(schema === true ? { type: 'object' } : schema);
    v = (x: unknown) => compiled(x) as boolean;
    validators.set(schema, v);
  }
  return v(value) ? null : JSON.stringify(ajv.errors ?? 'invalid');
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Schemas (with `examples` for patterns, which the instance generator picks from)

const address = {
  type: 'object',
  properties: { street: { type: 'string', maxLength: 12 }, zip: { type: 'string', pattern: '^\\d{5}(-\\d{4})?$', examples: ['12345', '00000-1234'] }, country: { enum: ['US', 'FR', 'CN', 'ÉIRE'] } },
  required: ['street', 'zip', 'country'],
  additionalProperties: false,
};

const SCHEMAS: Record<string, Schema> = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 20 },
      age: { type: 'integer', minimum: 0, maximum: 130 },
      email: { type: ['string', 'null'] },
      tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 4 },
      address,
    },
    required: ['name', 'age', 'email', 'tags', 'address'],
    additionalProperties: false,
  },
  boundedArrays: {
    type: 'object',
    properties: { xs: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 3 }, grid: { type: 'array', items: { type: 'array', items: { type: 'boolean' }, minItems: 1, maxItems: 2 }, maxItems: 2 } },
    required: ['xs', 'grid'],
    additionalProperties: false,
  },
  enums: {
    type: 'object',
    properties: {
      color: { enum: ['red', 'green', 'blue', null, 1, 10, 1.5, true, { k: [1, 'x'] }, ['a', 'é'], 'quote"back\\slash', '中文'] },
      fixed: { const: 'v1' },
      flag: { type: 'boolean' },
    },
    required: ['color', 'fixed', 'flag'],
    additionalProperties: false,
  },
  anyOf: {
    type: 'object',
    properties: {
      shape: {
        anyOf: [
          { type: 'object', properties: { kind: { const: 'circle' }, r: { type: 'number', exclusiveMinimum: 0 } }, required: ['kind', 'r'], additionalProperties: false },
          { type: 'object', properties: { kind: { const: 'rect' }, w: { type: 'number' }, h: { type: 'number' } }, required: ['kind', 'w', 'h'], additionalProperties: false },
          { type: 'string', maxLength: 4 },
          { type: 'null' },
        ],
      },
    },
    required: ['shape'],
    additionalProperties: false,
  },
  nullable: {
    type: 'object',
    properties: { a: { type: 'string', nullable: true, maxLength: 3 }, b: { type: ['integer', 'null'] }, c: { anyOf: [{ type: 'number' }, { type: 'null' }] } },
    required: ['a', 'b', 'c'],
    additionalProperties: false,
  },
  refs: {
    $defs: { addr: address, id: { type: 'string', pattern: '^[A-Z]{2}-[0-9]{3}$', examples: ['AB-123', 'ZZ-000'] } },
    definitions: { count: { type: 'integer', minimum: -5, exclusiveMaximum: 5 } },
    type: 'object',
    properties: { home: { $ref: '#/$defs/addr' }, work: { $ref: '#/$defs/addr' }, id: { $ref: '#/$defs/id' }, n: { $ref: '#/definitions/count' } },
    required: ['home', 'id', 'n'],
    additionalProperties: false,
  },
  tree: {
    $defs: {
      node: {
        type: 'object',
        properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } },
        required: ['v', 'kids'],
        additionalProperties: false,
      },
    },
    $ref: '#/$defs/node',
  },
  numbers: {
    type: 'object',
    properties: {
      i: { type: 'integer' },
      neg: { type: 'integer', maximum: -10 },
      x: { type: 'number' },
      p: { type: 'number', minimum: 0, maximum: 1 },
      t: { type: 'number', exclusiveMinimum: -2.5, exclusiveMaximum: 0.125 },
      big: { type: 'integer', minimum: 1000000 },
    },
    required: ['i', 'neg', 'x', 'p', 't', 'big'],
    additionalProperties: false,
  },
  strings: {
    type: 'object',
    properties: {
      free: { type: 'string' },
      short: { type: 'string', minLength: 2, maxLength: 3 },
      date: { type: 'string', pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$', examples: ['2024-01-15', '1999-12-31'] },
      word: { type: 'string', pattern: 'cat|dog', maxLength: 6, examples: ['cat', 'a dog', 'dogs'] },
    },
    required: ['free', 'short', 'date', 'word'],
    additionalProperties: false,
  },
  openObject: {
    type: 'object',
    properties: { id: { type: 'integer' }, label: { type: 'string', maxLength: 5 } },
    required: ['id'],
    additionalProperties: { type: 'number' },
  },
  jsonObject: true,
  anyValue: {},
};

// ---------------------------------------------------------------------------------------------
// A generator of valid documents in the constraint's output form

function deref(schema: Schema, root: Schema): Schema {
  while (typeof schema === 'object' && typeof schema.$ref === 'string') {
    let at: unknown = root;
    for (const part of schema.$ref.slice(2).split('/')) at = (at as Record<string, unknown>)[part];
    schema = at as Schema;
  }
  return schema;
}

const CHARS = ['a', 'Z', '0', ' ', 'é', '中', '😀', '"', '\\', '\n', '\t', '\u0001', '/', '\u2028'];
function stringText(rnd: () => number, min: number, max: number): string {
  const n = min + Math.floor(rnd() * (Math.min(max, min + 8) - min + 1));
  let out = '"';
  for (let i = 0; i < n; i++) {
    const c = CHARS[Math.floor(rnd() * CHARS.length)]!;
    const r = rnd();
    if (c === '"') out += '\\"';
    else if (c === '\\') out += '\\\\';
    else if (c === '\n') out += r < 0.5 ? '\\n' : '\\u000a';
    else if (c === '\t') out += '\\t';
    else if (c === '\u0001') out += '\\u0001';
    else if (c === '/') out += r < 0.5 ? '/' : '\\/';
    else if (c === 'é') out += r < 0.3 ? '\\u00e9' : r < 0.6 ? '\\u00E9' : 'é';
    else out += c;
  }
  return out + '"';
}

function numberText(rnd: () => number, s: Record<string, unknown>): string {
  const integer = s.type === 'integer';
  const lo = (s.minimum ?? s.exclusiveMinimum ?? -1e6) as number;
  const hi = (s.maximum ?? s.exclusiveMaximum ?? 1e6) as number;
  const bounded = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].some((k) => s[k] !== undefined);
  for (;;) {
    let text: string;
    if (!bounded && !integer && rnd() < 0.4) text = `${rnd() < 0.5 ? '-' : ''}${Math.floor(rnd() * 100)}${rnd() < 0.5 ? '.' + Math.floor(rnd() * 1000) : ''}${['e', 'E'][Math.floor(rnd() * 2)]}${['', '+', '-'][Math.floor(rnd() * 3)]}${Math.floor(rnd() * 99)}`;
    else {
      const x = lo + rnd() * (hi - lo);
      text = integer ? String(Math.round(x)) : String(Math.round(x * 1000) / 1000);
      if (!integer && rnd() < 0.2) text = '-0';
    }
    const v = Number(text);
    const ok = (s.minimum === undefined || v >= (s.minimum as number)) && (s.maximum === undefined || v <= (s.maximum as number)) && (s.exclusiveMinimum === undefined || v > (s.exclusiveMinimum as number)) && (s.exclusiveMaximum === undefined || v < (s.exclusiveMaximum as number));
    if (ok && !text.includes('e-0') && !/e[+-]?\d{3}/.test(text)) return text;
  }
}

function anyText(rnd: () => number, depth: number, sp: () => string): string {
  const r = rnd();
  if (depth > 0 && r < 0.2) return `{${sp()}"k${Math.floor(rnd() * 9)}":${sp()}${anyText(rnd, depth - 1, sp)}${sp()}}`;
  if (depth > 0 && r < 0.4) return `[${sp()}${anyText(rnd, depth - 1, sp)},${sp()}${anyText(rnd, depth - 1, sp)}]`;
  if (r < 0.6) return stringText(rnd, 0, 5);
  if (r < 0.8) return numberText(rnd, {});
  return ['true', 'false', 'null'][Math.floor(rnd() * 3)]!;
}

function instance(schema: Schema, root: Schema, rnd: () => number, depth = 4): string {
  const sp = () => (rnd() < 0.25 ? ' ' : '');
  schema = deref(schema, root);
  if (schema === true || (typeof schema === 'object' && Object.keys(schema).length === 0)) return anyText(rnd, depth, sp);
  if (schema === false) throw new Error('false schema');
  if (Array.isArray(schema.examples)) return JSON.stringify(schema.examples[Math.floor(rnd() * schema.examples.length)]);
  if (Array.isArray(schema.enum)) return JSON.stringify(schema.enum[Math.floor(rnd() * schema.enum.length)]);
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (Array.isArray(schema.anyOf)) return instance(schema.anyOf[Math.floor(rnd() * schema.anyOf.length)], root, rnd, depth);
  let type = schema.type as string | string[];
  if (schema.nullable && rnd() < 0.3) return 'null';
  if (Array.isArray(type)) type = type[Math.floor(rnd() * type.length)]!;
  switch (type) {
    case 'null':
      return 'null';
    case 'boolean':
      return rnd() < 0.5 ? 'true' : 'false';
    case 'integer':
    case 'number':
      return numberText(rnd, { ...schema, type });
    case 'string':
      return stringText(rnd, (schema.minLength as number) ?? 0, (schema.maxLength as number) ?? 10);
    case 'array': {
      const min = (schema.minItems as number) ?? 0;
      const max = Math.min((schema.maxItems as number) ?? Infinity, min + 3, depth > 0 ? Infinity : min);
      const n = min + Math.floor(rnd() * (max - min + 1));
      const items = Array.from({ length: n }, () => instance((schema as Record<string, Schema>).items ?? true, root, rnd, depth - 1));
      return `[${sp()}${items.join(`,${sp()}`)}${n > 0 ? sp() : ''}]`;
    }
    case 'object': {
      const props = Object.entries((schema.properties ?? {}) as Record<string, Schema>);
      const required = new Set((schema.required ?? []) as string[]);
      const members: string[] = [];
      for (const [k, s] of props) if (required.has(k) || (depth > 0 && rnd() < 0.5)) members.push(`${JSON.stringify(k)}${sp()}:${sp()}${instance(s, root, rnd, depth - 1)}`);
      const extra = schema.additionalProperties;
      if (extra !== false && depth > 0 && rnd() < 0.5) {
        const at = Math.floor(rnd() * (members.length + 1));
        members.splice(at, 0, `"zz${Math.floor(rnd() * 99)}":${sp()}${instance((extra ?? true) as Schema, root, rnd, depth - 1)}`);
      }
      return `{${sp()}${members.join(`${sp()},${sp()}`)}${members.length > 0 ? sp() : ''}}`;
    }
  }
  throw new Error(`no generator for ${JSON.stringify(schema)}`);
}

/** Byte offsets where a character outside strings is structural ({ } [ ] : ,), and where string contents are. */
function positions(text: string): { structural: number[]; content: number[] } {
  const bytes = utf8.encode(text);
  const structural: number[] = [];
  const content: number[] = [];
  let inString = false;
  let escape = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (escape) escape = false;
      else if (b === 0x5c) escape = true;
      else if (b === 0x22) inString = false;
      else if (b < 0x80) content.push(i);
    } else if (b === 0x22) inString = true;
    else if ('{}[]:,'.includes(String.fromCharCode(b))) structural.push(i);
  }
  return { structural, content };
}

/** A random walk over the bytes the automaton allows, within a byte budget. */
function randomWalk(grammar: G.JsonGrammar, rnd: () => number, budget: number): string {
  const m = grammar.matcher();
  const out: number[] = [];
  while (!m.done) {
    const allowed = m.allowedTokens(budget - out.length);
    const ids: number[] = [];
    allowed.forEach((v, i) => v && ids.push(i));
    assert.ok(ids.length > 0, `dead end after ${JSON.stringify(Buffer.from(out).toString())}`);
    // favour structure over long strings so walks reach every part of the schema
    const structural = ids.filter((i) => i < 0x80 && '{}[]:,"0123456789-tfn'.includes(String.fromCharCode(i)));
    const pool = structural.length > 0 && rnd() < 0.5 ? structural : ids;
    const t = pool[Math.floor(rnd() * pool.length)]!;
    if (t === 256) break;
    m.advance(t);
    out.push(t);
  }
  assert.ok(m.accepts);
  return Buffer.from(out).toString('utf8');
}

describe('JSON schema automaton', () => {
  test('accepts random valid documents byte by byte; stops exactly at broken structure or raw control characters', () => {
    for (const [name, schema] of Object.entries(SCHEMAS)) {
      const grammar = new G.JsonGrammar(schema);
      const rnd = lcg(name.length * 7919);
      for (let k = 0; k < 150; k++) {
        const text = instance(schema === true ? { type: 'object' } : schema, schema, rnd);
        assert.equal(valid(schema, text), null, `generator: ${name} ${text}`);
        const bytes = utf8.encode(text);
        const m = grammar.matcher();
        assert.equal(m.pushBytes(bytes), bytes.length, `${name}: ${text} rejected at byte ${m.pushBytes(bytes)}`);
        assert.ok(m.accepts, `${name}: ${text} is incomplete`);

        const { structural, content } = positions(text);
        if (structural.length > 0) {
          const at = structural[Math.floor(rnd() * structural.length)]!;
          const broken = bytes.slice();
          broken[at] = 0x78; // 'x'
          assert.equal(grammar.matcher().pushBytes(broken), at, `${name}: ${text} with 'x' at ${at}`);
        }
        if (content.length > 0) {
          const at = content[Math.floor(rnd() * content.length)]!;
          const broken = bytes.slice();
          broken[at] = 0x01;
          assert.equal(grammar.matcher().pushBytes(broken), at, `${name}: ${text} with a control character at ${at}`);
        }
        // any mutation: the bytes before it still pass, and whatever passes whole is valid
        const at = Math.floor(rnd() * bytes.length);
        const mutated = bytes.slice();
        mutated[at] = ' "{}[],:-.0519aeEtrunflsx\\é'.charCodeAt(Math.floor(rnd() * 27)) & 0xff;
        const mm = grammar.matcher();
        const accepted = mm.pushBytes(mutated);
        assert.ok(accepted >= at, `${name}: ${text} mutated at ${at} rejected earlier, at ${accepted}`);
        if (accepted === mutated.length && mm.accepts) assert.equal(valid(schema, new TextDecoder().decode(mutated)), null, `${name}: accepted ${JSON.stringify(new TextDecoder().decode(mutated))}`);
      }
    }
  });

  test('random walks within a byte budget never dead-end, finish in time and validate', () => {
    for (const [name, schema] of Object.entries(SCHEMAS)) {
      const grammar = new G.JsonGrammar(schema, { maxDepth: 6 });
      const rnd = lcg(name.length * 31 + 5);
      for (let k = 0; k < 60; k++) {
        const budget = grammar.minLength + Math.floor(rnd() * 60);
        const text = randomWalk(grammar, rnd, budget);
        assert.ok(utf8.encode(text).length <= budget, `${name}: ${text} is over ${budget} bytes`);
        assert.equal(valid(schema, text), null, `${name}: ${JSON.stringify(text)}`);
      }
    }
  });

  test('output form: one space at most between tokens, keys in declared order, no repeated declared key', () => {
    const schema = { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, additionalProperties: true };
    const g = new G.JsonGrammar(schema);
    const accepted = (text: string) => g.matcher().pushBytes(utf8.encode(text));
    assert.equal(accepted('{ "a" : 1 , "b": 2 }'), 20);
    assert.equal(accepted('{  "a"'), 2);
    assert.equal(accepted('{\n'), 1);
    assert.equal(accepted(' {'), 0);
    assert.equal(accepted('{"b":1,"a"'), 9); // 'a' may not come after 'b' ...
    assert.equal(accepted('{"b":1,"ab":2}'), 14); // ... but a key that is not 'a' may
    assert.equal(accepted('{"zz":1,"a":2,"q":[]}'), 21);
    assert.equal(accepted('{"a":1,"a"'), 9);
    assert.equal(accepted('{"x\\u0061":1}'), 13); // escapes in keys once they differ from every declared name
    assert.equal(accepted('{"a\\'), 3);
    assert.ok(g.matcher().pushBytes(utf8.encode('{}')) === 2);
  });

  test('numbers: JSON grammar, integers, bounds, length limits; a top-level number ends when it cannot go on', () => {
    const accepts = (schema: Schema, text: string) => {
      const m = new G.JsonGrammar(schema).matcher();
      return m.pushBytes(utf8.encode(text)) === utf8.encode(text).length && m.accepts;
    };
    for (const t of ['0', '-0', '12', '-12.50', '1e5', '1E+05', '-0.5e-3']) assert.ok(accepts({ type: 'number' }, t), t);
    for (const t of ['01', '-', '1.', '.5', '+1', '1e', '1e123', '1234567890123456', 'NaN']) assert.ok(!accepts({ type: 'number' }, t), t);
    for (const t of ['1.0', '1e2', '0.5']) assert.ok(!accepts({ type: 'integer' }, t), t);
    assert.ok(accepts({ type: 'integer', minimum: -3, maximum: 250 }, '250'));
    assert.ok(!accepts({ type: 'integer', minimum: -3, maximum: 250 }, '251'));
    assert.ok(!accepts({ type: 'integer', minimum: -3, maximum: 250 }, '-4'));
    assert.ok(accepts({ type: 'number', exclusiveMinimum: 0.1, maximum: 0.2 }, '0.15'));
    assert.ok(!accepts({ type: 'number', exclusiveMinimum: 0.1, maximum: 0.2 }, '0.1'));
    const m = new G.JsonGrammar({ type: 'integer', maximum: 50 }).matcher();
    m.pushBytes(utf8.encode('1'));
    assert.deepEqual([m.accepts, m.done], [true, false]);
    const five = new G.JsonGrammar({ type: 'integer', minimum: 0, maximum: 5 }).matcher();
    five.pushBytes(utf8.encode('5'));
    assert.deepEqual([five.accepts, five.done], [true, true]);
    const e = new G.JsonGrammar({ enum: [1, 10] }).matcher();
    e.pushBytes(utf8.encode('1'));
    assert.deepEqual([e.accepts, e.done], [true, false]);
    e.pushBytes(utf8.encode('0'));
    assert.deepEqual([e.accepts, e.done], [true, true]);
  });

  test('strings: escapes, UTF-8 validity, no surrogate escapes, lengths in code points', () => {
    const pushed = (schema: Schema, text: string) => new G.JsonGrammar(schema).matcher().pushBytes(utf8.encode(text));
    assert.equal(pushed({ type: 'string' }, '"\\u00e9\\n\\"\\/😀"'), 18);
    assert.equal(pushed({ type: 'string' }, '"\\ud83d'), 4);
    assert.equal(pushed({ type: 'string' }, '"\\x'), 2);
    assert.equal(pushed({ type: 'string' }, '"a\tb'), 2);
    assert.equal(new G.JsonGrammar({ type: 'string' }).matcher().pushBytes(Uint8Array.of(0x22, 0xc0, 0x80)), 1); // overlong
    assert.equal(new G.JsonGrammar({ type: 'string' }).matcher().pushBytes(Uint8Array.of(0x22, 0xed, 0xa0)), 2); // surrogate
    assert.equal(pushed({ type: 'string', maxLength: 2 }, '"😀é"'), 8);
    assert.equal(pushed({ type: 'string', maxLength: 2 }, '"😀éa'), 7);
    assert.equal(pushed({ type: 'string', minLength: 2 }, '"a"'), 2);
    // a pattern is checked on the decoded characters, escapes included
    assert.equal(pushed({ type: 'string', pattern: '^a[b-d]$' }, '"\\u0061\\u0063"'), 14);
    assert.equal(pushed({ type: 'string', pattern: '^a[b-d]$' }, '"ae'), 2);
  });

  test('alternatives that finish alike merge: the readings of a long array of anyOf items stay few', () => {
    const g = new G.JsonGrammar({ type: 'array', items: { anyOf: [{ type: 'integer' }, { type: 'number' }, { type: 'integer', minimum: 0 }] } });
    const m = g.matcher();
    const text = `[${Array.from({ length: 200 }, (_, i) => i % 7).join(',')}]`;
    assert.equal(m.pushBytes(utf8.encode(text)), text.length);
    assert.ok(m.accepts);
    assert.ok(m.feedBytes(utf8.encode('')).length <= 3);
  });

  test('json_object mode, nullable types, maxDepth', () => {
    const accepted = (schema: Schema, text: string, maxDepth?: number) => new G.JsonGrammar(schema, { maxDepth }).matcher().pushBytes(utf8.encode(text));
    assert.equal(accepted(true, '[1]'), 0);
    assert.equal(accepted(true, '{"a":[1,{"b":null}]}'), 20);
    assert.equal(accepted(true, '{"a":{"b":{"c":1}}}', 2), 10);
    assert.equal(accepted({ type: 'string', nullable: true }, 'null'), 4);
    assert.equal(accepted({ type: ['integer', 'null'] }, 'nul1'), 3);
  });
});

describe('JSON schema errors', () => {
  const cases: [Schema, 'argument' | 'unsupported', string][] = [
    [{ type: 'string', format: 'email' }, 'unsupported', "'format'"],
    [{ oneOf: [{ type: 'string' }, { type: 'null' }] }, 'unsupported', "'oneOf'"],
    [{ type: 'object', patternProperties: { '^a': {} } }, 'unsupported', "'patternProperties'"],
    [{ type: 'array', uniqueItems: true }, 'unsupported', "'uniqueItems'"],
    [{ type: 'number', multipleOf: 2 }, 'unsupported', "'multipleOf'"],
    [{ type: 'string', pattern: '^(?!x)' }, 'unsupported', "'pattern'"],
    [{ type: 'string', pattern: '(a)\\1' }, 'unsupported', 'backreference'],
    [{ $ref: 'https://example.com/s.json' }, 'unsupported', "'$ref'"],
    [{ $defs: { a: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' }, 'unsupported', "'$ref'"],
    [{ $defs: { A: { anyOf: [{ $ref: '#/$defs/B' }, { type: 'string' }] }, B: { anyOf: [{ $ref: '#/$defs/A' }, { type: 'null' }] } }, $ref: '#/$defs/A' }, 'unsupported', "'$ref'"],
    [{ type: 'object', foo: 1 }, 'unsupported', "'foo'"],
    [{ type: 'string', enum: [] }, 'argument', "'enum'"],
    [{ type: 'string', enum: [1, 2] }, 'argument', "'enum'"],
    [{ type: 'array', minItems: 3, maxItems: 1 }, 'argument', "'minItems'"],
    [{ type: 'string', minLength: 3, maxLength: 1 }, 'argument', "'minLength'"],
    [{ type: 'integer', minimum: 5, maximum: 1 }, 'argument', "'minimum'"],
    [{ type: 'object', properties: { a: {} }, required: ['b'], additionalProperties: false }, 'argument', "'required'"],
    [{ type: 'strin' }, 'argument', "'type'"],
    [{ type: 'string', pattern: '(' }, 'argument', "'pattern'"],
    [{ anyOf: [] }, 'argument', "'anyOf'"],
    [{ type: 'integer', minimum: 1.2, maximum: 1.8 }, 'argument', 'no valid value'],
    [{ type: 'string', pattern: '^abc$', maxLength: 2 }, 'argument', 'no valid value'],
    [{ $defs: { n: { type: 'object', properties: { next: { $ref: '#/$defs/n' } }, required: ['next'] } }, $ref: '#/$defs/n' }, 'argument', 'no valid value'],
  ];

  test('unsupported keywords and unsatisfiable schemas are StrataErrors naming the keyword', () => {
    for (const [schema, code, named] of cases) {
      assert.throws(
        () => G.jsonSchemaConstraint(schema as object, byteTokenizer),
        (e: unknown) => e instanceof StrataError && e.code === code && e.message.includes(named),
        `${JSON.stringify(schema)} should fail with ${code} naming ${named}`,
      );
    }
    assert.throws(() => new G.JsonGrammar(SCHEMAS.person!, { maxTokens: 20 }), (e: unknown) => e instanceof StrataError && e.code === 'argument' && /max_tokens/.test(e.message));
    assert.throws(() => new G.JsonGrammar(true, { maxDepth: 0 }), /maxDepth/);
  });
});

// ---------------------------------------------------------------------------------------------
// Generation with a random-weight LLaMA and real tokenizers

const byteTokenizer = {
  vocabSize: 257,
  endOfGenerationIds: [256],
  encode: (text: string) => [...utf8.encode(text)],
  decode: (ids: readonly number[]) => new TextDecoder().decode(Uint8Array.from(ids.filter((i) => i < 256))),
  idToToken: (id: number) => (id === 256 ? '<eos>' : `<0x${id.toString(16).toUpperCase().padStart(2, '0')}>`),
  isSpecial: (id: number) => id === 256,
};

function randomLlama(vocab: number, seed: number): LlamaForCausalLM {
  const { config } = parseModelConfig(
    { model_type: 'llama', vocab_size: vocab, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 512, initializer_range: 0.5, tie_word_embeddings: true },
    'config.json',
  );
  return createModel(config, { generator: new S.Generator(seed) }) as LlamaForCausalLM;
}

/** Wraps a constraint factory to time every mask call. */
function timed(factory: () => G.TokenConstraint, times: number[]): () => G.TokenConstraint {
  return () => {
    const c = factory();
    const mask = c.mask.bind(c);
    c.mask = (logits, left) => {
      const t = performance.now();
      mask(logits, left);
      times.push(performance.now() - t);
    };
    return c;
  };
}

function summary(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return `${times.length} steps, mean ${mean.toFixed(2)} ms, median ${sorted[sorted.length >> 1]!.toFixed(2)} ms, p95 ${sorted[Math.floor(sorted.length * 0.95)]!.toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms`;
}

describe('generation under a JSON schema', () => {
  let qwen3: Tokenizer;
  let llama2: Tokenizer;
  before(async () => {
    qwen3 = await loadTokenizer(QWEN3_DIR);
    llama2 = tokenizerFromGguf(ggufFromLlamaTokenizerJs(llamaTokenizerJs as unknown as LlamaTokenizerJs));
  });

  const run = (t: { diagnostic(m: string): void }, tok: Tokenizer, label: string, seeds: number[], maxTokens: number) => {
    const model = randomLlama(tok.vocabSize, 11);
    const prompt = tok.encode('Answer in JSON:');
    const times: number[] = [];
    let lengths = 0;
    for (const [name, schema] of Object.entries(SCHEMAS)) {
      const factory = timed(G.jsonSchemaConstraint(schema as object | true, tok, { maxTokens }), times);
      for (const seed of seeds) {
        const r = G.generate(model, prompt, { temperature: 1, seed, maxTokens, constraint: factory, stopTokens: tok.endOfGenerationIds, tokenizer: tok });
        assert.equal(valid(schema, r.text!), null, `${label} ${name} seed ${seed}: ${JSON.stringify(r.text)}`);
        assert.equal(r.finishReason, 'stop', `${label} ${name} seed ${seed}`);
        lengths += r.tokens.length;
      }
    }
    t.diagnostic(`${label} (vocabulary ${tok.vocabSize}): mask per step ${summary(times)}; ${lengths} tokens in ${Object.keys(SCHEMAS).length * seeds.length} outputs`);
    return times;
  };

  test('Qwen3 byte-level BPE (151k): temperature 1, several seeds, every output valid', (t) => {
    run(t, qwen3, 'qwen3', [1, 2, 3], 96);
  });

  test('Llama 2 SentencePiece (32k): every output valid; mask time per step well under 20 ms', (t) => {
    const times = run(t, llama2, 'llama2', [1, 2], 96);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    // the target is < 20 ms per step on one core; a loose bound keeps a busy machine from failing it
    assert.ok(mean < 60, `mean mask time ${mean.toFixed(1)} ms`);
  });

  test('greedy, batched rows with a factory, and a short budget all end in valid JSON', () => {
    const model = randomLlama(qwen3.vocabSize, 5);
    const schema = SCHEMAS.person!;
    const factory = G.jsonSchemaConstraint(schema as object, qwen3, { maxTokens: 120 });
    const greedy = G.generate(model, qwen3.encode('JSON:'), { temperature: 0, maxTokens: 120, constraint: factory, stopTokens: qwen3.endOfGenerationIds, tokenizer: qwen3 });
    assert.equal(valid(schema, greedy.text!), null, greedy.text);
    const prompts = ['a', 'The weather', 'JSON please:'].map((p) => qwen3.encode(p));
    const batch = G.generateBatch(model, prompts, { temperature: 1, seed: 4, maxTokens: 120, constraint: factory, stopTokens: qwen3.endOfGenerationIds, tokenizer: qwen3, padTokenId: 0 });
    for (const r of batch) assert.equal(valid(schema, r.text!), null, r.text);
    const minimal = new G.JsonGrammar(schema).minLength;
    const tight = G.generate(model, qwen3.encode('JSON:'), { temperature: 1, seed: 9, maxTokens: minimal + 2, constraint: factory, stopTokens: qwen3.endOfGenerationIds, tokenizer: qwen3 });
    assert.equal(valid(schema, tight.text!), null, tight.text);
    assert.equal(tight.finishReason, 'stop');
  });
});
