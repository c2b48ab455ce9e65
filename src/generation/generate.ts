import { StrataError } from '../errors.js';
import type { CausalLM, KVCache } from '../models/types.js';
import { Generator } from '../tensor/random.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TokenConstraint } from './constraint.js';
import { type SamplingOptions, applyPenalties, logSoftmaxRow, maskUndecodable, sampleToken, topEntries, validateSampling } from './sampling.js';
import { StopStrings } from './stopping.js';

/** The part of a tokenizer generation needs: turning ids back into text. */
export interface TextDecoder {
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** incremental decoding (every Tokenizer has it); without it the whole output is re-decoded per token */
  createDecodeStream?(options?: { skipSpecialTokens?: boolean }): { push(id: number): string; flush(): string };
  /** ids at or past it cannot be decoded, so generation never picks them (every Tokenizer has it) */
  readonly vocabSize?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** most new tokens to produce (default 256) */
  maxTokens?: number;
  /** token ids that end generation (e.g. the tokenizer's eos); they are not part of the text */
  stopTokens?: readonly number[];
  /** strings that end generation; the text is cut before the first one */
  stop?: readonly string[];
  /** return log-probabilities of each chosen token, plus this many top alternatives */
  logprobs?: number;
  /** id used to left-pad shorter prompts in a batch */
  padTokenId?: number;
  /** cancels generation between tokens */
  signal?: AbortSignal;
  /** decodes the output; needed for `stop` strings and `text` */
  tokenizer?: TextDecoder;
  /**
   * Restricts which tokens may come next (e.g. jsonSchemaConstraint). A factory gives each row of
   * a batch its own state; one instance serves a batch through its clone(). Its mask is applied
   * before penalties and sampling, so logprobs are those of the masked distribution (disallowed
   * tokens never appear among the top alternatives); the row finishes ('stop') once it is done.
   * Put the tokenizer's end-of-generation ids in stopTokens, so an end token it allows is not
   * part of the output.
   */
  constraint?: TokenConstraint | (() => TokenConstraint);
  /**
   * Collects the garbage of a forward pass: called after each step and, in a prefill of more
   * than one token per row, between layers (each layer leaves ≈ 70 KB a token of intermediate
   * tensors). The CLI passes a young-generation GC (src/cli/memory.ts).
   */
  collect?: () => void;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface TokenLogprob {
  token: number;
  logprob: number;
  top: { token: number; logprob: number }[];
}

export interface GenerationTimings {
  promptTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

export interface GenerationResult {
  tokens: number[];
  text?: string;
  finishReason: FinishReason;
  logprobs?: TokenLogprob[];
  timings: GenerationTimings;
}

/** One step of a streamed generation. */
export interface GenerationChunk {
  token: number;
  /** text added by this token (may be empty while a multi-byte character or a possible stop string is pending) */
  delta: string;
  logprob?: TokenLogprob;
}

/** Per-row state of a running (possibly batched) generation. */
interface Row {
  prompt: number[];
  tokens: number[];
  logprobs: TokenLogprob[];
  finish: FinishReason | null;
  stops: StopStrings | null;
  rng: Generator;
  constraint: TokenConstraint | null;
}

function validate(model: CausalLM, prompts: readonly (readonly number[])[], o: GenerateOptions): void {
  validateSampling(o);
  if (prompts.length === 0) throw new StrataError('argument', 'generate', 'no prompt given');
  for (const p of prompts) {
    if (p.length === 0) throw new StrataError('argument', 'generate', 'a prompt must hold at least one token');
    for (const t of p) {
      if (!Number.isInteger(t) || t < 0 || t >= model.vocabSize) {
        throw new StrataError('argument', 'generate', `prompt token ${t} is outside the vocabulary (0..${model.vocabSize - 1})`);
      }
    }
  }
  const max = o.maxTokens ?? 256;
  if (!Number.isInteger(max) || max < 0) throw new StrataError('argument', 'generate', `maxTokens must be an integer >= 0, got ${max}`);
  const longest = Math.max(...prompts.map((p) => p.length));
  if (longest + max > model.maxPositions) {
    throw new StrataError('argument', 'generate', `prompt (${longest} tokens) + maxTokens (${max}) exceeds the model's context of ${model.maxPositions}`);
  }
  if (o.stop?.length && !o.tokenizer) throw new StrataError('argument', 'generate', 'stop strings need a tokenizer');
}

/** The constraint of batch row i: its own from a factory, else the instance (cloned past row 0). */
function constraintFor(c: GenerateOptions['constraint'], i: number): TokenConstraint | null {
  if (c === undefined) return null;
  if (typeof c === 'function') return c();
  if (i === 0) return c;
  if (!c.clone) throw new StrataError('argument', 'generate', 'a batch needs a constraint factory or a constraint with clone()');
  return c.clone();
}

/**
 * Last-position logits of each row as Float32Arrays: logits (B, 1, V). They are views of the
 * forward's own output where it is f32 and contiguous (a fresh tensor each step, dropped after
 * it, so masking and penalties may write into it); copying it cost 4V bytes of garbage a token.
 */
function rowsOf(logits: Tensor): Float32Array[] {
  const [b, , v] = logits.shape as [number, number, number];
  const c = logits.dtype === 'f32' ? logits.contiguous() : null;
  const flat = c && c.data instanceof Float32Array ? c.data.subarray(c.offset, c.offset + b * v) : logits.toFloat32Array();
  return Array.from({ length: b }, (_, i) => flat.subarray(i * v, (i + 1) * v));
}

/**
 * A running generation over a left-padded batch of prompts. The first `step()` prefills every
 * prompt in one forward pass; each later one decodes one token per unfinished row.
 */
export class Decoding {
  readonly rows: Row[];
  private readonly o: GenerateOptions;
  private readonly maxTokens: number;
  private readonly longest: number;
  private readonly padded: boolean;
  private readonly pad: number;
  private readonly stopTokens: Set<number>;
  private readonly valid: boolean[][];
  private readonly cache: KVCache;
  private input: Tensor;
  private positions: Tensor | undefined;
  private steps = 0;
  private readonly started = performance.now();
  private prefillMs = 0;

