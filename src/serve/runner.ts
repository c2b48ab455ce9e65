// The model side of the server: loads one model and answers the messages of protocol.ts. It runs in
// a worker thread (worker.ts) or, with `workers: false`, in the HTTP thread itself; either way it
// only ever sees messages, so both paths behave the same.
//
// Generation steps one token at a time and hands control back to the event loop between steps, so
// a `cancel` (or a `prepare` for the next request) is read while a long generation runs.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { WHISPER_SAMPLE_RATE, toMono16k } from '../audio/resample.js';
import { StrataError } from '../errors.js';
import { Decoding, type GenerateOptions, type TokenLogprob } from '../generation/generate.js';
import { readJsonObject } from '../io/config.js';
import { readWav } from '../io/audio.js';
import { readGenerationConfig } from '../io/hf.js';
import { type RgbImage, rgbImage } from '../io/image.js';
import { preprocessImages, readImageProcessorConfig } from '../io/preprocessor.js';
import { noGrad } from '../tensor/grad-mode.js';
import { BertModel } from '../models/bert.js';
import { CLIPModel } from '../models/clip/index.js';
import { isCausalLM } from '../models/load.js';
import { LlavaForConditionalGeneration } from '../models/llava.js';
import { VisionEncoderDecoderModel } from '../models/vision-encoder-decoder.js';
import { WhisperForConditionalGeneration } from '../models/whisper/model.js';
import { type CaptionPipelineParts, captionImages } from '../pipelines/caption.js';
import { type VisualChatMessage, VisualChatPipeline } from '../pipelines/visual-chat.js';
import { embedTexts } from '../pipelines/encoder.js';
import { loadForInference, type InferenceModel } from '../pipelines/load.js';
import { type ClipPipelineParts, clipImageEmbeddings, clipTextEmbeddings, tokenizeForClip } from '../pipelines/zero-shot-image.js';
import type { Tensor } from '../tensor/tensor.js';
import { type SpeechRecognizer, WHISPER_FEATURES, parseSpeechFeatures, transcribe } from '../pipelines/transcribe.js';
import { loadSpeechLanguageModel } from '../pipelines/speech-lm.js';
import { checkTokenIds, type ChatMessage, type Tokenizer } from '../tokenizers/tokenizer.js';
import type { CausalLM } from '../models/types.js';
import type {
  EmbedInput,
  FromWorker,
  ModelInfo,
  PromptInput,
  RunnerSpec,
  ToWorker,
  WireChunk,
  WireError,
  WireGenerateOptions,
  WireImage,
  WireLogprob,
  WireToken,
  WireTranscribeOptions,
  WireVisualMessage,
} from './protocol.js';
import { buildResponseConstraint } from './response-format.js';

export type Post = (message: FromWorker, transfer?: ArrayBuffer[]) => void;

/** A StrataError is the request's fault (400); anything else is a bug on this side (500). */
export function wireError(err: unknown): WireError {
  if (err instanceof StrataError && err.code !== 'backend' && err.code !== 'io') return { status: 400, message: err.message };
  return { status: 500, message: `internal error: ${err instanceof Error ? err.message : String(err)}` };
}

function encoderOf(m: InferenceModel): BertModel | null {
  if (m.model instanceof BertModel) return m.model;
  if ('encoder' in m.model && m.model.encoder instanceof BertModel) return m.model.encoder;
  return null;
}

/** A Whisper checkpoint as the transcription pipeline takes it (what loadSpeechRecognizer reads besides the model). */
function speechOf(m: InferenceModel): SpeechRecognizer | null {
  if (!(m.model instanceof WhisperForConditionalGeneration) || !m.tokenizer || m.format !== 'hf') return null;
  const pre = path.join(m.path, 'preprocessor_config.json');
  return {
    model: m.model,
    tokenizer: m.tokenizer,
    generationConfig: readGenerationConfig(m.path)?.raw ?? null,
    features: existsSync(pre) ? parseSpeechFeatures(readJsonObject(pre), pre, m.model) : WHISPER_FEATURES,
    dir: m.path,
    languageModel: loadSpeechLanguageModel(m.path),
  };
}

/**
 * A CLIP checkpoint as the image–text pipelines take it; its preprocessor_config.json is required
 * (a served CLIP without one fails to load, naming the file).
 */
