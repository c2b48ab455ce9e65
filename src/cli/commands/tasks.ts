// The task commands over the library pipelines: summarize, translate, classify, answer, complete.
// Each reads its text from an argument, --file or stdin, and prints what the pipeline returns:
// text (streamed as it is generated) or one JSON line with --json.
import { readFileSync, statSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { StrataError } from '../../errors.js';
import { setThreads } from '../../backend/threads.js';
import { BertForQuestionAnswering } from '../../models/bert.js';
import type { LabelFields } from '../../models/heads.js';
import type { GenerationResult } from '../../generation/generate.js';
import { loadForInference, type InferenceModel } from '../../pipelines/load.js';
import { TextGenerationPipeline, type TextGenerationOptions } from '../../pipelines/text-generation.js';
import { codeCompletionRequest } from '../../pipelines/code-completion.js';
import { answerExtractive } from '../../pipelines/encoder.js';
import { classifyWithHead, sequenceClassifier } from '../../pipelines/text-classification.js';
import { questionAnsweringPrompt, summarizationPrompt, translationPrompt } from '../../pipelines/prompts.js';
import type { CliIO } from '../io.js';
import { keepYoungGenerationSmall } from '../memory.js';
import { addSamplingFlags, positiveInt, type SamplingFlags } from '../options.js';

/** Where a command's text comes from: the argument, --file, or stdin. */
interface InputFlags {
  file?: string;
}

/** Larger inputs are refused rather than read whole into memory. */
const MAX_INPUT_BYTES = 64 * 1024 * 1024;

async function readStdin(op: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_INPUT_BYTES) throw new StrataError('argument', op, `stdin holds more than ${MAX_INPUT_BYTES / 1024 / 1024} MB`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The command's text: the argument, the --file's contents, or stdin when it is not a terminal
 * (an empty stdin counts as none). Undefined when none was given and `required` is false.
 */
async function readText(op: string, arg: string | undefined, f: InputFlags, required: boolean): Promise<string | undefined> {
  if (arg !== undefined && f.file !== undefined) throw new StrataError('argument', op, 'give the text as an argument or with --file, not both');
  if (f.file !== undefined) {
    let size: number;
    try {
      size = statSync(f.file).size;
    } catch {
      throw new StrataError('io', f.file, 'no such file');
    }
    if (size > MAX_INPUT_BYTES) throw new StrataError('argument', f.file, `is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MB`);
    return readFileSync(f.file, 'utf8');
  }
  if (arg !== undefined) return arg;
  const piped = process.stdin.isTTY ? '' : await readStdin(op);
  if (piped !== '') return piped;
  if (required) throw new StrataError('argument', op, 'no text: give it as an argument, with --file PATH, or on stdin');
  return undefined;
}

/** Loads the model, applying --threads first so loading already uses them. */
async function load(f: { model: string; threads?: number }): Promise<InferenceModel> {
  keepYoungGenerationSmall();
  if (f.threads) setThreads(f.threads);
  return loadForInference(f.model);
}

function decoderPipeline(m: InferenceModel, op: string): TextGenerationPipeline {
  if (m.model.kind !== 'decoder-only') throw new StrataError('unsupported', op, `${m.architecture} is not a decoder-only language model`);
  if (!m.tokenizer) throw new StrataError('argument', op, `${m.path} has no tokenizer`);
  return new TextGenerationPipeline(m.model, m.tokenizer);
}

/**
 * Generation options from the flags. Tasks decode greedily, as the library pipelines do, unless
 * --temperature asks for sampling; then the checkpoint's top-p/top-k defaults apply.
 */
function taskOptions(m: InferenceModel, pipe: TextGenerationPipeline, f: SamplingFlags, promptLength: number, op: string): TextGenerationOptions {
  const d = m.generationDefaults;
  const sampling = f.temperature !== undefined && f.temperature > 0;
  const context = pipe.model.maxPositions;
  const room = context - promptLength;
  if (room <= 0) throw new StrataError('argument', op, `the prompt (${promptLength} tokens) fills the model's context of ${context}`);
  const o: TextGenerationOptions = {
    maxTokens: Math.min(f.maxTokens ?? d.maxTokens ?? 128, room),
    temperature: f.temperature ?? 0,
    topP: f.topP ?? (sampling ? d.topP : undefined),
    topK: f.topK ?? (sampling ? d.topK : undefined),
    minP: f.minP,
    repetitionPenalty: f.repetitionPenalty,
    presencePenalty: f.presencePenalty,
    frequencyPenalty: f.frequencyPenalty,
    seed: f.seed,
    stop: f.stop,
  };
  // an absent flag must not override a pipeline default with undefined
  for (const k of Object.keys(o) as (keyof TextGenerationOptions)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function timingsJson(r: GenerationResult): Record<string, number> {
  return {
    prompt_tokens: r.timings.promptTokens,
    generated_tokens: r.timings.generatedTokens,
    prefill_tokens_per_s: r.timings.prefillTokensPerSecond,
    decode_tokens_per_s: r.timings.decodeTokensPerSecond,
  };
}

/**
 * Writes streamed deltas without the leading and trailing whitespace, so the streamed text equals
 * the trimmed reply the pipelines return: whitespace is held back until text follows it.
 */
class TrimmedWriter {
  private started = false;
  private held = '';

  constructor(private readonly io: CliIO) {}

  write(delta: string): void {
    let text = this.held + delta;
    if (!this.started) text = text.trimStart();
    const body = text.trimEnd();
    this.held = text.slice(body.length);
    if (body) {
      this.io.out(body);
      this.started = true;
    }
  }
}

/** Streams a generation to stdout (trimmed or raw) and reports its speed on stderr. */
async function streamOut(pipe: TextGenerationPipeline, ids: number[], o: TextGenerationOptions, io: CliIO, trim: boolean): Promise<void> {
  const trimmed = new TrimmedWriter(io);
  const it = pipe.stream(ids, o);
  for (;;) {
    const step = await it.next();
    if (step.done) {
      const t = step.value.timings;
      io.out('\n');
      io.err(`[${t.promptTokens} prompt tokens at ${t.prefillTokensPerSecond.toFixed(1)} tok/s, ${t.generatedTokens} generated at ${t.decodeTokensPerSecond.toFixed(1)} tok/s; ${step.value.finishReason}]\n`);
      return;
    }
    if (trim) trimmed.write(step.value);
    else io.out(step.value);
  }
}

/**
 * Runs an instruction prompt the way TextGenerationPipeline's task methods do (the chat template
 * when the model has one; greedy by default; the reply trimmed), streaming unless --json.
 */
async function runInstruction(op: string, m: InferenceModel, pipe: TextGenerationPipeline, prompt: string, f: SamplingFlags, io: CliIO, jsonKey = 'text'): Promise<void> {
  const ids = pipe.instructionPromptIds(prompt);
  const o = taskOptions(m, pipe, f, ids.length, op);
  if (!f.json) return streamOut(pipe, ids, o, io, true);
  const r = pipe.generate(ids, o);
  io.out(`${JSON.stringify({ [jsonKey]: (r.text ?? '').trim(), tokens: r.tokens, finish_reason: r.finishReason, timings: timingsJson(r) })}\n`);
}

interface SummarizeFlags extends SamplingFlags, InputFlags {
  maxWords?: number;
}

interface TranslateFlags extends SamplingFlags, InputFlags {
  to: string;
  from?: string;
}

interface ClassifyFlags extends InputFlags {
  model: string;
  labels?: string[];
  threads?: number;
  json: boolean;
}

interface AnswerFlags extends SamplingFlags, InputFlags {
  question: string;
  context?: string;
  maxAnswerTokens?: number;
}

interface CompleteFlags extends SamplingFlags, InputFlags {
  suffix?: string;
  suffixFile?: string;
}

function labelList(v: string): string[] {
  const labels = v.split(',').map((s) => s.trim());
  if (labels.length < 2 || labels.some((l) => l === '')) throw new InvalidArgumentError('Expected two or more non-empty comma-separated labels.');
  if (new Set(labels).size !== labels.length) throw new InvalidArgumentError('Expected each label once.');
  return labels;
}

async function runClassify(arg: string | undefined, f: ClassifyFlags, io: CliIO): Promise<void> {
  const text = (await readText('classify', arg, f, true))!;
  const m = await load(f);
  const head = sequenceClassifier(m.model);
  let result: { label: string; score: number }[];
  let method: 'head' | 'zero-shot';
  if (head) {
    if (!m.tokenizer) throw new StrataError('argument', 'classify', `${m.path} has no tokenizer`);
    const labels = (m.info['config'] ?? {}) as LabelFields;
    if (f.labels) {
      const own = labels.id2label ? Object.values(labels.id2label).join(', ') : `${labels.num_labels} unnamed labels`;
      throw new StrataError('argument', 'classify', `${m.architecture} classifies with its own head (${own}); drop --labels`);
    }
    result = classifyWithHead(head, m.tokenizer, text, labels);
    method = 'head';
  } else if (m.model.kind === 'decoder-only') {
    if (!f.labels) throw new StrataError('argument', 'classify', `${m.architecture} has no classification head: give the candidate labels with --labels a,b,c (zero-shot)`);
    const r = decoderPipeline(m, 'classify').classifyZeroShot(text, f.labels);
    result = r.labels.map((label, i) => ({ label, score: r.scores[i]! }));
    method = 'zero-shot';
  } else throw new StrataError('unsupported', 'classify', `${m.architecture} is neither a sequence classifier nor a decoder-only language model`);
  if (f.json) io.out(`${JSON.stringify({ method, labels: result })}\n`);
  else for (const r of result) io.out(`${r.score.toFixed(4)}\t${r.label}\n`);
}

async function runAnswer(arg: string | undefined, f: AnswerFlags, io: CliIO): Promise<void> {
  if (f.context !== undefined && (arg !== undefined || f.file !== undefined)) throw new StrataError('argument', 'answer', 'give the context once: --context, an argument or --file');
  const context = f.context ?? (await readText('answer', arg, f, false));
  if (!f.question.trim()) throw new StrataError('argument', 'answer', '--question is empty');
  const m = await load(f);
  if (m.model instanceof BertForQuestionAnswering) {
    if (!m.tokenizer) throw new StrataError('argument', 'answer', `${m.path} has no tokenizer`);
    if (!context?.trim()) throw new StrataError('argument', 'answer', `${m.architecture} answers by extracting a span: give the context (--context, an argument, --file or stdin)`);
    const a = answerExtractive(m.model, m.tokenizer, f.question, context, { maxAnswerTokens: f.maxAnswerTokens });
    io.out(f.json ? `${JSON.stringify({ method: 'extractive', ...a })}\n` : `${a.answer}\n`);
    return;
  }
  const pipe = decoderPipeline(m, 'answer');
  return runInstruction('answer', m, pipe, questionAnsweringPrompt(f.question, context), f, io, 'answer');
}

async function runComplete(arg: string | undefined, f: CompleteFlags, io: CliIO): Promise<void> {
  if (f.suffix !== undefined && f.suffixFile !== undefined) throw new StrataError('argument', 'complete', 'give the suffix with --suffix or --suffix-file, not both');
  const prefix = (await readText('complete', arg, f, true))!;
  const suffix = f.suffixFile !== undefined ? ((await readText('complete', undefined, { file: f.suffixFile }, true)) ?? '') : (f.suffix ?? '');
  const m = await load(f);
  const pipe = decoderPipeline(m, 'complete');
  const probe = codeCompletionRequest(pipe, prefix, suffix);
  if (suffix && !probe.fim) io.err(`strata: ${m.path} has no fill-in-the-middle tokens: continuing the prefix, the suffix is not used\n`);
  const r = codeCompletionRequest(pipe, prefix, suffix, taskOptions(m, pipe, f, probe.ids.length, 'complete'));
  if (!f.json) return streamOut(pipe, r.ids, r.options, io, false);
  const g = pipe.generate(r.ids, r.options);
  io.out(`${JSON.stringify({ text: g.text ?? '', tokens: g.tokens, fim: r.fim, finish_reason: g.finishReason, timings: timingsJson(g) })}\n`);
}

function withInput(cmd: Command, what: string): Command {
  return cmd.argument('[TEXT]', `${what} (or --file, or stdin)`).option('--file <PATH>', `read ${what} from a file`);
}

export function registerTasks(program: Command, io: CliIO): void {
  withInput(addSamplingFlags(program.command('summarize').description('summarize a text with a language model (streams text; --json prints one line)')), 'the text')
    .option('--max-words <N>', 'ask for a summary of at most N words', positiveInt(100000))
    .action(async (arg: string | undefined, f: SummarizeFlags) => {
      const text = (await readText('summarize', arg, f, true))!;
      const m = await load(f);
      await runInstruction('summarize', m, decoderPipeline(m, 'summarize'), summarizationPrompt(text, { maxWords: f.maxWords }), f, io);
    });

  withInput(addSamplingFlags(program.command('translate').description('translate a text with a language model (streams text; --json prints one line)')), 'the text')
    .requiredOption('--to <LANG>', 'the language to translate into, e.g. French')
    .option('--from <LANG>', 'the language of the text (default: left to the model)')
    .action(async (arg: string | undefined, f: TranslateFlags) => {
      const text = (await readText('translate', arg, f, true))!;
      const prompt = translationPrompt(text, f.from ?? '', f.to);
      const m = await load(f);
      await runInstruction('translate', m, decoderPipeline(m, 'translate'), prompt, f, io);
    });

  withInput(program.command('classify').description("label a text: a classifier's own head, or zero-shot with a language model scoring each --labels candidate"), 'the text')
    .requiredOption('--model <PATH>', 'a Hugging Face model directory or a .gguf file')
    .option('--labels <A,B,...>', 'candidate labels for zero-shot classification with a decoder', labelList)
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line', false)
    .action((arg: string | undefined, f: ClassifyFlags) => runClassify(arg, f, io));

  withInput(addSamplingFlags(program.command('answer').description('answer a question: extractive with a BERT question-answering head, generative with a language model')), 'the context')
    .requiredOption('--question <TEXT>', 'the question')
    .option('--context <TEXT>', 'the passage holding the answer (or give it as an argument, --file or stdin)')
    .option('--max-answer-tokens <N>', 'longest extracted span, in tokens (extractive; default 30)', positiveInt(4096))
    .action((arg: string | undefined, f: AnswerFlags) => runAnswer(arg, f, io));

  withInput(addSamplingFlags(program.command('complete').description('complete code: fill in the middle with --suffix when the model has FIM tokens, else continue the prefix')), 'the code before the cursor')
    .option('--suffix <TEXT>', 'the code after the cursor')
    .option('--suffix-file <PATH>', 'read the code after the cursor from a file')
    .action((arg: string | undefined, f: CompleteFlags) => runComplete(arg, f, io));
}
