import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { leaseRedisDb, type RedisDbLease } from './redis-db';
import { freePort, ROOT } from './stack';

/**
 * Starts the gateway process directly with `env` and returns how it ended: at once with an error
 * (what configuration tests look for), or killed once it listens, or after 15 s.
 */
export async function startGatewayForConfig(env: Record<string, string>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-gateway-config-'));
  const lease: RedisDbLease = await leaseRedisDb();
  try {
    const child = spawn(process.execPath, [path.join(ROOT, 'services', 'gateway', 'dist', 'main.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: tmp,
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        REDIS_URL: lease.url,
        STORAGE_URL: `file://${path.join(tmp, 'storage')}`,
        JWT_SECRET: 'config-test-secret-0123456789abcdef0123456',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      // it started after all: no need to wait any longer
      if (stdout.includes('gateway listening')) child.kill('SIGKILL');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    return { code, signal, stdout, stderr };
  } finally {
    await lease.release();
    await rm(tmp, { recursive: true, force: true });
  }
}

