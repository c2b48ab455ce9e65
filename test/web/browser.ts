// What the browser tests share: Debian's chromium driven by playwright-core, a fresh web/dist
// build when the sources are newer than it, and a page that has loaded the served models.
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { WEB_DIST } from '../../src/serve/playground.js';

export const CHROMIUM = '/usr/bin/chromium';
/** false, or why the browser tests are skipped */
export const skipBrowser: string | false = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install Debian's chromium package to run the browser tests`;
export const WAIT = { timeout: 20000 };

const WEB = path.resolve(WEB_DIST, '..');

/** newest modification time under the given paths */
function newest(paths: string[]): number {
  let t = 0;
  for (const p of paths) {
    const st = fs.statSync(p);
    t = Math.max(t, st.mtimeMs);
    if (st.isDirectory()) t = Math.max(t, newest(fs.readdirSync(p).map((n) => path.join(p, n))));
  }
  return t;
}

/** The install builds web/dist (npm's prepare); rebuild here only when the sources are newer. */
export async function ensureWebBuild(): Promise<void> {
  const index = path.join(WEB_DIST, 'index.html');
  const sources = ['src', 'index.html', 'vite.config.ts'].map((p) => path.join(WEB, p));
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= newest(sources)) return;
  const { build } = await import('vite');
  await build({ root: WEB, configFile: path.join(WEB, 'vite.config.ts'), logLevel: 'warn' });
}

/** Opens a page of the playground and waits until the shell has listed the served models. */
export async function openPage(page: Page, url: string, hash: string): Promise<void> {
  // a goto that changes only the hash would keep the page's state: start each visit afresh
  if (page.url().startsWith(url)) await page.goto('about:blank');
  await page.goto(`${url}/#/${hash}`);
  await page.locator('.served', { hasText: 'served' }).waitFor(WAIT);
}

/**
 * The chat page's model choice once the page has made it: the default is picked by an effect after
 * the model list arrives, a frame or more after the header shows the served models.
 */
export async function chosenModel(page: Page): Promise<string> {
  await page.waitForFunction(() => (document.querySelector('select[name=model]') as HTMLSelectElement | null)?.value, null, WAIT);
  return page.locator('select[name=model]').inputValue();
}
