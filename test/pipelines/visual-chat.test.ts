// The visual chat pipeline and `strata chat --image` on the tiny LLaVA fixture
// (scripts/fixtures/llava.py): streaming equals the one-shot reply, the CLI answers with
// transformers' greedy ids, and where a checkpoint keeps its template and processor (tokenizer
// config, chat_template.jinja / .json, preprocessor_config.json / processor_config.json, neither).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as S from '../../src/index.js';
import { runCli } from '../../src/cli/program.js';
import { DEFAULT_TEMPLATE, VisualChatPipeline, type VisualChatMessage } from '../../src/pipelines/visual-chat.js';
import { assertClose } from '../helpers/fixtures.js';
import { copyFixture, expected, fixtureDir } from '../models/model-fixtures.js';

const DIR = fixtureDir('llava');
const exp = expected('llava');
const QUESTION = 'What is in the picture?';
const SYSTEM = 'You describe pictures.';

async function cli(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(['node', 'strata', ...args], { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { status, stdout, stderr };
}

describe('visual chat', async () => {
  const pipe = await VisualChatPipeline.load(DIR);
  const image = await S.loadImage(path.join(DIR, 'image.png'));
  const messages: VisualChatMessage[] = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: [{ type: 'image', image }, { type: 'text', text: QUESTION }] },
  ];
  const greedy = (exp.generated!.toArray() as number[]).map(Number);

  test('streaming gives the one-shot reply, delta by delta', async () => {
    const one = pipe.chat(messages, { temperature: 0, maxTokens: 8 });
    const it = pipe.stream(messages, { temperature: 0, maxTokens: 8 });
    let text = '';
    let r = await it.next();
    for (; !r.done; r = await it.next()) text += r.value;
    assert.deepEqual(r.value.tokens, one.tokens);
    assert.equal(text, one.text);
    assert.deepEqual(one.tokens, greedy.slice(0, 8));
  });

  test('strata chat --image --prompt --json answers with transformers’ greedy ids', async () => {
    const r = await cli('chat', '--model', DIR, '--image', path.join(DIR, 'image.png'), '--system', SYSTEM, '--prompt', QUESTION, '--temperature', '0', '--max-tokens', String(greedy.length), '--json');
    assert.equal(r.status, 0, r.stderr);
    const line = JSON.parse(r.stdout) as { tokens: number[]; text: string; role: string; images: number; timings: { prompt_tokens: number } };
    assert.deepEqual(line.tokens, greedy);
    assert.equal(line.text, pipe.tokenizer.decode(greedy, { skipSpecialTokens: true }));
    assert.equal(line.images, 1);
    assert.equal(line.timings.prompt_tokens, exp.input_ids!.shape[1]);
  });

  test('strata chat --image streams text; bad images and non-LLaVA models are clear errors', async () => {
    const r = await cli('chat', '--model', DIR, '--image', path.join(DIR, 'image.png'), '--system', SYSTEM, '--prompt', QUESTION, '--temperature', '0', '--max-tokens', '4');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${pipe.tokenizer.decode(greedy.slice(0, 4), { skipSpecialTokens: true })}\n`);
    const missing = await cli('chat', '--model', DIR, '--image', path.join(DIR, 'missing.png'), '--prompt', 'hi');
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /missing\.png/);
    const gpt2 = await cli('chat', '--model', fixtureDir('gpt2'), '--image', path.join(DIR, 'image.png'), '--prompt', 'hi');
    assert.notEqual(gpt2.status, 0);
    assert.match(gpt2.stderr, /visual chat needs a LLaVA model/);
  });

  test('strata chat on a LLaVA without --image uses its template too (a text-only turn)', async () => {
    const r = await cli('chat', '--model', DIR, '--prompt', 'Hello', '--temperature', '0', '--max-tokens', '5', '--json');
    assert.equal(r.status, 0, r.stderr);
    const want = pipe.chat([{ role: 'user', content: 'Hello' }], { temperature: 0, maxTokens: 5 });
    const line = JSON.parse(r.stdout) as { tokens: number[]; timings: { prompt_tokens: number } };
    assert.deepEqual(line.tokens, want.tokens);
    assert.equal(line.timings.prompt_tokens, pipe.prepare([{ role: 'user', content: 'Hello' }]).ids.length);
  });

  test('several images: each expands to its own 16 tokens, in order', () => {
    const flipped = S.rgbImage(image.width, image.height, Uint8Array.from(image.data).reverse());
    const two: VisualChatMessage[] = [{ role: 'user', content: [{ type: 'image', image }, { type: 'image', image: flipped }, { type: 'text', text: 'Compare them.' }] }];
    const p = pipe.prepare(two);
    assert.equal(p.images, 2);
    assert.deepEqual(p.pixelValues!.shape, [2, 3, 32, 32]);
    assert.equal(p.ids.filter((t) => t === pipe.imageTokenId).length, 32);
    assert.ok(p.text.includes('<image>\n<image>\nCompare them.'));
    // the features land in order: swapping the images changes the logits
    const swapped = pipe.prepare([{ role: 'user', content: [{ type: 'image', image: flipped }, { type: 'image', image }, { type: 'text', text: 'Compare them.' }] }]);
    const ids = S.tensor([p.ids], { dtype: 'i32' });
    const a = S.noGrad(() => pipe.model.forwardWithImages(ids, p.pixelValues!));
    const b = S.noGrad(() => pipe.model.forwardWithImages(ids, swapped.pixelValues!));
    assert.ok(a.sub(b).abs().max().item() > 1e-3);
    assert.ok(pipe.chat(two, { temperature: 0, maxTokens: 3 }).tokens.length > 0);
  });

  test('without a chat template the LLaVA-1.5 default is used, and the tokenizer adds its BOS', async () => {
    const dir = copyFixture('llava');
    fs.rmSync(path.join(dir, 'chat_template.jinja'));
    const p = (await VisualChatPipeline.load(dir)).prepare(messages);
    assert.equal(p.text, `${SYSTEM}\nUSER: <image>\n${QUESTION}\nASSISTANT:`);
    assert.equal(p.ids[0], pipe.tokenizer.special.bos);
    assert.equal(p.ids.filter((t) => t === pipe.imageTokenId).length, 16);
    assert.ok(DEFAULT_TEMPLATE.includes('ASSISTANT:'));
  });

  test('chat_template.json is read when there is no chat_template.jinja', async () => {
    const dir = copyFixture('llava');
    fs.rmSync(path.join(dir, 'chat_template.jinja'));
    fs.writeFileSync(path.join(dir, 'chat_template.json'), JSON.stringify({ chat_template: "{% for m in messages %}{% for p in m['content'] %}{% if p['type'] == 'image' %}<image>{% else %}[{{ p['text'] }}]{% endif %}{% endfor %}{% endfor %}" }));
    const p = (await VisualChatPipeline.load(dir)).prepare([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image', image }] }]);
    assert.equal(p.text, '[a]<image>');
  });

  test('the image processor: processor_config.json, else preprocessor_config.json, else CLIP’s at the tower’s size', async () => {
    const dir = copyFixture('llava');
    fs.rmSync(path.join(dir, 'processor_config.json'));
    const fallback = await VisualChatPipeline.load(dir);
    // the fixture's processor is CLIP's at 32 pixels, so the fallback gives the same pixels
    assertClose(fallback.prepare(messages).pixelValues!, exp.pixel_values!, { atol: 1e-5, rtol: 0 }, 'default processor');
    fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ image_processor_type: 'CLIPImageProcessor', size: { shortest_edge: 32 }, crop_size: { height: 32, width: 32 }, do_normalize: false }));
    const raw = (await VisualChatPipeline.load(dir)).prepare(messages).pixelValues!;
    assert.ok(raw.min().item() >= 0 && raw.max().item() <= 1, 'unnormalized pixels lie in [0, 1]');
  });

  test('errors: a tokenizer whose image token is not the model’s, a template that drops an image', async () => {
    const dir = copyFixture('llava');
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, image_token_index: 3 }));
    await assert.rejects(VisualChatPipeline.load(dir), (e: unknown) => e instanceof S.StrataError && /image_token_index is 3/.test(e.message));
    const dropping = new VisualChatPipeline(pipe.model, pipe.tokenizer, pipe.processor, S.ChatTemplates.from('{{ messages[0].role }}', {}, 'test')!);
    assert.throws(() => dropping.prepare(messages), (e: unknown) => e instanceof S.StrataError && /0 image tokens .* for 1 images/.test(e.message));
    assert.throws(() => pipe.prepare([]), S.StrataError);
  });
});
