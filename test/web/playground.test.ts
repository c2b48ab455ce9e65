// The playground end to end: a real `strata serve` (createServer) with a tiny random LLaMA and a
// runs folder, driven through Debian's chromium by playwright-core. Each page is clicked through
// and checked for what a user sees: a streamed chat answer that grows and stops, the taxonomy and
// the served model's card, live training charts, and the clear "no model" notes of Vision and Speech.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer, type StrataServer } from '../../src/serve/server.js';
import { writeServeModels } from '../serve/models.js';
import { CHROMIUM, WAIT, chosenModel, ensureWebBuild, openPage, skipBrowser as skip } from './browser.js';

if (skip) console.log(`# skipping the playground browser tests: ${skip}`);
const RED_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR4nGM4YaOBFTEMLQkAdntLARs7+acAAAAASUVORK5CYII=', 'base64');

let server: StrataServer;
let url = '';
let browser: Browser;
let page: Page;
let runFile = '';
const pageErrors: string[] = [];

/** 0.2 s of a 440 Hz tone, 16 kHz mono 16-bit PCM */
function toneWav(): Buffer {
  const n = 3200;
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + n * 2, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(16000, 24);
  b.writeUInt32LE(32000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16000)), 44 + i * 2);
  return b;
}

function metricsLine(step: number, withEval = false): string {
  const r: Record<string, number> = { step, loss: 6 - step * 0.1, lr: 3e-4 * Math.min(1, step / 5), tokens_per_s: 1500 + step, grad_norm: 1, elapsed_s: step * 0.5 };
  if (withEval) Object.assign(r, { val_loss: 6.2 - step * 0.1, val_perplexity: Math.exp(6.2 - step * 0.1) });
  return `${JSON.stringify(r)}\n`;
}

