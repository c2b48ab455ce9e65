// A tiny "language model" whose next-token logits depend only on the last token (a Markov chain
// given as a table). It implements CausalLM so generation logic can be checked exactly.
import * as S from '../../src/index.js';
import { Module } from '../../src/nn/module.js';
import type { CausalLM, DecoderForwardOptions, KVCache, ModelCard } from '../../src/models/types.js';

class LengthCache implements KVCache {
  length = 0;
  reorders: number[][] = [];
  constructor(
    readonly batch: number,
    readonly maxLength: number,
  ) {}
  update(_layer: number, k: S.Tensor, v: S.Tensor) {
    return { k, v };
  }
  advance(t: number) {
    this.length += t;
    if (this.length > this.maxLength) throw new Error(`cache overflow: ${this.length} > ${this.maxLength}`);
  }
  reorder(rows: readonly number[]) {
    this.reorders.push([...rows]);
  }
  reset() {
    this.length = 0;
  }
}

export class MarkovLM extends Module implements CausalLM {
  readonly kind = 'decoder-only' as const;
  readonly card: ModelCard = {
    families: ['large-language'],
    inputModalities: ['text'],
    outputModalities: ['text'],
    architecture: 'Markov chain (test double)',
    adaptability: [],
    applications: ['tests'],
    examples: [],
    primaryData: 'text',
    purpose: 'testing generation',
  };
  readonly vocabSize: number;
  readonly maxPositions = 4096;
  forwardCalls: { shape: number[]; mask?: number[]; positions?: number[] }[] = [];

  /** table[a][b]: logit of token b after token a */
  constructor(readonly table: number[][]) {
    super();
    this.vocabSize = table.length;
  }

  forward(ids: S.Tensor, options: DecoderForwardOptions = {}): S.Tensor {
    const [b, t] = ids.shape as [number, number];
    this.forwardCalls.push({ shape: [b, t], mask: options.attentionMask?.toArray(), positions: options.positionIds?.toArray() });
    const flat = ids.toArray();
    const rows = options.lastOnly ? 1 : t;
    const out = new Float32Array(b * rows * this.vocabSize);
    for (let i = 0; i < b; i++)
      for (let j = 0; j < rows; j++) {
        const tok = flat[i * t + (options.lastOnly ? t - 1 : j)]!;
        out.set(this.table[tok]!, (i * rows + j) * this.vocabSize);
      }
    options.cache?.advance(t);
    return S.fromArray(out, [b, rows, this.vocabSize]);
  }

  createCache(batch: number, maxLength: number): KVCache {
    return new LengthCache(batch, maxLength);
  }
}

/** A decoder for tests: token i is the i-th character of `alphabet`. */
export function charTokenizer(alphabet: string) {
  return {
    decode: (ids: readonly number[]) => ids.map((i) => alphabet[i] ?? '?').join(''),
  };
}
