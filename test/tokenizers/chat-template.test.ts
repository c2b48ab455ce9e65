// Chat templates from tokenizer_config.json (and GGUF tokenizer.chat_template), rendered with
// @huggingface/jinja. The expected strings were checked by hand against the templates.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { ChatTemplates, loadTokenizer, strftime, tokenizerFromGguf } from '../../src/tokenizers/index.js';
import { LLAMA3_DIR, QWEN3_DIR, ggufFromTokenizerJson, readJson } from './helpers.js';

const CONVERSATION = [
  { role: 'user', content: 'What is the capital of France?' },
  { role: 'assistant', content: 'The capital of France is Paris.' },
  { role: 'user', content: 'And of Germany?' },
];

const LLAMA3_EXPECTED =
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>' +
  '<|start_header_id|>assistant<|end_header_id|>\n\nThe capital of France is Paris.<|eot_id|>' +
  '<|start_header_id|>user<|end_header_id|>\n\nAnd of Germany?<|eot_id|>' +
  '<|start_header_id|>assistant<|end_header_id|>\n\n';

const QWEN3_EXPECTED =
  '<|im_start|>user\nWhat is the capital of France?<|im_end|>\n' +
  '<|im_start|>assistant\nThe capital of France is Paris.<|im_end|>\n' +
  '<|im_start|>user\nAnd of Germany?<|im_end|>\n' +
  '<|im_start|>assistant\n';

const WEATHER_TOOL = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

test('llama3 chat template: three messages with a generation prompt', async () => {
  const hf = await loadTokenizer(LLAMA3_DIR);
  assert.equal(hf.applyChatTemplate(CONVERSATION, { addGenerationPrompt: true }), LLAMA3_EXPECTED);
  // the same template from GGUF metadata, with bos_token taken from the vocabulary
  const meta = ggufFromTokenizerJson(readJson(path.join(LLAMA3_DIR, 'tokenizer.json')), readJson(path.join(LLAMA3_DIR, 'tokenizer_config.json')), 'llama-bpe');
  const gguf = tokenizerFromGguf(meta);
  assert.equal(gguf.chatTemplate, hf.chatTemplate);
  assert.equal(gguf.applyChatTemplate(CONVERSATION, { addGenerationPrompt: true }), LLAMA3_EXPECTED);
  // the rendered prompt already starts with BOS: encode it without adding another
  const ids = hf.encode(LLAMA3_EXPECTED, { addSpecialTokens: false });
  assert.equal(ids[0], 128000);
  assert.equal(ids.filter((id) => id === 128009).length, 3);
});

test('qwen3 chat template: three messages, then with a system prompt, tools and thinking off', async () => {
  const hf = await loadTokenizer(QWEN3_DIR);
  assert.equal(hf.applyChatTemplate(CONVERSATION, { addGenerationPrompt: true }), QWEN3_EXPECTED);
  assert.equal(hf.applyChatTemplate(CONVERSATION), QWEN3_EXPECTED.slice(0, -'<|im_start|>assistant\n'.length));
  const withTools = hf.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, ...CONVERSATION], {
    addGenerationPrompt: true,
    tools: [WEATHER_TOOL],
    extra: { enable_thinking: false },
  });
  assert.equal(
    withTools,
    '<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
      'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
      '{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}\n' +
      '</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
      '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
      QWEN3_EXPECTED +
      '<think>\n\n</think>\n\n',
  );
  // an assistant turn after the last user turn gets its reasoning block
  const answered = hf.applyChatTemplate([...CONVERSATION, { role: 'assistant', content: '<think>\nEasy.\n</think>\n\nBerlin.' }]);
  assert.ok(answered.endsWith('<|im_start|>assistant\n<think>\nEasy.\n</think>\n\nBerlin.<|im_end|>\n'), answered);
});

test('chat templates: raise_exception, strftime_now, named templates, none at all', async () => {
  const tokens = { bos_token: '<s>', eos_token: '</s>' };
  const strict = ChatTemplates.from("{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be from the user') }}{% endif %}{{ bos_token }}ok", tokens, 'test')!;
  assert.equal(strict.render([{ role: 'user', content: 'x' }]), '<s>ok');
  assert.throws(
    () => strict.render([{ role: 'assistant', content: 'x' }]),
    (err: unknown) => err instanceof StrataError && err.code === 'argument' && /first message must be from the user/.test(err.message),
  );
  const dated = ChatTemplates.from("Today is {{ strftime_now('%d %B %Y') }} ({{ strftime_now('%Y-%m-%d %H:%M') }}).", tokens, 'test')!;
  assert.equal(dated.render([], { now: new Date(2024, 6, 4, 9, 5) }), 'Today is 04 July 2024 (2024-07-04 09:05).');
  assert.equal(strftime(new Date(2024, 0, 9), '%a %b %e %j %y %%'), 'Tue Jan  9 009 24 %');

  const named = ChatTemplates.from(
    [
      { name: 'default', template: 'plain' },
      { name: 'tool_use', template: '{{ tools | length }} tools' },
    ],
    tokens,
    'test',
  )!;
  assert.equal(named.render([]), 'plain');
  assert.equal(named.render([], { tools: [WEATHER_TOOL] }), '1 tools');
  assert.equal(named.render([], { templateName: 'default', tools: [WEATHER_TOOL] }), 'plain');
  assert.throws(() => named.render([], { templateName: 'rag' }), /no chat template named 'rag'; available: default, tool_use/);

  assert.throws(() => ChatTemplates.from(42, tokens, 'cfg.json: chat_template'), (err: unknown) => err instanceof StrataError && err.code === 'io' && /cfg.json: chat_template/.test(err.message));
  const broken = ChatTemplates.from('{% for m in messages %}', tokens, 'cfg.json: chat_template')!;
  assert.throws(() => broken.render([]), (err: unknown) => err instanceof StrataError && err.code === 'io' && /does not parse/.test(err.message));
  assert.throws(() => named.render('hi' as never), (err: unknown) => err instanceof StrataError && err.code === 'argument');
  const huge = ChatTemplates.from('{% for i in range(100000000) %}x{% endfor %}', tokens, 'test')!;
  assert.throws(() => huge.render([]), /too long/);

  const plain = tokenizerFromGguf({ 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.tokens': ['a', 'b'], 'tokenizer.ggml.merges': [] });
  assert.equal(plain.chatTemplate, undefined);
  assert.throws(() => plain.applyChatTemplate([]), (err: unknown) => err instanceof StrataError && err.code === 'unsupported');
});
