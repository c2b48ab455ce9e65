// The Vision page with the real zoo/clip-scenes served beside a tiny LLaMA, in Debian's chromium.
// Scenes drawn by the generator it was trained on (another seed, so never a training image) are
// dropped or uploaded as PNGs; the label list the user sees must rank the right "a {colour} {shape}"
// first among the labels offered or typed, with the percentages the server's own embeddings give.
// No captioner is served here, so the caption and question panels say so, and the chat page offers
// no image attachment for a text-only model.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer, type StrataServer } from '../../src/serve/server.js';
import { type Scene, SCENE_COMBOS, comboLabel, encodePng, generateScene } from '../../src/train/scenes.js';
import { LABEL_PRESETS } from '../../web/src/labels.js';
import { writeServeModels } from '../serve/models.js';
import { CHROMIUM, WAIT, ensureWebBuild, openPage, skipBrowser as skip } from './browser.js';

if (skip) console.log(`# skipping the vision browser tests: ${skip}`);

const CLIP_SCENES = fileURLToPath(new URL('../../zoo/clip-scenes', import.meta.url));
/** not the training seed (0): these exact images were never seen */
const SEED = 7;

let server: StrataServer;
let url = '';
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

/** The first single-object scene of SEED showing `colour shape`. */
function sceneOf(colour: string, shape: string): Scene {
  for (let i = 0; i < 2000; i++) {
    const s = generateScene(SEED, i, { twoObjects: 0 });
    if (s.objects[0]!.colour === colour && s.objects[0]!.shape === shape) return s;
  }
  throw new Error(`no ${colour} ${shape} among the first 2000 scenes of seed ${SEED}`);
}

async function scenePng(colour: string, shape: string): Promise<Buffer> {
  return Buffer.from(await encodePng(sceneOf(colour, shape).image));
}

/** The ranking as the user sees it: label and shown percentage, top first. */
async function shownRanking(): Promise<{ label: string; percent: number }[]> {
  const rows = page.locator('[data-testid=labels] li');
  const out: { label: string; percent: number }[] = [];
  for (let i = 0; i < (await rows.count()); i++) {
    out.push({ label: await rows.nth(i).locator('.name').innerText(), percent: Number((await rows.nth(i).locator('b').innerText()).replace('%', '')) });
  }
  return out;
}

