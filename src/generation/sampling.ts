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
 * 0; otherwise softmax(logits / T) restricted by top-k, top-p and min-p, sampled with `rng`.
 */
export function sampleToken(logits: Float32Array, o: SamplingOptions, rng: Generator): number {
  const temperature = o.temperature ?? 1;
  if (temperature === 0) return argmax(logits);
  const n = logits.length;
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > m) m = logits[i]!;
  const probs = scratch.probs(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.exp((logits[i]! - m) / temperature);
    probs[i] = p;
    total += p;
  }
  let pmax = 0;
  for (let i = 0; i < n; i++) {
    probs[i] = probs[i]! / total;
    if (probs[i]! > pmax) pmax = probs[i]!;
  }
  // the cut-off probability below which tokens are dropped, from each filter
  let cutoff = 0;
  const topK = o.topK ?? 0;
  const topP = o.topP ?? 1;
  if ((topK > 0 && topK < n) || topP < 1) {
    const sorted = headDescending(probs, n, pmax, topK > 0 && topK < n ? topK : 0, topP);
    if (topK > 0 && topK < n) cutoff = Math.max(cutoff, sorted[topK - 1]!);
    if (topP < 1) {
      let cum = 0;
      for (let i = 0; i < sorted.length; i++) {
        cum += sorted[i]!;
        if (cum >= topP) {
          cutoff = Math.max(cutoff, sorted[i]!);
          break;
        }
      }
    }
  }
  if (o.minP) cutoff = Math.max(cutoff, o.minP * pmax);
  // top-k keeps exactly k tokens: among ties at the cut-off, the lowest ids
  let tieBudget = Infinity;
  if (topK > 0 && topK < n) {
    let above = 0;
    for (let i = 0; i < n; i++) if (probs[i]! > cutoff) above++;
    tieBudget = Math.max(topK - above, 0);
  }
  const keep = scratch.keep(n);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const p = probs[i]!;
    keep[i] = 0;
    if (p < cutoff || (p === cutoff && tieBudget-- <= 0)) continue;
    keep[i] = 1;
    kept += p;
  }
  let u = rng.uniform() * kept;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (!keep[i]) continue;
    last = i;
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return last >= 0 ? last : argmax(logits);
}

/**
 * Buffers a sampling step reuses (one process samples one row at a time): a fresh 32k-entry
 * probability row and its sorted copy every token were most of a sampled decode's garbage.
 */
const scratch = {
  p: new Float32Array(0),
  k: new Uint8Array(0),
  head: new Float32Array(0),
  probs(n: number): Float32Array {
    if (this.p.length < n) this.p = new Float32Array(n);
    return this.p.subarray(0, n);
  },
  keep(n: number): Uint8Array {
    if (this.k.length < n) this.k = new Uint8Array(n);
    return this.k.subarray(0, n);
  },
  heads(n: number): Float32Array {
    if (this.head.length < n) this.head = new Float32Array(n);
    return this.head.subarray(0, n);
  },
};

/**
 * The largest probabilities in descending order, as many as top-k and top-p need: every value
 * above a threshold, sorted, where the threshold starts at pmax / 2^10 and falls until those values
 * number at least k and hold at least topP of the mass (then the cut-offs lie among them, exactly
 * where a full sort puts them, since they are its first entries); at worst every value. A full sort
 * of a 32k vocabulary was ≈ 1 ms a token.
 */
function headDescending(probs: Float32Array, n: number, pmax: number, k: number, topP: number): Float32Array {
  const head = scratch.heads(n);
  // a margin over topP: the head's mass, summed in index order, may differ from its sum in sorted order in the last bits
  const needMass = topP < 1 ? topP + 1e-9 : 0;
  for (let threshold = pmax / 1024; ; threshold /= 1024) {
    let count = 0;
    let mass = 0;
    const all = threshold < 1e-30;
    for (let i = 0; i < n; i++) {
      const p = probs[i]!;
      if (all || p > threshold) {
        head[count++] = p;
        mass += p;
      }
    }
    if (all || (count >= k && mass >= needMass)) return head.subarray(0, count).sort().reverse();
  }
}
