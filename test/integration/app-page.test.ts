/**
 * The database as the app, in a real browser: headless Chromium (Debian's package, driven by
 * puppeteer-core, which downloads nothing) opens GET /rpc/app, the page the api schema serves as
 * text/html. The chart has one bar per pipeline stage, as high as the cache says; the search form
 * finds a seeded contact; a contact whose name is a <script> shows it as text. A screenshot is kept
 * under .pgapp/screenshots/ (a CI artifact).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { workDir } from '../../src/paths.ts';
import { type TestStack, useStack } from '../../src/testing/index.ts';
import { customFromUrl, query, rdsFromUrl, replicaCaughtUp } from '../helpers.ts';

const postgrest = inject('postgrest');
/** Debian's chromium (.ci/provision installs it), or the one PGAPP_CHROMIUM names. */
const CHROMIUM = [process.env.PGAPP_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (p): p is string => !!p && existsSync(p),
);
const why = !postgrest.available
  ? postgrest.reason
  : !CHROMIUM
    ? 'no Chromium at /usr/bin/chromium (install Debian\'s "chromium" package, as .ci/provision does, or set PGAPP_CHROMIUM)'
    : undefined;
const title = why
  ? `the app page in a browser — SKIPPED: ${why}`
  : 'the app page in a browser (headless Chromium)';

describe.skipIf(why !== undefined)(title, () => {
  let stack: TestStack;
  let browser: Browser;
  const XSS = '<script>window.__xss = 1</script>';

  beforeAll(async () => {
    stack = await useStack();
    // A shared contact (no owner: anonymous visitors see it) whose first name is markup.
    await query(
      rdsFromUrl(stack.rdsUrl),
      `INSERT INTO crm.contacts (company_id, first_name, last_name, email)
       VALUES (1, $1, 'Xsstest', 'xss-test@example.com')`,
      [XSS],
    );
    await replicaCaughtUp(rdsFromUrl(stack.rdsUrl), customFromUrl(stack.customUrl));
    const { launch } = await import('puppeteer-core');
    browser = await launch({
      executablePath: CHROMIUM,
      headless: true,
      // As root (CI) Chromium needs --no-sandbox; the page is our own.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.restore('seeded');
    await stack?.[Symbol.asyncDispose]();
  });

  it('draws one bar per pipeline stage, as high as the cache says, and keeps a screenshot', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${stack.apiUrl}/rpc/app`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-type']).toMatch(/^text\/html/);
    const stages = (await (await fetch(`${stack.apiUrl}/stage_pipeline?select=stage,amount`)).json()) as {
      stage: string;
      amount: number;
    }[];
    expect(stages.length).toBeGreaterThan(1);
    const top = Math.max(...stages.map((s) => s.amount));
    const bars = await page.$$eval('figure:first-of-type rect.bar', (rects) =>
      rects.map((r) => ({ stage: r.getAttribute('data-label'), height: Number(r.getAttribute('height')) })),
    );
    expect(bars).toEqual(stages.map((s) => ({ stage: s.stage, height: Math.round((s.amount / top) * 160) })));
    // Drawn, not only present: the first bar has the height it says on screen.
    const box = await (await page.$('figure:first-of-type rect.bar'))?.boundingBox();
    expect(Math.round(box?.height ?? 0)).toBe(bars[0]?.height);
    const dir = join(workDir(), '.pgapp', 'screenshots');
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, 'app.png'), fullPage: true });
    expect(existsSync(join(dir, 'app.png'))).toBe(true);
    await page.close();
  });

  it('the search form finds a seeded contact, through the same function', async () => {
    const [seeded] = (await (
      await fetch(`${stack.apiUrl}/contacts?select=first_name,last_name&order=id&limit=1`)
    ).json()) as {
      first_name: string;
      last_name: string;
    }[];
    const page = await browser.newPage();
    await page.goto(`${stack.apiUrl}/rpc/app`);
    await page.type('input[name=q]', `${seeded?.first_name} ${seeded?.last_name}`);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(page.url()).toContain('/rpc/app?q=');
    const rows = await page.$$eval('#results tr td:first-child', (tds) => tds.map((td) => td.textContent));
    expect(rows).toContain(`${seeded?.first_name} ${seeded?.last_name}`);
    await page.close();
  });

  it('a contact whose name is a <script> is shown as text, and nothing runs', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.apiUrl}/rpc/app?q=${encodeURIComponent('Xsstest')}`);
    const cell = await page.$eval('#results tr:nth-child(2) td:first-child', (td) => td.textContent);
    expect(cell).toBe(`${XSS} Xsstest`);
    expect(await page.$$('#results script')).toHaveLength(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    // And a search term with markup and LIKE's wildcards is only text too.
    await page.goto(`${stack.apiUrl}/rpc/app?q=${encodeURIComponent('"><b>%_')}`);
    expect(await page.$eval('#results', (p) => p.textContent)).toBe('No contact matches "><b>%_.');
    expect(await page.$eval('input[name=q]', (i) => (i as HTMLInputElement).value)).toBe('"><b>%_');
    await page.close();
  });
});
