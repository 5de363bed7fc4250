import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { mkdirSync, openAsBlob } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderTwoFaces, type TwoFacesFixture } from '@talkie/faces/testing';
import { resolveFfmpeg } from '@talkie/media';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import type { JobResource } from '@talkie/contracts';
import { blurredWord, fixture, writeLandmarksDemoModel } from './support/fixtures';
import { CONSOLE_ARTIFACTS, contrastRatio, createApiKey, fixtureAsY4m, launchChromium, screenshot } from './support/browser';
import { startLlmServer, type LlmServer } from './support/llm-server';
import { ARTIFACTS, startStack, type Stack } from './support/stack';

/**
 * The web console, in a real browser: Debian's Chromium driven by playwright-core (headless, no
 * background networking), against a real gateway and worker on the real Redis, ffmpeg and the ONNX
 * demo model. The fake camera plays a fixture converted to .y4m. Screenshots and the downloaded SRT
 * go to test/.artifacts/console/.
 */
const MAX_UPLOAD_BYTES = 1024 * 1024;
const MAX_DURATION_S = 12;
const TENANT = 'console-test';
// Generous: two shared cores run the gateway, a worker, ffmpeg, Chromium and other test files.
const JOB_TIMEOUT_MS = 90_000;
// the screen sizes of the issue-20 screenshots: a laptop, and a phone (an iPhone 12–14's CSS pixels)
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

