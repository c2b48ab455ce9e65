// Byte-level BPE preliminaries: GPT-2's byte ↔ printable-character table, and the regex
// pre-tokenizers that cut text into words before merging, named as GGUF's `tokenizer.ggml.pre`
// names them (the expressions llama.cpp uses for each, llama-vocab.cpp).

import { StrataError } from '../errors.js';

/**
 * GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * (controls, space, ...) take the code points from U+0100 on, so every byte string becomes a
 * string of visible characters ('Ġ' is the space).
 */
function buildByteTables(): { byteToChar: string[]; charToByte: Map<number, number> } {
  const byteToChar: string[] = new Array(256);
  const charToByte = new Map<number, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const cp = printable ? b : next++;
    byteToChar[b] = String.fromCharCode(cp);
    charToByte.set(cp, b);
  }
  return { byteToChar, charToByte };
}

const TABLES = buildByteTables();
export const BYTE_TO_CHAR: readonly string[] = TABLES.byteToChar;
/** code point → byte, for the 256 characters of the table */
export const CHAR_TO_BYTE: ReadonlyMap<number, number> = TABLES.charToByte;

const utf8 = new TextEncoder();

/** The byte-level form of a string: its UTF-8 bytes, each as its table character. */
export function toByteLevel(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7e || text.charCodeAt(i) < 0x21) {
      ascii = false;
      break;
    }
  }
  if (ascii) return text;
  const bytes = utf8.encode(text);
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_CHAR[bytes[i]!];
  return out;
}

// The expressions, as llama.cpp writes them ((?i:'s) spelled '[sS]), with \s, \S and the \s in
// [^\s...] as Unicode White_Space — what Oniguruma (the Rust tokenizers) and llama.cpp mean by it,
// where JavaScript's \s would also take U+FEFF and leave out U+0085.
const S = '\\p{White_Space}';
const NOT_S = '\\P{White_Space}';
const CONTRACTIONS_ANY_CASE = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${S}\\p{L}\\p{N}]+|${S}+(?!${NOT_S})|${S}+`;
const LLAMA3 = `${CONTRACTIONS_ANY_CASE}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^${S}\\p{L}\\p{N}]+[\\r\\n]*|${S}*[\\r\\n]+|${S}+(?!${NOT_S})|${S}+`;
const QWEN2 = `${CONTRACTIONS_ANY_CASE}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^${S}\\p{L}\\p{N}]+[\\r\\n]*|${S}*[\\r\\n]+|${S}+(?!${NOT_S})|${S}+`;

/** Pre-tokenizer families: each applies its expressions in turn, every one splitting the pieces of the last. */
const FAMILIES: Record<string, readonly string[]> = {
  default: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'],
  gpt2: [GPT2],
  llama3: [LLAMA3],
  qwen2: [QWEN2],
  starcoder: ['\\p{N}', GPT2],
  falcon: ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]'],
};

/** `tokenizer.ggml.pre` names → family, with the flags llama.cpp sets for them. */
export const PRE_TOKENIZERS: Record<string, { family: keyof typeof FAMILIES; ignoreMerges?: boolean; addBos?: boolean }> = {
  default: { family: 'default' },
  'gpt-2': { family: 'gpt2' },
  'phi-2': { family: 'gpt2' },
  mpt: { family: 'gpt2' },
  olmo: { family: 'gpt2' },
  'jina-es': { family: 'gpt2' },
  'jina-de': { family: 'gpt2' },
  'roberta-bpe': { family: 'gpt2' },
  llama3: { family: 'llama3', ignoreMerges: true, addBos: true },
  'llama-v3': { family: 'llama3', ignoreMerges: true, addBos: true },
  'llama-bpe': { family: 'llama3', ignoreMerges: true, addBos: true },
  falcon3: { family: 'llama3', ignoreMerges: true, addBos: true },
  dbrx: { family: 'llama3' },
  'smaug-bpe': { family: 'llama3' },
  qwen2: { family: 'qwen2' },
  'deepseek-r1-qwen': { family: 'qwen2' },
  stablelm2: { family: 'qwen2' },
  megrez: { family: 'qwen2' },
  starcoder: { family: 'starcoder' },
  refact: { family: 'starcoder' },
  'command-r': { family: 'starcoder' },
  smollm: { family: 'starcoder' },
  codeshell: { family: 'starcoder' },
  falcon: { family: 'falcon' },
};

export type PreTokenizer = (text: string) => string[];

const compiled = new Map<string, PreTokenizer>();

/** The pre-tokenizer of a `tokenizer.ggml.pre` name; StrataError('unsupported') for others. */
export function preTokenizerFor(name: string, source: string): PreTokenizer {
  const spec = PRE_TOKENIZERS[name];
  if (!spec) {
    throw new StrataError('unsupported', source, `tokenizer.ggml.pre '${name.slice(0, 64)}' is not supported; supported: ${Object.keys(PRE_TOKENIZERS).join(', ')}`);
  }
  let split = compiled.get(spec.family);
  if (!split) {
    split = regexSplitter(FAMILIES[spec.family]!.map((e) => new RegExp(e, 'gu')));
    compiled.set(spec.family, split);
  }
  return split;
}

/**
 * Splits with each expression in turn, as llama.cpp's unicode_regex_split does: a piece becomes
 * its matches and the text between them, so nothing is dropped.
 */
function regexSplitter(expressions: readonly RegExp[]): PreTokenizer {
  return (text) => {
    let pieces = [text];
    for (const re of expressions) {
      const next: string[] = [];
      for (const piece of pieces) {
        let last = 0;
        re.lastIndex = 0;
        for (const m of piece.matchAll(re)) {
          if (m.index > last) next.push(piece.slice(last, m.index));
          if (m[0].length > 0) next.push(m[0]);
          last = m.index + m[0].length;
        }
        if (last < piece.length) next.push(piece.slice(last));
      }
      pieces = next;
    }
    return pieces;
  };
}