function clipOf(m: InferenceModel): ClipPipelineParts | null {
  if (!(m.model instanceof CLIPModel) || !m.tokenizer || m.format !== 'hf') return null;
  return { clip: m.model, tokenizer: m.tokenizer, processor: readImageProcessorConfig(m.path, { family: 'clip' }) };
}

/** A LLaVA checkpoint with its tokenizer as the visual chat pipeline takes it. */
function visualOf(m: InferenceModel): VisualChatPipeline | null {
  if (!(m.model instanceof LlavaForConditionalGeneration) || !m.tokenizer || m.format !== 'hf') return null;
  return VisualChatPipeline.fromParts(m.model, m.tokenizer, m.path, m.architecture);
}

/** A VisionEncoderDecoder captioner with its tokenizer and preprocessor_config.json (required: loading fails naming it). */
function captionerOf(m: InferenceModel): CaptionPipelineParts | null {
  if (!(m.model instanceof VisionEncoderDecoderModel) || !m.tokenizer || m.format !== 'hf') return null;
  return { model: m.model, tokenizer: m.tokenizer, processor: readImageProcessorConfig(m.path) };
}

/** Pixels from the HTTP side as the pipelines take them. */
function rgbOf(images: WireImage[]): RgbImage[] {
  return images.map((x, i) => rgbImage(x.width, x.height, x.data, `image ${i}`));
}

/** A visual conversation from the wire, its image parts pointing at the decoded images. */
function visualMessages(messages: WireVisualMessage[], images: RgbImage[]): VisualChatMessage[] {
  return messages.map((m) => ({
    role: m.role,
    content:
      typeof m.content === 'string'
        ? m.content
        : m.content.map((p) => {
            if (p.type === 'text') return p;
            const image = images[p.index];
            if (!image) throw new StrataError('argument', 'messages', `image part ${p.index} has no image`);
            return { type: 'image' as const, image };
          }),
  }));
}

interface Pipelines {
  clip: ClipPipelineParts | null;
  visual: VisualChatPipeline | null;
  captioner: CaptionPipelineParts | null;
}

function describe(spec: RunnerSpec, m: InferenceModel, { clip, visual, captioner }: Pipelines): ModelInfo {
  const encoder = encoderOf(m);
  const kind = m.model.kind === 'decoder-only' || m.model.kind === 'encoder' || m.model.kind === 'dual-encoder' ? m.model.kind : 'other';
  const embeddingSize = clip ? clip.clip.config.projection_dim : encoder && m.tokenizer ? encoder.config.hidden_size : null;
  return {
    id: spec.id,
    path: m.path,
    architecture: m.architecture,
    modelType: m.modelType,
    kind,
    card: m.card,
    contextLength: m.model.maxPositions,
    vocabSize: m.model.vocabSize,
    hasTokenizer: m.tokenizer !== null,
    // a visual chat pipeline always has a template (the checkpoint's, or LLaVA's default)
    hasChatTemplate: visual !== null || m.tokenizer?.chatTemplate !== undefined,
    canGenerate: isCausalLM(m.model),
    canEmbed: embeddingSize !== null,
    canEmbedImages: clip !== null,
    embeddingSize,
    canTranscribe: m.model instanceof WhisperForConditionalGeneration && m.tokenizer !== null,
    canChatImages: visual !== null,
    canCaption: captioner !== null,
  };
}

/** A conversation as text: the tokenizer's chat template, or plain "role: content" lines without one. */
function renderChat(tok: Tokenizer, messages: ChatMessage[]): number[] {
  if (!tok.chatTemplate) {
    const text = `${messages.map((x) => `${x.role}: ${x.content}`).join('\n')}\nassistant:`;
    return tok.encode(text, { addSpecialTokens: true });
  }
  // the template writes the BOS token itself when the model wants one
  return tok.encode(tok.applyChatTemplate(messages, { addGenerationPrompt: true }), { addSpecialTokens: false });
}

export class ModelRunner {
  private readonly running = new Map<number, AbortController>();
  private readonly tokenText = new Map<number, WireToken>();
  private readonly constraints = new Map<string, GenerateOptions['constraint']>();

  private readonly speech: SpeechRecognizer | null;
  private readonly clip: ClipPipelineParts | null;
  private readonly visual: VisualChatPipeline | null;
  private readonly captioner: CaptionPipelineParts | null;

  private constructor(
    private readonly m: InferenceModel,
    pipelines: Pipelines,
    readonly info: ModelInfo,
    private readonly post: Post,
  ) {
    this.speech = info.canTranscribe ? speechOf(m) : null;
    ({ clip: this.clip, visual: this.visual, captioner: this.captioner } = pipelines);
  }

