// Hugging Face tokenizers: a directory with tokenizer.json (+ tokenizer_config.json, optionally
// special_tokens_map.json), run by @huggingface/tokenizers. The files are treated as hostile: the
// JSON is checked for the shapes the library relies on before it sees them (ids in range, strings
// where strings belong), and anything the library still throws becomes a StrataError('io') that
// names the file.

import fs from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer as HfLibraryTokenizer } from '@huggingface/tokenizers';
import { StrataError } from '../errors.js';
import { ChatTemplates, type TemplateTokens } from './chat-template.js';
import {
  type ChatMessage,
  type ChatTemplateOptions,
  DecodeStream,
  type DecodeStreamOptions,
  type DecodeOptions,
  type EncodeOptions,
  type SpecialTokenIds,
  type Tokenizer,
  checkTokenIds,
  completeSpecialTokens,
} from './tokenizer.js';

/** Token ids past this are refused: no real vocabulary comes near, and the library allocates by id. */
const MAX_TOKEN_ID = 1 << 24;
/** Text encoded once at load, so a tokenizer that cannot encode fails there and names its file. */
const SMOKE_TEXT = 'Hello, world! 123 héllo 你好 🙂\n  x';

export interface HfTokenizerFiles {
  /** Parsed tokenizer.json. */
  tokenizer: unknown;
  /** Parsed tokenizer_config.json ({} when the directory has none). */
  config?: unknown;
  /** Parsed special_tokens_map.json, if present. */
  specialTokensMap?: unknown;
  /** Names the files in messages (a directory or a path). */
  source?: string;
}

/** Reads a Hugging Face tokenizer directory. */
export async function loadHfTokenizer(dir: string): Promise<HfTokenizer> {
  const tokenizerPath = path.join(dir, 'tokenizer.json');
  const tokenizerText = await readText(tokenizerPath, true);
  if (tokenizerText === undefined) {
    const hasModel = (await readText(path.join(dir, 'tokenizer.model'), false)) !== undefined;
    throw new StrataError(
      hasModel ? 'unsupported' : 'io',
      tokenizerPath,
      hasModel ? 'not found; only tokenizer.json is supported (tokenizer.model is a SentencePiece file: convert it with transformers)' : 'not found',
    );
  }
  return hfTokenizerFromText({
    tokenizer: tokenizerText,
    config: await readText(path.join(dir, 'tokenizer_config.json'), false),
    specialTokensMap: await readText(path.join(dir, 'special_tokens_map.json'), false),
    source: dir,
  });
}

/** The files' text (what loadHfTokenizer reads); `source` is their directory, for messages. */
export function hfTokenizerFromText(files: { tokenizer: string; config?: string; specialTokensMap?: string; source?: string }): HfTokenizer {
  const source = files.source ?? '<memory>';
  const names = fileNames(source);
  return hfTokenizerFromJson({
    tokenizer: parseJson(files.tokenizer, names.tokenizer),
    config: files.config === undefined ? {} : parseJson(files.config, names.config),
    specialTokensMap: files.specialTokensMap === undefined ? undefined : parseJson(files.specialTokensMap, names.specialTokensMap),
    source,
  });
}

function fileNames(source: string): { tokenizer: string; config: string; specialTokensMap: string } {
  const name = (file: string): string => (source === '<memory>' ? `${source} ${file}` : path.join(source, file));
  return { tokenizer: name('tokenizer.json'), config: name('tokenizer_config.json'), specialTokensMap: name('special_tokens_map.json') };
}

async function readText(file: string, required: boolean): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (!required && code === 'EISDIR') return undefined;
    throw new StrataError('io', file, `cannot read: ${(err as Error).message}`);
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StrataError('io', file, `is not valid JSON (truncated or corrupt?): ${(err as Error).message}`);
  }
}

/** Builds a tokenizer from already parsed files (what loadHfTokenizer does after reading them). */
export function hfTokenizerFromJson(files: HfTokenizerFiles): HfTokenizer {
  const names = fileNames(files.source ?? '<memory>');
  const checked = checkTokenizerJson(files.tokenizer, names.tokenizer);
  const config = checkConfig(files.config ?? {}, names.config);
  const map = files.specialTokensMap === undefined ? {} : checkConfig(files.specialTokensMap, names.specialTokensMap);
  return new HfTokenizer(checked, config, map, names.tokenizer, names.config);
}

