// `strata chat --image IMG`: chat about images with a vision-language model (LLaVA). The images
// (--image, repeatable) go with the first user message, before its text; later turns are text.
// With --prompt the command answers that one message and exits; otherwise it reads one user
// message per input line, as the text chat does.

import { createInterface } from 'node:readline';
import { StrataError } from '../../errors.js';
import type { GenerationResult } from '../../generation/generate.js';
import { loadImage } from '../../io/image.js';
import type { InferenceModel } from '../../pipelines/load.js';
import { type VisualChatMessage, type VisualChatPart, VisualChatPipeline } from '../../pipelines/visual-chat.js';
import type { CliIO } from '../io.js';
import { type SamplingFlags, jsonLine, samplingOptions } from './generate.js';

export interface VisualChatFlags extends SamplingFlags {
  image: string[];
  prompt?: string;
  system?: string;
}

/** The user's lines: the --prompt alone, or stdin line by line. */
async function* userLines(f: VisualChatFlags): AsyncGenerator<string> {
  if (f.prompt !== undefined) {
    yield f.prompt;
    return;
  }
  const rl = createInterface({ input: process.stdin, terminal: process.stdin.isTTY });
  try {
    for await (const line of rl) {
      if (line.trim()) yield line;
      else if (process.stdin.isTTY) return;
    }
  } finally {
    rl.close();
  }
}

export async function runVisualChat(m: InferenceModel, f: VisualChatFlags, io: CliIO): Promise<void> {
  const pipe = VisualChatPipeline.fromParts(m.model, m.tokenizer, m.path, m.architecture);
  const images = await Promise.all(f.image.map((file) => loadImage(file)));
  const messages: VisualChatMessage[] = f.system ? [{ role: 'system', content: f.system }] : [];
  const interactive = f.prompt === undefined && process.stdin.isTTY;
  if (interactive) io.err(`chatting with ${m.architecture} (${m.path})${images.length ? ` about ${images.length} image(s)` : ''}; an empty line or Ctrl-D ends\n> `);
  let first = true;
  for await (const line of userLines(f)) {
    const parts: VisualChatPart[] = first ? [...images.map((image) => ({ type: 'image' as const, image })), { type: 'text', text: line }] : [{ type: 'text', text: line }];
    first = false;
    messages.push({ role: 'user', content: parts });
    const prompt = pipe.prepare(messages);
    const o = samplingOptions(m, f);
    delete o.tokenizer; // the pipeline decodes with its own
    const room = pipe.model.maxPositions - prompt.ids.length;
    if (room <= 0) throw new StrataError('argument', 'chat', `the conversation (${prompt.ids.length} tokens, ${pipe.model.imageSeqLength} per image) fills the model's context of ${pipe.model.maxPositions}`);
    const it = pipe.stream(prompt, { ...o, maxTokens: Math.min(o.maxTokens ?? 128, room) });
    let result: GenerationResult;
    for (;;) {
      const step = await it.next();
      if (step.done) {
        result = step.value;
        break;
      }
      if (!f.json) io.out(step.value);
    }
    if (f.json) io.out(jsonLine(result, { role: 'assistant', images: images.length }));
    else io.out(interactive ? '\n> ' : '\n');
    messages.push({ role: 'assistant', content: result.text ?? '' });
  }
}
