import { StrataError } from '../errors.js';
import { backend } from '../backend/index.js';
import { Generator } from '../tensor/random.js';

/** How the next token is chosen (OpenAI/HF semantics; 0 or absent disables a filter). */
export interface SamplingOptions {
  /** 0 = greedy (argmax) */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** drop tokens whose probability is below minP times the most likely token's */
  minP?: number;
  /** HF-style: divide positive logits (multiply negative ones) of tokens already seen */
  repetitionPenalty?: number;
  /** OpenAI-style: subtract once for every token already seen */
  presencePenalty?: number;
  /** OpenAI-style: subtract per occurrence of a token already seen */
  frequencyPenalty?: number;
  seed?: number;
}

export function validateSampling(o: SamplingOptions, op = 'generate'): void {
  const check = (name: keyof SamplingOptions, ok: (v: number) => boolean, what: string) => {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))) {
      throw new StrataError('argument', op, `${name} must be ${what}, got ${v}`);
    }
  };
  check('temperature', (v) => v >= 0, 'a number >= 0');
  check('topK', (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  check('topP', (v) => v > 0 && v <= 1, 'in (0, 1]');
  check('minP', (v) => v >= 0 && v <= 1, 'in [0, 1]');
  check('repetitionPenalty', (v) => v > 0, 'a number > 0');
  check('presencePenalty', (v) => v >= -2 && v <= 2, 'in [-2, 2]');
  check('frequencyPenalty', (v) => v >= -2 && v <= 2, 'in [-2, 2]');
  check('seed', (v) => Number.isInteger(v), 'an integer');
}

/**
 * Sets the logits of ids >= `decodable` to -Infinity, in place. A checkpoint's embedding matrix is
 * often padded past its tokenizer's vocabulary (to a multiple of 64 or 128); those ids have no
 * text, so choosing one would leave the output undecodable.
 */
export function maskUndecodable(logits: Float32Array, decodable: number | undefined): void {
  if (decodable === undefined || decodable >= logits.length) return;
  logits.fill(-Infinity, Math.max(decodable, 0));
}

/** Applies repetition, presence and frequency penalties in place, given the tokens seen so far. */
export function applyPenalties(logits: Float32Array, seen: readonly number[], o: SamplingOptions): void {
  const rep = o.repetitionPenalty ?? 1;
  const presence = o.presencePenalty ?? 0;
  const frequency = o.frequencyPenalty ?? 0;
  if (rep === 1 && presence === 0 && frequency === 0) return;
  const counts = new Map<number, number>();
  for (const t of seen) counts.set(t, (counts.get(t) ?? 0) + 1);
  for (const [t, c] of counts) {
    if (t < 0 || t >= logits.length) continue;
    let v = logits[t]!;
    if (rep !== 1) v = v > 0 ? v / rep : v * rep;
    v -= presence + frequency * c;
    logits[t] = v;
  }
}

const argmaxOut = new Int32Array(1); // the kernel's answer, reused: argmax runs once a token

/** The first index of the largest value (NaNs skipped). */
export function argmax(values: Float32Array): number {
  // the backend's kernel over a vocabulary-sized row; it treats NaN as the maximum, as torch does,
  // so a row whose winner is NaN is scanned here instead
  if (values.length >= 1024) {
    backend().argReduce('argmax', values, { outer: 1, n: values.length, inner: 1 }, argmaxOut);
    if (!Number.isNaN(values[argmaxOut[0]!])) return argmaxOut[0]!;
  }
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/** log-softmax of a row (f64 accumulation). */
export function logSoftmaxRow(logits: Float32Array): Float32Array {
  let m = -Infinity;
  for (const v of logits) if (v > m) m = v;
  let s = 0;
  for (const v of logits) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}

/** The k largest entries of a row as [index, value] pairs, best first. */
export function topEntries(values: Float32Array, k: number): [number, number][] {
  const out: [number, number][] = [];
  if (k <= 0) return out;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (out.length < k) {
      out.push([i, v]);
      out.sort((a, b) => b[1] - a[1]);
    } else if (v > out[k - 1]![1]) {
      out[k - 1] = [i, v];
      out.sort((a, b) => b[1] - a[1]);
    }
  }
  return out;
}

/**
 * Picks the next token from one row of logits (already penalized). Greedy when temperature is
 * 0; otherwise softmax(logits / T) restricted by top-k, top-p and min-p, drawn with one uniform
 * from `rng` by the backend's sampler (src/backend/sample.ts defines it).
 */
export function sampleToken(logits: Float32Array, o: SamplingOptions, rng: Generator): number {
  const temperature = o.temperature ?? 1;
  if (temperature === 0) return argmax(logits);
  return backend().sample(logits, { temperature, topK: o.topK ?? 0, topP: o.topP ?? 1, minP: o.minP ?? 0 }, rng.uniform());
}
