import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { StrataError } from '../../errors.js';
import { setThreads } from '../../backend/threads.js';
import type { CausalLM } from '../../models/types.js';
import { generate, type GenerateOptions, type GenerationResult } from '../../generation/generate.js';
import { beamSearch } from '../../generation/beam.js';
import type { EarlyStopping } from '../../generation/beam-scorer.js';
import { streamGenerate } from '../../generation/generate.js';
import { loadForInference, type InferenceModel } from '../../pipelines/load.js';
import type { ChatMessage } from '../../tokenizers/tokenizer.js';
import type { CliIO } from '../io.js';
import { keepYoungGenerationSmall, withoutOptimizingCompiler, youngCollector } from '../memory.js';
import { addSamplingFlags, collect, numberIn, positiveInt, type SamplingFlags } from '../options.js';

export type { SamplingFlags };

export interface GenerateFlags extends SamplingFlags {
  prompt?: string;
  promptIds?: number[];
  numBeams?: number;
  lengthPenalty?: number;
  earlyStopping?: EarlyStopping;
  lowMemory?: boolean;
}

function idList(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new InvalidArgumentError('Expected comma-separated token ids, e.g. 1,2,3.');
  return parts.map(Number);
}

export function samplingOptions(m: InferenceModel, f: SamplingFlags): GenerateOptions {
  const d = m.generationDefaults;
  return {
    maxTokens: f.maxTokens ?? d.maxTokens ?? 128,
    temperature: f.temperature ?? d.temperature ?? 0.8,
    topP: f.topP ?? d.topP,
    topK: f.topK ?? d.topK,
    minP: f.minP,
    repetitionPenalty: f.repetitionPenalty,
    presencePenalty: f.presencePenalty,
    frequencyPenalty: f.frequencyPenalty,
    seed: f.seed,
    stop: f.stop,
    tokenizer: m.tokenizer ?? undefined,
    stopTokens: m.tokenizer?.endOfGenerationIds ?? [],
    padTokenId: m.tokenizer?.special.pad,
  };
}

export function requireDecoder(m: InferenceModel): CausalLM {
  if (m.model.kind !== 'decoder-only') throw new StrataError('unsupported', 'generate', `${m.architecture} is not a decoder-only language model`);
  return m.model;
}

function clampToContext(model: CausalLM, promptLength: number, o: GenerateOptions): GenerateOptions {
  const room = model.maxPositions - promptLength;
  if (room <= 0) throw new StrataError('argument', 'generate', `the prompt (${promptLength} tokens) fills the model's context of ${model.maxPositions}`);
  return { ...o, maxTokens: Math.min(o.maxTokens ?? 128, room) };
}

