// Encode throughput on ~100 KB of English prose (the README and LICENSE files of the installed
// packages), for each tokenizer the tests build. A measurement, not a test:
//   node --import tsx test/tokenizers/encode-speed.ts

import fs from 'node:fs';
import path from 'node:path';
import llamaTokenizerJs from 'llama-tokenizer-js';
import { type Tokenizer, loadTokenizer, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import { LLAMA3_DIR, QWEN3_DIR, ggufFromLlamaTokenizerJs, ggufFromTokenizerJson, gpt2TokenizerJson, readJson, tempDir, type LlamaTokenizerJs } from './helpers.js';

function englishCorpus(bytes: number): string {
  const root = path.resolve('node_modules');
  const files: string[] = [];
  for (const name of fs.readdirSync(root).sort()) {
    const dirs = name.startsWith('@') ? fs.readdirSync(path.join(root, name)).sort().map((n) => path.join(root, name, n)) : [path.join(root, name)];
    for (const dir of dirs) for (const f of ['README.md', 'LICENSE']) if (fs.existsSync(path.join(dir, f))) files.push(path.join(dir, f));
  }
  let text = '';
  for (const f of files) {
    if (text.length >= bytes) break;
    text += fs.readFileSync(f, 'utf8') + '\n';
  }
  return text.slice(0, bytes);
}

function measure(name: string, t: Tokenizer, text: string): void {
  t.encode(text.slice(0, 5000)); // warm-up
  const start = performance.now();
  const ids = t.encode(text, { addSpecialTokens: false });
  const seconds = (performance.now() - start) / 1000;
  console.log(`${name.padEnd(28)} ${ids.length.toString().padStart(7)} tokens  ${(ids.length / seconds).toFixed(0).padStart(9)} tokens/s  ${(text.length / 1024 / seconds).toFixed(0).padStart(6)} KB/s`);
}

const text = englishCorpus(100 * 1024);
console.log(`corpus: ${text.length} characters`);
const gpt2Dir = tempDir('gpt2-');
fs.writeFileSync(path.join(gpt2Dir, 'tokenizer.json'), JSON.stringify(gpt2TokenizerJson()));
const llama3Meta = ggufFromTokenizerJson(readJson(path.join(LLAMA3_DIR, 'tokenizer.json')), readJson(path.join(LLAMA3_DIR, 'tokenizer_config.json')), 'llama-bpe');
const qwen3Meta = ggufFromTokenizerJson(readJson(path.join(QWEN3_DIR, 'tokenizer.json')), readJson(path.join(QWEN3_DIR, 'tokenizer_config.json')), 'qwen2');
measure('gpt2 GGUF', tokenizerFromGguf(ggufFromTokenizerJson(gpt2TokenizerJson(), {}, 'gpt-2')), text);
measure('gpt2 HF (tokenizers.js)', await loadTokenizer(gpt2Dir), text);
measure('llama3 GGUF', tokenizerFromGguf(llama3Meta), text);
measure('llama3 HF (tokenizers.js)', await loadTokenizer(LLAMA3_DIR), text);
measure('qwen3 GGUF', tokenizerFromGguf(qwen3Meta), text);
measure('qwen3 HF (tokenizers.js)', await loadTokenizer(QWEN3_DIR), text);
measure('llama2 GGUF SentencePiece', tokenizerFromGguf(ggufFromLlamaTokenizerJs(llamaTokenizerJs as unknown as LlamaTokenizerJs)), text);
