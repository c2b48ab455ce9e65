import { StrataError } from '../errors.js';
import type { CausalLM } from '../models/types.js';
import type { ChatMessage, Tokenizer } from '../tokenizers/tokenizer.js';
import { type GenerateOptions, type GenerationResult, Decoding, generate, generateBatch, streamGenerate } from '../generation/generate.js';
import { beamSearch, type BeamHypothesis } from '../generation/beam.js';
import type { EarlyStopping } from '../generation/beam-scorer.js';
import { logSoftmaxRow } from '../generation/sampling.js';
import { noGrad } from '../tensor/grad-mode.js';
import { fromArray } from '../tensor/ops/creation.js';
import { fewShotPrompt, questionAnsweringPrompt, summarizationPrompt, translationPrompt, zeroShotPrompt, type Shot } from './prompts.js';

export type TextGenerationOptions = Omit<GenerateOptions, 'tokenizer'> & { numBeams?: number; lengthPenalty?: number; earlyStopping?: EarlyStopping };

/**
 * Text in, text out for a decoder-only model: plain continuation, chat through the tokenizer's
 * template, and the prompt-built tasks (summarization, translation, question answering,
 * zero-/few-shot). Generation stops at the tokenizer's end-of-generation tokens.
 */
export class TextGenerationPipeline {
  constructor(
    readonly model: CausalLM,
    readonly tokenizer: Tokenizer,
  ) {}

  private options(o: TextGenerationOptions): GenerateOptions {
    return { ...o, tokenizer: this.tokenizer, stopTokens: [...(o.stopTokens ?? []), ...this.tokenizer.endOfGenerationIds], padTokenId: o.padTokenId ?? this.tokenizer.special.pad ?? 0 };
  }

  encode(prompt: string): number[] {
    const ids = this.tokenizer.encode(prompt, { addSpecialTokens: true });
    if (ids.length === 0) throw new StrataError('argument', 'generate', 'the prompt encodes to no tokens');
    return ids;
  }

  /** Continues `prompt` (or the prompt's token ids). */
  generate(prompt: string | readonly number[], options: TextGenerationOptions = {}): GenerationResult {
    const ids = typeof prompt === 'string' ? this.encode(prompt) : prompt;
    if (options.numBeams && options.numBeams > 1) {
      const [best] = this.beams(ids, options);
      return {
        tokens: best!.tokens,
        text: best!.text,
        finishReason: best!.finishReason,
        timings: { promptTokens: ids.length, generatedTokens: best!.tokens.length, prefillMs: 0, decodeMs: 0, prefillTokensPerSecond: 0, decodeTokensPerSecond: 0 },
      };
    }
    return generate(this.model, ids, this.options(options));
  }

  beams(ids: readonly number[], options: TextGenerationOptions): BeamHypothesis[] {
    return beamSearch(this.model, ids, {
      numBeams: options.numBeams ?? 4,
      maxTokens: options.maxTokens,
      lengthPenalty: options.lengthPenalty,
      earlyStopping: options.earlyStopping,
      stopTokens: [...(options.stopTokens ?? []), ...this.tokenizer.endOfGenerationIds],
      tokenizer: this.tokenizer,
    });
  }

  /** Several prompts decoded together as one batch. */
  generateBatch(prompts: readonly string[], options: TextGenerationOptions = {}): GenerationResult[] {
    return generateBatch(
      this.model,
      prompts.map((p) => this.encode(p)),
      this.options(options),
    );
  }

