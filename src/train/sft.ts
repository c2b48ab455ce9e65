// Supervised instruction tuning data: conversations read from JSONL, rendered with the model's own
// chat template, tokenized, and labelled so that the loss falls on the assistant's answers only.
//
// Letters: B batch, T time.

import fs from 'node:fs';
import { StrataError } from '../errors.js';
import type { ChatMessage, ChatTemplateOptions, Tokenizer } from '../tokenizers/tokenizer.js';
import type { Tensor } from '../tensor/tensor.js';
import { fromArray } from '../tensor/ops/creation.js';
import { readJsonLines } from './sources.js';

/** The label of a position the loss skips (PyTorch's and crossEntropy's ignore_index). */
export const IGNORE_INDEX = -100;

export interface SftExample {
  ids: number[];
  labels: number[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const SHAPES = '{"messages": [{"role", "content"}, ...]}, {"prompt", "completion"} or {"instruction", "input", "output"}';

/** One JSONL record as a conversation; `where` (file:line) names it in errors. */
function toMessages(value: unknown, where: string): ChatMessage[] {
  if (!isRecord(value)) throw new StrataError('io', where, `expected an object: ${SHAPES}`);
  if (value.messages !== undefined) {
    if (!Array.isArray(value.messages) || value.messages.length === 0) throw new StrataError('io', where, "'messages' must be a non-empty array");
    return value.messages.map((m: unknown, i: number) => {
      if (!isRecord(m) || typeof m.role !== 'string') throw new StrataError('io', where, `message ${i} must be an object with a string 'role'`);
      // a tool-calling assistant turn may have null content
      const content = m.content ?? '';
      if (typeof content !== 'string') throw new StrataError('io', where, `message ${i}: 'content' must be a string (multi-part content is not supported)`);
      return { ...m, role: m.role, content };
    });
  }
  const str = (key: string): string | undefined => {
    const v = value[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new StrataError('io', where, `'${key}' must be a string`);
    return v;
  };
  const system = str('system');
  const head: ChatMessage[] = system === undefined ? [] : [{ role: 'system', content: system }];
  const prompt = str('prompt');
  const completion = str('completion');
  if (prompt !== undefined && completion !== undefined) {
    return [...head, { role: 'user', content: prompt }, { role: 'assistant', content: completion }];
  }
  const instruction = str('instruction');
  const output = str('output');
  if (instruction !== undefined && output !== undefined) {
    const input = str('input');
    return [...head, { role: 'user', content: input ? `${instruction}\n\n${input}` : instruction }, { role: 'assistant', content: output }];
  }
  throw new StrataError('io', where, `expected ${SHAPES}; the record has: ${Object.keys(value).slice(0, 10).join(', ') || 'no keys'}`);
}

/**
 * Reads chat JSONL (each line {"messages":[{role,content},...]}, or {"prompt","completion"} /
 * {"instruction","input","output"}, with an optional "system", converted to messages); streamed
 * line by line, a bad line is a StrataError naming file:line.
 */
export function readChatExamples(file: string): Generator<ChatMessage[]> {
  try {
    if (!fs.statSync(file).isFile()) throw new StrataError('io', file, 'is not a file');
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError('io', file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot read (${(err as Error).message})`);
  }
  return chatExamples(file);
}

function* chatExamples(file: string): Generator<ChatMessage[]> {
  for (const { value, where } of readJsonLines(file)) yield toMessages(value, where);
}

/** The pad id collateSft should use: the tokenizer's pad, else its EOS, else 0. */
export function padTokenId(tokenizer: Tokenizer): number {
  return tokenizer.special.pad ?? tokenizer.special.eos ?? 0;
}

/** Character spans [start, end) of the assistant answers in the full rendering. */
function answerSpans(tokenizer: Tokenizer, messages: readonly ChatMessage[], template: ChatTemplateOptions, full: string): [number, number][] {
  const op = 'buildSftExample';
  const render = (upTo: number, addGenerationPrompt: boolean): string =>
    tokenizer.applyChatTemplate(messages.slice(0, upTo), { ...template, addGenerationPrompt });
  const endMarkers = [...new Set([...tokenizer.endOfGenerationIds, tokenizer.special.eot, tokenizer.special.eos])]
    .filter((id): id is number => id !== undefined)
    .map((id) => tokenizer.idToToken(id));
  const spans: [number, number][] = [];
  let previousEnd = 0;
  messages.forEach((m, k) => {
    if (m.role !== 'assistant') return;
    const prompt = render(k, true);
    if (!full.startsWith(prompt) || prompt.length < previousEnd) {
      throw new StrataError(
        'unsupported',
        op,
        `the chat template renders the conversation before assistant message ${k} (with the generation prompt) differently from the start of the whole conversation, so the answer cannot be located; the template must render earlier turns the same whatever follows them`,
      );
    }
    const withTurn = render(k + 1, false);
    let end: number;
    if (full.startsWith(withTurn) && withTurn.length >= prompt.length) {
      end = withTurn.length;
    } else {
      // Some templates render the last assistant turn differently from earlier ones (Qwen3 adds
      // an empty think block to the last): the answer then runs to its end-of-turn marker.
      const found = endMarkers.map((marker) => [full.indexOf(marker, prompt.length), marker.length] as const).filter(([i]) => i >= 0);
      if (found.length === 0) {
        throw new StrataError(
          'unsupported',
          op,
          `the chat template renders assistant message ${k} differently when later messages follow it, and no end-of-turn marker (${endMarkers.join(', ') || 'none known'}) ends it, so the answer cannot be located`,
        );
      }
      const [i, length] = found.reduce((a, b) => (b[0] < a[0] ? b : a));
      end = i + length;
    }
    spans.push([prompt.length, end]);
    previousEnd = end;
  });
  return spans;
}

/**
 * Token ids of a rendered conversation and labels with -100 everywhere except the assistant
 * answers (through their end-of-turn token; what the template puts after it, such as a newline,
 * is not trained), built with tokenizer.applyChatTemplate; truncated to maxLength. The answer of
 * assistant turn k is what the template adds after the prompt of the first k messages rendered
 * with the generation prompt. The text is tokenized in pieces cut at the answers' edges, so the
 * prompt's tokens are exactly those a model sees at inference. `template` passes options such as
 * tools or `extra: { enable_thinking: false }` to every rendering.
 */
export function buildSftExample(
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  options: { maxLength: number; template?: Omit<ChatTemplateOptions, 'addGenerationPrompt'> },
): SftExample {
  const op = 'buildSftExample';
  const { maxLength } = options;
  if (!Number.isSafeInteger(maxLength) || maxLength < 2) throw new StrataError('argument', op, `maxLength must be an integer >= 2, got ${maxLength}`);
  if (!Array.isArray(messages) || messages.length === 0) throw new StrataError('argument', op, 'messages must be a non-empty array of {role, content}');
  for (const [i, m] of messages.entries()) {
    if (!isRecord(m) || typeof m.role !== 'string' || typeof m.content !== 'string') {
      throw new StrataError('argument', op, `message ${i} must be an object with string 'role' and 'content'`);
    }
  }
  if (!messages.some((m) => m.role === 'assistant')) throw new StrataError('argument', op, 'the conversation has no assistant message to learn from');
  // one clock for every rendering, so a template that prints the date renders it the same each time
  const template: ChatTemplateOptions = { ...options.template, now: options.template?.now ?? new Date() };
  const full = tokenizer.applyChatTemplate(messages, { ...template, addGenerationPrompt: false });
  const spans = answerSpans(tokenizer, messages, template, full);

  const endIds = new Set([...tokenizer.endOfGenerationIds, tokenizer.special.eot, tokenizer.special.eos].filter((id) => id !== undefined));
  const ids: number[] = [];
  const labels: number[] = [];
  const add = (text: string, answer: boolean): void => {
    if (text === '') return;
    const piece = tokenizer.encode(text, { addSpecialTokens: false });
    let last = piece.length;
    if (answer) {
      // train through the last end-of-turn token, not the template's text after it
      let end = piece.length - 1;
      while (end >= 0 && !endIds.has(piece[end]!)) end--;
      if (end >= 0) last = end + 1;
    }
    piece.forEach((id, i) => {
      ids.push(id);
      labels.push(answer && i < last ? id : IGNORE_INDEX);
    });
  };
  let at = 0;
  for (const [start, end] of spans) {
    add(full.slice(at, start), false);
    add(full.slice(start, end), true);
    at = end;
  }
  add(full.slice(at), false);
  if (ids.length > maxLength) {
    ids.length = maxLength;
    labels.length = maxLength;
  }
  return { ids, labels };
}

/**
 * Right-pads a list of examples into (B, T) i32 tensors with the next-token shift applied:
 * inputs[b, t] = ids[t], targets[b, t] = labels[t + 1] (-100 on padding), attentionMask[b, t] = 1
 * on real tokens and 0 on padding (filled with padId; see padTokenId). T is the longest example's
 * length - 1.
 */
export function collateSft(examples: readonly SftExample[], padId: number): { inputs: Tensor; targets: Tensor; attentionMask: Tensor } {
  const op = 'collateSft';
  if (!Array.isArray(examples) || examples.length === 0) throw new StrataError('argument', op, 'examples must be a non-empty array');
  if (!Number.isSafeInteger(padId) || padId < 0) throw new StrataError('argument', op, `padId must be a token id, got ${padId}`);
  let longest = 0;
  for (const [b, e] of examples.entries()) {
    if (!Array.isArray(e?.ids) || !Array.isArray(e.labels) || e.ids.length !== e.labels.length) {
      throw new StrataError('argument', op, `example ${b} must have ids and labels of the same length`);
    }
    if (e.ids.length < 2) throw new StrataError('argument', op, `example ${b} has ${e.ids.length} tokens; at least 2 are needed to predict one`);
    longest = Math.max(longest, e.ids.length);
  }
  const B = examples.length;
  const T = longest - 1;
  const inputs = new Int32Array(B * T).fill(padId); // (B, T)
  const targets = new Int32Array(B * T).fill(IGNORE_INDEX); // (B, T)
  const mask = new Int32Array(B * T); // (B, T)
  examples.forEach((e, b) => {
    for (let t = 0; t < e.ids.length - 1; t++) {
      inputs[b * T + t] = e.ids[t]!;
      targets[b * T + t] = e.labels[t + 1]!;
      mask[b * T + t] = 1;
    }
  });
  return {
    inputs: fromArray(inputs, [B, T], { dtype: 'i32' }),
    targets: fromArray(targets, [B, T], { dtype: 'i32' }),
    attentionMask: fromArray(mask, [B, T], { dtype: 'i32' }),
  };
}
