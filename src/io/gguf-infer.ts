// Choosing GGUF types for plain JS metadata values, the way llama.cpp expects them for the keys
// it knows, and checking typed values before they are written.

import { StrataError } from '../errors.js';
import {
  type GgufArray,
  type GgufBigType,
  type GgufInput,
  type GgufItemType,
  type GgufNumberType,
  type GgufNumericArray,
  type GgufScalarType,
  type GgufValue,
  MAX_ARRAY_DEPTH,
  TYPED_ARRAY,
  VALUE_TYPE_CODES,
  clip,
} from './gguf-values.js';

/** Keys llama.cpp reads with a fixed type; `{arch}.` prefixes match any architecture. */
const KEY_TYPES: readonly (readonly [RegExp, GgufScalarType])[] = [
  [/^general\.(alignment|file_type|quantization_version)$/, 'u32'],
  [/\.(context_length|embedding_length|block_count|feed_forward_length|vocab_size|expert_count|expert_used_count|expert_feed_forward_length|leading_dense_block_count)$/, 'u32'],
  [/\.attention\.(head_count|head_count_kv|key_length|value_length|sliding_window)$/, 'u32'],
  [/\.rope\.(dimension_count|scaling\.original_context_length)$/, 'u32'],
  [/^tokenizer\.ggml\.[a-z_]*token_id$/, 'u32'],
  [/\.attention\.(layer_norm_epsilon|layer_norm_rms_epsilon|clamp_kqv|max_alibi_bias)$/, 'f32'],
  [/\.rope\.(freq_base|scaling\.factor|scaling\.attn_factor|scaling\.yarn_log_multiplier)$/, 'f32'],
  [/\.(logit_scale|expert_weights_scale|embedding_scale|residual_scale|attn_logit_softcapping|final_logit_softcapping)$/, 'f32'],
  [/^tokenizer\.ggml\.(add_bos_token|add_eos_token|add_space_prefix|remove_extra_whitespaces)$/, 'bool'],
  [/\.(use_parallel_residual|attention\.causal)$/, 'bool'],
];

/** Item types of the arrays llama.cpp knows. */
const ARRAY_KEY_TYPES: readonly (readonly [RegExp, GgufItemType])[] = [
  [/^tokenizer\.ggml\.(tokens|merges|added_tokens)$/, 'string'],
  [/^tokenizer\.ggml\.scores$/, 'f32'],
  [/^tokenizer\.ggml\.token_type$/, 'i32'],
  [/\.(feed_forward_length|attention\.head_count|attention\.head_count_kv)$/, 'u32'],
];

function keyType(key: string, table: readonly (readonly [RegExp, GgufItemType])[]): GgufItemType | undefined {
  for (const [re, t] of table) if (re.test(key)) return t;
  return undefined;
}

/** The type for integers by range (signed first when `signed`), or f32 for other numbers. */
function numberType(values: ArrayLike<number>, signed: boolean): GgufNumberType | GgufBigType {
  let ints = true;
  let min = 0;
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isSafeInteger(v)) ints = false;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (!ints) return 'f32';
  if ((signed || min < 0) && min >= -(2 ** 31) && max < 2 ** 31) return 'i32';
  if (min >= 0 && max < 2 ** 32) return 'u32';
  return min < 0 ? 'i64' : 'u64';
}

function typedArrayType(v: GgufNumericArray): GgufNumberType | GgufBigType {
  if (v instanceof Uint8Array) return 'u8';
  if (v instanceof Int8Array) return 'i8';
  if (v instanceof Uint16Array) return 'u16';
  if (v instanceof Int16Array) return 'i16';
  if (v instanceof Uint32Array) return 'u32';
  if (v instanceof Int32Array) return 'i32';
  if (v instanceof Float32Array) return 'f32';
  if (v instanceof Float64Array) return 'f64';
  if (v instanceof BigUint64Array) return 'u64';
  return 'i64';
}

