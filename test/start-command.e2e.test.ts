import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import net from 'node:net';
import { leaseRedisDb, type RedisDbLease } from './support/redis-db';
import { freePort, ROOT, waitUntil } from './support/stack';

const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * What a newcomer does after `npm start`: get a token with `npm run token`, submit a fixture, read
 * the transcript, press Ctrl-C. Runs the launcher itself (tools/local), not the test harness.
 */
describe('the one-machine launcher (npm start) and npm run token', () => {
  let launcher: ChildProcess | undefined;
  let stateDir: string;
  let output = '';
  let lease: RedisDbLease;
  let redisUrl: string;

  beforeAll(async () => {
    lease = await leaseRedisDb();
    redisUrl = lease.url;
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'talkie-start-'));
    const redis = new Redis(redisUrl);
    await redis.flushdb();
    redis.disconnect();
  });
  afterAll(async () => {
    if (launcher && launcher.exitCode === null) launcher.kill('SIGKILL');
    const redis = new Redis(redisUrl);
    await redis.flushdb();
    redis.disconnect();
    await lease.release();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('starts gateway and workers, serves a transcript, and stops cleanly on SIGINT', async () => {
    const port = await freePort();
    // three consecutive free ports for gateway metrics and the two workers' health servers
    let metricsBase = 0;
    for (let candidate = 20000 + (process.pid % 20000); metricsBase === 0; candidate += 7) {
      const free = await Promise.all([0, 1, 2].map((d) => portIsFree(candidate + d)));
      if (free.every(Boolean)) metricsBase = candidate;
    }
    const env = { PATH: process.env.PATH ?? '', HOME: os.homedir(), TALKIE_STATE_DIR: stateDir, PORT: String(port), WORKERS: '2', METRICS_PORT: String(metricsBase), REDIS_URL: redisUrl };
    launcher = spawn(process.execPath, [path.join(ROOT, 'tools/local/dist/start.js')], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    launcher.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    launcher.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitUntil(async () => output.includes('Talkie is up'), 'the launcher to report Talkie is up', 60_000);
    expect(output).toContain(`http://127.0.0.1:${port}`);
    expect(output).toContain('DEMO MODEL');
    expect(output).toContain('2 workers');
    // operators' ports: gateway metrics, then each worker's health and readiness
    expect((await fetch(`http://127.0.0.1:${metricsBase}/metrics`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${metricsBase + 1}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${metricsBase + 2}/readyz`)).status).toBe(200);
    // the generated secret is private to the owner
    expect((await stat(path.join(stateDir, 'jwt-secret'))).mode & 0o077).toBe(0);

    const token = spawnSync(process.execPath, [path.join(ROOT, 'tools/local/dist/token.js'), '--sub', 'newcomer'], { env, encoding: 'utf8' });
    expect(token.status).toBe(0);
    const jwtToken = token.stdout.trim();
    expect(jwtToken.split('.')).toHaveLength(3);

    const video = await fixture('HELLO NEWCOMER');
    const base = `http://127.0.0.1:${port}`;
    const created = await submit(base, jwtToken, video.file);
    expect(created.status).toBe(202);
    const job = await waitForJob(base, jwtToken, created.body.id);
    expect(job.result?.text).toBe('HELLO NEWCOMER');

    const exited = new Promise<number | null>((resolve) => launcher!.once('exit', (code) => resolve(code)));
    launcher.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('stopping');
    // nothing is left listening
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  }, 120_000);

  it('npm run token refuses to sign without a secret', () => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'tools/local/dist/token.js'), '--sub', 'x'], {
      env: { PATH: process.env.PATH ?? '', TALKIE_STATE_DIR: path.join(stateDir, 'empty') },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no JWT_SECRET');
  });
});
