// Visual chat on a LLaVA model: a conversation whose messages hold text and image parts goes
// through the chat template (each image part becomes the image token string, <image>), is
// tokenized, and every image token is expanded to the model's image_seq_length copies, as
// transformers' LlavaProcessor does. The images are preprocessed as the checkpoint's processor
// says and their projected features fill those tokens in the prefill; then decoding is the
// ordinary KV-cached generation of the language model.
//
// Where things come from in a checkpoint directory (transformers 5 and 4 layouts):
//   chat template     tokenizer_config.json chat_template, else chat_template.jinja, else
//                     chat_template.json {"chat_template": ...}; without any, DEFAULT_TEMPLATE.
//   image processor   preprocessor_config.json, else processor_config.json's image_processor;
//                     without either, CLIP's processor at the vision tower's image size.
//   image token       processor_config.json image_token (default '<image>'), whose id must be the
//                     config's image_token_index.
//
// Templates see messages as transformers passes multi-modal ones: content is a string, or a list
// of {type: 'image'} and {type: 'text', text} parts in the order given. As in transformers, the
// prompt is tokenized without added special tokens when the rendered text already starts with the
// BOS token string, and with them otherwise.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { type GenerateOptions, type GenerationResult, Decoding, streamGenerate } from '../generation/generate.js';
import { readJsonObject } from '../io/config.js';
import { type RgbImage } from '../io/image.js';
import { type ImageProcessorConfig, imageProcessorConfig, parseImageProcessorConfig, preprocessImages } from '../io/preprocessor.js';
import { LlavaForConditionalGeneration } from '../models/llava.js';
import type { CausalLM } from '../models/types.js';
import { noGrad } from '../tensor/grad-mode.js';
import type { Tensor } from '../tensor/tensor.js';
import { ChatTemplates, type TemplateTokens } from '../tokenizers/chat-template.js';
import type { ChatMessage, Tokenizer } from '../tokenizers/tokenizer.js';
import { loadForInference } from './load.js';

export type VisualChatPart = { type: 'text'; text: string } | { type: 'image'; image: RgbImage };

export interface VisualChatMessage {
  role: string;
  content: string | readonly VisualChatPart[];
}

export type VisualChatOptions = Omit<GenerateOptions, 'tokenizer'>;

/**
 * The LLaVA-1.5 conversation format, used when a checkpoint ships no chat template: a system
 * message as a plain first line, then "USER: " / "ASSISTANT: " turns, each turn's images first
 * (one <image> line each) and its text after, ending with "ASSISTANT:" for the model to answer.
 * The tokenizer adds its BOS token.
 */
export const DEFAULT_TEMPLATE =
  // newlines are written as expressions: templates render with trim_blocks, as in transformers
  "{% for message in messages %}{% if message['role'] == 'system' %}" +
  "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for p in message['content'] if p['type'] == 'text' %}{{ p['text'] }}{% endfor %}{% endif %}{{ '\\n' }}" +
  "{% else %}{{ message['role'] | upper }}: {% if message['content'] is string %}{{ message['content'] }}{% else %}" +
  "{% for p in message['content'] if p['type'] == 'image' %}<image>{{ '\\n' }}{% endfor %}{% for p in message['content'] if p['type'] == 'text' %}{{ p['text'] }}{% endfor %}{% endif %}{{ '\\n' }}" +
  "{% endif %}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}";

/** What a prompt holds once prepared: its token ids (image tokens expanded) and its images' pixels. */
export interface VisualPrompt {
  text: string;
  ids: number[];
  /** (N, 3, H, W), or null for a conversation without images */
  pixelValues: Tensor | null;
  images: number;
}