interface CheckedTokenizerJson {
  json: Record<string, unknown>;
  vocabSize: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkId(id: unknown, file: string, where: string): number {
  if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= MAX_TOKEN_ID) {
    throw new StrataError('io', file, `${where}: token id must be an integer in [0, ${MAX_TOKEN_ID}), got ${describe(id)}`);
  }
  return id as number;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** Checks the parts of tokenizer.json the library reads without checking; returns a normalized copy. */
function checkTokenizerJson(raw: unknown, file: string): CheckedTokenizerJson {
  if (!isObject(raw)) throw new StrataError('io', file, `must hold a JSON object, got ${describe(raw)}`);
  const json: Record<string, unknown> = { ...raw };
  const model = raw.model;
  if (!isObject(model)) throw new StrataError('io', file, `'model' must be an object, got ${describe(model)}`);
  if (model.type !== undefined && typeof model.type !== 'string') throw new StrataError('io', file, `'model.type' must be a string`);
  let maxId = -1;
  const vocab = model.vocab;
  if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], ...]; the id is the position
    for (const [i, entry] of vocab.entries()) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') {
        throw new StrataError('io', file, `model.vocab[${i}] must be [piece: string, score: number], got ${describe(entry)}`);
      }
    }
    if (vocab.length > MAX_TOKEN_ID) throw new StrataError('io', file, `model.vocab has ${vocab.length} entries, more than ${MAX_TOKEN_ID}`);
    maxId = vocab.length - 1;
  } else if (isObject(vocab)) {
    for (const [token, id] of Object.entries(vocab)) maxId = Math.max(maxId, checkId(id, file, `model.vocab['${token.slice(0, 40)}']`));
  } else {
    throw new StrataError('io', file, `'model.vocab' must be an object or a list, got ${describe(vocab)}`);
  }
  if (model.merges !== undefined) {
    if (!Array.isArray(model.merges)) throw new StrataError('io', file, `'model.merges' must be a list, got ${describe(model.merges)}`);
    for (const [i, m] of model.merges.entries()) {
      const ok = typeof m === 'string' ? m.includes(' ') : Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string';
      if (!ok) throw new StrataError('io', file, `model.merges[${i}] must be 'left right' or [left, right], got ${describe(m)}`);
    }
  }
  for (const key of ['unk_token', 'continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    const v = model[key];
    if (v !== undefined && v !== null && typeof v !== 'string') throw new StrataError('io', file, `'model.${key}' must be a string or null, got ${describe(v)}`);
  }
  const added = raw.added_tokens ?? [];
  if (!Array.isArray(added)) throw new StrataError('io', file, `'added_tokens' must be a list, got ${describe(added)}`);
  for (const [i, t] of added.entries()) {
    if (!isObject(t) || typeof t.content !== 'string' || t.content.length === 0) {
      throw new StrataError('io', file, `added_tokens[${i}] must be an object with a non-empty string 'content'`);
    }
    maxId = Math.max(maxId, checkId(t.id, file, `added_tokens[${i}] ('${t.content.slice(0, 40)}')`));
  }
  json.added_tokens = added;
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const) {
    const part = raw[key] ?? null;
    if (part !== null && (!isObject(part) || typeof part.type !== 'string')) {
      throw new StrataError('io', file, `'${key}' must be null or an object with a string 'type', got ${describe(part)}`);
    }
    json[key] = part;
  }
  if (maxId < 0) throw new StrataError('io', file, 'the vocabulary is empty');
  return { json, vocabSize: maxId + 1 };
}

const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'] as const;

/** A special token entry: a string, an AddedToken object ({content, ...}) or null. */
function tokenContent(v: unknown, file: string, key: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  throw new StrataError('io', file, `'${key}' must be a string, an object with 'content', or null; got ${describe(v)}`);
}