const RANGES: Readonly<Record<'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32', readonly [number, number]>> = {
  u8: [0, 255],
  i8: [-128, 127],
  u16: [0, 65535],
  i16: [-32768, 32767],
  u32: [0, 2 ** 32 - 1],
  i32: [-(2 ** 31), 2 ** 31 - 1],
};

function checkNumber(type: GgufNumberType, v: unknown, where: () => string): number {
  if (typeof v !== 'number') throw new StrataError('argument', 'writeGguf', `${where()}: ${type} needs a number, got ${typeof v}`);
  if (type === 'f32' || type === 'f64') return v;
  const [lo, hi] = RANGES[type];
  if (!Number.isInteger(v) || v < lo || v > hi) throw new StrataError('argument', 'writeGguf', `${where()}: ${v} is not a ${type} (an integer in [${lo}, ${hi}])`);
  return v;
}

function checkBig(type: GgufBigType, v: unknown, where: () => string): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
  else throw new StrataError('argument', 'writeGguf', `${where()}: ${type} needs a bigint or a safe integer, got ${String(v)}`);
  const ok = type === 'u64' ? b >= 0n && b < 1n << 64n : b >= -(1n << 63n) && b < 1n << 63n;
  if (!ok) throw new StrataError('argument', 'writeGguf', `${where()}: ${b} is out of range for ${type}`);
  return b;
}

/** An array with its item type chosen from the key (when llama.cpp knows it) or the items. */
function inferArray(key: string, v: ArrayLike<unknown>, depth: number): GgufArray {
  if (depth >= MAX_ARRAY_DEPTH) throw new StrataError('argument', 'writeGguf', `'${clip(key)}': arrays nest more than ${MAX_ARRAY_DEPTH} deep`);
  if (ArrayBuffer.isView(v)) {
    const t = typedArrayType(v as GgufNumericArray);
    return { type: 'array', itemType: t, value: v as GgufNumericArray } as GgufArray;
  }
  const items = Array.from(v);
  let itemType = keyType(key, ARRAY_KEY_TYPES);
  if (itemType === undefined) {
    const first = items[0];
    if (items.length === 0) itemType = 'string';
    else if (typeof first === 'string') itemType = 'string';
    else if (typeof first === 'boolean') itemType = 'bool';
    else if (typeof first === 'bigint') itemType = items.some((x) => typeof x === 'bigint' && x < 0n) ? 'i64' : 'u64';
    else if (Array.isArray(first) || ArrayBuffer.isView(first) || (typeof first === 'object' && first !== null)) itemType = 'array';
    else if (items.every((x) => typeof x === 'number')) itemType = numberType(items as number[], true);
    else throw new StrataError('argument', 'writeGguf', `'${clip(key)}': cannot store an array of ${typeof first}`);
  }
  return typedArray(key, itemType, items, depth);
}

function typedArray(key: string, itemType: GgufItemType, items: readonly unknown[], depth: number): GgufArray {
  const where = () => `'${clip(key)}'`;
  switch (itemType) {
    case 'string':
      for (const s of items) if (typeof s !== 'string') throw new StrataError('argument', 'writeGguf', `${where()}: a string array holds ${typeof s}`);
      return { type: 'array', itemType, value: items as string[] };
    case 'bool':
      for (const b of items) if (typeof b !== 'boolean') throw new StrataError('argument', 'writeGguf', `${where()}: a bool array holds ${typeof b}`);
      return { type: 'array', itemType, value: items as boolean[] };
    case 'array':
      return {
        type: 'array',
        itemType,
        value: items.map((x) => {
          if (typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x)) {
            const nested = normalizeGgufValue(key, x as GgufInput, depth + 1);
            if (nested.type !== 'array') throw new StrataError('argument', 'writeGguf', `${where()}: an array of arrays holds a ${nested.type}`);
            return nested;
          }
          if (!Array.isArray(x) && !ArrayBuffer.isView(x)) throw new StrataError('argument', 'writeGguf', `${where()}: an array of arrays holds ${typeof x}`);
          return inferArray(key, x as ArrayLike<unknown>, depth + 1);
        }),
      };
    case 'u64':
    case 'i64': {
      const out = itemType === 'u64' ? new BigUint64Array(items.length) : new BigInt64Array(items.length);
      items.forEach((x, i) => (out[i] = checkBig(itemType, x, where)));
      return { type: 'array', itemType, value: out };
    }
    default: {
      const out = new TYPED_ARRAY[itemType](items.length) as Exclude<GgufNumericArray, BigUint64Array | BigInt64Array>;
      items.forEach((x, i) => (out[i] = checkNumber(itemType, x, where)));
      return { type: 'array', itemType, value: out } as GgufArray;
    }
  }
}

