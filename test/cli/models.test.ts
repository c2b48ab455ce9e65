// `strata models` and `strata models --compare`, run in-process through runCli with a capturing CliIO.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable, wrapText } from '../../src/cli/commands/models.js';
import { FAMILY_TITLES, registeredArchitectures } from '../../src/models/index.js';
import { strata } from '../helpers/cli.js';

const widest = (text: string): number => Math.max(...text.split('\n').map((l) => l.length));

test('models lists every registered architecture with its card, within the width', async () => {
  for (const width of [80, 100, 120]) {
    const r = await strata('models', '--width', String(width));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.ok(widest(r.stdout) <= width, `a line is wider than ${width}`);
    for (const a of registeredArchitectures()) {
      assert.ok(r.stdout.includes(a.architecture), a.architecture);
      assert.ok(r.stdout.includes(a.modelType), a.modelType);
    }
  }
  const r = await strata('models');
  assert.ok(widest(r.stdout) <= 100, 'piped output is 100 columns wide');
  assert.match(r.stdout, /^llama, mistral, qwen2, palm$/m);
  assert.match(r.stdout, /LlamaForSequenceClassification +text → label/);
  assert.match(r.stdout, /BertModel +text → embedding/);
});

test('models --json prints one card per architecture', async () => {
  const r = await strata('models', '--json');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { model_type: string; architecture: string; head: string; card: Record<string, unknown> });
  const registered = registeredArchitectures();
  assert.deepEqual(lines.map((l) => `${l.model_type}/${l.architecture}`), registered.map((a) => `${a.modelType}/${a.architecture}`));
  for (const l of lines) {
    assert.deepEqual(Object.keys(l.card), ['families', 'input_modalities', 'output_modalities', 'architecture', 'adaptability', 'applications', 'examples', 'primary_data', 'purpose']);
  }
  const gpt2Classifier = lines.find((l) => l.architecture === 'GPT2ForSequenceClassification');
  assert.equal(gpt2Classifier?.head, 'sequence-classification');
  assert.deepEqual(gpt2Classifier?.card.output_modalities, ['label']);
});

test('models --compare prints the three families computed from the cards', async () => {
  for (const width of [80, 100, 120]) {
    const r = await strata('models', '--compare', '--width', String(width));
    assert.equal(r.status, 0, r.stderr);
    assert.ok(widest(r.stdout) <= width, `a line is wider than ${width}`);
    for (const title of Object.values(FAMILY_TITLES)) assert.ok(r.stdout.includes(title), title);
    for (const label of ['primary data type', 'purpose', 'architecture', 'examples', 'adaptability', 'input modalities', 'output', 'applications']) assert.ok(r.stdout.includes(label), label);
    assert.match(r.stdout, /^registered models +.*clip, whisper,/m, 'CLIP, Whisper and the captioner are the multi-modal models');
    assert.match(r.stdout, /vision-encoder-\s*decoder/);
  }
  const r = await strata('models', '--compare', '--width', '120');
  assert.match(r.stdout, /^architecture +decoder-only transformer, .* decoder-only transformer, /m);
  assert.match(r.stdout, /^registered models +gpt2, llama, mistral, qwen2,.* +gpt2, llama, mistral, qwen2,/m);
});

test('models --compare --json prints one row per family', async () => {
  const r = await strata('models', '--compare', '--json');
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { family: string; note: string | null; model_types: string[]; input_modalities: string[]; examples: string[] });
  assert.deepEqual(rows.map((row) => row.family), ['large-language', 'foundation', 'multi-modal']);
  assert.ok(rows[0]!.model_types.includes('llama') && rows[0]!.examples.includes('gpt2'));
  assert.deepEqual(rows[0]!.input_modalities, ['text']);
  assert.equal(rows[2]!.note, null);
  assert.deepEqual(rows[2]!.model_types, ['clip', 'whisper', 'vision-encoder-decoder', 'llava']);
});

test('models refuses a width it cannot wrap to', async () => {
  const r = await strata('models', '--width', '10');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^strata: .*--width.*between 40 and 1000 columns/);
});

test('wrapText keeps every word and never passes the width', () => {
  const text = 'a supercalifragilisticexpialidocious word among short ones\n• a bullet whose text runs on past the width and hangs';
  for (const width of [5, 12, 30]) {
    const lines = wrapText(text, width);
    assert.ok(lines.every((l) => l.length <= width), `${width}: ${JSON.stringify(lines)}`);
    assert.equal(lines.join('').replace(/\s+/g, ''), text.replace(/\s+/g, ''));
  }
  assert.deepEqual(wrapText('• one two three', 9), ['• one two', '  three']);
  assert.deepEqual(wrapText('', 10), ['']);
  assert.equal(renderTable(['a', 'b'], [['x', 'y z']], { width: 40 }), 'a  b\n─  ───\nx  y z\n');
});
