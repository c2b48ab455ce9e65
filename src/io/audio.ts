// WAV (RIFF/WAVE) reader. The file is treated as hostile: every inconsistency is a
// StrataError('io') (or 'unsupported' for a valid file in an encoding Strata does not decode),
// never a crash, and nothing is allocated beyond what the bytes present can fill.
//
// Layout: "RIFF" <u32 size> "WAVE", then chunks of <4-byte id> <u32 size> <size bytes> [pad byte
// when size is odd]. The "fmt " chunk says how to read the "data" chunk; every other chunk
// (LIST, fact, cue, bext, JUNK, ...) is skipped.

import fs from 'node:fs';
import { StrataError } from '../errors.js';

/** How the samples were stored in the file. */
export interface WavFormat {
  /** 'pcm': signed integers (unsigned for 8-bit); 'float': IEEE 754. */
  readonly encoding: 'pcm' | 'float';
  /** Container bits per sample: 8, 16, 24, 32 (pcm) or 32, 64 (float). */
  readonly bitsPerSample: number;
  /** Meaningful bits for WAVE_FORMAT_EXTENSIBLE (e.g. 20 in a 24-bit container); else bitsPerSample. */
  readonly validBitsPerSample: number;
  /** The fmt chunk's format tag: 1 (PCM), 3 (IEEE float) or 0xFFFE (extensible). */
  readonly formatTag: number;
  /** The speaker-position mask of an extensible header; 0 when the file has none. */
  readonly channelMask: number;
}

export interface WavAudio {
  /** Frames per second, as the header says. */
  readonly sampleRate: number;
  readonly channels: number;
  /** Number of frames (one sample per channel each). */
  readonly frames: number;
  /**
   * The samples **interleaved** (frame-major, as the file stores them): channel c of frame f is
   * samples[f·channels + c]. Integers are scaled to [-1, 1): x / 2^(bits-1) (8-bit: (x - 128) / 128);
   * float samples are passed through unchanged (NaN and values past ±1 included).
   */
  readonly samples: Float32Array;
  readonly format: WavFormat;
}

export interface ReadWavOptions {
  /**
   * What to do when the data chunk declares more bytes than the file holds (a file cut off in
   * transfer, or a streaming writer that never patched the size): 'error' (default) throws;
   * 'read' decodes the whole frames that are present.
   */
  readonly truncated?: 'error' | 'read';
}

const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_EXTENSIBLE = 0xfffe;

/** Names of common format tags Strata refuses, so the message says what the file is. */
const KNOWN_TAGS: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0006: 'A-law',
  0x0007: 'µ-law',
  0x0011: 'IMA ADPCM',
  0x0016: 'ITU G.723 ADPCM',
  0x0031: 'GSM 6.10',
  0x0040: 'ITU G.721 ADPCM',
  0x0050: 'MPEG',
  0x0055: 'MPEG layer 3',
  0x00ff: 'AAC',
  0x1610: 'HE-AAC',
  0x2000: 'AC-3',
  0xf1ac: 'FLAC',
};

/** Bytes 2..15 of every standard KSDATAFORMAT_SUBTYPE GUID; the first two hold the format tag. */
const SUBTYPE_GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

/** Whole-file read limit: a RIFF size field is 32-bit, so no valid WAV is larger than 4 GiB + 8. */
const MAX_FILE_BYTES = 2 ** 32 + 8;

function fail(source: string, message: string): never {
  throw new StrataError('io', source, message);
}

function unsupported(source: string, message: string): never {
  throw new StrataError('unsupported', source, message);
}

function tagName(tag: number): string {
  const hex = `0x${tag.toString(16).padStart(4, '0')}`;
  const name = KNOWN_TAGS[tag];
  return name ? `${hex} (${name})` : hex;
}

