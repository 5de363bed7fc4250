import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository root (this file is tools/supply-chain/{src,dist}/npm.*). */
export function repoRoot(): string {
  return path.resolve(__dirname, '..', '..', '..');
}

/**
 * How to run npm: the npm that runs this script (`npm run ...` sets npm_execpath), so the audit
 * and SBOM come from the same npm version as the install; plain `npm` otherwise.
 */
export function npmCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const execpath = env.npm_execpath;
  if (execpath && path.basename(execpath) === 'npm-cli.js' && existsSync(execpath)) return [process.execPath, execpath];
  return ['npm'];
}
