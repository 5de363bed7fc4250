import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The project's shared test data (`shared/`, e.g. shared/data/grid: real-speaker clips that must not
 * be copied into the repository). It lies beside the repository; a clone made elsewhere
 * (`git clone . /tmp/x`) finds it beside the checkout it was cloned from. TALKIE_SHARED_DIR overrides.
 */
export function sharedDir(): string {
  const candidates = [process.env.TALKIE_SHARED_DIR, path.resolve(ROOT, '..', 'shared')];
  try {
    const origin = execFileSync('git', ['config', '--get', 'remote.origin.url'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (origin && path.isAbsolute(origin)) candidates.push(path.resolve(origin, '..', 'shared'));
  } catch {
    // not a git checkout, or no origin
  }
  const found = candidates.find((dir): dir is string => dir !== undefined && existsSync(dir));
  if (!found) throw new Error(`shared test data not found (looked in ${candidates.filter(Boolean).join(', ')}): set TALKIE_SHARED_DIR`);
  return found;
}

/** shared/data/grid: eight GRID corpus clips (CC BY 4.0) and LipNet's mouth crops of bbaf2n */
export const gridDir = (): string => path.join(sharedDir(), 'data', 'grid');