export function jsonLine(r: GenerationResult, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({
    tokens: r.tokens,
    text: r.text ?? '',
    finish_reason: r.finishReason,
    timings: {
      prompt_tokens: r.timings.promptTokens,
      generated_tokens: r.timings.generatedTokens,
      prefill_tokens_per_s: r.timings.prefillTokensPerSecond,
      decode_tokens_per_s: r.timings.decodeTokensPerSecond,
    },
    ...extra,
  })}\n`;
}

async function runGenerate(f: GenerateFlags, io: CliIO): Promise<void> {
  if ((f.prompt === undefined) === (f.promptIds === undefined)) throw new StrataError('argument', 'generate', 'give exactly one of --prompt and --prompt-ids');
  keepYoungGenerationSmall();
  // the strata command sets it before its code runs (early.ts); an in-process run (a test, a library
  // caller) turns it off for its whole process, so only when asked
  if (f.lowMemory === true) withoutOptimizingCompiler();
  if (f.threads) setThreads(f.threads);
  const m = await loadForInference(f.model);
  const model = requireDecoder(m);
  let ids: number[];
  if (f.promptIds) ids = f.promptIds;
  else {
    if (!m.tokenizer) throw new StrataError('argument', 'generate', `${f.model} has no tokenizer: use --prompt-ids`);
    ids = m.tokenizer.encode(f.prompt!, { addSpecialTokens: true });
  }
  const o: GenerateOptions = { ...clampToContext(model, ids.length, samplingOptions(m, f)), collect: youngCollector() ?? undefined };
  if (f.numBeams && f.numBeams > 1) {
    const [best] = beamSearch(model, ids, { numBeams: f.numBeams, maxTokens: o.maxTokens, lengthPenalty: f.lengthPenalty, earlyStopping: f.earlyStopping, stopTokens: o.stopTokens, tokenizer: o.tokenizer });
    const r: GenerationResult = {
      tokens: best!.tokens,
      text: best!.text,
      finishReason: best!.finishReason,
      timings: { promptTokens: ids.length, generatedTokens: best!.tokens.length, prefillMs: 0, decodeMs: 0, prefillTokensPerSecond: 0, decodeTokensPerSecond: 0 },
    };
    io.out(f.json ? jsonLine(r, { score: best!.score }) : `${r.text ?? r.tokens.join(' ')}\n`);
    return;
  }
  if (f.json) {
    io.out(jsonLine(generate(model, ids, o)));
    return;
  }
  // stream text as it comes; without a tokenizer print the ids
  const it = streamGenerate(model, ids, o);
  for (;;) {
    const step = await it.next();
    if (step.done) {
      const t = step.value.timings;
      io.out('\n');
      io.err(`[${t.promptTokens} prompt tokens at ${t.prefillTokensPerSecond.toFixed(1)} tok/s, ${t.generatedTokens} generated at ${t.decodeTokensPerSecond.toFixed(1)} tok/s; ${step.value.finishReason}]\n`);
      return;
    }
    io.out(m.tokenizer ? step.value.delta : `${step.value.token} `);
  }
}

interface ChatFlags extends SamplingFlags {
  system?: string;
  prompt?: string;
  image?: string[];
}

async function runChat(f: ChatFlags, io: CliIO): Promise<void> {
  keepYoungGenerationSmall();
  if (f.threads) setThreads(f.threads);
  const m = await loadForInference(f.model);
  // a vision-language model chats through its own template and processor, with or without images
  if (f.image?.length || m.modelType === 'llava') {
    const { runVisualChat } = await import('./visual-chat.js');
    return runVisualChat(m, { ...f, image: f.image ?? [] }, io);
  }
  const model = requireDecoder(m);
  const tok = m.tokenizer;
  if (!tok) throw new StrataError('argument', 'chat', `${f.model} has no tokenizer`);
  const messages: ChatMessage[] = f.system ? [{ role: 'system', content: f.system }] : [];
  // --prompt: that one message, then exit; otherwise one message per input line
  const rl = f.prompt === undefined ? createInterface({ input: process.stdin, terminal: process.stdin.isTTY }) : null;
  const interactive = rl !== null && process.stdin.isTTY;
  if (interactive) io.err(`chatting with ${m.architecture} (${m.path}); an empty line or Ctrl-D ends\n> `);
  for await (const line of rl ?? [f.prompt!]) {
    if (!line.trim()) {
      if (interactive) break;
      continue;
    }
    messages.push({ role: 'user', content: line });
    const text = tok.chatTemplate ? tok.applyChatTemplate(messages, { addGenerationPrompt: true }) : `${messages.map((x) => `${x.role}: ${x.content}`).join('\n')}\nassistant:`;
    const ids = tok.encode(text, { addSpecialTokens: !tok.chatTemplate });
    const o = clampToContext(model, ids.length, samplingOptions(m, f));
    let reply = '';
    const it = streamGenerate(model, ids, o);
    for (;;) {
      const step = await it.next();
      if (step.done) {
        reply = step.value.text ?? reply;
        if (f.json) io.out(jsonLine(step.value, { role: 'assistant' }));
        break;
      }
      if (!f.json) io.out(step.value.delta);
    }
    if (!f.json) io.out(interactive ? '\n> ' : '\n');
    messages.push({ role: 'assistant', content: reply });
  }
  rl?.close();
}

function earlyStoppingFlag(v: string): EarlyStopping {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v === 'never') return 'never';
  throw new InvalidArgumentError('must be true, false or never.');
}

export function registerGenerate(program: Command, io: CliIO): void {
  addSamplingFlags(program.command('generate').description('continue a prompt with a language model (streams text; --json prints one line)'))
    .option('--prompt <TEXT>', 'the prompt text')
    .option('--prompt-ids <IDS>', 'the prompt as comma-separated token ids', idList)
    .option('--num-beams <N>', 'beam search with N beams', positiveInt(64))
    .option('--length-penalty <X>', 'beam score = logprob / length^X', numberIn('length-penalty', -10, 10))
    .option('--early-stopping <WHEN>', "beam search ends: false (default: when no running beam can beat the finished ones), true (once N are finished) or never (at the token budget), as transformers' early_stopping", earlyStoppingFlag)
    .option('--low-memory', "run without V8's optimizing compiler (the default, except with --num-beams): ≈ 7.5 MB less peak memory; small models decode up to 10% slower on 1 thread")
    .option('--no-low-memory', "keep V8's optimizing compiler: ≈ 7.5 MB more peak memory; small models decode up to 10% faster on 1 thread")
    .action((opts: GenerateFlags) => runGenerate(opts, io));
  addSamplingFlags(program.command('chat').description('chat with a language model through its chat template (one user message per input line)'))
    .option('--system <TEXT>', 'a system message')
    .option('--prompt <TEXT>', 'answer this one user message and exit (otherwise one message per input line)')
    .option('--image <PATH>', 'an image for a vision-language model (LLaVA), sent with the first message (repeatable)', collect)
    .action((opts: ChatFlags) => runChat(opts, io));
}
