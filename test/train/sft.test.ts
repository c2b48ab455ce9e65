import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../../src/errors.js';
import { hfTokenizerFromText, loadTokenizer } from '../../src/tokenizers/index.js';
import type { ChatMessage, Tokenizer } from '../../src/tokenizers/tokenizer.js';
import { IGNORE_INDEX, buildSftExample, collateSft, padTokenId, readChatExamples } from '../../src/train/sft.js';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import { QWEN3_DIR } from '../tokenizers/helpers.js';

const TINY_DIR = path.join(FIXTURES_DIR, 'tokenizers', 'tiny-bpe');
const tiny = await loadTokenizer(TINY_DIR);

function assertError(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

function withTemplate(template: string): Tokenizer {
  const config = JSON.parse(fs.readFileSync(path.join(TINY_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  return hfTokenizerFromText({
    tokenizer: fs.readFileSync(path.join(TINY_DIR, 'tokenizer.json'), 'utf8'),
    config: JSON.stringify({ ...config, chat_template: template }),
  });
}

/** The runs of labelled positions, as [start, end) index pairs. */
function labelledRuns(labels: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  labels.forEach((l, i) => {
    if (l === IGNORE_INDEX) return;
    const last = runs.at(-1);
    if (last && last[1] === i) last[1] = i + 1;
    else runs.push([i, i + 1]);
  });
  return runs;
}

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What is the capital of France?' },
  { role: 'assistant', content: 'Paris.' },
  { role: 'user', content: 'And of Italy?\nAnswer in one word.' },
  { role: 'assistant', content: 'Rome, of course — 🙂' },
];

test('buildSftExample (ChatML): labels cover exactly the assistant answers and their <|im_end|>', () => {
  const ex = buildSftExample(tiny, CONVERSATION, { maxLength: 1000 });
  assert.deepEqual(ex.ids, tiny.encode(tiny.applyChatTemplate(CONVERSATION), { addSpecialTokens: false }));
  assert.equal(ex.labels.length, ex.ids.length);
  // found independently: after each '<|im_start|>' + 'assistant\n' header, up to and including the next '<|im_end|>'
  const imStart = tiny.tokenToId('<|im_start|>')!;
  const imEnd = tiny.tokenToId('<|im_end|>')!;
  const header = tiny.encode('assistant\n', { addSpecialTokens: false });
  const expected: [number, number][] = [];
  ex.ids.forEach((id, i) => {
    if (id !== imStart || ex.ids.slice(i + 1, i + 1 + header.length).join() !== header.join()) return;
    const start = i + 1 + header.length;
    expected.push([start, ex.ids.indexOf(imEnd, start) + 1]);
  });
  assert.equal(expected.length, 2);
  assert.deepEqual(labelledRuns(ex.labels), expected);
  ex.labels.forEach((l, i) => assert.ok(l === IGNORE_INDEX || l === ex.ids[i], `label ${i} is the token itself`));
  assert.deepEqual(
    expected.map(([a, b]) => tiny.decode(ex.ids.slice(a, b))),
    ['Paris.<|im_end|>', 'Rome, of course — 🙂<|im_end|>'],
  );
});

test('buildSftExample: truncation; a template without end markers', () => {
  const full = buildSftExample(tiny, CONVERSATION, { maxLength: 1000 });
  const cut = buildSftExample(tiny, CONVERSATION, { maxLength: 20 });
  assert.deepEqual(cut.ids, full.ids.slice(0, 20));
  assert.deepEqual(cut.labels, full.labels.slice(0, 20));

  const plain = withTemplate("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}");
  const ex = buildSftExample(plain, [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello there' }], { maxLength: 100 });
  const runs = labelledRuns(ex.labels);
  assert.equal(runs.length, 1);
  assert.equal(plain.decode(ex.ids.slice(...runs[0]!)), 'Hello there\n');
  assert.equal(plain.decode(ex.ids.slice(0, runs[0]![0])), 'user: Hi\nassistant: ');
});

test('buildSftExample: a template that renders earlier turns differently (Qwen3 think blocks) ends answers at the end-of-turn marker', async () => {
  const qwen = await loadTokenizer(QWEN3_DIR);
  const ex = buildSftExample(qwen, CONVERSATION, { maxLength: 4096 });
  assert.deepEqual(ex.ids, qwen.encode(qwen.applyChatTemplate(CONVERSATION), { addSpecialTokens: false }));
  assert.deepEqual(
    labelledRuns(ex.labels).map(([a, b]) => qwen.decode(ex.ids.slice(a, b))),
    ['Paris.<|im_end|>', '<think>\n\n</think>\n\nRome, of course — 🙂<|im_end|>'],
  );
});

test('buildSftExample: templates that hide the answer, and bad input, are StrataErrors', () => {
  const renamed = withTemplate(
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>bot\\n' }}{% endif %}",
  );
  assertError(() => buildSftExample(renamed, CONVERSATION, { maxLength: 100 }), 'unsupported', /differently from the start of the whole conversation/);
  assertError(() => buildSftExample(tiny, [{ role: 'user', content: 'hi' }], { maxLength: 100 }), 'argument', /no assistant message/);
  assertError(() => buildSftExample(tiny, [], { maxLength: 100 }), 'argument', /non-empty/);
  assertError(() => buildSftExample(tiny, CONVERSATION, { maxLength: 1 }), 'argument', /maxLength/);
  assertError(() => buildSftExample(tiny, [{ role: 'assistant', content: 3 as unknown as string }], { maxLength: 10 }), 'argument', /message 0/);
});

test('readChatExamples: messages, prompt/completion and instruction/input/output lines; errors name file:line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-sft-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'chat.jsonl');
  fs.writeFileSync(
    file,
    [
      JSON.stringify({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] }),
      '',
      JSON.stringify({ prompt: 'p', completion: 'c', system: 's' }),
      JSON.stringify({ instruction: 'Translate.', input: 'Hallo', output: 'Hello' }),
      JSON.stringify({ instruction: 'Say hi.', input: '', output: 'hi' }),
    ].join('\n'),
  );
  assert.deepEqual(
    [...readChatExamples(file)],
    [
      [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }],
      [{ role: 'system', content: 's' }, { role: 'user', content: 'p' }, { role: 'assistant', content: 'c' }],
      [{ role: 'user', content: 'Translate.\n\nHallo' }, { role: 'assistant', content: 'Hello' }],
      [{ role: 'user', content: 'Say hi.' }, { role: 'assistant', content: 'hi' }],
    ],
  );
  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, `${JSON.stringify({ prompt: 'p', completion: 'c' })}\n{"prompt": \n`);
  assertError(() => [...readChatExamples(bad)], 'io', /bad\.jsonl:2: not valid JSON/);
  fs.writeFileSync(bad, `${JSON.stringify({ question: 'q', answer: 'a' })}\n`);
  assertError(() => [...readChatExamples(bad)], 'io', /bad\.jsonl:1: expected .*the record has: question, answer/);
  fs.writeFileSync(bad, `${JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'text' }] }] })}\n`);
  assertError(() => [...readChatExamples(bad)], 'io', /bad\.jsonl:1: message 0: 'content' must be a string/);
  assertError(() => readChatExamples(path.join(dir, 'none.jsonl')), 'io', /none\.jsonl: no such file/);
});

test('collateSft: right padding, the next-token shift, -100 on padding, the attention mask', () => {
  const examples = [
    { ids: [5, 6, 7, 8, 9], labels: [IGNORE_INDEX, IGNORE_INDEX, 7, 8, 9] },
    { ids: [1, 2, 3], labels: [IGNORE_INDEX, 2, 3] },
  ];
  const { inputs, targets, attentionMask } = collateSft(examples, 0);
  assert.deepEqual(inputs.shape, [2, 4]);
  assert.equal(inputs.dtype, 'i32');
  assert.deepEqual(Array.from(inputs.data), [5, 6, 7, 8, 1, 2, 0, 0]);
  assert.deepEqual(Array.from(targets.data), [IGNORE_INDEX, 7, 8, 9, 2, 3, IGNORE_INDEX, IGNORE_INDEX]);
  assert.deepEqual(Array.from(attentionMask.data), [1, 1, 1, 1, 1, 1, 0, 0]);
  // tiny-bpe has no pad token: EOS pads
  assert.equal(padTokenId(tiny), tiny.special.eos);
  const ex = buildSftExample(tiny, CONVERSATION, { maxLength: 1000 });
  const batch = collateSft([ex, buildSftExample(tiny, CONVERSATION.slice(0, 3), { maxLength: 1000 })], padTokenId(tiny));
  const answerTokens = ex.labels.filter((l) => l !== IGNORE_INDEX).length;
  assert.equal(Array.from(batch.targets.data).slice(0, ex.ids.length - 1).filter((l) => l !== IGNORE_INDEX).length, answerTokens);
  assertError(() => collateSft([], 0), 'argument', /non-empty/);
  assertError(() => collateSft([{ ids: [1, 2], labels: [1] }], 0), 'argument', /same length/);
  assertError(() => collateSft([{ ids: [1], labels: [1] }], 0), 'argument', /at least 2/);
});