  static async load(spec: RunnerSpec, post: Post): Promise<ModelRunner> {
    const m = await loadForInference(spec.path);
    const pipelines = { clip: clipOf(m), visual: visualOf(m), captioner: captionerOf(m) };
    return new ModelRunner(m, pipelines, describe(spec, m, pipelines), post);
  }

  handle(msg: ToWorker): void {
    switch (msg.type) {
      case 'prepare':
        this.guard(msg.id, () => this.post({ type: 'prepared', id: msg.id, prompts: msg.prompts.map((p) => this.tokenize(p)) }));
        return;
      case 'generate':
        if (this.captioner) this.guard(msg.id, () => this.caption(msg.id, this.captioner!, msg.prompts, msg.n, msg.options, msg.images ?? []));
        else void this.generate(msg.id, msg.prompts, msg.n, msg.options, msg.images);
        return;
      case 'embed':
        this.guard(msg.id, () => (this.clip ? this.embedClip(msg.id, this.clip, msg.inputs) : this.embed(msg.id, msg.inputs)));
        return;
      case 'transcribe':
        this.guard(msg.id, () => this.transcribe(msg.id, msg.audio, msg.options));
        return;
      case 'cancel':
        this.running.get(msg.id)?.abort();
        return;
    }
  }

  private guard(id: number, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.post({ type: 'error', id, ...wireError(err) });
    }
  }

  private tokenizer(op: string): Tokenizer {
    if (!this.m.tokenizer) throw new StrataError('argument', op, `model '${this.info.id}' has no tokenizer: send the prompt as token ids`);
    return this.m.tokenizer;
  }

  private tokenize(p: PromptInput): number[] {
    if ('ids' in p) {
      checkTokenIds(p.ids, this.info.vocabSize, 'prompt');
      return p.ids;
    }
    if ('text' in p) return this.tokenizer('prompt').encode(p.text, { addSpecialTokens: true });
    if ('visualChat' in p) {
      if (this.captioner) return [this.captioner.model.decoderStartTokenId];
      if (!this.visual) throw new StrataError('argument', 'messages', `model '${this.info.id}' (${this.info.architecture}) does not take images`);
      return this.visual.prepare(visualMessages(p.visualChat, rgbOf(p.images))).ids;
    }
    // a vision-language model renders text-only chats with its own template too
    if (this.visual) return this.visual.prepare(p.chat).ids;
    return renderChat(this.tokenizer('messages'), p.chat);
  }

  /** The text and bytes of a token id, for log-probabilities (cached: the same ids come back often). */
  private token(id: number, logprob: number): WireToken {
    let t = this.tokenText.get(id);
    if (!t) {
      const text = this.m.tokenizer ? this.m.tokenizer.decode([id]) : String(id);
      t = { token: text, bytes: [...Buffer.from(text, 'utf8')], logprob: 0 };
      if (this.tokenText.size < 65536) this.tokenText.set(id, t);
    }
    return { ...t, logprob };
  }

  /** Compiled schemas by (schema, budget): clients tend to send the same one again and again. */
  private responseConstraint(format: NonNullable<WireGenerateOptions['responseFormat']>, maxTokens: number): GenerateOptions['constraint'] {
    const key = `${maxTokens} ${format.type === 'json_object' ? '' : JSON.stringify(format.schema)}`;
    let factory = this.constraints.get(key);
    if (!factory) {
      factory = buildResponseConstraint(format, this.tokenizer('response_format'), maxTokens);
      if (this.constraints.size >= 32) this.constraints.delete(this.constraints.keys().next().value!);
    } else this.constraints.delete(key);
    this.constraints.set(key, factory);
    return factory;
  }

  private wireLogprob(lp: TokenLogprob): WireLogprob {
    return { ...this.token(lp.token, lp.logprob), top: lp.top.map((x) => this.token(x.token, x.logprob)) };
  }

  /** The model to decode with: bound to the images of a visual chat (whose one prompt holds their tokens), or the model itself. */
  private decoderFor(images: WireImage[] | undefined): CausalLM {
    if (!isCausalLM(this.m.model)) throw new StrataError('argument', 'generate', `model '${this.info.id}' (${this.info.architecture}) does not generate text`);
    if (!images?.length) return this.m.model;
    if (!this.visual) throw new StrataError('argument', 'messages', `model '${this.info.id}' (${this.info.architecture}) does not take images`);
    const pixels = preprocessImages(rgbOf(images), this.visual.processor); // (N, 3, H, W)
    return noGrad(() => this.visual!.model.withImages(pixels));
  }

  private async generate(id: number, prompts: number[][], n: number, w: WireGenerateOptions, images?: WireImage[]): Promise<void> {
    const abort = new AbortController();
    this.running.set(id, abort);
    let started = false;
    try {
      if (images?.length && prompts.length !== 1) throw new StrataError('argument', 'generate', 'images go with one prompt');
      const model = this.decoderFor(images);
      const tokenizer = this.m.tokenizer ?? undefined;
      const stopTokens = tokenizer?.endOfGenerationIds ?? [];
      // what the request leaves out comes from the checkpoint's generation_config.json, as the CLI does it
      const defaults = this.m.generationDefaults;
      const options: GenerateOptions = {
        maxTokens: w.maxTokens,
        temperature: w.temperature ?? defaults.temperature,
        topP: w.topP ?? defaults.topP,
        topK: defaults.topK,
        presencePenalty: w.presencePenalty,
        frequencyPenalty: w.frequencyPenalty,
        seed: w.seed,
        stop: w.stop,
        logprobs: w.logprobs,
        tokenizer,
        stopTokens,
        padTokenId: tokenizer?.special.pad ?? tokenizer?.special.eos ?? 0,
        signal: abort.signal,
      };
      if (w.responseFormat) {
        try {
          options.constraint = this.responseConstraint(w.responseFormat, w.maxTokens);
        } catch (err) {
          this.post({ type: 'error', id, ...wireError(err), param: 'response_format', code: 'invalid_response_format' });
          return;
        }
      }
      const rows = prompts.flatMap((p) => Array.from({ length: n }, () => p));
      const decoding = new Decoding(model, rows, options);
      const eog = new Set(stopTokens);
      this.post({ type: 'started', id });
      started = true;
      while (!decoding.done) {
        const chunks: WireChunk[] = [];
        decoding.step().forEach((c, choice) => {
          if (!c) return;
          const counted = !eog.has(c.token);
          chunks.push({ choice, delta: c.delta, counted, logprob: c.logprob && counted ? this.wireLogprob(c.logprob) : undefined });
        });
        if (chunks.length) this.post({ type: 'chunks', id, chunks });
        await nextTurn();
      }
      const results = decoding.results();
      this.post({
        type: 'done',
        id,
        promptTokens: prompts.reduce((a, p) => a + p.length, 0),
        cancelled: abort.signal.aborted,
        choices: results.map((r, choice) => ({ choice, text: r.text ?? '', finishReason: r.finishReason, completionTokens: r.tokens.length })),
      });
    } catch (err) {
      // once decoding has started the request has been accepted: a failure now is this side's
      const e = wireError(err);
      this.post({ type: 'error', id, ...(started ? { status: 500, message: `generation failed: ${e.message}` } : e) });
    } finally {
      this.running.delete(id);
    }
  }

  /**
   * A captioner answers a chat with images with their captions, one line per image in the order
   * given (greedy: the n choices are equal, and sampling fields do not apply); the text parts of
   * the conversation are not read. Each caption arrives as one delta.
   */
  private caption(id: number, parts: CaptionPipelineParts, prompts: number[][], n: number, w: WireGenerateOptions, images: WireImage[]): void {
    if (images.length === 0) throw new StrataError('argument', 'messages', `model '${this.info.id}' (${this.info.architecture}) is an image captioner: send an image part (image_url) in the messages`);
    const maxTokens = Math.min(w.maxTokens, parts.model.maxPositions - 1);
    const captions = captionImages(parts, rgbOf(images), { maxTokens });
    this.post({ type: 'started', id });
    const texts = captions.map((c, i) => (i ? `\n${c.text}` : c.text));
    const tokens = captions.reduce((a, c) => a + c.tokens.length, 0);
    const chunks: WireChunk[] = [];
    for (let choice = 0; choice < n; choice++) texts.forEach((delta) => chunks.push({ choice, delta, counted: true }));
    this.post({ type: 'chunks', id, chunks });
    const finishReason = captions.some((c) => c.finishReason === 'length') ? 'length' : 'stop';
    this.post({ type: 'done', id, promptTokens: prompts.reduce((a, p) => a + p.length, 0), cancelled: false, choices: Array.from({ length: n }, (_, choice) => ({ choice, text: texts.join(''), finishReason, completionTokens: tokens })) });
  }

  private embed(id: number, inputs: EmbedInput[]): void {
    const texts = inputs.map((x, i) => {
      if ('text' in x) return x.text;
      throw new StrataError('argument', 'embeddings', `input[${i}] is an image; model '${this.info.id}' (${this.info.architecture}) embeds text only`);
    });
    const encoder = encoderOf(this.m);
    if (!encoder) throw new StrataError('argument', 'embeddings', `model '${this.info.id}' (${this.info.architecture}) is not an encoder`);
    const tok = this.tokenizer('embeddings');
    let promptTokens = 0;
    texts.forEach((t, i) => {
      const count = tok.encode(t, { addSpecialTokens: true }).length;
      if (count > this.info.contextLength) {
        throw new StrataError('argument', 'embeddings', `input[${i}] is ${count} tokens, more than the model's context of ${this.info.contextLength}`);
      }
      promptTokens += count;
    });
    const vectors = embedTexts(encoder, tok, texts, { pooling: 'mean', normalize: true }).map((v) => Float32Array.from(v));
    this.post({ type: 'embedded', id, vectors, promptTokens }, vectors.map((v) => v.buffer as ArrayBuffer));
  }

  /**
   * CLIP: images through the image tower (preprocessed as the checkpoint's preprocessor config
   * says), texts through the text tower (cut to its context, keeping the eos), each unit-length,
   * in the order given. Images and texts each go as one batch.
   */
  private embedClip(id: number, parts: ClipPipelineParts, inputs: EmbedInput[]): void {
    const imageAt: number[] = [];
    const textAt: number[] = [];
    const images = inputs.flatMap((x, i) => ('image' in x ? (imageAt.push(i), [rgbImage(x.image.width, x.image.height, x.image.data, `input[${i}]`)]) : []));
    const texts = inputs.flatMap((x, i) => ('text' in x ? (textAt.push(i), [x.text]) : []));
    const vectors: Float32Array[] = new Array<Float32Array>(inputs.length);
    const place = (t: Tensor, at: number[]) => {
      const E = t.shape[1]!;
      const flat = Float32Array.from(t.contiguous().toArray());
      at.forEach((i, r) => (vectors[i] = flat.slice(r * E, (r + 1) * E)));
    };
    let promptTokens = 0;
    if (images.length) place(clipImageEmbeddings(parts.clip, parts.processor, images), imageAt);
    if (texts.length) {
      promptTokens = tokenizeForClip(parts.tokenizer, texts, parts.clip.maxPositions).tokens;
      place(clipTextEmbeddings(parts.clip, parts.tokenizer, texts), textAt);
    }
    this.post({ type: 'embedded', id, vectors, promptTokens }, vectors.map((v) => v.buffer as ArrayBuffer));
  }

  /** Synchronous: a cancel cannot land until it ends (transcription has no token loop to yield from). */
  private transcribe(id: number, audio: Uint8Array, o: WireTranscribeOptions): void {
    const sp = this.speech;
    if (!sp) throw new StrataError('argument', 'transcriptions', `model '${this.info.id}' (${this.info.architecture}) cannot transcribe audio`);
    let samples: Float32Array;
    try {
      samples = toMono16k(readWav(audio));
    } catch (err) {
      this.post({ type: 'error', id, status: 400, message: `The uploaded file is not a WAV file this server can read: ${err instanceof Error ? err.message : String(err)}`, param: 'file', code: 'invalid_file_format' });
      return;
    }
    if (samples.length === 0) {
      this.post({ type: 'error', id, status: 400, message: 'The uploaded WAV file holds no audio (zero samples).', param: 'file', code: 'invalid_file_format' });
      return;
    }
    const r = transcribe(sp.model, sp.tokenizer, samples, {
      language: o.language ?? null,
      task: o.task,
      timestamps: o.timestamps,
      temperature: o.temperature,
      generationConfig: sp.generationConfig,
      features: sp.features,
      // the model's word LM decodes at temperature 0 (OpenAI's default); a sampled request gets the acoustic model's own tokens
      languageModel: o.temperature && o.temperature > 0 ? null : sp.languageModel,
    });
    this.post({ type: 'transcribed', id, result: { text: r.text, language: r.language, duration: samples.length / WHISPER_SAMPLE_RATE, segments: r.segments } });
  }
}
