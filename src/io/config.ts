// Reading JSON configuration files (config.json, generation_config.json, index files) as untrusted
// input: every field is checked for presence, type and range, and a failure is a StrataError('io')
// that names the file and the field.

import fs from 'node:fs';
import { StrataError } from '../errors.js';

export type JsonObject = Record<string, unknown>;

function fail(file: string, message: string): never {
  throw new StrataError('io', file, message);
}

/** A short rendering of an untrusted JSON value for a message. */
export function describeJson(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return String(v);
}

/** Reads and parses a JSON file whose top level must be an object. */
export function readJsonObject(file: string): JsonObject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(file, code === 'ENOENT' ? 'file not found' : `cannot read file (${err instanceof Error ? err.message : String(err)})`);
  }
  return parseJsonObject(text, file);
}

export function parseJsonObject(text: string, file: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    fail(file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(file, `top level must be a JSON object, got ${describeJson(value)}`);
  return value as JsonObject;
}

interface NumberRange {
  /** inclusive lower bound */
  min?: number;
  /** exclusive lower bound */
  above?: number;
  /** inclusive upper bound */
  max?: number;
}

/**
 * Typed access to the fields of one JSON object. `required*` throws when the field is absent;
 * the plain getters return the default for an absent (or null) field but still reject a present
 * field of the wrong type or range.
 */
export class ConfigReader {
  constructor(
    readonly raw: JsonObject,
    readonly file: string,
    /** path of this object inside the file, for nested objects (e.g. 'rope_scaling.') */
    readonly path = '',
  ) {}

  has(name: string): boolean {
    return Object.hasOwn(this.raw, name) && this.raw[name] !== null && this.raw[name] !== undefined;
  }

  fail(name: string, message: string): never {
    fail(this.file, `field '${this.path}${name}' ${message}`);
  }

  private present(name: string): unknown {
    return Object.hasOwn(this.raw, name) ? this.raw[name] : undefined;
  }

  private checkRange(name: string, v: number, r: NumberRange): number {
    if (r.min !== undefined && v < r.min) this.fail(name, `must be >= ${r.min}, got ${v}`);
    if (r.above !== undefined && !(v > r.above)) this.fail(name, `must be > ${r.above}, got ${v}`);
    if (r.max !== undefined && v > r.max) this.fail(name, `must be <= ${r.max}, got ${v}`);
    return v;
  }

  requiredInt(name: string, range: NumberRange = { min: 1 }): number {
    if (!this.has(name)) this.fail(name, 'is required');
    return this.int(name, 0, range);
  }

  int(name: string, fallback: number, range: NumberRange = { min: 0 }): number {
    if (!this.has(name)) return fallback;
    const v = this.present(name);
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(name, `must be an integer, got ${describeJson(v)}`);
    return this.checkRange(name, v, range);
  }

  /** An integer or null (e.g. sliding_window, pad_token_id). */
  optionalInt(name: string, range: NumberRange = { min: 0 }): number | null {
    return this.has(name) ? this.int(name, 0, range) : null;
  }

  requiredNumber(name: string, range: NumberRange = {}): number {
    if (!this.has(name)) this.fail(name, 'is required');
    return this.number(name, 0, range);
  }

  number(name: string, fallback: number, range: NumberRange = {}): number {
    if (!this.has(name)) return fallback;
    const v = this.present(name);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(name, `must be a finite number, got ${describeJson(v)}`);
    return this.checkRange(name, v, range);
  }

  bool(name: string, fallback: boolean): boolean {
    if (!this.has(name)) return fallback;
    const v = this.present(name);
    if (typeof v !== 'boolean') this.fail(name, `must be true or false, got ${describeJson(v)}`);
    return v;
  }

  string(name: string, fallback: string): string {
    if (!this.has(name)) return fallback;
    const v = this.present(name);
    if (typeof v !== 'string') this.fail(name, `must be a string, got ${describeJson(v)}`);
    return v;
  }

  requiredString(name: string): string {
    if (!this.has(name)) this.fail(name, 'is required');
    return this.string(name, '');
  }

  /** One of a fixed set of strings. */
  choice<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.string(name, fallback);
    if (!(allowed as readonly string[]).includes(v)) this.fail(name, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeJson(v)}`);
    return v as T;
  }

  stringArray(name: string): string[] | null {
    if (!this.has(name)) return null;
    const v = this.present(name);
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) this.fail(name, `must be an array of strings, got ${describeJson(v)}`);
    return v as string[];
  }

  /** An integer or a list of integers (eos_token_id may be either). */
  intOrInts(name: string): number[] | null {
    if (!this.has(name)) return null;
    const v = this.present(name);
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      this.fail(name, `must be a non-negative integer or a list of them, got ${describeJson(v)}`);
    }
    return list as number[];
  }

  /** A nested object, or null when absent. */
  object(name: string): ConfigReader | null {
    if (!this.has(name)) return null;
    const v = this.present(name);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(name, `must be an object, got ${describeJson(v)}`);
    return new ConfigReader(v as JsonObject, this.file, `${this.path}${name}.`);
  }
}