  constructor(
    private readonly model: CausalLM,
    prompts: readonly (readonly number[])[],
    options: GenerateOptions,
  ) {
    validate(model, prompts, options);
    this.o = options;
    this.maxTokens = options.maxTokens ?? 256;
    const b = prompts.length;
    this.longest = Math.max(...prompts.map((p) => p.length));
    this.pad = options.padTokenId ?? 0;
    this.stopTokens = new Set(options.stopTokens ?? []);
    this.padded = b > 1 && prompts.some((p) => p.length !== this.longest);
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.rows = prompts.map((p, i) => ({
      prompt: [...p],
      tokens: [],
      logprobs: [],
      finish: this.maxTokens === 0 ? 'length' : null,
      stops: options.tokenizer ? new StopStrings(options.stop ?? [], options.tokenizer) : null,
      rng: new Generator(seed + i),
      constraint: constraintFor(options.constraint, i),
    }));
    // (B, S): which key positions hold real tokens (left padding is not)
    this.valid = prompts.map((p) => Array.from({ length: this.longest }, (_, j) => j >= this.longest - p.length));
    this.cache = model.createCache(b, this.longest + this.maxTokens);
    const ids = new Int32Array(b * this.longest);
    prompts.forEach((p, i) => {
      ids.fill(this.pad, i * this.longest, (i + 1) * this.longest - p.length);
      ids.set(p, (i + 1) * this.longest - p.length);
    });
    this.input = fromArray(ids, [b, this.longest], { dtype: 'i32' });
    if (this.padded) {
      const pos = prompts.flatMap((p) => Array.from({ length: this.longest }, (_, j) => Math.max(0, j - (this.longest - p.length))));
      this.positions = fromArray(Int32Array.from(pos), [b, this.longest], { dtype: 'i32' });
    }
  }

  get done(): boolean {
    return this.rows.every((r) => r.finish);
  }