/**
 * The GGUF value to write for `key`: typed values are checked, plain ones get a type: the one
 * llama.cpp reads for a key it knows (e.g. u32 `llama.block_count`, f32 `llama.rope.freq_base`,
 * i32 `tokenizer.ggml.token_type`), else u32 / i32 / u64 / i64 for integers by range, f32 for
 * other numbers, and the obvious type for strings, booleans and bigints.
 */
export function normalizeGgufValue(key: string, v: GgufInput, depth = 0): GgufValue {
  const where = () => `'${clip(key)}'`;
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
    const typed = v as { type?: unknown; itemType?: unknown; value?: unknown };
    const t = typed.type;
    if (typeof t !== 'string' || !Object.hasOwn(VALUE_TYPE_CODES, t)) {
      throw new StrataError('argument', 'writeGguf', `${where()}: unknown GGUF value type '${String(t)}'`);
    }
    if (t === 'array') {
      const it = typed.itemType;
      if (typeof it !== 'string' || !Object.hasOwn(VALUE_TYPE_CODES, it)) throw new StrataError('argument', 'writeGguf', `${where()}: unknown array item type '${String(it)}'`);
      const items = typed.value;
      if (!Array.isArray(items) && !ArrayBuffer.isView(items)) throw new StrataError('argument', 'writeGguf', `${where()}: an array value must be an array`);
      if (depth >= MAX_ARRAY_DEPTH) throw new StrataError('argument', 'writeGguf', `${where()}: arrays nest more than ${MAX_ARRAY_DEPTH} deep`);
      return typedArray(key, it as GgufItemType, Array.from(items as ArrayLike<unknown>), depth);
    }
    if (t === 'string') {
      if (typeof typed.value !== 'string') throw new StrataError('argument', 'writeGguf', `${where()}: string needs a string`);
      return { type: t, value: typed.value };
    }
    if (t === 'bool') {
      if (typeof typed.value !== 'boolean') throw new StrataError('argument', 'writeGguf', `${where()}: bool needs a boolean`);
      return { type: t, value: typed.value };
    }
    if (t === 'u64' || t === 'i64') return { type: t, value: checkBig(t, typed.value, where) };
    return { type: t as GgufNumberType, value: checkNumber(t as GgufNumberType, typed.value, where) };
  }
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return inferArray(key, v as ArrayLike<unknown>, depth);
  const known = keyType(key, KEY_TYPES) as GgufScalarType | undefined;
  switch (typeof v) {
    case 'string':
      return { type: 'string', value: v };
    case 'boolean':
      return { type: 'bool', value: v };
    case 'bigint':
      return v >= 0n ? { type: 'u64', value: checkBig('u64', v, where) } : { type: 'i64', value: checkBig('i64', v, where) };
    case 'number': {
      if (known === 'f32' || known === 'f64' || known === 'u32' || known === 'i32') return { type: known, value: checkNumber(known, v, where) };
      const t = numberType([v], false);
      return t === 'u64' || t === 'i64' ? { type: t, value: BigInt(v) } : { type: t, value: v };
    }
    default:
      throw new StrataError('argument', 'writeGguf', `${where()}: cannot store a ${typeof v}`);
  }
}

