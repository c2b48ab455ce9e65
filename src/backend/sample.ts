/** The filters of one sampling step; 0 (top-k, min-p) and 1 (top-p) turn a filter off. */
export interface SampleParams {
  /** > 0 */
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
}

/**
 * The reference sampler, the definition the native kernel (native/src/kernels/sampling.cc)
 * follows step for step: softmax(logits / temperature) in f64 rounded to f32 per entry, the
 * cut-off probability of each filter (top-k: the k-th largest; top-p: where the sum of the largest
 * first reaches topP; min-p: minP times the largest), top-k's ties at the cut-off resolved to the
 * lowest ids so exactly k remain, then the token where `uniform` times the kept mass runs out,
 * walking the kept tokens in id order. NaN logits are never drawn; a row without a finite largest
 * logit gives its first largest entry.
 */
export function sampleReference(logits: Float32Array, o: SampleParams, uniform: number): number {
  const n = logits.length;
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > m) m = logits[i]!;
  if (!(m > -Infinity) || m === Infinity) return firstMax(logits);
  const probs = scratch.probs(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const l = logits[i]!;
    const p = Number.isNaN(l) ? 0 : Math.exp((l - m) / o.temperature);
    probs[i] = p;
    total += p;
  }
  let pmax = 0;
  for (let i = 0; i < n; i++) {
    probs[i] = probs[i]! / total;
    if (probs[i]! > pmax) pmax = probs[i]!;
  }
  let cutoff = 0;
  const useK = o.topK > 0 && o.topK < n;
  if (useK || o.topP < 1) {
    const sorted = headDescending(probs, n, pmax, useK ? o.topK : 0, o.topP);
    if (useK) cutoff = Math.max(cutoff, sorted[o.topK - 1]!);
    if (o.topP < 1) {
      let cum = 0;
      for (let i = 0; i < sorted.length; i++) {
        cum += sorted[i]!;
        if (cum >= o.topP) {
          cutoff = Math.max(cutoff, sorted[i]!);
          break;
        }
      }
    }
  }
  if (o.minP > 0) cutoff = Math.max(cutoff, o.minP * pmax);
  let tieBudget = Infinity;
  if (useK) {
    let above = 0;
    for (let i = 0; i < n; i++) if (probs[i]! > cutoff) above++;
    tieBudget = Math.max(o.topK - above, 0);
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
  let u = uniform * kept;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (!keep[i]) continue;
    last = i;
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return last >= 0 ? last : firstMax(logits);
}

function firstMax(x: Float32Array): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! > bv) {
      bv = x[i]!;
      best = i;
    }
  }
  return best;
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
