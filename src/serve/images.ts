// Images sent to the server: chat messages' image_url parts and /v1/embeddings inputs, both inline
// data:image/...;base64,... URLs (this server downloads nothing, so http(s) URLs are refused). They
// are decoded here, in the HTTP thread (sharp decodes off the event loop and wants to live in the
// main thread), under limits on count, bytes and pixels, so a worker only ever sees checked RGB
// pixels. Every refusal is a 400 in OpenAI's error shape naming the part (param) at fault.

import { StrataError } from '../errors.js';
import { loadImage } from '../io/image.js';
import { badRequest } from './errors.js';
import type { WireImage } from './protocol.js';

export interface ImageLimits {
  /** images in one request */
  maxImages: number;
  /** encoded bytes of one image */
  maxImageBytes: number;
  /** decoded pixels of one image */
  maxImagePixels: number;
  /** decoded pixels of all the images of one request together */
  maxRequestPixels: number;
}

export const CHAT_IMAGE_LIMITS: ImageLimits = {
  /** images in one request */
  maxImages: 16,
  /** encoded bytes of one image (OpenAI allows 20 MB per image; the body limit caps the whole request) */
  maxImageBytes: 8 * 1024 * 1024,
  /** decoded pixels of one image (about 33 megapixels: 96 MiB as RGB) */
  maxImagePixels: 2 ** 25,
  /** decoded pixels of all the images of one request together */
  maxRequestPixels: 2 ** 26,
};

/** /v1/embeddings embeds more images per request (a gallery to rank), under the same sizes. */
export const EMBEDDING_IMAGE_LIMITS: ImageLimits = { ...CHAT_IMAGE_LIMITS, maxImages: 64 };

const DATA_URL = /^data:([^,]*),/i;
const IMAGE_BASE64 = /^image\/[a-z0-9.+-]+(;[a-z0-9-]+=[^;,]*)*;base64$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** An image at `param` (e.g. messages[1].content[0], input[2]) waiting to be decoded. */
export interface ImageUrlPart {
  url: string;
  param: string;
  /** the error's param: `${param}.image_url.url` (a chat part) unless given */
  field?: string;
}

/** Whether a string is a data: URL (an image to decode, or a bad one to refuse). */
export function isDataUrl(s: string): boolean {
  return DATA_URL.test(s);
}

/** Refuses what is not an inline data: URL, before anything is decoded. */
export function checkImageUrl(url: string, param: string): void {
  if (DATA_URL.test(url)) return;
  const remote = /^https?:\/\//i.test(url);
  throw badRequest(
    remote ? 'Image URLs are not fetched: send the image inline as a data: URL (data:image/png;base64,...).' : 'Images must be sent inline as data: URLs (data:image/png;base64,...); this server fetches nothing.',
    `${param}.image_url.url`,
    'invalid_image_url',
  );
}

async function decodeOne(part: ImageUrlPart, maxPixels: number, maxBytes: number): Promise<WireImage> {
  const where = part.field ?? `${part.param}.image_url.url`;
  const fail = (message: string, code = 'invalid_image') => badRequest(`${part.param}: ${message}`, where, code);
  const meta = DATA_URL.exec(part.url)![1]!;
  if (!IMAGE_BASE64.test(meta)) throw fail(`a data: URL must hold a base64 image (data:image/png;base64,...), got 'data:${meta.slice(0, 60)},...'.`);
  const payload = part.url.slice(meta.length + 6).replace(/\s+/g, '');
  if (!payload || payload.length % 4 === 1 || !BASE64.test(payload)) throw fail('the data: URL is not valid base64.');
  // decoded size from the base64 length, before decoding it
  const bytes = Math.floor((payload.length * 3) / 4) - (payload.endsWith('==') ? 2 : payload.endsWith('=') ? 1 : 0);
  if (bytes > maxBytes) throw fail(`the image is ${bytes} bytes; this server takes at most ${maxBytes} bytes per image.`, 'image_too_large');
  try {
    const img = await loadImage(Buffer.from(payload, 'base64'), { maxPixels, source: part.param });
    // pixels of their own, so they can be handed to the worker without taking a shared buffer along
    return { width: img.width, height: img.height, data: Uint8Array.from(img.data) };
  } catch (err) {
    // 'io': the bytes are not a readable image, or too large one; anything else is this side's
    if (!(err instanceof StrataError) || err.code !== 'io') throw err;
    const tooLarge = /over the limit of/.test(err.message);
    throw fail(`${err.message.slice(err.op.length + 2).replace(/; raise maxPixels to allow it/, '')}.`, tooLarge ? 'image_too_large' : 'invalid_image');
  }
}

/** Decodes the image parts of one request, in order, under the count, byte and pixel limits. */
export async function decodeImageParts(parts: readonly ImageUrlPart[], L: ImageLimits = CHAT_IMAGE_LIMITS): Promise<WireImage[]> {
  if (parts.length > L.maxImages) throw badRequest(`${parts.length} images in one request; this server takes at most ${L.maxImages}.`, 'messages', 'too_many_images');
  let budget: number = L.maxRequestPixels;
  const out: WireImage[] = [];
  for (const part of parts) {
    if (budget < 1) throw badRequest(`${part.param}: the images of this request are over the limit of ${L.maxRequestPixels} pixels together.`, part.field ?? `${part.param}.image_url.url`, 'image_too_large');
    const img = await decodeOne(part, Math.min(L.maxImagePixels, budget), L.maxImageBytes);
    budget -= img.width * img.height;
    out.push(img);
  }
  return out;
}
