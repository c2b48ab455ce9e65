import { StrataError, fmtShape } from '../../errors.js';
import type { FloatArray } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import { record } from '../grad-mode.js';
import { backend } from '../../backend/index.js';
import { asFloat, computeDType, denseFloat, empty, expectFloat } from './common.js';
import { fromArray } from './creation.js';
import { contiguous } from './views.js';

export type RopeLayout = 'half' | 'interleaved';

export interface RopeTableOptions {
  /** base frequency θ (10000 in LLaMA) */
  base?: number;
  /** first position (the KV-cache length when decoding) */
  offset?: number;
  /** divide positions by this factor (rope_scaling type "linear") */
  linearScale?: number;
  /** per-frequency multipliers applied to the inverse frequencies (e.g. llama3 scaling) */
  invFreq?: Float64Array;
}

/** cos and sin tables (T, D/2) for positions offset..offset+T-1. */
export function ropeTables(t: number, headDim: number, options: RopeTableOptions = {}): { cos: Tensor; sin: Tensor } {
  if (headDim % 2 !== 0) throw new StrataError('argument', 'ropeTables', `head dimension must be even, got ${headDim}`);
  const half = headDim / 2;
  const base = options.base ?? 10000;
  const inv = options.invFreq ?? Float64Array.from({ length: half }, (_, i) => 1 / Math.pow(base, (2 * i) / headDim));
  if (inv.length !== half) throw new StrataError('argument', 'ropeTables', `invFreq has ${inv.length} entries, expected ${half}`);
  const cos = new Float32Array(t * half);
  const sin = new Float32Array(t * half);
  const off = options.offset ?? 0;
  const scale = options.linearScale ?? 1;
  for (let p = 0; p < t; p++) {
    for (let i = 0; i < half; i++) {
      // angles are formed in f32 like the reference implementations, then cos/sin taken in f64
      const angle = Math.fround(Math.fround((p + off) / scale) * Math.fround(inv[i]!));
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos: fromArray(cos, [t, half]), sin: fromArray(sin, [t, half]) };
}

/**
 * Rotates pairs of features of x (..., T, D) by position-dependent angles. `half` pairs
 * feature i with i + D/2 (GPT-NeoX / Hugging Face LLaMA); `interleaved` pairs 2i with 2i+1
 * (original RoPE, GPT-J, GGUF llama). cos/sin are (T, D/2) constants shared by every row, or
 * (B, T, D/2) with one table per sequence of x (B, ..., T, D) (left-padded batches).
 */
export function applyRotaryEmbedding(x: Tensor, cos: Tensor, sin: Tensor, layout: RopeLayout = 'half'): Tensor {
  expectFloat(x, 'rope');
  if (x.ndim < 2) throw new StrataError('shape', 'rope', `input must be (..., T, D), got ${fmtShape(x.shape)}`);
  const t = x.shape[x.ndim - 2]!;
  const d = x.shape[x.ndim - 1]!;
  if (d % 2 !== 0) throw new StrataError('shape', 'rope', `head dimension must be even, got ${fmtShape(x.shape)}`);
  const perSequence = cos.ndim === 3;
  for (const [name, tab] of [['cos', cos], ['sin', sin]] as const) {
    const ok = perSequence
      ? tab.ndim === 3 && x.ndim >= 3 && tab.shape[0] === x.shape[0] && tab.shape[1] === t && tab.shape[2] === d / 2
      : tab.ndim === 2 && tab.shape[0] === t && tab.shape[1] === d / 2;
    if (!ok) {
      const want = perSequence ? `(${x.shape[0]}, ${t}, ${d / 2})` : `(${t}, ${d / 2})`;
      throw new StrataError('shape', 'rope', `${name} must be ${want} for input ${fmtShape(x.shape)}, got ${fmtShape(tab.shape)}`);
    }
  }
  return ropeKernel(x, cos, sin, layout === 'interleaved', false);
}

function ropeKernel(x: Tensor, cos: Tensor, sin: Tensor, interleaved: boolean, inverse: boolean): Tensor {
  const dt = computeDType(x);
  const xf = contiguous(asFloat(x, dt));
  const t = x.shape[x.ndim - 2]!;
  const d = x.shape[x.ndim - 1]!;
  const rows = t * d === 0 ? 0 : xf.size / (t * d);
  const groups = cos.ndim === 3 ? cos.shape[0]! : 1;
  const rowsPerTable = Math.max(1, rows / Math.max(groups, 1));
  const out = empty(dt, x.shape);
  backend().rope(
    denseFloat(xf),
    rows,
    t,
    d,
    denseFloat(asFloat(cos, dt)),
    denseFloat(asFloat(sin, dt)),
    rowsPerTable,
    interleaved,
    inverse,
    out.data as FloatArray,
  );
  // a rotation's adjoint is the opposite rotation
  return record('rope', [x], out, (g) => [ropeKernel(g, cos, sin, interleaved, !inverse)]);
}
