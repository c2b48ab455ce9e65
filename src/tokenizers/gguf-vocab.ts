// A tokenizer from the vocabulary a GGUF file carries in its metadata (`tokenizer.ggml.*`), with
// llama.cpp's behaviour (llama-vocab.cpp) as the reference: which tokens are special and matched
// whole in the text, when BOS goes first, the SentencePiece leading space, and how each token type
// decodes. The metadata is file content: every key is type-checked and a bad one is a
// StrataError('io') naming the key.

import { StrataError } from '../errors.js';
import { ByteLevelBpe, SentencePieceBpe } from './bpe.js';
import { TokenIndex } from './token-index.js';
import { ChatTemplates, type TemplateTokens } from './chat-template.js';
import { CHAR_TO_BYTE, PRE_TOKENIZERS, type PreTokenizer, preTokenizerFor, toByteLevel } from './pretokenize.js';
import {
  type ChatMessage,
  type ChatTemplateOptions,
  DecodeStream,
  type DecodeStreamOptions,
  type DecodeOptions,
  type EncodeOptions,
  EOG_TOKENS,
  type SpecialTokenIds,
  type Tokenizer,
  checkTokenIds,
  cleanUpTokenization,
  completeSpecialTokens,
} from './tokenizer.js';

/** `tokenizer.ggml.token_type` values (llama.h llama_token_type). */
export const GgufTokenType = { undefined: 0, normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

// token attributes, as bit flags (llama.cpp's llama_token_attr): a token can gain CONTROL on top
const ATTR_UNKNOWN = 1;
const ATTR_UNUSED = 2;
const ATTR_NORMAL = 4;
const ATTR_CONTROL = 8;
const ATTR_USER_DEFINED = 16;
const ATTR_BYTE = 32;
const ATTR_OF_TYPE = [0, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_CONTROL, ATTR_USER_DEFINED, ATTR_UNUSED, ATTR_BYTE];

const SPECIAL_ID_KEYS: ReadonlyArray<[keyof SpecialTokenIds, string]> = [
  ['bos', 'bos_token_id'],
  ['eos', 'eos_token_id'],
  ['unk', 'unknown_token_id'],
  ['pad', 'padding_token_id'],
  ['sep', 'seperator_token_id'], // sic: the GGUF key is spelled so
  ['mask', 'mask_token_id'],
  ['eot', 'eot_token_id'],
  ['eom', 'eom_token_id'],
  ['fimPrefix', 'fim_pre_token_id'],
  ['fimSuffix', 'fim_suf_token_id'],
  ['fimMiddle', 'fim_mid_token_id'],
  ['fimPad', 'fim_pad_token_id'],
  ['fimRepo', 'fim_rep_token_id'],
  ['fimSep', 'fim_sep_token_id'],
  ['fimPrefix', 'prefix_token_id'],
  ['fimSuffix', 'suffix_token_id'],
  ['fimMiddle', 'middle_token_id'],
];

export interface GgufTokenizerOptions {
  /** Names the file in messages (default 'GGUF metadata'). */
  source?: string;
}

/** Reads typed values out of the metadata record, naming the key in every complaint. */
class MetadataReader {
  constructor(
    private readonly meta: Record<string, unknown>,
    readonly source: string,
  ) {}

  fail(key: string, message: string): never {
    throw new StrataError('io', this.source, `${key}: ${message}`);
  }

  has(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.meta, key) && this.meta[key] !== undefined;
  }

  string(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.meta[key];
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${kind(v)}`);
    return v;
  }

  bool(key: string): boolean | undefined {
    if (!this.has(key)) return undefined;
    const v = this.meta[key];
    if (typeof v !== 'boolean') this.fail(key, `must be a boolean, got ${kind(v)}`);
    return v;
  }

  /** A token id; one outside the vocabulary is dropped, as llama.cpp drops it (with a warning). */
  tokenId(key: string, vocabSize: number): number | undefined {
    if (!this.has(key)) return undefined;
    const v = this.meta[key];
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) this.fail(key, `must be a non-negative integer token id, got ${kind(v)}`);
    return n < vocabSize ? n : undefined;
  }

  strings(key: string): string[] {
    const v = this.meta[key];
    if (!Array.isArray(v)) this.fail(key, this.has(key) ? `must be an array of strings, got ${kind(v)}` : 'is missing');
    for (let i = 0; i < v.length; i++) {
      if (typeof v[i] !== 'string') this.fail(key, `element ${i} must be a string, got ${kind(v[i])}`);
    }
    return v as string[];
  }

  /** A numeric array of at least `minLength` entries (llama.cpp reads the first n_tokens). */
  numbers(key: string, minLength: number, integers: boolean): ArrayLike<number> {
    const v = this.meta[key];
    const isTyped = ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
    if (!Array.isArray(v) && !isTyped) this.fail(key, `must be an array of numbers, got ${kind(v)}`);
    const arr = v as ArrayLike<unknown>;
    if (arr.length < minLength) this.fail(key, `has ${arr.length} entries for ${minLength} tokens`);
    if (Array.isArray(arr)) {
      for (let i = 0; i < minLength; i++) {
        const x = arr[i];
        if (typeof x !== 'number' || (integers && !Number.isInteger(x))) this.fail(key, `element ${i} must be ${integers ? 'an integer' : 'a number'}, got ${kind(x)}`);
      }
    }
    return arr as ArrayLike<number>;
  }
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string '${v.length > 32 ? `${v.slice(0, 32)}...` : v}'`;
  if (typeof v === 'object') return ArrayBuffer.isView(v) ? v.constructor.name : 'an object';
  return `${typeof v} ${String(v)}`;
}

/** Builds the tokenizer of a GGUF file's metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`). */
export function tokenizerFromGguf(metadata: Record<string, unknown>, options: GgufTokenizerOptions = {}): GgufTokenizer {
  const source = options.source ?? 'GGUF metadata';
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new StrataError('argument', 'tokenizerFromGguf', `metadata must be a record of GGUF keys, got ${kind(metadata)}`);
  }
  return new GgufTokenizer(new MetadataReader(metadata, source));
}