/** Softmax over 100 × cosine of the server's own embeddings, as percentages by label. */
async function serverPercents(png: Buffer, labels: string[]): Promise<Map<string, number>> {
  const res = await fetch(`${url}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'clip-scenes', input: [`data:image/png;base64,${png.toString('base64')}`, ...labels] }),
  });
  assert.equal(res.status, 200);
  const vectors = ((await res.json()) as { data: { embedding: number[] }[] }).data.map((d) => d.embedding);
  const norm = (v: number[]) => Math.hypot(...v);
  const logits = vectors.slice(1).map((v) => (100 * v.reduce((s, x, i) => s + x * vectors[0]![i]!, 0)) / (norm(v) * norm(vectors[0]!)));
  const m = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return new Map(labels.map((l, i) => [l, (100 * e[i]!) / sum]));
}

/** Drops the PNG on the drop zone as a file dragged from the desktop would arrive. */
async function dropPng(name: string, png: Buffer): Promise<void> {
  const transfer = await page.evaluateHandle(
    ({ name, b64 }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type: 'image/png' }));
      return dt;
    },
    { name, b64: png.toString('base64') },
  );
  await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: transfer });
}

before(async () => {
  if (skip) return;
  await ensureWebBuild();
  const models = writeServeModels();
  server = await createServer({
    models: [
      { path: models.llama, id: 'tiny-llama' },
      { path: CLIP_SCENES, id: path.basename(CLIP_SCENES) },
    ],
    port: 0,
  });
  url = await server.listen();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

after(async () => {
  await browser?.close();
  await server?.close();
});

describe('the vision page with zoo/clip-scenes in chromium', { skip }, () => {
  test('the offered scene labels are the 18 colour+shape combinations the model was trained to tell apart', () => {
    assert.deepEqual(LABEL_PRESETS[0]!.labels, SCENE_COMBOS.map((c) => comboLabel(c)));
  });

  test('a dropped red circle: the offered labels are ranked at once, "a red circle" first, with the percentages of the server embeddings', async () => {
    await openPage(page, url, 'vision');
    assert.equal(await page.locator('select[name=label-model]').inputValue(), 'clip-scenes');
    const offered = (await page.locator('input[name=labels]').inputValue()).split(', ');
    assert.equal(offered.length, 18);
    const png = await scenePng('red', 'circle');
    await dropPng('red-circle.png', png);
    await page.locator('.dropzone img.preview[alt="red-circle.png"]').waitFor(WAIT);
    await page.locator('[data-testid=labels] li').first().waitFor(WAIT);
    const shown = await shownRanking();
    assert.equal(shown[0]!.label, 'a red circle', `ranking: ${shown.map((r) => `${r.label} ${r.percent}%`).join(', ')}`);
    assert.deepEqual(shown.map((r) => r.label).sort(), [...offered].sort(), 'every offered label is ranked once');
    for (let i = 1; i < shown.length; i++) assert.ok(shown[i - 1]!.percent >= shown[i]!.percent, 'highest first');
    // the page's softmax over the embeddings it fetched, against the same computed here (shown to 0.1%)
    const expected = await serverPercents(png, offered);
    for (const r of shown) assert.ok(Math.abs(r.percent - expected.get(r.label)!) <= 0.051, `${r.label}: shown ${r.percent}%, server embeddings give ${expected.get(r.label)!.toFixed(3)}%`);
    assert.equal(await page.locator('.vision [role=alert]').count(), 0);
  });

  test('an uploaded blue square with typed labels: "a blue square" first among them, including its near misses', async () => {
    await openPage(page, url, 'vision');
    await page.locator('.dropzone input[type=file]').setInputFiles({ name: 'blue-square.png', mimeType: 'image/png', buffer: await scenePng('blue', 'square') });
    await page.locator('.dropzone img.preview[alt="blue-square.png"]').waitFor(WAIT);
    // the offered labels were ranked on upload; now the user types their own and asks again
    await page.locator('[data-testid=labels] li').first().waitFor(WAIT);
    const typed = ['a red circle', 'a blue circle', 'a green square', 'a blue square', 'a blue triangle'];
    await page.fill('input[name=labels]', typed.join(', '));
    await page.click('button:has-text("Rank labels")');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=labels] li').length === n, typed.length, WAIT);
    const shown = await shownRanking();
    assert.equal(shown[0]!.label, 'a blue square', `ranking: ${shown.map((r) => `${r.label} ${r.percent}%`).join(', ')}`);
    assert.deepEqual(shown.map((r) => r.label).sort(), [...typed].sort());
    assert.ok(shown[0]!.percent > 50, `the right label has most of the mass (${shown[0]!.percent}%)`);
  });

  test('a file that is not an image, or a PNG that does not decode, is named in a clear error and sends nothing', async () => {
    await openPage(page, url, 'vision');
    let requests = 0;
    const count = (r: { url(): string }) => void (r.url().includes('/v1/') && requests++);
    page.on('request', count);
    await dropPng('notes.txt', Buffer.from('hello'));
    const error = page.locator('[data-testid=image-error]');
    await error.waitFor(WAIT);
    // dropPng types every file image/png: the page goes by the type the browser reports
    assert.match(await error.innerText(), /^cannot read notes\.txt: /);
    await page.locator('.dropzone input[type=file]').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await page.locator('[data-testid=image-error]', { hasText: 'notes.txt is not an image (text/plain)' }).waitFor(WAIT);
    assert.equal(await page.locator('.dropzone img.preview, [data-testid=labels]').count(), 0);
    page.off('request', count);
    assert.equal(requests, 0, 'no request went to the server');
  });

  test('no captioner served: the caption and question panels say so and name what is served', async () => {
    await openPage(page, url, 'vision');
    const note = page.locator('[data-testid=no-captioner]');
    await note.waitFor(WAIT);
    assert.match(await note.innerText(), /No served model captions images/);
    assert.match(await note.innerText(), /clip-scenes \(text, image → embedding, label\)/);
    assert.match(await note.innerText(), /tiny-llama \(text → text\)/);
    assert.match(await page.locator('[data-testid=no-answerer]').innerText(), /No served vision-language model/);
    assert.equal(await page.locator('[data-testid=no-model]').count(), 0, 'an image model is served');
    assert.equal(await page.locator('select[name=caption-model], select[name=ask-model]').count(), 0);
  });

  test('chat: the CLIP model is not offered, and a text-only model gets no image attachment', async () => {
    await openPage(page, url, 'chat');
    const options = await page.locator('select[name=model] option').allInnerTexts();
    assert.deepEqual(options, ['tiny-llama']);
    assert.equal(await page.locator('button.attach').count(), 0);
  });

  test('no page threw an uncaught error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
