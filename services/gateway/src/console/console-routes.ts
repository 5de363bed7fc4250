import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * The web console's files: plain HTML, CSS and ES modules, no build step of their own. They sit in
 * `static/` beside this module: `src/console/static` when run from sources (jest), and
 * `dist/console/static` once built (the gateway's build copies them, see its package.json).
 */
export const CONSOLE_STATIC_DIR = path.join(__dirname, 'static');

/** Where the page finds its assets: `/console/<version>/`, the version a hash of all of them. */
const ASSET_PREFIX = '/console/';
/** The page's placeholder for that folder (index.html is the only file rewritten). */
const ASSETS_PLACEHOLDER = /\{\{assets\}\}/g;

/**
 * The console's Content-Security-Policy: only its own scripts and styles (no inline ones, no eval),
 * API calls to this origin only, recorded clips shown from blob: URLs, never framed. Trusted Types
 * are enforced too: the console builds its DOM with textContent and createElement, never HTML strings.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "media-src 'self' blob:",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** The page may use the camera (recording a clip); nothing else that asks for permission. */
export const CONSOLE_PERMISSIONS_POLICY = 'camera=(self), microphone=(), geolocation=(), payment=(), usb=()';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  type: string;
}

export interface ConsoleAssets {
  /** content hash of every file: changes whenever any of them does */
  version: string;
  page: Asset;
  /** by file name, served under `/console/<version>/` */
  files: Map<string, Asset>;
}

/**
 * Reads the console's files once, at start (they are small), hashes them into a version, and points
 * the page at `/console/<version>/`. Missing files stop the gateway with a clear message rather than
 * serving a broken page.
 */
export function loadConsoleAssets(dir: string = CONSOLE_STATIC_DIR): ConsoleAssets {
  if (!existsSync(path.join(dir, 'index.html'))) {
    throw new Error(`web console files not found in ${dir}: run \`npm run build\`, or set CONSOLE_ENABLED=false`);
  }
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && TYPES[path.extname(entry.name)])
    .map((entry) => entry.name)
    .sort();
  const hash = createHash('sha256');
  const raw = new Map<string, Buffer>();
  for (const name of names) {
    const body = readFileSync(path.join(dir, name));
    raw.set(name, body);
    hash.update(`${name}\0${body.length}\0`).update(body);
  }
  const version = hash.digest('hex').slice(0, 16);
  const files = new Map<string, Asset>();
  for (const [name, body] of raw) {
    if (name !== 'index.html') files.set(name, { body, type: TYPES[path.extname(name)] });
  }
  const page = raw.get('index.html')!.toString('utf8').replace(ASSETS_PLACEHOLDER, `${ASSET_PREFIX}${version}`);
  return { version, page: { body: Buffer.from(page, 'utf8'), type: TYPES['.html'] }, files };
}

/**
 * Serves the console: the page at `/` and its assets at `/console/<version>/<file>`. Assets are
 * immutable under their versioned path, so browsers may keep them for a year; the page itself is
 * never stored (the gateway's `no-store`), so a new deployment is picked up on the next load.
 * A plain middleware rather than a router: these are not API routes, and the OpenAPI document
 * (which lists exactly the app's routes) stays about the API.
 */
export function consoleRoutes(assets: ConsoleAssets = loadConsoleAssets()): RequestHandler {
  const assetPath = `${ASSET_PREFIX}${assets.version}/`;
  const send = (res: Response, asset: Asset, cacheControl?: string) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    if (cacheControl) res.setHeader('Cache-Control', cacheControl);
    res.status(200).type(asset.type).send(asset.body);
  };
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (req.path === '/') {
      res.setHeader('Permissions-Policy', CONSOLE_PERMISSIONS_POLICY);
      return send(res, assets.page);
    }
    if (req.path.startsWith(assetPath)) {
      const asset = assets.files.get(req.path.slice(assetPath.length));
      if (asset) return send(res, asset, 'public, max-age=31536000, immutable');
    }
    next();
  };
}
