import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from './stack';

/**
 * Row 10's model package: random weights of Auto-AVSR's real sizes, written by the importer
 * (tools/export/export_auto_avsr.py, ~1.5–2 min and ~1 GB), cached under bench/.cache (git-ignored
 * by bench/.gitignore) so that later runs skip it. The key hashes the importer's Python sources,
 * the shapes file and the importer's arguments: any change to what would be written writes it anew.
 */

export const CACHE_DIR = path.join(ROOT, 'bench', '.cache');
const EXPORT_DIR = path.join(ROOT, 'tools', 'export');
const CACHE_PREFIX = 'avsr-full-size-';
const MARKER = 'bench-cache.json';

/** tools/export/src/importer.ts, built: required at run time (tools/ is no dependency of the bench's build). */
interface Importer {
  findTorchPython(): Promise<string | undefined>;
  runImporter(python: string, args: readonly string[], options?: { timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
}

function importer(): Importer {
  const built = path.join(EXPORT_DIR, 'dist', 'importer.js');
  if (!existsSync(built)) throw new Error(`${path.relative(ROOT, built)} is missing: run \`npm run build\` first`);
  return require(built) as Importer;
}

/**
 * The project's shared test data (the lookup of test/support/shared-data.ts, which the bench cannot
 * import): TALKIE_SHARED_DIR, else `shared/` beside the checkout, else beside the checkout this one
 * was cloned from. Undefined when none exists.
 */
export function sharedDir(): string | undefined {
  const candidates = [process.env.TALKIE_SHARED_DIR, path.resolve(ROOT, '..', 'shared')];
  try {
    const origin = execFileSync('git', ['config', '--get', 'remote.origin.url'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (origin && path.isAbsolute(origin)) candidates.push(path.resolve(origin, '..', 'shared'));
  } catch {
    // not a git checkout, or no origin
  }
  return candidates.find((dir): dir is string => dir !== undefined && existsSync(dir));
}

/** Every .py file under `dir` (no __pycache__), relative paths sorted. */
function pythonSources(dir: string, under = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(dir, under), { withFileTypes: true })) {
    const rel = path.posix.join(under, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== '__pycache__' && entry.name !== 'node_modules' && entry.name !== 'dist') out.push(...pythonSources(dir, rel));
    } else if (entry.isFile() && entry.name.endsWith('.py')) out.push(rel);
  }
  return out.sort();
}

/** The cache key: sha256 of the importer's sources (path and bytes), the shapes file and the arguments. */
export function packageKey(exportDir: string, shapesFile: string, args: readonly string[]): string {
  const hash = createHash('sha256');
  for (const rel of pythonSources(exportDir)) {
    hash.update(`py ${rel}\0`);
    hash.update(readFileSync(path.join(exportDir, rel)));
    hash.update('\0');
  }
  hash.update('shapes\0');
  hash.update(readFileSync(shapesFile));
  hash.update(`\0args ${JSON.stringify(args)}`);
  return hash.digest('hex').slice(0, 16);
}

/** Importer arguments besides --out: the real sizes, a centre crop, and the old whole-prefix decoder too. */
const importArgs = (shapesFile: string) => ['--random-from-shapes', shapesFile, '--roi', 'center', '--prefix-decoder'];

export type AvsrPackage =
  | { ok: true; dir: string; built: boolean; buildSeconds: number; key: string; python: string; shapesFile: string }
  | { ok: false; reason: string };

/**
 * The cached package, importing it first when the key changed (or it was never built): into a
 * temporary folder beside the cache entry, renamed into place once complete, so an interrupted run
 * leaves no half package under the key. Older entries are removed once the new one is in place.
 * `ok: false` with the reason when PyTorch or the shapes file is missing (the row is then skipped).
 */
export async function ensureAvsrPackage(log: (line: string) => void): Promise<AvsrPackage> {
  const shared = sharedDir();
  const shapesFile = shared && path.join(shared, 'avsr-reference', 'full-size-state-dict-shapes.json');
  if (!shapesFile || !existsSync(shapesFile)) {
    return { ok: false, reason: `no ${shared ? shapesFile : 'shared/ folder (set TALKIE_SHARED_DIR)'}: the full-size shapes of shared/avsr-reference are needed` };
  }
  const { findTorchPython, runImporter } = importer();
  const python = await findTorchPython();
  if (!python) {
    const tried = process.env.PYTHON ? `PYTHON=${process.env.PYTHON}` : 'python3 or /usr/bin/python3';
    return { ok: false, reason: `no Python with PyTorch (tried ${tried}; Debian: apt-get install python3-torch, or set PYTHON)` };
  }
  const args = importArgs(shapesFile);
  const key = packageKey(EXPORT_DIR, shapesFile, [...args.slice(0, 1), path.basename(shapesFile), ...args.slice(2)]);
  const dir = path.join(CACHE_DIR, `${CACHE_PREFIX}${key}`);
  if (existsSync(path.join(dir, MARKER))) return { ok: true, dir, built: false, buildSeconds: 0, key, python, shapesFile };

  await mkdir(CACHE_DIR, { recursive: true });
  await removeStale(CACHE_DIR);
  const tmp = path.join(CACHE_DIR, `.${CACHE_PREFIX}${key}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  log(`  importing a random-weights Auto-AVSR package of the real sizes (once per importer version; ~2 min, ~1 GB) into ${path.relative(ROOT, dir)}`);
  const started = performance.now();
  try {
    const result = await runImporter(python, [...args, '--out', tmp], { timeoutMs: 15 * 60_000 });
    if (result.code !== 0) throw new Error(`the importer exited with ${result.code}: ${(result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join(' / ')}`);
    const buildSeconds = (performance.now() - started) / 1000;
    await writeFile(path.join(tmp, MARKER), `${JSON.stringify({ key, args: [...args, '--out', '…'], python, seconds: Math.round(buildSeconds), at: new Date().toISOString() }, null, 1)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    for (const entry of await readdir(CACHE_DIR)) {
      if (entry.startsWith(CACHE_PREFIX) && entry !== path.basename(dir)) await rm(path.join(CACHE_DIR, entry), { recursive: true, force: true });
    }
    return { ok: true, dir, built: true, buildSeconds, key, python, shapesFile };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Temporary folders (ours, and the importer's own staging) left by a run that was killed an hour or more ago. */
async function removeStale(cacheDir: string): Promise<void> {
  for (const entry of await readdir(cacheDir)) {
    if (!entry.startsWith('.')) continue;
    const full = path.join(cacheDir, entry);
    const age = Date.now() - (await stat(full)).mtimeMs;
    if (age > 3_600_000) await rm(full, { recursive: true, force: true });
  }
}

/** Bytes of a folder's files (one level: a package is flat, bar parity/). */
export function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(full) : statSync(full).size;
  }
  return total;
}