  /** Runs one forward pass and picks one token per unfinished row; returns what each row produced. */
  step(): (GenerationChunk | null)[] {
    const out: (GenerationChunk | null)[] = this.rows.map(() => null);
    if (this.done) return out;
    if (this.o.signal?.aborted) {
      for (const r of this.rows) r.finish ??= 'abort';
      return out;
    }
    const b = this.rows.length;
    const mask = this.padded ? fromArray(Uint8Array.from(this.valid.flat(), Number), [b, this.valid[0]!.length], { dtype: 'bool' }) : undefined;
    const afterLayer = this.input.shape[1]! > 1 ? this.o.collect : undefined;
    const logits = noGrad(() => this.model.forward(this.input, { cache: this.cache, attentionMask: mask, positionIds: this.positions, lastOnly: true, afterLayer }));
    if (this.steps++ === 0) this.prefillMs = performance.now() - this.started;
    const lastRows = rowsOf(logits);
    const next = new Int32Array(b).fill(this.pad);
    this.rows.forEach((r, i) => {
      if (r.finish) return;
      const row = lastRows[i]!; // (V)
      maskUndecodable(row, this.o.tokenizer?.vocabSize);
      r.constraint?.mask(row, this.maxTokens - r.tokens.length);
      const lp = this.o.logprobs !== undefined ? logSoftmaxRow(row) : null;
      applyPenalties(row, [...r.prompt, ...r.tokens], this.o);
      const token = sampleToken(row, this.o, r.rng);
      next[i] = token;
      // tokens a constraint masked out are no alternatives
      const top = lp ? topEntries(lp, this.o.logprobs!).filter(([, l]) => l > -Infinity) : [];
      const logprob = lp ? { token, logprob: lp[token]!, top: top.map(([t, l]) => ({ token: t, logprob: l })) } : undefined;
      if (this.stopTokens.has(token)) {
        r.finish = 'stop';
        out[i] = { token, delta: r.stops?.flush() ?? '', logprob };
        return;
      }
      r.tokens.push(token);
      if (logprob) r.logprobs.push(logprob);
      let delta = '';
      if (r.stops) {
        const s = r.stops.push(token);
        delta = s.delta;
        if (s.stopped) r.finish = 'stop';
      }
      r.constraint?.advance(token);
      if (!r.finish && r.constraint?.done) {
        r.finish = 'stop';
        delta += r.stops?.flush() ?? '';
      }
      if (!r.finish && r.tokens.length >= this.maxTokens) {
        r.finish = 'length';
        delta += r.stops?.flush() ?? '';
      }
      out[i] = { token, delta, logprob };
    });
    this.input = fromArray(next, [b, 1], { dtype: 'i32' });
    for (const v of this.valid) v.push(true);
    if (this.padded) {
      // the token fed next sits right after each row's prompt and generated tokens so far
      this.positions = fromArray(Int32Array.from(this.rows.map((r) => r.prompt.length + r.tokens.length - 1)), [b, 1], { dtype: 'i32' });
    }
    this.o.collect?.();
    return out;
  }

  /** Runs to the end. */
  finish(): GenerationResult[] {
    while (!this.done) this.step();
    return this.results();
  }

  timings(): GenerationTimings {
    const total = performance.now() - this.started;
    const generated = this.rows.reduce((n, r) => n + r.tokens.length, 0);
    const decodeMs = Math.max(total - this.prefillMs, 0);
    const decoded = Math.max(generated - this.rows.filter((r) => r.tokens.length > 0).length, 0);
    return {
      promptTokens: this.rows.reduce((n, r) => n + r.prompt.length, 0),
      generatedTokens: generated,
      prefillMs: this.prefillMs,
      decodeMs,
      prefillTokensPerSecond: this.prefillMs > 0 ? (this.rows.length * this.longest * 1000) / this.prefillMs : 0,
      decodeTokensPerSecond: decodeMs > 0 ? (decoded * 1000) / decodeMs : 0,
    };
  }

  results(): GenerationResult[] {
    const timings = this.timings();
    return this.rows.map((r) => {
      const res: GenerationResult = { tokens: r.tokens, finishReason: r.finish ?? 'length', timings };
      if (this.o.tokenizer) res.text = r.stops ? r.stops.text() : this.o.tokenizer.decode(r.tokens, { skipSpecialTokens: true });
      if (this.o.logprobs !== undefined) res.logprobs = r.logprobs;
      return res;
    });
  }
}

/** Generates a continuation of one prompt (token ids). */
export function generate(model: CausalLM, prompt: readonly number[], options: GenerateOptions = {}): GenerationResult {
  return new Decoding(model, [prompt], options).finish()[0]!;
}

/** Generates continuations of several prompts in one batch (left-padded, one forward pass per step). */
export function generateBatch(model: CausalLM, prompts: readonly (readonly number[])[], options: GenerateOptions = {}): GenerationResult[] {
  return new Decoding(model, prompts, options).finish();
}

/**
 * Streams a continuation as an async iterator of chunks (token id + text delta); the iterator's
 * return value is the full result. Control goes back to the event loop between tokens, so a server
 * stays responsive, and breaking out of the loop (or aborting `signal`) stops generation.
 */
export async function* streamGenerate(model: CausalLM, prompt: readonly number[], options: GenerateOptions = {}): AsyncGenerator<GenerationChunk, GenerationResult> {
  const d = new Decoding(model, [prompt], options);
  while (!d.done) {
    const [chunk] = d.step();
    if (chunk) yield chunk;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return d.results()[0]!;
}
