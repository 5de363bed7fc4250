import { readFile, writeFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import type { JobResource } from '@talkie/contracts';
import { fixture } from './support/fixtures';
import { CONSOLE_ARTIFACTS, contrastRatio, createApiKey, fixtureAsY4m, launchChromium, screenshot } from './support/browser';
import { startLlmServer, type LlmServer } from './support/llm-server';
import { startStack, type Stack } from './support/stack';

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
    const context: BrowserContext = await browser!.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 }, isMobile: options.isMobile, acceptDownloads: true });
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
      expect(await page.locator('#limits').textContent()).toBe(`Videos up to 1 MiB and ${MAX_DURATION_S} s, as .mp4 .mov .webm .mkv .avi.`);
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
      await page.getByLabel('Also have the language model correct the transcript').check();
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

  it('is usable on a phone-sized screen', async () => {
    const { context, page, problems } = await open({ viewport: { width: 360, height: 740 }, isMobile: true });
    try {
      const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(await overflow()).toBeLessThanOrEqual(0);
      await screenshot(page, 'phone-sign-in');
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
      await screenshot(page, 'phone-workspace');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('#sign-in').waitFor();
      expect(await page.locator('#workspace').isHidden()).toBe(true);
      expect(await page.locator('#history li').count()).toBe(0);
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('api-key');
      expect(await page.locator('#notice').textContent()).toBe('Signed out.');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
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
