import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { CONSOLE_CSP, CONSOLE_STATIC_DIR, consoleRoutes, loadConsoleAssets } from './console-routes';

/**
 * The console's files and the middleware that serves them, without a browser (that is
 * test/console.browser.test.ts): what the page references is shipped, nothing in it would be
 * refused by its own CSP, and the versioned paths change with the content.
 */
describe('web console files', () => {
  const assets = loadConsoleAssets();
  const page = assets.page.body.toString('utf8');

  it('points the page at its versioned folder and ships every file it references', () => {
    expect(assets.version).toMatch(/^[0-9a-f]{16}$/);
    expect(page).not.toContain('{{assets}}');
    const referenced = [...page.matchAll(/(?:src|href)="\/console\/([0-9a-f]{16})\/([\w.-]+)"/g)];
    expect(referenced.length).toBeGreaterThanOrEqual(3);
    for (const [, version, name] of referenced) {
      expect(version).toBe(assets.version);
      expect([name, assets.files.has(name)]).toEqual([name, true]);
    }
  });

  it('resolves every module import to a shipped file', () => {
    for (const [name, file] of assets.files) {
      if (!name.endsWith('.js')) continue;
      for (const [, target] of file.body.toString('utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)) {
        expect([name, target, target.startsWith('./') && assets.files.has(target.slice(2))]).toEqual([name, target, true]);
      }
    }
  });

  it('has nothing its CSP (no inline code or style, Trusted Types) would refuse', () => {
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page).not.toMatch(/<style|\sstyle=|\son[a-z]+=|javascript:/i);
    for (const [name, file] of assets.files) {
      if (!name.endsWith('.js')) continue;
      const code = file.body.toString('utf8');
      expect([name, code.match(/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setAttribute\(\s*['"]style/g)]).toEqual([name, null]);
    }
    expect(CONSOLE_CSP).not.toMatch(/unsafe-/);
  });

  it('changes the version when any file changes, and refuses to start without the files', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'talkie-console-'));
    try {
      cpSync(CONSOLE_STATIC_DIR, tmp, { recursive: true });
      expect(loadConsoleAssets(tmp).version).toBe(assets.version);
      writeFileSync(path.join(tmp, 'console.css'), `${readFileSync(path.join(tmp, 'console.css'), 'utf8')}\n/* changed */\n`);
      expect(loadConsoleAssets(tmp).version).not.toBe(assets.version);
      rmSync(path.join(tmp, 'index.html'));
      expect(() => loadConsoleAssets(tmp)).toThrow(/CONSOLE_ENABLED=false/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('consoleRoutes', () => {
  let base: string;
  let close: () => void;
  beforeAll(async () => {
    const app = express();
    app.use((_req, res, next) => {
      res.setHeader('Cache-Control', 'no-store'); // as the gateway does for everything
      next();
    });
    app.use(consoleRoutes(loadConsoleAssets()));
    app.use((_req, res) => void res.status(404).send('next'));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(() => close?.());

  it('serves the page uncached with its CSP and camera permission, assets cached for good', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(page.headers.get('permissions-policy')).toContain('camera=(self)');
    expect(page.headers.get('cache-control')).toBe('no-store');
    const script = /src="(\/console\/[0-9a-f]{16}\/console\.js)"/.exec(await page.text())![1];
    const asset = await fetch(`${base}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('permissions-policy')).toBeNull();
    const head = await fetch(`${base}${script}`, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
  });

  it('leaves everything else to the next handler', async () => {
    for (const [method, url] of [['GET', '/index.html'], ['GET', '/console/0000000000000000/console.js'], ['GET', '/console/'], ['POST', '/'], ['DELETE', '/']]) {
      const res = await fetch(`${base}${url}`, { method });
      expect([method, url, res.status, await res.text()]).toEqual([method, url, 404, 'next']);
    }
  });
});