before(async () => {
  if (skip) return;
  await ensureWebBuild();
  const models = writeServeModels();
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-runs-'));
  const run = path.join(runsDir, 'tiny-pretrain');
  fs.mkdirSync(run);
  fs.writeFileSync(path.join(run, 'train_config.json'), JSON.stringify({ arch: 'llama', steps: 40, lr: 3e-4 }));
  runFile = path.join(run, 'metrics.jsonl');
  fs.writeFileSync(runFile, [1, 2, 3, 4].map((s) => metricsLine(s)).join('') + metricsLine(5, true));
  server = await createServer({ models: [{ path: models.llama, id: 'tiny-llama' }], port: 0, runsDir });
  url = await server.listen();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const open = (hash: string) => openPage(page, url, hash);

const assistantText = () => page.locator('.msg.assistant .text').last().innerText();

/** a chart's legend as { label: value } */
async function legendOf(title: string): Promise<Record<string, string>> {
  const rows = page.locator(`figure.chart[data-title="${title}"] .u-legend .u-series`);
  const out: Record<string, string> = {};
  for (let i = 0; i < (await rows.count()); i++) out[await rows.nth(i).locator('.u-label').innerText()] = await rows.nth(i).locator('.u-value').innerText();
  return out;
}

describe('the playground in chromium', { skip }, () => {
  test('the nav bar reaches every page; / and /playground serve the app', async () => {
    await open('');
    const links = await page.locator('header nav a').allInnerTexts();
    assert.deepEqual(links, ['Chat', 'Vision', 'Speech', 'Training', 'Models']);
    assert.equal(await page.locator('header .served').innerText(), '1 model served');
    for (const name of ['Vision', 'Training', 'Chat']) {
      await page.locator('header nav a', { hasText: name }).click();
      await page.locator('main h1', { hasText: name }).waitFor(WAIT);
      assert.equal(await page.locator('header nav a.active').innerText(), name);
    }
    const res = await page.goto(`${url}/playground`);
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/');
  });

  test('chat: the answer streams in and grows, Stop ends it, and a short answer finishes', async () => {
    await open('chat');
    assert.equal(await chosenModel(page), 'tiny-llama');
    // a slow link keeps the stream going long enough to watch it grow and to stop it
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: 3000, uploadThroughput: -1 });
    await page.fill('input[name=max_tokens]', '1500');
    await page.fill('input[name=seed]', '1');
    await page.fill('textarea[name=prompt]', 'Hello');
    await page.click('form.composer button[type=submit]');
    await page.locator('button.stop').waitFor(WAIT);
    await page.waitForFunction(() => (document.querySelector('.msg.assistant .text')?.textContent ?? '').replace('…', '').trim().length > 3, null, WAIT);
    const early = (await assistantText()).length;
    await page.waitForFunction((n) => (document.querySelector('.msg.assistant .text')?.textContent ?? '').length > n, early, WAIT);
    const later = (await assistantText()).length;
    assert.ok(later > early, `the answer grew: ${early} -> ${later} characters`);
    await page.click('button.stop');
    await page.locator('.stats', { hasText: 'stopped' }).waitFor(WAIT);
    const stopped = await assistantText();
    assert.ok(stopped.trim().length > 0);
    await page.waitForTimeout(400);
    assert.equal(await assistantText(), stopped, 'nothing arrives after Stop');
    assert.equal(await page.locator('.msg.user .text').innerText(), 'Hello');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    await page.fill('input[name=max_tokens]', '12');
    await page.fill('textarea[name=prompt]', 'Tell me more');
    await page.click('form.composer button[type=submit]');
    await page.locator('.stats', { hasText: /· (length|stop)$/ }).waitFor(WAIT);
    assert.equal(await page.locator('.msg.assistant').count(), 2);
    assert.ok((await assistantText()).trim().length > 0, 'the second answer has text');
    assert.equal(await page.locator('.chat [role=alert]').count(), 0);
  });

  test('models: the taxonomy lists the three families, and the served model shows its card', async () => {
    await open('models');
    const table = page.locator('table.taxonomy');
    await table.waitFor(WAIT);
    const families = (await table.locator('thead th').allInnerTexts()).map((h) => h.split('\n')[0]);
    assert.deepEqual(families, ['Large language models', 'Foundation models', 'Multi-modal models']);
    const rows = await table.locator('tbody th').allInnerTexts();
    for (const attribute of ['Primary data type', 'Purpose', 'Architecture', 'Examples', 'Adaptability', 'Input modalities', 'Output modalities', 'Applications']) {
      assert.ok(rows.includes(attribute), `the table has a '${attribute}' row (rows: ${rows.join(', ')})`);
    }
    assert.match(await table.innerText(), /llama/);
    const card = page.locator('article.card[data-model="tiny-llama"]');
    assert.match(await card.innerText(), /decoder-only transformer/);
    assert.match(await card.innerText(), /text → text/);
  });

  test('training: the run is listed, its charts render with legend values and grow as metrics.jsonl is appended to', async () => {
    await open('training');
    const runLink = page.locator('.runs a[data-run="tiny-pretrain"]');
    await runLink.waitFor(WAIT);
    assert.match(await runLink.innerText(), /pretrain[\s\S]*step 5\/40/);
    await page.locator('figure.chart[data-title="Loss"][data-points="5"]').waitFor(WAIT);
    assert.deepEqual(await page.locator('figure.chart figcaption').allInnerTexts(), ['Loss', 'Learning rate', 'Throughput (tokens/s)', 'Gradient norm']);
    assert.equal(await page.locator('figure.chart canvas').count(), 4);
    // with the cursor away the legend shows the latest values
    assert.deepEqual(await legendOf('Loss'), { step: '5', loss: '5.5', val_loss: '5.7' });
    assert.deepEqual(await legendOf('Learning rate'), { step: '5', lr: '3.000e-4' });
    assert.match(await page.locator('[data-testid=point-count]').innerText(), /^5 points$/);

    // the run goes on: five more steps, the last with an evaluation
    for (const s of [6, 7, 8, 9]) fs.appendFileSync(runFile, metricsLine(s));
    fs.appendFileSync(runFile, metricsLine(10, true));
    await page.locator('figure.chart[data-title="Loss"][data-points="10"]').waitFor(WAIT);
    assert.match(await page.locator('[data-testid=point-count]').innerText(), /^10 points$/);
    assert.equal(await page.locator('[data-testid=last-step]').innerText(), '10');
    assert.deepEqual(await legendOf('Loss'), { step: '10', loss: '5', val_loss: '5.2' });
    // hovering shows the values under the cursor; leaving brings back the latest
    const plot = page.locator('figure.chart[data-title="Loss"] .u-over');
    const box = (await plot.boundingBox())!;
    await page.mouse.move(box.x + 2, box.y + box.height / 2);
    await page.waitForFunction(() => document.querySelector('figure.chart[data-title="Loss"] .u-legend .u-series .u-value')?.textContent === '1', null, WAIT);
    assert.equal((await legendOf('Loss')).loss, '5.9');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height + 150);
    await page.waitForFunction(() => document.querySelector('figure.chart[data-title="Loss"] .u-legend .u-series .u-value')?.textContent === '10', null, WAIT);
    assert.equal(await page.locator('figure.chart[data-title="Learning rate"]').getAttribute('data-points'), '10');
    await page.locator('.runs a[data-run="tiny-pretrain"]', { hasText: 'step 10/40' }).waitFor(WAIT);
  });

  test('vision: with no image model the page says so, and a dropped image does not break it', async () => {
    await open('vision');
    const note = page.locator('[data-testid=no-model]');
    await note.waitFor(WAIT);
    assert.match(await note.innerText(), /No served model accepts images/);
    assert.match(await note.innerText(), /text only/);
    await page.locator('.dropzone input[type=file]').setInputFiles({ name: 'red.png', mimeType: 'image/png', buffer: RED_PNG });
    await page.locator('.dropzone img.preview').waitFor(WAIT);
    // each panel says what it would need; nothing was sent, so no result and no error
    for (const id of ['no-labeller', 'no-captioner', 'no-answerer']) assert.equal(await page.locator(`[data-testid=${id}]`).count(), 1, id);
    assert.match(await page.locator('[data-testid=no-captioner]').innerText(), /served: tiny-llama \(text → text\)/);
    assert.equal(await page.locator('.vision button[type=submit], .vision [data-testid=labels], .vision [data-testid=caption], .vision [role=alert]').count(), 0);
  });

  test("speech: with no speech model the page says so, and a WAV upload shows the server's own error", async () => {
    await open('speech');
    const note = page.locator('[data-testid=no-model]');
    await note.waitFor(WAIT);
    assert.match(await note.innerText(), /No served model accepts audio/);
    const wav = toneWav();
    await page.locator('.dropzone input[type=file]').setInputFiles({ name: 'tone.wav', mimeType: 'audio/wav', buffer: wav });
    await page.locator('.dropzone', { hasText: 'tone.wav' }).waitFor(WAIT);
    await page.click('button:has-text("Transcribe")');
    const alert = page.locator('.speech [role=alert]');
    await alert.waitFor(WAIT);
    // the very message the server gives a direct caller
    const form = new FormData();
    form.append('model', 'tiny-llama');
    form.append('file', new Blob([new Uint8Array(wav)], { type: 'audio/wav' }), 'tone.wav');
    const direct = (await (await fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form })).json()) as { error: { message: string } };
    assert.equal(await alert.innerText(), direct.error.message);
    assert.match(direct.error.message, /cannot transcribe/);
  });

  test('no page threw an uncaught error during the walk', () => {
    assert.deepEqual(pageErrors, []);
  });
});