describe('web console (Chromium)', () => {
  let stack: Stack;
  let browser: Browser | undefined;
  let key: string;
  let camera: { file: string; text: string; recordS: number };
  let llm: LlmServer;

  beforeAll(async () => {
    const [, spoken] = await Promise.all([fixture('HELLO WORLD'), fixture('OPEN CAMERA')]);
    // The fake camera loops the file: two seconds of blank before the clip and six after it. A
    // recording that starts with the camera (up to two seconds later) and lasts the clip plus 4.5 s
    // holds the sentence exactly once, with 2.9 s to spare at the end should frames come late.
    const y4m = await fixtureAsY4m(spoken, { leadS: 2, tailS: 6 });
    camera = { file: y4m.file, text: spoken.text, recordS: Math.round((spoken.duration_s + 4.5) * 10) / 10 };
    llm = await startLlmServer(() => ({
      content: JSON.stringify({ corrected_text: 'Hello, world.', changes: [{ from: 'HELLO', to: 'Hello,' }, { from: 'WORLD', to: 'world.' }] }),
    }));
    stack = await startStack({
      name: 'console',
      postprocessEnv: { LLM_BASE_URL: llm.baseURL, LLM_MODEL: 'test-model' },
      // a CORS allow-list without the gateway's own origin: the console is same-origin and needs none
      gatewayEnv: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES), MAX_DURATION_S: String(MAX_DURATION_S), CORS_ORIGINS: 'https://app.example.com' },
    });
    key = createApiKey(stack.redisUrl, TENANT);
    browser = await launchChromium({ fakeCamera: camera.file });
  }, 180_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    await llm?.close();
  });

  /** A fresh context and page, recording every request and every console message and page error. */
  async function open(options: { viewport?: { width: number; height: number }; isMobile?: boolean } = {}) {
    const context: BrowserContext = await browser!.newContext({ viewport: options.viewport ?? DESKTOP, isMobile: options.isMobile, acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write', 'camera'], { origin: stack.baseUrl });
    const page = await context.newPage();
    const requests: Request[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r));
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy|Trusted Type/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`);
    });
    await page.goto(stack.baseUrl);
    return { context, page, requests, problems };
  }

  /** Signs in with the keyboard only: Tab to the key field, type, Enter. */
  async function signIn(page: Page, apiKey = key) {
    await page.keyboard.press('Tab'); // the skip link
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('api-key');
    await page.keyboard.type(apiKey);
    await page.keyboard.press('Enter');
  }

  /** Every form control has an accessible name from a label (or aria-label), every button a name. */
  async function expectLabelled(page: Page) {
    const unlabelled = await page.evaluate(() => {
      const missing: string[] = [];
      for (const input of document.querySelectorAll<HTMLInputElement>('input, select, textarea')) {
        if (!(input.labels?.length || input.getAttribute('aria-label') || input.getAttribute('aria-labelledby'))) missing.push(input.outerHTML);
      }
      for (const button of document.querySelectorAll('button')) {
        if (!(button.textContent?.trim() || button.getAttribute('aria-label'))) missing.push(button.outerHTML);
      }
      return missing;
    });
    expect(unlabelled).toEqual([]);
  }

  /** Text against its nearest opaque background meets WCAG AA (4.5:1). */
  async function expectContrast(page: Page, selectors: string[]) {
    for (const selector of selectors) {
      const colours = await page.$eval(selector, (node) => {
        let bg = 'rgba(0, 0, 0, 0)';
        for (let n: Element | null = node; n; n = n.parentElement) {
          const c = getComputedStyle(n).backgroundColor;
          if (!/rgba\(.*,\s*0\)$/.test(c) && c !== 'transparent') {
            bg = c;
            break;
          }
        }
        return { fg: getComputedStyle(node).color, bg: bg === 'rgba(0, 0, 0, 0)' ? 'rgb(255, 255, 255)' : bg };
      });
      expect({ selector, ratio: contrastRatio(colours.fg, colours.bg) >= 4.5 ? 'AA' : `${contrastRatio(colours.fg, colours.bg).toFixed(2)}:1` }).toEqual({ selector, ratio: 'AA' });
    }
  }

  const apiGet = (urlPath: string) => fetch(`${stack.baseUrl}${urlPath}`, { headers: { 'x-api-key': key } });

  it('serves the page with a strict CSP, the camera allowed, and long-lived caching only for versioned assets', async () => {
    const page = await fetch(`${stack.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.join(' ')]));
    expect(Object.fromEntries(directives)).toMatchObject({
      'default-src': "'self'",
      'script-src': "'self'",
      'style-src': "'self'",
      'connect-src': "'self'",
      'media-src': "'self' blob:",
      'img-src': "'self' data: blob:",
      'object-src': "'none'",
      'frame-ancestors': "'none'",
    });
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.headers.get('permissions-policy')).toMatch(/(^|, )camera=\(self\)/);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');

    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/\sstyle=|<style/); // no inline style
    const assets = [...html.matchAll(/(?:src|href)="(\/console\/[0-9a-f]{16}\/[\w.-]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) {
      const res = await fetch(`${stack.baseUrl}${asset}`);
      expect([asset, res.status]).toEqual([asset, 200]);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('permissions-policy')).toBeNull();
    }
    // another version's asset is not there; the API keeps its own headers (no camera, helmet's CSP)
    expect((await fetch(`${stack.baseUrl}/console/0000000000000000/console.js`)).status).toBe(404);
    const api = await fetch(`${stack.baseUrl}/v1/jobs`);
    expect(api.status).toBe(401);
    expect(api.headers.get('permissions-policy')).toBeNull();
    expect(api.headers.get('content-security-policy')).not.toBe(csp);
  });

  it('shows a clear error in an alert region for a wrong key, and keeps the key out of URLs and storage', async () => {
    const { context, page, requests, problems } = await open();
    try {
      await expectLabelled(page);
      const wrong = `tk_0123456789abcdef_${'A'.repeat(43)}`;
      await signIn(page, wrong);
      const alert = page.getByRole('alert');
      await alert.getByText('did not accept this API key').waitFor();
      expect(await alert.textContent()).toMatch(/did not accept this API key/);
      expect(await page.locator('#error').getAttribute('role')).toBe('alert');
      expect(await page.locator('#api-key').getAttribute('aria-invalid')).toBe('true');
      expect(await page.locator('#workspace').isHidden()).toBe(true);
      await expectContrast(page, ['#error', '.help', 'label[for="api-key"]', '#sign-in-form button']);
      await screenshot(page, 'wrong-key');
      const check = requests.find((r) => r.url().endsWith('/v1/limits'));
      expect(check?.headers()['x-api-key']).toBe(wrong);
      expect(requests.filter((r) => r.url().includes(wrong) || r.url().includes('api-key'))).toEqual([]);
      expect(await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }))).not.toContain('tk_');
      expect(problems.filter((p) => !/401/.test(p))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('signs in, uploads a fixture, shows live progress and the exact transcript, copies it, downloads SRT, and deletes the job', async () => {
    const hello = await fixture('HELLO WORLD');
    const { context, page, requests, problems } = await open();
    try {
      await signIn(page);
      await page.locator('#workspace').waitFor();
      expect(await page.locator('#limits').textContent()).toBe(`Videos up to 1 MiB and ${MAX_DURATION_S} s, as .mp4 .mov .webm .mkv .avi .mpg .mpeg.`);
      await expectLabelled(page);
      // Every status the page shows, in order, as it shows them.
      await page.evaluate(() => {
        const seen: string[] = ((window as unknown as { statuses: string[] }).statuses = []);
        const status = document.getElementById('job-status')!;
        // textContent = … puts in a new text node each time: the added nodes are the texts shown
        new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach((n) => seen.push(n.textContent ?? '')))).observe(status, { childList: true });
      });
      await page.setInputFiles('#video-file', hello.file);
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      await page.locator('#job-status', { hasText: 'Done.' }).waitFor({ timeout: JOB_TIMEOUT_MS });

      expect(await page.locator('#raw-text').textContent()).toBe('HELLO WORLD');
      expect(await page.locator('#job-progress').evaluate((p: HTMLProgressElement) => p.value)).toBe(100);
      // what the job is: the file sent from this tab, the result's duration and model
      const facts = await page.locator('#job-facts').innerText();
      expect(facts).toContain(path.basename(hello.file));
      expect(facts).toMatch(/Duration\s+[\d.]+ s/);
      expect(facts).toMatch(/Model\s+talkie-demo-letters 1\.0\.0/);
      // the result is where the user looks: focus moved to it (a screen reader follows)
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('raw-title');
      const statuses: string[] = await page.evaluate(() => (window as unknown as { statuses: string[] }).statuses);
      expect(statuses[0]).toMatch(/^Uploading: \d+%$/);
      expect(statuses).toContain('Queued: waiting for a worker.');
      expect(statuses.at(-1)).toBe('Done.');
      const post = requests.find((r) => r.method() === 'POST' && r.url() === `${stack.baseUrl}/v1/jobs`)!;
      const job = JSON.parse((await (await post.response())!.text()) as string) as { id: string };
      // progress came from the event stream, authenticated by header
      const events = requests.find((r) => r.url() === `${stack.baseUrl}/v1/jobs/${job.id}/events`);
      expect(events?.headers()['x-api-key']).toBe(key);
      expect(events?.headers()['accept']).toBe('text/event-stream');
      expect(requests.filter((r) => r.url().includes('tk_'))).toEqual([]);
      expect(requests.filter((r) => r.url().startsWith(`${stack.baseUrl}/v1/`)).every((r) => r.headers()['x-api-key'] === key)).toBe(true);
      await expectContrast(page, ['#raw-text', '#job-status', '#upload-submit', '.badge']);
      await screenshot(page, 'transcript');

      await page.getByRole('button', { name: 'Copy transcript' }).click();
      await page.locator('#notice', { hasText: 'Transcript copied.' }).waitFor();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('HELLO WORLD');

      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /SRT/ }).click()]);
      expect(download.suggestedFilename()).toBe(`${job.id}.srt`);
      const srt = await readFile((await download.path())!, 'utf8');
      mkdirSync(CONSOLE_ARTIFACTS, { recursive: true });
      await writeFile(path.join(CONSOLE_ARTIFACTS, 'transcript.srt'), srt);
      expect(srt).toBe(await (await apiGet(`/v1/jobs/${job.id}/result?format=srt`)).text());
      // one cue with the sentence, timed like the fixture's words (within the 0.1 s the pipeline promises)
      const cue = /^1\n00:00:(\d\d,\d{3}) --> 00:00:(\d\d,\d{3})\nHELLO WORLD\n$/.exec(srt);
      expect(cue).not.toBeNull();
      const seconds = (t: string) => Number(t.replace(',', '.'));
      expect(Math.abs(seconds(cue![1]) - hello.words[0].start)).toBeLessThan(0.1);
      expect(Math.abs(seconds(cue![2]) - hello.words[1].end)).toBeLessThan(0.1);

      const item = page.locator(`#history li[data-job-id="${job.id}"]`);
      await item.getByText('HELLO WORLD').waitFor();
      expect(await item.locator('.facts').textContent()).toMatch(new RegExp(`^${path.basename(hello.file).replace('.', '\\.')} · [\\d.]+ s · talkie-demo-letters 1\\.0\\.0$`));
      expect(await item.locator('.badge').textContent()).toBe('completed');
      await item.getByRole('button', { name: /^Delete the job from / }).click();
      await page.locator('#notice', { hasText: 'Job deleted.' }).waitFor();
      await item.waitFor({ state: 'detached' });
      expect((await apiGet(`/v1/jobs/${job.id}`)).status).toBe(404);
      expect(await page.locator('#job').isHidden()).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);

  it('says what to do about a refused file type (415): the accepted types and an ffmpeg line, never "try again"', async () => {
    const { context, page, problems } = await open();
    try {
      await signIn(page);
      await page.locator('#notice', { hasText: 'Signed in.' }).waitFor();
      // a .mp4 name passes the console's own check; the gateway's magic-byte sniff refuses it
      await page.setInputFiles('#video-file', { name: 'notes.mp4', mimeType: 'video/mp4', buffer: Buffer.from('these are not frames\n'.repeat(50)) });
      const answered = page.waitForResponse((r) => r.url().endsWith('/v1/jobs') && r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      const res = await answered;
      expect([res.status(), res.headers()['retry-after']]).toEqual([415, undefined]);
      const alert = page.getByRole('alert');
      await alert.getByText('(unsupported_media_type)').waitFor();
      const text = (await alert.textContent()) ?? '';
      expect(text).toContain('Accepted: .mp4 .mov .webm .mkv .avi .mpg .mpeg.');
      expect(text).toContain('To convert a video: ffmpeg -i ');
      expect(text).not.toMatch(/try again/i);
      // the stale confirmation is gone from under the error
      expect(await page.locator('#notice').textContent()).toBe('');
      expect(await page.locator('#job-status').textContent()).toBe('Upload failed.');
      await screenshot(page, 'unsupported-type');
      expect(problems.filter((p) => !/415/.test(p))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('keeps following a job when its event stream is refused or drops (a proxy timing out, a gateway restarting)', async () => {
    const { context, page, problems } = await open();
    try {
      // The first event stream is refused (503 with Retry-After), the second ends at once; later
      // ones reach the gateway.
      let streams = 0;
      await page.route(/\/v1\/jobs\/[0-9a-f-]{36}\/events$/, async (route) => {
        streams++;
        if (streams === 1) return route.fulfill({ status: 503, headers: { 'retry-after': '1' }, json: { error: { code: 'service_unavailable', message: 'x', request_id: 'r' } } });
        if (streams === 2) return route.fulfill({ status: 200, contentType: 'text/event-stream', body: ': keep-alive\n\n' });
        return route.fallback();
      });
      await signIn(page);
      await page.setInputFiles('#video-file', (await fixture('HELLO WORLD')).file);
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      await page.locator('#job-status', { hasText: 'Done.' }).waitFor({ timeout: JOB_TIMEOUT_MS });
      expect(await page.locator('#raw-text').textContent()).toBe('HELLO WORLD');
      expect(streams).toBeGreaterThanOrEqual(2);
      expect(await page.locator('#error').textContent()).toBe('');
      expect(problems.filter((p) => !/503/.test(p))).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);

  it("records from the (fake) camera and gets that clip's exact transcript", async () => {
    const { context, page, problems } = await open();
    try {
      await signIn(page);
      await page.locator('#workspace').waitFor();
      // The recording starts with the camera, for as long as beforeAll worked out.
      const seconds = camera.recordS;
      expect(seconds).toBeLessThanOrEqual(MAX_DURATION_S);
      await page.getByLabel('Recording length, in seconds').fill(String(seconds));
      await page.getByRole('button', { name: 'Record', exact: true }).click();
      await page.locator('#camera-preview').waitFor();
      await screenshot(page, 'recording');
      const send = page.getByRole('button', { name: 'Transcribe recording' });
      await send.waitFor({ timeout: seconds * 1000 + 30_000 });
      expect(await page.locator('#notice').textContent()).toMatch(/^Recorded [\d.]+ s\./);
      await screenshot(page, 'recorded');
      await send.click();
      await page.locator('#job-status', { hasText: 'Done.' }).waitFor({ timeout: JOB_TIMEOUT_MS });
      expect(await page.locator('#raw-text').textContent()).toBe(camera.text);
      await screenshot(page, 'recorded-transcript');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);

  it('asks for LLM correction when ticked, and shows the corrected text and its status beside the raw transcript', async () => {
    // The real path: the checkbox sends correct=true, the worker hands the job to the postprocess
    // service, which asks the loopback OpenAI-compatible server and completes the job.
    const { context, page, problems } = await open();
    try {
      await signIn(page);
      await page.locator('#workspace').waitFor();
      // a language model runs here (the postprocess service announced it): the option is offered,
      // unticked by default for this tenant
      const option = page.getByLabel('Also have the language model correct the transcript');
      expect(await option.isChecked()).toBe(false);
      expect(await page.locator('#correct-help').textContent()).toContain('Unticked by default for your account.');
      await option.check();
      await page.locator('#video-file').setInputFiles((await fixture('HELLO WORLD')).file);
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      await page.locator('#corrected-text', { hasText: 'Hello, world.' }).waitFor({ timeout: JOB_TIMEOUT_MS });
      expect(await page.locator('#raw-text').textContent()).toBe('HELLO WORLD');
      expect(await page.locator('#correction-status').textContent()).toBe('Correction: completed · 2 changes.');
      await page.getByRole('button', { name: 'Copy corrected text' }).click();
      await page.locator('#notice', { hasText: 'Corrected text copied.' }).waitFor();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('Hello, world.');
      // no tenant default here: the LLM was asked only because the box was ticked
      expect(llm.requestsFor('HELLO WORLD').length).toBeGreaterThan(0);
      await screenshot(page, 'corrected');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it('refuses a file over the size or duration limit before sending any of it', async () => {
    const long = await fixture('TOO LONG', { format: 'webm', padSeconds: MAX_DURATION_S });
    const { context, page, requests } = await open();
    try {
      await signIn(page);
      await page.locator('#workspace').waitFor();
      const alert = page.getByRole('alert');

      await page.setInputFiles('#video-file', { name: 'big.mp4', mimeType: 'video/mp4', buffer: Buffer.alloc(MAX_UPLOAD_BYTES + 1) });
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      await alert.getByText('the largest upload is 1 MiB').waitFor();

      await page.setInputFiles('#video-file', long.file);
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      await alert.getByText(`the longest video is ${MAX_DURATION_S} s`).waitFor();
      // the duration the browser read from the file's metadata, before any upload
      const shown = Number(/is ([\d.]+) s long/.exec((await alert.textContent()) ?? '')?.[1]);
      expect(Math.abs(shown - long.duration_s)).toBeLessThan(0.1);

      await page.setInputFiles('#video-file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      await alert.getByText('is not a video type Talkie takes').waitFor();

      await page.getByLabel('Recording length, in seconds').fill(String(MAX_DURATION_S + 1));
      await page.getByRole('button', { name: 'Record', exact: true }).click();
      await alert.getByText(`from 1 to ${MAX_DURATION_S} seconds`).waitFor();
      await screenshot(page, 'guards');
      expect(requests.filter((r) => r.method() === 'POST')).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it('is usable on a phone-sized screen, and brings the transcript into view when it is ready', async () => {
    const { context, page, problems } = await open({ viewport: PHONE, isMobile: true });
    try {
      const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(await overflow()).toBeLessThanOrEqual(0);
      await screenshot(page, 'phone-sign-in', { inView: true });
      await signIn(page);
      await page.locator('#workspace').waitFor();
      await page.locator('#history li, #history-empty:not([hidden])').first().waitFor();
      expect(await overflow()).toBeLessThanOrEqual(0);
      await expectLabelled(page);
      // touch targets: buttons at least 44 px high (WCAG 2.5.5's size)
      const small = await page.$$eval('button:not([hidden])', (buttons) =>
        buttons.filter((b) => b.getClientRects().length && b.getBoundingClientRect().height < 43.5).map((b) => b.textContent),
      );
      expect(small).toEqual([]);
      // the disabled Stop has no fill and a dashed outline: it does not look like the live Record
      const look = (id: string) => page.$eval(id, (b) => ({ border: getComputedStyle(b).borderTopStyle, fill: getComputedStyle(b).backgroundColor }));
      expect(await page.locator('#record-stop').isDisabled()).toBe(true);
      expect(await look('#record-stop')).toEqual({ border: 'dashed', fill: 'rgba(0, 0, 0, 0)' });
      expect((await look('#record-start')).border).toBe('solid');
      await expectContrast(page, ['#record-stop']);
      await screenshot(page, 'phone-workspace');

      await page.setInputFiles('#video-file', (await fixture('HELLO WORLD')).file);
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      await page.locator('#job-status', { hasText: 'Done.' }).waitFor({ timeout: JOB_TIMEOUT_MS });
      // the transcript is on screen without scrolling, and has the focus
      await page.waitForFunction(() => document.activeElement?.id === 'raw-title');
      const inView = await page.$eval('#raw-text', (el) => {
        const r = el.getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight;
      });
      expect(inView).toBe(true);
      expect(await page.locator('#raw-text').textContent()).toBe('HELLO WORLD');
      expect(await overflow()).toBeLessThanOrEqual(0);
      await screenshot(page, 'phone-transcript', { inView: true });

      await page.setInputFiles('#video-file', { name: 'notes.mp4', mimeType: 'video/mp4', buffer: Buffer.from('not a video\n'.repeat(50)) });
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      await page.getByRole('alert').getByText('(unsupported_media_type)').waitFor();
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(page, 'phone-error', { inView: true });

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('#sign-in').waitFor();
      expect(await page.locator('#workspace').isHidden()).toBe(true);
      expect(await page.locator('#history li').count()).toBe(0);
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('api-key');
      expect(await page.locator('#notice').textContent()).toBe('Signed out.');
      expect(problems.filter((p) => !/415/.test(p))).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);

  it('issue 17: shades each word by its confidence, lists the other readings on click, puts the warnings above the transcript', async () => {
    const { context, page, problems } = await open();
    try {
      await signIn(page);
      await page.locator('#workspace').waitFor();
      await expectLabelled(page);
      await page.getByLabel('Other readings to list').selectOption('3');
      // the middle word blurred with ffmpeg: the model is less sure of it, and sure of the others
      await page.locator('#video-file').setInputFiles((await blurredWord('READ MY LIPS', 1)).file);
      const answered = page.waitForResponse((r) => r.url().endsWith('/v1/jobs') && r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      const { id } = (await (await answered).json()) as JobResource;
      await page.locator('#job-status', { hasText: 'Done.' }).waitFor({ timeout: JOB_TIMEOUT_MS });
      const result = (await (await apiGet(`/v1/jobs/${id}/result`)).json()) as NonNullable<JobResource['result']>;
      // the job asked for 3 readings: a result has alternatives only when asked
      expect(result.alternatives!.length).toBeGreaterThanOrEqual(2);
      expect(result.alternatives!.length).toBeLessThanOrEqual(3);

      // every word is a span with its score in the title; the blurred one shaded, lighter, underlined
      expect(await page.locator('#raw-text').textContent()).toBe('READ MY LIPS');
      const words = await page.$$eval('#raw-text .word', (nodes) =>
        nodes.map((n) => ({ text: n.textContent, band: n.className.replace('word ', ''), title: (n as HTMLElement).title, confidence: (n as HTMLElement).dataset.confidence, underline: getComputedStyle(n).textDecorationLine, bg: getComputedStyle(n).backgroundColor })),
      );
      expect(words.map((w) => [w.text, w.title, w.confidence])).toEqual(result.segments.map((s) => [s.text, `${s.text}: confidence ${s.confidence!.toFixed(2)}`, s.confidence!.toFixed(2)]));
      expect(words.map((w) => w.band)).toEqual(['sure', result.segments[1].confidence! < 0.6 ? 'doubtful' : 'unsure', 'sure']);
      expect(words.map((w) => w.underline)).toEqual(['none', 'underline', 'none']);
      expect(words[0].bg).toBe('rgba(0, 0, 0, 0)');
      expect(words[1].bg).not.toBe('rgba(0, 0, 0, 0)');
      await expectContrast(page, ['#raw-text .word[data-index="1"]', '#warnings code']);
      expect(await page.locator('#confidence-help').textContent()).toContain(`the least: “MY”, ${result.segments[1].confidence!.toFixed(2)}`);

      // the warnings (the demo model's, at least) above the transcript, each with its code
      const warnings = await page.$$eval('#warnings li', (nodes) => nodes.map((n) => [n.querySelector('code')?.textContent, n.textContent]));
      expect(warnings).toEqual(result.warnings!.map((w) => [w.code, `${w.code} ${w.message}`]));
      expect(warnings.map(([code]) => code)).toContain('demo_model');
      const [banner, transcript] = await Promise.all([page.locator('#warnings').boundingBox(), page.locator('#raw-text').boundingBox()]);
      expect(banner!.y + banner!.height).toBeLessThanOrEqual(transcript!.y);

      // the other readings: hidden until the button is pressed, then all of them, best first
      const toggle = page.getByRole('button', { name: `Other readings (${result.alternatives!.length - 1})` });
      expect(await page.locator('#alternatives').isHidden()).toBe(true);
      await toggle.click();
      expect(await toggle.getAttribute('aria-expanded')).toBe('true');
      expect(await page.$$eval('#alternatives li .reading', (nodes) => nodes.map((n) => n.textContent))).toEqual(result.alternatives!.map((a) => a.text));
      expect(await page.locator('#alternatives li').first().textContent()).toContain('shown above');

      // the clip sent from this tab beside it; the demo model tracks no face, so no box
      await page.waitForFunction(() => (document.getElementById('job-video') as HTMLVideoElement).readyState >= 1);
      expect(await page.locator('#face-box').isHidden()).toBe(true);
      await screenshot(page, 'confidence-alternatives');
      await page.setViewportSize(PHONE);
      await page.locator('#raw-title').scrollIntoViewIfNeeded();
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
      await screenshot(page, 'phone-confidence-alternatives', { inView: true });

      // the WebVTT: a NOTE with each cue's confidence and one with the warnings, which Chromium's own parser skips
      const vtt = await (await apiGet(`/v1/jobs/${id}/result?format=vtt`)).text();
      expect(vtt).toMatch(/^WEBVTT\n\nNOTE warnings\ndemo_model: /);
      expect(vtt).toContain(`NOTE confidence ${Math.min(...result.segments.map((s) => s.confidence!)).toFixed(2)}\n\n00:00:`);
      const cues = await page.evaluate(async (text) => {
        const video = document.createElement('video');
        const track = document.createElement('track');
        track.default = true;
        track.src = URL.createObjectURL(new Blob([text], { type: 'text/vtt' }));
        video.append(track);
        document.body.append(video);
        await new Promise((resolve, reject) => {
          track.addEventListener('load', resolve);
          track.addEventListener('error', reject);
        });
        const list = [...(track.track.cues ?? [])].map((c) => (c as VTTCue).text);
        video.remove();
        return list;
      }, vtt);
      expect(cues).toEqual(['READ MY LIPS']);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);
});

describe('web console with no worker, under tight rate limits', () => {
  const LIMIT = 15;
  let stack: Stack;
  let browser: Browser | undefined;
  let key: string;
  beforeAll(async () => {
    // No worker: jobs stay queued, so there is one to cancel.
    stack = await startStack({ name: 'console-limits', workers: 0, gatewayEnv: { RATE_LIMIT_MAX: String(LIMIT), RATE_LIMIT_WINDOW_S: '600' } });
    key = createApiKey(stack.redisUrl, TENANT);
    browser = await launchChromium();
  }, 90_000);
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await stack?.stop();
  });

  it('cancels a queued job from the history', async () => {
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(stack.baseUrl);
      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#workspace').waitFor();
      // no postprocess service with a language model here: no LLM option to tick
      expect(await page.locator('#correct-option').isHidden()).toBe(true);
      expect(await page.locator('#correct-help').isHidden()).toBe(true);
      await page.setInputFiles('#video-file', (await fixture('HELLO WORLD')).file);
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      await page.locator('#job-status', { hasText: 'Queued: waiting for a worker.' }).waitFor();
      const item = page.locator('#history li', { has: page.locator('.badge', { hasText: 'queued' }) });
      const id = await item.getAttribute('data-job-id');
      await item.getByRole('button', { name: /^Cancel the job from / }).click();
      await page.locator('#notice', { hasText: 'Job canceled.' }).waitFor();
      await page.locator('#job-status', { hasText: 'Canceled.' }).waitFor();
      await page.locator(`#history li[data-job-id="${id}"] .badge`, { hasText: 'canceled' }).waitFor();
      const job = (await (await fetch(`${stack.baseUrl}/v1/jobs/${id}`, { headers: { 'x-api-key': key } })).json()) as JobResource;
      expect(job.status).toBe('canceled');
      await screenshot(page, 'canceled');
    } finally {
      await context.close();
    }
  });

  it('reconnects a failing event stream with growing, jittered waits (no Retry-After: never at once), and gives up after a bound', async () => {
    // Another tenant, so this test's requests do not spend the other tests' per-tenant budget.
    const reconnectKey = createApiKey(stack.redisUrl, 'console-reconnect');
    const form = new FormData();
    form.append('video', await openAsBlob((await fixture('HELLO WORLD')).file), 'hello.mp4');
    const created = await fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', body: form, headers: { 'x-api-key': reconnectKey } });
    expect(created.status).toBe(202); // and it stays queued: no worker here
    const context = await browser!.newContext();
    try {
      // The page's timers run on a clock the test moves: each wait is read from the page and then
      // run through, so nothing here depends on how fast the machine is.
      await context.clock.install();
      const page = await context.newPage();
      let streams = 0;
      // every event stream fails with a bare 500: no Retry-After, so the console must pick its waits
      await page.route(/\/v1\/jobs\/[0-9a-f-]{36}\/events$/, (route) => {
        streams++;
        return route.fulfill({ status: 500, json: { error: { code: 'internal_error', message: 'Internal error.', request_id: 'r' } } });
      });
      await page.goto(stack.baseUrl);
      await page.getByLabel('API key').fill(reconnectKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const item = page.locator('#history li', { has: page.locator('.badge', { hasText: 'queued' }) });
      await item.waitFor();
      await page.clock.pauseAt((await page.evaluate(() => Date.now())) + 1000);
      await item.getByRole('button', { name: /^Open the job from / }).click();
      const waits: number[] = [];
      for (let attempt = 1; attempt <= 6; attempt++) {
        const status = page.locator('#job-status', { hasText: `(${attempt} of 6)` });
        await status.waitFor();
        const seconds = Number(/trying again in (\d+) s/.exec((await status.textContent()) ?? '')?.[1]);
        waits.push(seconds);
        expect(streams).toBe(attempt); // nothing was retried before its wait ran out
        await page.clock.runFor(seconds * 1000);
      }
      // doubling from 1 s to a 15 s ceiling, each wait between half of that and all of it
      const ceilings = [1, 2, 4, 8, 15, 15];
      expect(waits.map((w, i) => w >= Math.ceil(ceilings[i] / 2) && w <= ceilings[i])).toEqual(ceilings.map(() => true));
      const alert = page.getByRole('alert');
      await alert.getByText('Lost the live view of this job after 6 tries').waitFor();
      expect(await alert.textContent()).toContain('open it from the history');
      expect(await alert.textContent()).not.toMatch(/try again in/i);
      expect(streams).toBe(7);
      expect(await page.locator('#job-status').textContent()).toBe('Not following this job any more.');
      await screenshot(page, 'reconnect-gave-up');
    } finally {
      await context.close();
    }
  }, 60_000);

  it('says when to try again once failed sign-ins are rate limited (429 with Retry-After)', async () => {
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(stack.baseUrl);
      const alert = page.getByRole('alert');
      const statuses: number[] = [];
      for (let attempt = 1; attempt <= LIMIT + 1 && statuses.at(-1) !== 429; attempt++) {
        await page.getByLabel('API key').fill(`tk_0123456789abcdef_${String(attempt % 10).repeat(43)}`);
        const answered = page.waitForResponse((r) => r.url().endsWith('/v1/limits'));
        await page.getByRole('button', { name: 'Sign in' }).click();
        statuses.push((await answered).status());
        // each answer replaces the last message: wait for this one's
        await alert.getByText(statuses.at(-1) === 401 ? 'did not accept this API key' : /^Too many requests for now\. Try again in \d+ s\.$/).waitFor();
      }
      // failed authentications are counted per address; the one past the limit is refused
      expect(statuses.at(-1)).toBe(429);
      expect(statuses.slice(0, -1).every((s) => s === 401)).toBe(true);
      expect(statuses.length).toBeGreaterThan(1);
      await screenshot(page, 'rate-limited');
    } finally {
      await context.close();
    }
  });
});

describe('web console turned off (CONSOLE_ENABLED=false)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ name: 'console-off', workers: 0, gatewayEnv: { CONSOLE_ENABLED: 'false' } });
  }, 60_000);
  afterAll(() => stack?.stop());

  it('serves no page and no assets, and the API as before', async () => {
    const page = await fetch(`${stack.baseUrl}/`);
    expect(page.status).toBe(404);
    expect(((await page.json()) as { error: { code: string } }).error.code).toBe('route_not_found');
    expect(page.headers.get('permissions-policy')).toBeNull();
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
  });
});

describe('web console with a face-tracking model (issue 17)', () => {
  let stack: Stack;
  let browser: Browser | undefined;
  let key: string;
  let tmp: string;
  let two: TwoFacesFixture;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-console-faces-'));
    const fixtures = path.join(ARTIFACTS, 'fixtures');
    mkdirSync(fixtures, { recursive: true });
    two = await renderTwoFaces({ text: 'READ MY LIPS', out: path.join(fixtures, 'console-two-faces-left-speaks.mp4'), ffmpeg: (await resolveFfmpeg()).ffmpeg, speaker: 'left' });
    // the demo model with roi.mode landmarks and the synthetic face package, which finds both faces
    stack = await startStack({ name: 'console-faces', workerEnv: { MODEL_DIR: await writeLandmarksDemoModel(path.join(tmp, 'model')) } });
    key = createApiKey(stack.redisUrl, TENANT);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await stack?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('draws the face each word was read from over the video, scaled to its size, for the word played or pointed at; face=all shows each face', async () => {
    const context = await browser!.newContext({ viewport: DESKTOP, acceptDownloads: true });
    const problems: string[] = [];
    try {
      const page = await context.newPage();
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      await page.goto(stack.baseUrl);
      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#workspace').waitFor();
      await page.getByLabel('Face to read').selectOption('all');
      await page.locator('#video-file').setInputFiles(two.file);
      const answered = page.waitForResponse((r) => r.url().endsWith('/v1/jobs') && r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Transcribe file' }).click();
      const { id } = (await (await answered).json()) as JobResource;
      await page.locator('#job-status', { hasText: 'Done.' }).waitFor({ timeout: JOB_TIMEOUT_MS });
      const result = (await (await fetch(`${stack.baseUrl}/v1/jobs/${id}/result`, { headers: { 'x-api-key': key } })).json()) as NonNullable<JobResource['result']>;
      expect(result.text).toBe('READ MY LIPS');
      expect(result.tracks).toHaveLength(2);

      // several faces and the demo model: both said above the transcript
      expect(await page.$$eval('#warnings code', (nodes) => nodes.map((n) => n.textContent))).toEqual(result.warnings!.map((w) => w.code));
      expect(result.warnings!.map((w) => w.code)).toEqual(expect.arrayContaining(['demo_model', 'several_faces']));

      // where the box should be: the word's box in source pixels, times the shown size over the source size
      await page.waitForFunction(() => (document.getElementById('job-video') as HTMLVideoElement).videoWidth > 0);
      const expected = async (index: number) => {
        const face = result.segments[index].face!;
        const video = (await page.locator('#job-video').boundingBox())!;
        const scale = video.width / two.width;
        return { x: video.x + face.x * scale, y: video.y + face.y * scale, width: face.width * scale, height: face.height * scale };
      };
      const drawn = async () => (await page.locator('#face-box').boundingBox())!;
      const near = (a: { x: number; y: number; width: number; height: number }, b: typeof a) =>
        [a.x - b.x, a.y - b.y, a.width - b.width, a.height - b.height].every((d) => Math.abs(d) <= 1.5);

      // pointing at a word: its face
      await page.locator('#raw-text .word[data-index="0"]').hover();
      await page.locator('#face-box').waitFor();
      expect(near(await drawn(), await expected(0))).toBe(true);
      expect(await page.locator('#raw-text .word.current').textContent()).toBe('READ');

      // the word played: seek into the last word, with the pointer away from the words
      await page.mouse.move(0, 0);
      const lips = result.segments[2];
      await page.evaluate(
        (t) =>
          new Promise<void>((resolve) => {
            const video = document.getElementById('job-video') as HTMLVideoElement;
            video.addEventListener('seeked', () => resolve(), { once: true });
            video.currentTime = t;
          }),
        (lips.start + lips.end) / 2,
      );
      expect(await page.locator('#raw-text .word.current').textContent()).toBe('LIPS');
      expect(near(await drawn(), await expected(2))).toBe(true);
      // the speaker is the left face: the box is on the video's left half
      const video = (await page.locator('#job-video').boundingBox())!;
      const box = await drawn();
      expect(box.x + box.width / 2).toBeLessThan(video.x + video.width / 2);
      await screenshot(page, 'face-box');

      // face=all: each face's reading, the speaker's first
      const options = await page.$$eval('#track-choice option', (nodes) => nodes.map((n) => (n as HTMLOptionElement).value));
      expect(options).toEqual(result.tracks!.map((t) => String(t.face)));
      expect(await page.locator('#track-choice').inputValue()).toBe(String(result.face_track!.index));
      const other = result.tracks!.find((t) => t.face !== result.face_track!.index)!;
      await page.getByLabel('Face shown').selectOption(String(other.face));
      expect(await page.locator('#raw-text').textContent()).toBe(other.text);
      // and the downloads are that face's: the gateway's ?face=
      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Download as plain text (TXT)' }).click();
      const txt = await download;
      expect(txt.suggestedFilename()).toBe(`${id}.face-${other.face}.txt`);
      expect(await readFile((await txt.path())!, 'utf8')).toBe(`${other.text}\n`);
      const vtt = await (await fetch(`${stack.baseUrl}/v1/jobs/${id}/result?format=vtt&face=${result.face_track!.index}`, { headers: { 'x-api-key': key } })).text();
      expect(vtt).toContain('\nREAD MY LIPS\n');
      expect(vtt).toContain('several_faces: ');

      await page.getByLabel('Face shown').selectOption(String(result.face_track!.index));
      await page.setViewportSize(PHONE);
      // a closed select shows one line: on the phone, every face's label fits it whole (no text cut at its edge)
      const fits = await page.$eval('#track-choice', (node) => {
        const select = node as HTMLSelectElement;
        const shown = select.getBoundingClientRect().width;
        select.style.maxWidth = 'none';
        const whole = select.getBoundingClientRect().width;
        select.style.maxWidth = '';
        return { shown, whole };
      });
      expect(fits.whole).toBeLessThanOrEqual(fits.shown);
      await page.locator('#raw-text .word[data-index="1"]').hover();
      expect(near(await drawn(), await expected(1))).toBe(true);
      await page.locator('#video-panel').scrollIntoViewIfNeeded();
      await screenshot(page, 'phone-face-box', { inView: true });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);
});