const utf8 = new TextEncoder();

export class GgufTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly special: Readonly<SpecialTokenIds>;
  readonly endOfGenerationIds: readonly number[];
  readonly addsBos: boolean;
  /** 'llama' (SentencePiece BPE over scores) or 'gpt2' (byte-level BPE over merges). */
  readonly model: 'llama' | 'gpt2';
  readonly preTokenizerName: string | undefined;
  private readonly tokens: string[];
  private readonly attrs: Uint8Array;
  private readonly tokenIds: TokenIndex;
  private readonly addEos: boolean;
  private readonly addSpacePrefix: boolean;
  /** tokens matched whole in the text before BPE, longest first */
  private readonly specialsByLength: number[];
  private readonly spm: SentencePieceBpe | undefined;
  private readonly bpe: ByteLevelBpe | undefined;
  private readonly preTokenize: PreTokenizer | undefined;
  private readonly pieceBytes: (Uint8Array | undefined)[];
  private readonly templates: ChatTemplates | undefined;
  private readonly source: string;

  constructor(meta: MetadataReader) {
    this.source = meta.source;
    const model = meta.string('tokenizer.ggml.model');
    if (model === undefined) meta.fail('tokenizer.ggml.model', 'is missing');
    if (model !== 'llama' && model !== 'gpt2') {
      throw new StrataError('unsupported', meta.source, `tokenizer.ggml.model '${model.slice(0, 32)}' is not supported; supported: 'llama' (SentencePiece BPE), 'gpt2' (byte-level BPE)`);
    }
    this.model = model;
    // copied only when an empty token is renamed below: the metadata's array may be shared
    const listed = meta.strings('tokenizer.ggml.tokens');
    const tokens = listed.includes('') ? listed.slice() : listed;
    const n = tokens.length;
    if (n === 0) meta.fail('tokenizer.ggml.tokens', 'is empty');
    this.vocabSize = n;
    for (let i = 0; i < n; i++) if (tokens[i] === '') tokens[i] = `[EMPTY_${i}]`; // as llama.cpp renames them
    this.tokenIds = new TokenIndex(tokens, (prior, i) => meta.fail('tokenizer.ggml.tokens', `token '${tokens[i]!.slice(0, 40)}' appears twice (ids ${prior} and ${i})`));
    this.tokens = tokens;

    const scores = new Float64Array(n);
    if (meta.has('tokenizer.ggml.scores')) {
      const raw = meta.numbers('tokenizer.ggml.scores', n, false);
      for (let i = 0; i < n; i++) scores[i] = Number.isNaN(raw[i]) ? -Infinity : raw[i]!;
    }
    this.attrs = new Uint8Array(n).fill(ATTR_NORMAL);
    if (meta.has('tokenizer.ggml.token_type')) {
      const types = meta.numbers('tokenizer.ggml.token_type', n, true);
      for (let i = 0; i < n; i++) this.attrs[i] = ATTR_OF_TYPE[types[i]!] ?? 0;
    }

    // which special tokens exist, and whether BOS/EOS are added (llama.cpp's defaults per model)
    let addBos = model === 'llama';
    let ignoreMerges = false;
    this.addSpacePrefix = model === 'llama';
    if (model === 'gpt2') {
      const pre = meta.string('tokenizer.ggml.pre') ?? 'default';
      this.preTokenizerName = pre;
      this.preTokenize = preTokenizerFor(pre, meta.source);
      addBos = PRE_TOKENIZERS[pre]!.addBos ?? false;
      ignoreMerges = PRE_TOKENIZERS[pre]!.ignoreMerges ?? false;
    }
    this.addSpacePrefix = meta.bool('tokenizer.ggml.add_space_prefix') ?? this.addSpacePrefix;
    addBos = meta.bool('tokenizer.ggml.add_bos_token') ?? addBos;
    this.addEos = meta.bool('tokenizer.ggml.add_eos_token') ?? false;

    const special: SpecialTokenIds = model === 'llama' ? { unk: 0 < n ? 0 : undefined, bos: 1 < n ? 1 : undefined, eos: 2 < n ? 2 : undefined } : {};
    for (const [role, key] of SPECIAL_ID_KEYS) {
      const id = meta.tokenId(`tokenizer.ggml.${key}`, n);
      if (id !== undefined) special[role] = id;
    }
    const completed = completeSpecialTokens(special, (t) => this.tokenIds.get(t));
    this.special = completed.special;
    this.endOfGenerationIds = completed.endOfGenerationIds;
    if (addBos && this.special.bos === undefined) meta.fail('tokenizer.ggml.add_bos_token', 'is true, but tokenizer.ggml.bos_token_id is not set');
    if (this.addEos && this.special.eos === undefined) meta.fail('tokenizer.ggml.add_eos_token', 'is true, but tokenizer.ggml.eos_token_id is not set');
    this.addsBos = addBos;

    // llama.cpp makes end-of-generation and FIM tokens control tokens whatever their stated type
    const s = this.special;
    for (const id of [s.eot, s.eom, s.fimPrefix, s.fimSuffix, s.fimMiddle, s.fimPad, s.fimRepo, s.fimSep]) if (id !== undefined) this.attrs[id]! |= ATTR_CONTROL;
    for (const name of EOG_TOKENS) {
      const id = this.tokenIds.get(name);
      if (id !== undefined) this.attrs[id]! |= ATTR_CONTROL;
    }

    this.specialsByLength = [];
    for (let i = 0; i < n; i++) if (this.attrs[i]! & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) this.specialsByLength.push(i);
    this.specialsByLength.sort((a, b) => tokens[b]!.length - tokens[a]!.length || a - b);

    if (model === 'llama') {
      const byteToken = new Int32Array(256).fill(-1);
      for (let b = 0; b < 256; b++) {
        const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
        byteToken[b] = this.tokenIds.get(hex) ?? (b < 0x80 ? this.tokenIds.get(String.fromCharCode(b)) : undefined) ?? this.special.unk ?? -1;
      }
      this.spm = new SentencePieceBpe(this.tokenIds, scores, byteToken);
    } else {
      this.bpe = new ByteLevelBpe(tokens, new Map(tokens.map((t, i) => [t, i])), meta.strings('tokenizer.ggml.merges'), ignoreMerges, meta.source);
    }
    this.pieceBytes = new Array(n);

    const templateTokens: TemplateTokens = {};
    if (s.bos !== undefined) templateTokens.bos_token = tokens[s.bos]!;
    if (s.eos !== undefined) templateTokens.eos_token = tokens[s.eos]!;
    if (s.unk !== undefined) templateTokens.unk_token = tokens[s.unk]!;
    if (s.pad !== undefined) templateTokens.pad_token = tokens[s.pad]!;
    this.templates = ChatTemplates.from(readTemplates(meta), templateTokens, `${meta.source}: tokenizer.chat_template`);
  }

  get chatTemplate(): string | undefined {
    return this.templates?.defaultSource;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new StrataError('argument', 'encode', `text must be a string, got ${typeof text}`);
    const addSpecial = options.addSpecialTokens ?? true;
    const out: number[] = [];
    if (addSpecial && this.addsBos) out.push(this.special.bos!);
    let prevSpecial = true;
    for (const fragment of this.partition(text)) {
      if (typeof fragment === 'number') {
        out.push(fragment);
        prevSpecial = true;
      } else if (this.spm) {
        // SentencePiece: a space before the text (add_space_prefix), spaces spelled '▁'
        const spaced = this.addSpacePrefix && prevSpecial ? ` ${fragment}` : fragment;
        this.spm.encode(spaced.replaceAll(' ', '▁'), out);
        prevSpecial = false;
      } else {
        for (const word of this.preTokenize!(fragment)) this.bpe!.encodeWord(toByteLevel(word), out);
      }
    }
    if (addSpecial && this.addEos) out.push(this.special.eos!);
    return out;
  }

  /**
   * Cuts the special (control, user-defined) tokens out of the text, longest token first as
   * llama.cpp's tokenizer_st_partition does: strings stay text, numbers are token ids.
   */
  private partition(text: string): Array<string | number> {
    let fragments: Array<string | number> = text.length > 0 ? [text] : [];
    for (const id of this.specialsByLength) {
      const token = this.tokens[id]!;
      if (!text.includes(token)) continue;
      const next: Array<string | number> = [];
      for (const f of fragments) {
        if (typeof f === 'number' || !f.includes(token)) {
          next.push(f);
          continue;
        }
        const parts = f.split(token);
        for (let i = 0; i < parts.length; i++) {
          if (i > 0) next.push(id);
          if (parts[i]!.length > 0) next.push(parts[i]!);
        }
      }
      fragments = next;
    }
    return fragments;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    checkTokenIds(ids, this.vocabSize, 'decode');
    const skipSpecial = options.skipSpecialTokens ?? false;
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (const id of ids) {
      const bytes = this.bytesOf(id, skipSpecial);
      if (bytes.length > 0) {
        chunks.push(bytes);
        total += bytes.length;
      }
    }
    const all = new Uint8Array(total);
    let offset = 0;
    for (const c of chunks) {
      all.set(c, offset);
      offset += c.length;
    }
    let text = UTF8_DECODER.decode(all);
    // the space the encoder put before the text (HF's Strip decoder; llama-tokenizer-js)
    if (this.addSpacePrefix && text.startsWith(' ')) text = text.slice(1);
    return options.cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text;
  }

  /** The bytes a token stands for (llama.cpp's token_to_piece). */
  private bytesOf(id: number, skipSpecial: boolean): Uint8Array {
    const attr = this.attrs[id]!;
    if (attr & (ATTR_CONTROL | ATTR_UNKNOWN)) return skipSpecial ? EMPTY : this.cachedBytes(id, () => utf8.encode(this.tokens[id]!));
    if (attr & ATTR_USER_DEFINED) return this.cachedBytes(id, () => utf8.encode(this.tokens[id]!));
    if (attr & ATTR_NORMAL) return this.cachedBytes(id, () => (this.spm ? utf8.encode(this.tokens[id]!.replaceAll('▁', ' ')) : fromByteLevel(this.tokens[id]!)));
    if (attr & ATTR_BYTE) {
      return this.cachedBytes(id, () => {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.tokens[id]!);
        return m ? Uint8Array.of(parseInt(m[1]!, 16)) : utf8.encode(this.tokens[id]!);
      });
    }
    return EMPTY; // unused and undefined tokens decode to nothing
  }

  private cachedBytes(id: number, make: () => Uint8Array): Uint8Array {
    let bytes = this.pieceBytes[id];
    if (!bytes) {
      bytes = make();
      this.pieceBytes[id] = bytes;
    }
    return bytes;
  }

  tokenToId(token: string): number | undefined {
    return this.tokenIds.get(token);
  }

  idToToken(id: number): string {
    checkTokenIds([id], this.vocabSize, 'idToToken');
    return this.tokens[id]!;
  }

  isSpecial(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize && (this.attrs[id]! & (ATTR_CONTROL | ATTR_UNKNOWN)) !== 0;
  }

  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string {
    if (!this.templates) throw new StrataError('unsupported', 'applyChatTemplate', `${this.source} has no tokenizer.chat_template`);
    return this.templates.render(messages, options);
  }

  createDecodeStream(options?: DecodeStreamOptions): DecodeStream {
    return new DecodeStream(this, options);
  }
}

const EMPTY = new Uint8Array(0);
// ignoreBOM: a text that starts with U+FEFF must decode with it
const UTF8_DECODER = new TextDecoder('utf-8', { ignoreBOM: true });

/** Bytes of a byte-level token: each character back to its byte (others as their UTF-8). */
function fromByteLevel(token: string): Uint8Array {
  const out: number[] = [];
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch.codePointAt(0)!);
    if (b !== undefined) out.push(b);
    else for (const x of utf8.encode(ch)) out.push(x);
  }
  return Uint8Array.from(out);
}

/** `tokenizer.chat_template`, or the named ones (`tokenizer.chat_templates` + `tokenizer.chat_template.<name>`). */
function readTemplates(meta: MetadataReader): unknown {
  const main = meta.string('tokenizer.chat_template');
  if (!meta.has('tokenizer.chat_templates')) return main;
  const named: Array<{ name: string; template: string }> = [];
  if (main !== undefined) named.push({ name: 'default', template: main });
  for (const name of meta.strings('tokenizer.chat_templates')) {
    const template = meta.string(`tokenizer.chat_template.${name}`);
    if (template !== undefined) named.push({ name, template });
  }
  return named;
}