function readTemplate(dir: string, tokenizer: Tokenizer): ChatTemplates {
  const tokens: TemplateTokens = {};
  const names = [['bos', 'bos_token'], ['eos', 'eos_token'], ['unk', 'unk_token'], ['pad', 'pad_token']] as const;
  for (const [key, name] of names) {
    const id = tokenizer.special[key];
    if (id !== undefined) tokens[name] = tokenizer.idToToken(id);
  }
  const origin = (file: string) => path.join(dir, file);
  if (tokenizer.chatTemplate !== undefined) return ChatTemplates.from(tokenizer.chatTemplate, tokens, origin('tokenizer_config.json: chat_template'))!;
  const found =
    (existsSync(origin('chat_template.jinja')) ? ChatTemplates.from(readFileSync(origin('chat_template.jinja'), 'utf8'), tokens, origin('chat_template.jinja')) : undefined) ??
    (existsSync(origin('chat_template.json')) ? ChatTemplates.from(readJsonObject(origin('chat_template.json'))['chat_template'], tokens, origin('chat_template.json: chat_template')) : undefined);
  return found ?? ChatTemplates.from(DEFAULT_TEMPLATE, tokens, 'the default LLaVA template')!;
}

function readProcessor(dir: string, model: LlavaForConditionalGeneration): { processor: ImageProcessorConfig; imageToken: string } {
  const pre = path.join(dir, 'preprocessor_config.json');
  const proc = path.join(dir, 'processor_config.json');
  const procRaw = existsSync(proc) ? readJsonObject(proc) : {};
  const imageToken = typeof procRaw['image_token'] === 'string' ? procRaw['image_token'] : '<image>';
  if (existsSync(pre)) return { processor: parseImageProcessorConfig(readJsonObject(pre), pre, { family: 'clip' }), imageToken };
  const inner = procRaw['image_processor'];
  if (inner && typeof inner === 'object' && !Array.isArray(inner)) return { processor: parseImageProcessorConfig(inner as Record<string, unknown>, `${proc}: image_processor`, { family: 'clip' }), imageToken };
  const [h, w] = model.imageSize;
  return { processor: imageProcessorConfig('clip', { size: { shortestEdge: Math.min(h, w), longestEdge: null }, cropSize: { height: h, width: w } }), imageToken };
}

/** A message list as the template takes it: image parts stand in as {type: 'image'}. */
function templateMessages(messages: readonly VisualChatMessage[]): { messages: ChatMessage[]; images: RgbImage[] } {
  if (!Array.isArray(messages) || messages.length === 0) throw new StrataError('argument', 'visualChat', 'messages must be a non-empty array of {role, content}');
  const images: RgbImage[] = [];
  const out = messages.map((m, i) => {
    if (typeof m !== 'object' || m === null || typeof m.role !== 'string') throw new StrataError('argument', 'visualChat', `message ${i} must be an object with a string 'role'`);
    if (typeof m.content === 'string') return { role: m.role, content: m.content };
    if (!Array.isArray(m.content)) throw new StrataError('argument', 'visualChat', `message ${i}: content must be a string or a list of parts`);
    const parts = (m.content as readonly VisualChatPart[]).map((p, j) => {
      if (p?.type === 'text' && typeof p.text === 'string') return { type: 'text', text: p.text };
      if (p?.type === 'image' && p.image) {
        images.push(p.image);
        return { type: 'image' };
      }
      throw new StrataError('argument', 'visualChat', `message ${i} part ${j} must be {type: 'text', text} or {type: 'image', image}`);
    });
    // the template reads content as a list of parts; ChatMessage types it as the text-only string
    return { role: m.role, content: parts as unknown as string };
  });
  return { messages: out, images };
}

/** Chat about images with a LLaVA model. */
export class VisualChatPipeline {
  readonly imageTokenId: number;

  constructor(
    readonly model: LlavaForConditionalGeneration,
    readonly tokenizer: Tokenizer,
    readonly processor: ImageProcessorConfig,
    readonly template: ChatTemplates,
    /** the string the template writes for an image */
    readonly imageToken = '<image>',
  ) {
    const id = tokenizer.tokenToId(imageToken);
    if (id !== model.imageTokenId) {
      throw new StrataError('io', 'VisualChatPipeline', `the tokenizer's '${imageToken}' is ${id === undefined ? 'not a token' : `token ${id}`}, but the model's image_token_index is ${model.imageTokenId}`);
    }
    this.imageTokenId = id;
  }

