// A byte-level BPE tokenizer.json as GGUF tokenizer metadata (`tokenizer.ggml.*`), the keys
// llama.cpp's convert_hf_to_gguf.py writes for such a vocabulary, so llama.cpp, Ollama and
// Strata's own GGUF reader (gguf-vocab.ts) tokenize an exported model as the Hugging Face files do.

import { StrataError } from '../errors.js';
import type { GgufInput } from '../io/gguf-values.js';
import { GgufTokenType } from './gguf-vocab.js';

const OP = 'ggufTokenizerMetadata';

// The Split regexes of Llama 3 and Qwen 2 tokenizer.json files, by the `tokenizer.ggml.pre` name
// llama.cpp gives each (GPT-2's own regex lives inside the ByteLevel pre-tokenizer instead).
const SPLIT_PATTERNS: Readonly<Record<string, string>> = {
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'llama-bpe',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'qwen2',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The `tokenizer.ggml.pre` name for the pre-tokenizer, or a StrataError('unsupported') naming what it is. */
function preTokenizerName(pre: unknown): string {
  if (isObject(pre) && pre.type === 'ByteLevel') {
    if (pre.use_regex === false) throw new StrataError('unsupported', OP, 'a ByteLevel pre-tokenizer without its regex (use_regex false) has no GGUF equivalent');
    if (pre.add_prefix_space === true) throw new StrataError('unsupported', OP, 'a ByteLevel pre-tokenizer with add_prefix_space has no GGUF equivalent');
    return 'gpt-2';
  }
  if (isObject(pre) && pre.type === 'Sequence' && Array.isArray(pre.pretokenizers) && pre.pretokenizers.length === 2) {
    const [split, byteLevel] = pre.pretokenizers as unknown[];
    const pattern = isObject(split) && split.type === 'Split' && split.behavior === 'Isolated' && split.invert !== true && isObject(split.pattern) ? split.pattern.Regex : undefined;
    const name = typeof pattern === 'string' ? SPLIT_PATTERNS[pattern] : undefined;
    if (name !== undefined && isObject(byteLevel) && byteLevel.type === 'ByteLevel' && byteLevel.use_regex === false && byteLevel.add_prefix_space !== true) return name;
  }
  const kind = isObject(pre) && typeof pre.type === 'string' ? `'${pre.type}'` : String(pre);
  throw new StrataError('unsupported', OP, `pre-tokenizer ${kind} is not one GGUF names; supported: ByteLevel (gpt-2), the Llama 3 and Qwen 2 Split + ByteLevel sequences`);
}

/** A tokenizer_config.json token entry (a string or an AddedToken object) as its string. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

/** Whether the post-processor puts `bos` before every sequence (TemplateProcessing's single template). */
function postProcessorAddsBos(post: unknown, bos: string | undefined): boolean {
  if (bos === undefined || !isObject(post)) return false;
  if (post.type === 'Sequence' && Array.isArray(post.processors)) return post.processors.some((p) => postProcessorAddsBos(p, bos));
  if (post.type !== 'TemplateProcessing' || !Array.isArray(post.single)) return false;
  const first: unknown = post.single[0];
  return isObject(first) && isObject(first.SpecialToken) && first.SpecialToken.id === bos;
}

function addStringArray(out: Record<string, GgufInput>, key: string, value: readonly string[]): void {
  out[key] = { type: 'array', itemType: 'string', value };
}

/**
 * GGUF tokenizer metadata (tokenizer.ggml.model 'gpt2', tokenizer.ggml.pre 'gpt-2', tokens,
 * token_type (1 normal, 3 control for specials), merges, bos/eos/padding token ids,
 * chat_template) for a byte-level BPE tokenizer.json, so llama.cpp can load an exported model.
 * Llama 3 and Qwen 2 style pre-tokenizers get their own `pre` names; anything else GGUF cannot
 * say (normalizers, byte fallback, other models) is a StrataError('unsupported').
 */
export function ggufTokenizerMetadata(tokenizerJson: object, tokenizerConfig: object = {}): Record<string, GgufInput> {
  if (!isObject(tokenizerJson)) throw new StrataError('argument', OP, 'tokenizerJson must be the parsed tokenizer.json object');
  if (!isObject(tokenizerConfig)) throw new StrataError('argument', OP, 'tokenizerConfig must be the parsed tokenizer_config.json object');
  const model = tokenizerJson.model;
  if (!isObject(model) || (model.type !== undefined && model.type !== 'BPE')) {
    throw new StrataError('unsupported', OP, `only BPE tokenizers export as byte-level GGUF vocabularies, got model type '${isObject(model) ? String(model.type) : 'none'}'`);
  }
  if (model.byte_fallback === true) throw new StrataError('unsupported', OP, 'a BPE with byte_fallback is a SentencePiece-style vocabulary, not a byte-level one');
  // GGUF has no normalizers. NFC (Qwen's) is let through as llama.cpp's converter lets it
  // through: text already in NFC, nearly all text, tokenizes the same without it.
  const normalizer = tokenizerJson.normalizer;
  if (normalizer !== null && normalizer !== undefined && !(isObject(normalizer) && normalizer.type === 'NFC')) {
    const kind = isObject(normalizer) && typeof normalizer.type === 'string' ? ` '${normalizer.type}'` : '';
    throw new StrataError('unsupported', OP, `tokenizer.json has a normalizer${kind}, which a GGUF byte-level vocabulary cannot carry`);
  }
  const pre = preTokenizerName(tokenizerJson.pre_tokenizer);
  if (!isObject(model.vocab)) throw new StrataError('io', OP, "tokenizer.json 'model.vocab' must be an object of token → id");

  // every id up to the largest: vocabulary, then added tokens over it; gaps become unused '[PAD<i>]'
  const byId = new Map<number, { token: string; type: number }>();
  const place = (token: string, id: unknown, type: number, where: string): void => {
    if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= 1 << 24) throw new StrataError('io', OP, `${where}: token id must be an integer in [0, 2^24), got ${String(id)}`);
    byId.set(id as number, { token, type });
  };
  for (const [token, id] of Object.entries(model.vocab)) place(token, id, GgufTokenType.normal, `model.vocab['${token.slice(0, 40)}']`);
  const added = tokenizerJson.added_tokens ?? [];
  if (!Array.isArray(added)) throw new StrataError('io', OP, "tokenizer.json 'added_tokens' must be a list");
  for (const [i, t] of added.entries()) {
    if (!isObject(t) || typeof t.content !== 'string' || t.content.length === 0) throw new StrataError('io', OP, `added_tokens[${i}] must have a non-empty string 'content'`);
    place(t.content, t.id, t.special === true ? GgufTokenType.control : GgufTokenType.userDefined, `added_tokens[${i}]`);
  }
  let size = 0;
  for (const id of byId.keys()) size = Math.max(size, id + 1);
  if (size === 0) throw new StrataError('io', OP, 'the vocabulary is empty');
  const tokens: string[] = new Array(size);
  const types = new Int32Array(size);
  const idOf = new Map<string, number>();
  for (let id = 0; id < size; id++) {
    const entry = byId.get(id) ?? { token: `[PAD${id}]`, type: GgufTokenType.unused };
    const prior = idOf.get(entry.token);
    if (prior !== undefined) throw new StrataError('unsupported', OP, `token '${entry.token.slice(0, 40)}' has two ids (${prior} and ${id}); a GGUF vocabulary names each token once`);
    idOf.set(entry.token, id);
    tokens[id] = entry.token;
    types[id] = entry.type;
  }

  const rawMerges = model.merges ?? [];
  if (!Array.isArray(rawMerges)) throw new StrataError('io', OP, "tokenizer.json 'model.merges' must be a list");
  const merges = rawMerges.map((m: unknown, i) => {
    if (typeof m === 'string' && m.indexOf(' ', 1) > 0) return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string' && m[0].length > 0) {
      // GGUF writes a merge as 'left right': a space inside a part would be read as the separator
      if (m[0].includes(' ') || m[1].includes(' ')) throw new StrataError('unsupported', OP, `merge ${i} ['${m[0]}', '${m[1]}'] holds a space, which GGUF's 'left right' form cannot say`);
      return `${m[0]} ${m[1]}`;
    }
    throw new StrataError('io', OP, `model.merges[${i}] must be 'left right' or [left, right]`);
  });

  const out: Record<string, GgufInput> = {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': pre,
  };
  addStringArray(out, 'tokenizer.ggml.tokens', tokens);
  out['tokenizer.ggml.token_type'] = { type: 'array', itemType: 'i32', value: types };
  addStringArray(out, 'tokenizer.ggml.merges', merges);

  const special = (key: string): number | undefined => {
    const s = tokenString(tokenizerConfig[key]);
    return s === undefined ? undefined : idOf.get(s);
  };
  const bos = special('bos_token');
  const eos = special('eos_token');
  const pad = special('pad_token');
  if (bos !== undefined) out['tokenizer.ggml.bos_token_id'] = { type: 'u32', value: bos };
  if (eos !== undefined) out['tokenizer.ggml.eos_token_id'] = { type: 'u32', value: eos };
  if (pad !== undefined) out['tokenizer.ggml.padding_token_id'] = { type: 'u32', value: pad };
  // say it either way: llama.cpp's default depends on the pre-tokenizer name
  const addsBos = postProcessorAddsBos(tokenizerJson.post_processor, tokenString(tokenizerConfig.bos_token));
  out['tokenizer.ggml.add_bos_token'] = { type: 'bool', value: addsBos && bos !== undefined };
  out['tokenizer.ggml.add_eos_token'] = { type: 'bool', value: false };

  const template = tokenizerConfig.chat_template;
  if (typeof template === 'string') out['tokenizer.chat_template'] = { type: 'string', value: template };
  else if (Array.isArray(template)) {
    // named templates (transformers' list form): 'default' is the main one, the others by name
    const names: string[] = [];
    for (const [i, entry] of template.entries()) {
      if (!isObject(entry) || typeof entry.name !== 'string' || typeof entry.template !== 'string') {
        throw new StrataError('io', OP, `tokenizer_config.json chat_template[${i}] must be { name, template }`);
      }
      if (entry.name === 'default') out['tokenizer.chat_template'] = { type: 'string', value: entry.template };
      else {
        names.push(entry.name);
        out[`tokenizer.chat_template.${entry.name}`] = { type: 'string', value: entry.template };
      }
    }
    if (names.length > 0) addStringArray(out, 'tokenizer.chat_templates', names);
  }
  return out;
}