  /** Text deltas as they are generated. */
  async *stream(prompt: string | readonly number[], options: TextGenerationOptions = {}): AsyncGenerator<string, GenerationResult> {
    const ids = typeof prompt === 'string' ? this.encode(prompt) : prompt;
    const it = streamGenerate(this.model, ids, this.options(options));
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
      if (r.value.delta) yield r.value.delta;
    }
  }

  /** A step-by-step decoding handle (used by servers that interleave several requests). */
  start(prompt: string | readonly number[], options: TextGenerationOptions = {}): Decoding {
    const ids = typeof prompt === 'string' ? this.encode(prompt) : prompt;
    return new Decoding(this.model, [ids], this.options(options));
  }

  /** The prompt ids for a conversation, through the tokenizer's chat template. */
  chatPromptIds(messages: readonly ChatMessage[]): number[] {
    const text = this.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    // templates write BOS themselves
    return this.tokenizer.encode(text, { addSpecialTokens: false });
  }

  /** The assistant's reply to a conversation. */
  chat(messages: readonly ChatMessage[], options: TextGenerationOptions = {}): GenerationResult {
    return this.generate(this.chatPromptIds(messages), options);
  }

  /** The prompt ids of an instruction: through the chat template when the model has one, else the plain prompt. */
  instructionPromptIds(prompt: string): number[] {
    return this.tokenizer.chatTemplate ? this.chatPromptIds([{ role: 'user', content: prompt }]) : this.encode(prompt);
  }

  /** Runs an instruction (greedy unless options say otherwise); the reply without surrounding whitespace. */
  private instruct(prompt: string, options: TextGenerationOptions): string {
    return (this.generate(this.instructionPromptIds(prompt), { temperature: 0, ...options }).text ?? '').trim();
  }

  summarize(text: string, options: TextGenerationOptions & { maxWords?: number } = {}): string {
    return this.instruct(summarizationPrompt(text, options), options);
  }

  translate(text: string, from: string, to: string, options: TextGenerationOptions = {}): string {
    return this.instruct(translationPrompt(text, from, to), options);
  }

  answer(question: string, context?: string, options: TextGenerationOptions = {}): string {
    return this.instruct(questionAnsweringPrompt(question, context), options);
  }

  zeroShot(instruction: string, input: string, options: TextGenerationOptions = {}): string {
    return this.instruct(zeroShotPrompt(instruction, input), options);
  }

  fewShot(instruction: string, shots: readonly Shot[], input: string, options: TextGenerationOptions = {}): string {
    // a few-shot prompt is a pattern to continue: plain text, cut at the end of the line
    const out = this.generate(fewShotPrompt(instruction, shots, input), { temperature: 0, stop: ['\n'], ...options }).text ?? '';
    return out.trim();
  }

  /**
   * Log-likelihood of each candidate continuation after `prompt` (sum over its tokens): zero-shot
   * classification with a decoder picks the label with the highest score.
   */
  scoreContinuations(prompt: string, candidates: readonly string[]): number[] {
    const promptIds = this.encode(prompt);
    return candidates.map((c) => {
      const full = this.tokenizer.encode(prompt + c, { addSpecialTokens: true });
      // the candidate's tokens are those past the shared prefix with the prompt's encoding
      let shared = 0;
      while (shared < promptIds.length && shared < full.length && promptIds[shared] === full[shared]) shared++;
      if (shared === full.length) return 0;
      const logits = noGrad(() => this.model.forward(fromArray(Int32Array.from(full), [1, full.length], { dtype: 'i32' }))).toFloat32Array();
      const v = this.model.vocabSize;
      let total = 0;
      for (let i = Math.max(shared, 1); i < full.length; i++) total += logSoftmaxRow(logits.subarray((i - 1) * v, i * v))[full[i]!]!;
      return total;
    });
  }

  /** Picks the most likely label for `text` by scoring " label" after a classification prompt. */
  classifyZeroShot(text: string, labels: readonly string[]): { labels: string[]; scores: number[] } {
    const prompt = zeroShotPrompt(`Classify the text as one of: ${labels.join(', ')}.`, text, { inputLabel: 'Text', outputLabel: 'Label' });
    const ll = this.scoreContinuations(prompt, labels.map((l) => ` ${l}`));
    const m = Math.max(...ll);
    const p = ll.map((x) => Math.exp(x - m));
    const z = p.reduce((a, b) => a + b, 0);
    const order = labels.map((_, i) => i).sort((a, b) => ll[b]! - ll[a]!);
    return { labels: order.map((i) => labels[i]!), scores: order.map((i) => p[i]! / z) };
  }
}