  /** Loads a LLaVA directory: the model, tokenizer.json (required), the processor and the chat template. */
  static async load(dir: string): Promise<VisualChatPipeline> {
    const m = await loadForInference(dir);
    return VisualChatPipeline.fromParts(m.model as CausalLM, m.tokenizer, dir, m.architecture);
  }

  static fromParts(model: unknown, tokenizer: Tokenizer | null, dir: string, architecture = 'this model'): VisualChatPipeline {
    if (!(model instanceof LlavaForConditionalGeneration)) throw new StrataError('unsupported', dir, `is a ${architecture}; visual chat needs a LLaVA model (model_type 'llava')`);
    if (!tokenizer) throw new StrataError('io', dir, 'has no tokenizer.json (visual chat needs one)');
    const { processor, imageToken } = readProcessor(dir, model);
    return new VisualChatPipeline(model, tokenizer, processor, readTemplate(dir, tokenizer), imageToken);
  }

  /** The conversation as the template renders it (with a generation prompt), and its images in order. */
  render(messages: readonly VisualChatMessage[]): { text: string; images: RgbImage[] } {
    const t = templateMessages(messages);
    return { text: this.template.render(t.messages, { addGenerationPrompt: true }), images: t.images };
  }

  /** Prompt ids with each image token expanded, and the pixel values of the images. */
  prepare(messages: readonly VisualChatMessage[]): VisualPrompt {
    const { text, images } = this.render(messages);
    const bos = this.tokenizer.special.bos;
    const startsWithBos = bos !== undefined && text.startsWith(this.tokenizer.idToToken(bos));
    const raw = this.tokenizer.encode(text, { addSpecialTokens: !startsWithBos });
    const slots = raw.filter((t) => t === this.imageTokenId).length;
    if (slots !== images.length) {
      throw new StrataError('argument', 'visualChat', `the rendered prompt has ${slots} image tokens ('${this.imageToken}') for ${images.length} images: the chat template must write one per image part (and the text none)`);
    }
    const n = this.model.imageSeqLength;
    const ids = raw.flatMap((t) => (t === this.imageTokenId ? new Array<number>(n).fill(t) : [t]));
    const pixelValues = images.length ? preprocessImages(images, this.processor) : null;
    return { text, ids, pixelValues, images: images.length };
  }

  /** The model to generate with: bound to the prompt's images, or the plain language model. */
  private modelFor(prompt: VisualPrompt): CausalLM {
    return prompt.pixelValues ? noGrad(() => this.model.withImages(prompt.pixelValues!)) : this.model;
  }

  private options(o: VisualChatOptions): GenerateOptions {
    return { ...o, tokenizer: this.tokenizer, stopTokens: [...(o.stopTokens ?? []), ...this.tokenizer.endOfGenerationIds], padTokenId: o.padTokenId ?? this.tokenizer.special.pad ?? 0 };
  }

  /** A step-by-step decoding of the reply (n rows of one prompt for n samples); servers interleave these. */
  start(prompt: VisualPrompt, options: VisualChatOptions = {}, rows = 1): Decoding {
    return new Decoding(this.modelFor(prompt), Array.from({ length: rows }, () => prompt.ids), this.options(options));
  }

  /** The assistant's reply. */
  chat(messages: readonly VisualChatMessage[], options: VisualChatOptions = {}): GenerationResult {
    return this.start(this.prepare(messages), options).finish()[0]!;
  }

  /** The reply's text deltas as they are generated (from messages, or a prompt already prepared). */
  async *stream(messages: readonly VisualChatMessage[] | VisualPrompt, options: VisualChatOptions = {}): AsyncGenerator<string, GenerationResult> {
    const prompt = Array.isArray(messages) ? this.prepare(messages) : (messages as VisualPrompt);
    const it = streamGenerate(this.modelFor(prompt), prompt.ids, this.options(options));
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
      if (r.value.delta) yield r.value.delta;
    }
  }
}