function fourcc(bytes: Uint8Array, at: number): string {
  let s = '';
  for (let i = 0; i < 4; i++) {
    const c = bytes[at + i]!;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

function readFile(path: string): Uint8Array {
  let size: number;
  try {
    const st = fs.statSync(path);
    if (!st.isFile()) fail(path, 'not a regular file');
    size = st.size;
  } catch (err) {
    if (err instanceof StrataError) throw err;
    fail(path, `cannot read: ${(err as Error).message}`);
  }
  if (size > MAX_FILE_BYTES) fail(path, `${size} bytes is larger than any WAV file can be (4 GiB)`);
  try {
    return fs.readFileSync(path);
  } catch (err) {
    fail(path, `cannot read: ${(err as Error).message}`);
  }
}

interface FmtChunk {
  encoding: 'pcm' | 'float';
  formatTag: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
  validBitsPerSample: number;
  channelMask: number;
}

function parseFmt(bytes: Uint8Array, at: number, size: number, source: string): FmtChunk {
  if (size < 16) fail(source, `fmt chunk is ${size} bytes; it needs at least 16`);
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, size);
  const formatTag = v.getUint16(0, true);
  const channels = v.getUint16(2, true);
  const sampleRate = v.getUint32(4, true);
  const blockAlign = v.getUint16(12, true);
  const bitsPerSample = v.getUint16(14, true);
  let tag = formatTag;
  let validBitsPerSample = bitsPerSample;
  let channelMask = 0;
  if (formatTag === FORMAT_EXTENSIBLE) {
    if (size < 40) fail(source, `WAVE_FORMAT_EXTENSIBLE fmt chunk is ${size} bytes; it needs 40`);
    const cbSize = v.getUint16(16, true);
    if (cbSize < 22) fail(source, `WAVE_FORMAT_EXTENSIBLE fmt chunk has cbSize ${cbSize}; it needs 22`);
    validBitsPerSample = v.getUint16(18, true);
    channelMask = v.getUint32(20, true);
    tag = v.getUint16(24, true);
    for (let i = 0; i < SUBTYPE_GUID_TAIL.length; i++) {
      if (v.getUint8(26 + i) !== SUBTYPE_GUID_TAIL[i]) unsupported(source, 'WAVE_FORMAT_EXTENSIBLE with a non-standard subformat GUID');
    }
    if (validBitsPerSample === 0) validBitsPerSample = bitsPerSample; // 0 means "all bits", as some writers put
  }
  let encoding: 'pcm' | 'float';
  if (tag === FORMAT_PCM) {
    if (![8, 16, 24, 32].includes(bitsPerSample)) unsupported(source, `PCM with ${bitsPerSample} bits per sample (8, 16, 24 and 32 are read)`);
    encoding = 'pcm';
  } else if (tag === FORMAT_FLOAT) {
    if (bitsPerSample !== 32 && bitsPerSample !== 64) unsupported(source, `IEEE float with ${bitsPerSample} bits per sample (32 and 64 are read)`);
    encoding = 'float';
  } else {
    const where = formatTag === FORMAT_EXTENSIBLE ? 'WAVE_FORMAT_EXTENSIBLE subformat' : 'format tag';
    unsupported(source, `${where} ${tagName(tag)} is not supported; Strata reads PCM integer (0x0001) and IEEE float (0x0003)`);
  }
  if (channels === 0) fail(source, 'fmt chunk declares 0 channels');
  if (sampleRate === 0) fail(source, 'fmt chunk declares a sample rate of 0 Hz');
  if (validBitsPerSample > bitsPerSample) fail(source, `${validBitsPerSample} valid bits do not fit a ${bitsPerSample}-bit container`);
  const expectedAlign = channels * (bitsPerSample / 8);
  if (blockAlign !== expectedAlign) {
    fail(source, `block align ${blockAlign} does not match ${channels} channel(s) × ${bitsPerSample / 8} bytes = ${expectedAlign}`);
  }
  return { encoding, formatTag, channels, sampleRate, blockAlign, bitsPerSample, validBitsPerSample, channelMask };
}

function decode(bytes: Uint8Array, at: number, count: number, fmt: FmtChunk): Float32Array {
  const out = new Float32Array(count);
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, count * (fmt.bitsPerSample / 8));
  if (fmt.encoding === 'float') {
    if (fmt.bitsPerSample === 32) for (let i = 0; i < count; i++) out[i] = v.getFloat32(4 * i, true);
    else for (let i = 0; i < count; i++) out[i] = v.getFloat64(8 * i, true);
    return out;
  }
  switch (fmt.bitsPerSample) {
    case 8:
      for (let i = 0; i < count; i++) out[i] = (v.getUint8(i) - 128) / 128;
      break;
    case 16:
      for (let i = 0; i < count; i++) out[i] = v.getInt16(2 * i, true) / 32768;
      break;
    case 24:
      for (let i = 0; i < count; i++) {
        const o = 3 * i;
        // the high byte carries the sign: read it signed, the low two unsigned
        out[i] = (v.getInt8(o + 2) * 65536 + v.getUint16(o, true)) / 8388608;
      }
      break;
    default:
      for (let i = 0; i < count; i++) out[i] = v.getInt32(4 * i, true) / 2147483648;
  }
  return out;
}