/** tokenizer_config.json / special_tokens_map.json with AddedToken objects flattened to strings. */
function checkConfig(raw: unknown, file: string): Record<string, unknown> {
  if (!isObject(raw)) throw new StrataError('io', file, `must hold a JSON object, got ${describe(raw)}`);
  const out: Record<string, unknown> = { ...raw };
  for (const key of SPECIAL_KEYS) {
    if (key in raw) out[key] = tokenContent(raw[key], file, key) ?? null;
  }
  if (raw.additional_special_tokens !== undefined) {
    if (!Array.isArray(raw.additional_special_tokens)) throw new StrataError('io', file, `'additional_special_tokens' must be a list`);
    out.additional_special_tokens = raw.additional_special_tokens.map((t, i) => {
      const s = tokenContent(t, file, `additional_special_tokens[${i}]`);
      if (s === undefined) throw new StrataError('io', file, `additional_special_tokens[${i}] is null`);
      return s;
    });
  }
  for (const key of ['clean_up_tokenization_spaces', 'remove_space', 'do_lowercase_and_remove_accent'] as const) {
    if (raw[key] !== undefined && raw[key] !== null && typeof raw[key] !== 'boolean') throw new StrataError('io', file, `'${key}' must be true or false`);
  }
  return out;
}

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly special: Readonly<SpecialTokenIds>;
  readonly endOfGenerationIds: readonly number[];
  readonly addsBos: boolean;
  private readonly lib: HfLibraryTokenizer;
  private readonly specialIds: Set<number>;
  private readonly templates: ChatTemplates | undefined;

  /** Use loadHfTokenizer / hfTokenizerFromJson. */
  constructor(
    checked: CheckedTokenizerJson,
    config: Record<string, unknown>,
    specialTokensMap: Record<string, unknown>,
    private readonly source: string,
    configSource: string,
  ) {
    this.vocabSize = checked.vocabSize;
    try {
      this.lib = new HfLibraryTokenizer(checked.json, config);
    } catch (err) {
      throw new StrataError('io', source, `cannot build the tokenizer: ${(err as Error).message}`);
    }
    const tokenString = (key: (typeof SPECIAL_KEYS)[number]): string | undefined =>
      (config[key] as string | null | undefined) ?? (specialTokensMap[key] as string | null | undefined) ?? undefined;
    const idOf = (key: (typeof SPECIAL_KEYS)[number]): number | undefined => {
      const s = tokenString(key);
      return s === undefined ? undefined : this.lib.token_to_id(s);
    };
    const completed = completeSpecialTokens(
      { bos: idOf('bos_token'), eos: idOf('eos_token'), unk: idOf('unk_token'), pad: idOf('pad_token'), sep: idOf('sep_token'), mask: idOf('mask_token') },
      (t) => this.lib.token_to_id(t),
    );
    this.special = completed.special;
    this.endOfGenerationIds = completed.endOfGenerationIds;

    this.specialIds = new Set<number>();
    for (const [id, token] of this.lib.get_added_tokens_decoder()) if (token.special) this.specialIds.add(id);
    for (const t of (config.additional_special_tokens as string[] | undefined) ?? []) {
      const id = this.lib.token_to_id(t);
      if (id !== undefined) this.specialIds.add(id);
    }

    let smoke: number[];
    try {
      smoke = this.lib.encode('', { add_special_tokens: true }).ids;
      const ids = this.lib.encode(SMOKE_TEXT, { add_special_tokens: true }).ids;
      if (ids.some((id: number) => !Number.isInteger(id) || id < 0 || id >= this.vocabSize)) throw new Error('it produced token ids outside the vocabulary');
      if (ids.length > 0) this.lib.decode(ids, { skip_special_tokens: false });
    } catch (err) {
      throw new StrataError('io', source, `the tokenizer does not work: ${(err as Error).message}`);
    }
    this.addsBos = this.special.bos !== undefined && smoke[0] === this.special.bos;

    const templateTokens: TemplateTokens = {};
    for (const key of SPECIAL_KEYS) {
      const s = tokenString(key);
      if (s !== undefined) templateTokens[key] = s;
    }
    this.templates = ChatTemplates.from(config.chat_template, templateTokens, `${configSource}: chat_template`);
  }

  get chatTemplate(): string | undefined {
    return this.templates?.defaultSource;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new StrataError('argument', 'encode', `text must be a string, got ${typeof text}`);
    let ids: number[];
    try {
      ids = this.lib.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
    } catch (err) {
      throw new StrataError('io', this.source, `encoding failed: ${(err as Error).message}`);
    }
    for (const id of ids) {
      // the library maps a piece it cannot find to unk_token, which may not exist
      if (!Number.isInteger(id)) throw new StrataError('io', this.source, 'the vocabulary has no token for part of the text and no unk_token');
    }
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    checkTokenIds(ids, this.vocabSize, 'decode');
    if (ids.length === 0) return '';
    for (const id of ids) if (this.lib.id_to_token(id) === undefined) throw new StrataError('argument', 'decode', `token id ${id} has no token in ${this.source}`);
    try {
      return this.lib.decode(ids as number[], {
        skip_special_tokens: options.skipSpecialTokens ?? false,
        clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces ?? false,
      });
    } catch (err) {
      throw new StrataError('io', this.source, `decoding failed: ${(err as Error).message}`);
    }
  }

  tokenToId(token: string): number | undefined {
    return this.lib.token_to_id(token);
  }

  idToToken(id: number): string {
    checkTokenIds([id], this.vocabSize, 'idToToken');
    const token = this.lib.id_to_token(id);
    if (token === undefined) throw new StrataError('argument', 'idToToken', `token id ${id} has no token in ${this.source}`);
    return token;
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string {
    if (!this.templates) throw new StrataError('unsupported', 'applyChatTemplate', `${this.source} has no chat_template`);
    return this.templates.render(messages, options);
  }

  createDecodeStream(options?: DecodeStreamOptions): DecodeStream {
    return new DecodeStream(this, options);
  }
}
