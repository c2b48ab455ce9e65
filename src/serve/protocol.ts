// The messages between the HTTP thread and a model's worker. Plain data only: every message crosses
// a worker_threads port by structured clone.

import type { ModelCard } from '../models/types.js';
import type { ChatMessage } from '../tokenizers/tokenizer.js';

/** What the HTTP side knows about a loaded model, sent once by the worker when it is ready. */
export interface ModelInfo {
  id: string;
  path: string;
  architecture: string;
  modelType: string;
  kind: 'decoder-only' | 'encoder' | 'dual-encoder' | 'other';
  card: ModelCard;
  /** longest sequence the model takes (prompt + completion for a decoder) */
  contextLength: number;
  vocabSize: number;
  hasTokenizer: boolean;
  hasChatTemplate: boolean;
  /** a decoder with a tokenizer, or one fed token ids */
  canGenerate: boolean;
  /** an encoder with a tokenizer (mean-pooled sentence embeddings), or an image–text dual encoder (CLIP) */
  canEmbed: boolean;
  /** embeds images too (CLIP: image tower and text tower into one space) */
  canEmbedImages: boolean;
  /** length of an embedding vector (the encoder's hidden size, CLIP's projection size); null when canEmbed is false */
  embeddingSize: number | null;
  /** a speech-to-text model (Whisper) with its tokenizer */
  canTranscribe: boolean;
  /** a vision-language chat model (LLaVA) with its tokenizer: chat messages may hold images */
  canChatImages: boolean;
  /** an image captioner (VisionEncoderDecoder) with its tokenizer: a chat with images answers with their captions */
  canCaption: boolean;
}

/** A part of a chat message with images: text, or the image at `index` of the request's images. */
export type WireChatPart = { type: 'text'; text: string } | { type: 'image'; index: number };

/** A chat message that may hold images (for a vision-language model). */
export interface WireVisualMessage {
  role: string;
  content: string | WireChatPart[];
}

/**
 * A prompt as a request gives it: a conversation, a conversation with images (decoded on the HTTP
 * side), a text, or token ids.
 */
export type PromptInput = { chat: ChatMessage[] } | { visualChat: WireVisualMessage[]; images: WireImage[] } | { text: string } | { ids: number[] };

/** The part of GenerateOptions that travels (no tokenizer, no signal: the worker adds those). */
export interface WireGenerateOptions {
  maxTokens: number;
  temperature?: number;
  topP?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  stop?: string[];
  /** top alternatives per token; absent = no log-probabilities */
  logprobs?: number;
  /** JSON output: any object, or one matching a JSON schema */
  responseFormat?: { type: 'json_object' } | { type: 'json_schema'; schema: Record<string, unknown> };
}

/** A token as text plus its UTF-8 bytes (a byte-level token may hold part of a character). */
export interface WireToken {
  token: string;
  bytes: number[];
  logprob: number;
}

export interface WireLogprob extends WireToken {
  top: WireToken[];
}

export interface WireChunk {
  /** row of the batch: prompt index × n + sample index */
  choice: number;
  delta: string;
  /** absent for the end-of-generation token, which is not part of the output */
  logprob?: WireLogprob;
  /** true for a token that counts as generated (not the end-of-generation token) */
  counted: boolean;
}

export interface WireChoiceResult {
  choice: number;
  text: string;
  finishReason: 'stop' | 'length' | 'abort';
  completionTokens: number;
}

export interface WireTranscribeOptions {
  task: 'transcribe' | 'translate';
  /** a language code or name; absent: detected */
  language?: string;
  temperature?: number;
  /** timed segments */
  timestamps: boolean;
}

export interface WireTranscription {
  text: string;
  language: string;
  /** seconds of audio */
  duration: number;
  segments?: { start: number; end: number; text: string }[];
}

/** Decoded 8-bit RGB pixels, row-major (H, W, 3). */
export interface WireImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** One item to embed: a text, or an image (decoded on the HTTP side). */
export type EmbedInput = { text: string } | { image: WireImage };

export type ToWorker =
  | { type: 'prepare'; id: number; prompts: PromptInput[] }
  /** images: those of a visual chat (whose prompt holds their image tokens), or the images a captioner describes */
  | { type: 'generate'; id: number; prompts: number[][]; n: number; options: WireGenerateOptions; images?: WireImage[] }
  | { type: 'embed'; id: number; inputs: EmbedInput[] }
  /** audio: the bytes of a WAV file */
  | { type: 'transcribe'; id: number; audio: Uint8Array; options: WireTranscribeOptions }
  | { type: 'cancel'; id: number };

/** An HTTP-ready failure: status 4xx for what the request asked, 500 for Strata's own fault. */
export interface WireError {
  status: number;
  message: string;
  param?: string | null;
  code?: string | null;
}

export type FromWorker =
  | { type: 'ready'; info: ModelInfo }
  | { type: 'fatal'; message: string }
  | { type: 'prepared'; id: number; prompts: number[][] }
  | { type: 'started'; id: number }
  | { type: 'chunks'; id: number; chunks: WireChunk[] }
  | { type: 'done'; id: number; choices: WireChoiceResult[]; promptTokens: number; cancelled: boolean }
  | { type: 'embedded'; id: number; vectors: Float32Array[]; promptTokens: number }
  | { type: 'transcribed'; id: number; result: WireTranscription }
  | ({ type: 'error'; id: number } & WireError);

/** Where a worker (or the in-process runner) starts: the model and what to call it. */
export interface RunnerSpec {
  path: string;
  id: string;
}