/**
 * Reads a WAV file (a path, or its bytes). Decodes PCM 8/16/24/32-bit integer, IEEE float 32/64,
 * and WAVE_FORMAT_EXTENSIBLE holding either, with any number of channels; skips unknown chunks.
 *
 * - A data chunk shorter than one frame, or of size 0, gives an empty result (frames 0); it is
 *   not an error here, but the log-mel front end refuses empty audio.
 * - Bytes past the last whole frame of the data chunk are ignored.
 * - A data chunk that declares more bytes than the file holds is an error, unless
 *   `options.truncated` is 'read' (then the whole frames present are decoded).
 * - The RIFF size field is not trusted (streaming writers leave it 0 or 0xFFFFFFFF): chunks are
 *   read up to the end of the bytes, and reading stops once fmt and data are both found, so
 *   whatever follows the data chunk is never looked at.
 */
export function readWav(input: string | Uint8Array, options: ReadWavOptions = {}): WavAudio {
  const source = typeof input === 'string' ? input : '<buffer>';
  const bytes = typeof input === 'string' ? readFile(input) : input;
  const truncatedRule = options.truncated ?? 'error';
  if (bytes.byteLength < 12) fail(source, `${bytes.byteLength} bytes is too short for a WAV header (12)`);
  const riff = fourcc(bytes, 0);
  if (riff === 'RIFX' || riff === 'RF64' || riff === 'BW64') unsupported(source, `'${riff}' files are not supported; Strata reads little-endian 'RIFF' WAV`);
  if (riff !== 'RIFF') fail(source, `not a WAV file: starts with '${riff}', expected 'RIFF'`);
  if (fourcc(bytes, 8) !== 'WAVE') fail(source, `RIFF file of form '${fourcc(bytes, 8)}', expected 'WAVE'`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;

  let fmt: FmtChunk | null = null;
  let data: { at: number; size: number } | null = null;
  let at = 12;
  while (at + 8 <= end && !(fmt && data)) {
    const id = fourcc(bytes, at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    const available = end - body;
    if (id === 'data') {
      if (data) fail(source, `a second data chunk at byte ${at}`);
      data = { at: body, size };
    } else {
      if (size > available) fail(source, `chunk '${id}' at byte ${at} declares ${size} bytes but only ${available} remain`);
      if (id === 'fmt ') {
        if (fmt) fail(source, `a second fmt chunk at byte ${at}`);
        fmt = parseFmt(bytes, body, size, source);
      }
    }
    at = body + size + (size & 1); // chunks are padded to an even size
  }
  if (!fmt) fail(source, data ? 'no fmt chunk before the end of the file' : 'no fmt chunk');
  if (!data) fail(source, 'no data chunk');

  let dataBytes = data.size;
  const present = Math.max(0, bytes.byteLength - data.at);
  if (dataBytes > present) {
    if (truncatedRule !== 'read') {
      fail(source, `data chunk declares ${dataBytes} bytes but only ${present} remain (file truncated?); pass { truncated: 'read' } to decode what is there`);
    }
    dataBytes = present;
  }
  const frames = Math.floor(dataBytes / fmt.blockAlign);
  const samples = decode(bytes, data.at, frames * fmt.channels, fmt);
  return {
    sampleRate: fmt.sampleRate,
    channels: fmt.channels,
    frames,
    samples,
    format: {
      encoding: fmt.encoding,
      bitsPerSample: fmt.bitsPerSample,
      validBitsPerSample: fmt.validBitsPerSample,
      formatTag: fmt.formatTag,
      channelMask: fmt.channelMask,
    },
  };
}
