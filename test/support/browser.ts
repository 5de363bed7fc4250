import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RenderedFixture } from '@talkie/demo-model';
import { resolveFfmpeg } from '@talkie/media';
import { ARTIFACTS, ROOT } from './stack';

const run = promisify(execFile);

/** Screenshots and downloads of the browser tests. */
export const CONSOLE_ARTIFACTS = path.join(ARTIFACTS, 'console');

/** Debian's Chromium (`.ci/run` installs it), or CHROMIUM_PATH. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Flags that keep a test browser to itself: no sandbox (CI containers lack the user namespaces it
 * needs) and no background traffic (updates, safe browsing, metrics, sync, component downloads, DNS
 * prefetch): the only host it talks to is the gateway under test. Headless is launch's option.
 */
const QUIET_FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--disable-breakpad',
  '--metrics-recording-only',
  '--no-first-run',
  '--no-pings',
  '--dns-prefetch-disable',
  // (playwright adds its own --disable-features list, which turns off the rest of what phones home:
  // a second such flag here would replace it, so there is none)
];

export interface LaunchOptions {
  /** a .y4m (or .mjpeg) file the fake camera plays, looping */
  fakeCamera?: string;
}

/** Launches the machine's Chromium with playwright-core, headless, quiet, and optionally with a fake camera. */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run .ci/run, or apt-get install chromium, or set CHROMIUM_PATH`);
  const camera = options.fakeCamera
    ? ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${options.fakeCamera}`]
    : [];
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...QUIET_FLAGS, ...camera], timeout: 60_000 });
}

/**
 * A fixture as a raw .y4m for Chromium's fake camera, with `leadS` and `tailS` seconds of its first
 * and last frame (both blank for the demo model) around it, so a recording that starts a little
 * after the camera does still begins before the first letter.
 */
export async function fixtureAsY4m(rendered: RenderedFixture, options: { leadS: number; tailS: number }): Promise<{ file: string; durationS: number }> {
  const dir = path.join(ARTIFACTS, 'fixtures');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${path.basename(rendered.file, path.extname(rendered.file))}-lead${options.leadS}-tail${options.tailS}.y4m`);
  const { ffmpeg } = await resolveFfmpeg();
  const pad = `tpad=start_duration=${options.leadS}:start_mode=clone:stop_duration=${options.tailS}:stop_mode=clone`;
  await run(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-i', rendered.file, '-vf', pad, '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', file]);
  return { file, durationS: rendered.duration_s + options.leadS + options.tailS };
}

/**
 * Saves a screenshot as test/.artifacts/console/<name>.png: the full page, or with `inView` only
 * what the viewport shows (what a phone user sees without scrolling).
 */
export async function screenshot(page: Page, name: string, options: { inView?: boolean } = {}): Promise<void> {
  mkdirSync(CONSOLE_ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(CONSOLE_ARTIFACTS, `${name}.png`), fullPage: !options.inView });
}

/** Creates an API key with the gateway's real `npm run keys` CLI against `redisUrl`. */
export function createApiKey(redisUrl: string, tenant: string, scopes = 'jobs:read,jobs:write'): string {
  const made = spawnSync(process.execPath, [path.join(ROOT, 'services/gateway/dist/cli/keys.js'), 'create', '--tenant', tenant, '--scopes', scopes], {
    env: { PATH: process.env.PATH ?? '', REDIS_URL: redisUrl },
    encoding: 'utf8',
  });
  const key = made.stdout.trim();
  if (made.status !== 0 || !/^tk_[0-9a-f]{16}_/.test(key)) throw new Error(`keys create failed (${made.status}): ${made.stderr}`);
  return key;
}

/** WCAG 2 contrast ratio of two `rgb()`/`rgba()` colours (the background opaque). */
export function contrastRatio(foreground: string, background: string): number {
  const channels = (css: string) => (css.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
  const luminance = (css: string) => {
    const [r, g, b] = channels(css).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [luminance(foreground), luminance(background)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}
