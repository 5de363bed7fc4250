import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The local state folder of the one-machine mode (`.talkie/` in the checkout unless
 * `TALKIE_STATE_DIR` says otherwise): generated JWT secret, uploads, the private Redis, the demo model.
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = path.resolve(env.TALKIE_STATE_DIR ?? '.talkie');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

const secretFile = (dir: string) => path.join(dir, 'jwt-secret');

/** `JWT_SECRET` when set; otherwise the state folder's, created on first use (readable by the owner only). */
export function jwtSecret(env: NodeJS.ProcessEnv = process.env, create = true): { secret: string; source: 'env' | 'file' | 'created' } {
  if (env.JWT_SECRET) return { secret: env.JWT_SECRET, source: 'env' };
  const file = secretFile(stateDir(env));
  try {
    return { secret: readFileSync(file, 'utf8').trim(), source: 'file' };
  } catch {
    if (!create) throw new Error(`no JWT_SECRET set and no ${file}: run \`npm start\` once, or set JWT_SECRET`);
  }
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return { secret, source: 'created' };
}
