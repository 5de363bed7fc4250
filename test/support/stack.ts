import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { Redis } from 'ioredis';
import { leaseRedisDb } from './redis-db';

export const ROOT = path.resolve(__dirname, '..', '..');
export const ARTIFACTS = path.join(ROOT, 'test', '.artifacts');
const GATEWAY_MAIN = path.join(ROOT, 'services', 'gateway', 'dist', 'main.js');
const WORKER_MAIN = path.join(ROOT, 'services', 'worker', 'dist', 'main.js');
const DISPATCHER_MAIN = path.join(ROOT, 'services', 'webhook-dispatcher', 'dist', 'main.js');
const POSTPROCESS_MAIN = path.join(ROOT, 'services', 'postprocess', 'dist', 'main.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Resolves with the exit code (or signal) of a child process, or undefined after `timeoutMs`. */
export function exitOf(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

const httpOk = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;

export interface StackOptions {
  /** Redis logical database for this stack; by default one is leased from the pool (redis-db.ts) */
  redisDb?: number;
  workers?: number;
  gatewayEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** start the webhook dispatcher too, with this extra env */
  dispatcherEnv?: Record<string, string>;
  /** start the postprocess service (LLM correction) too, with this extra env; its log is `postprocess` */
  postprocessEnv?: Record<string, string>;
  /** name for log files under test/.artifacts/logs */
  name: string;
  /**
   * use this Redis (e.g. a private redis-server on another port) instead of leasing a logical DB of
   * the shared one on 127.0.0.1:6379; it is flushed at start and stop like a leased one
   */
  redisUrl?: string;
  /** keep uploads in this existing folder (e.g. a size-capped mount) instead of a temporary one; left in place at stop */
  storageDir?: string;
}

export interface AddedWorker {
  process: ChildProcess;
  /** its /healthz, /readyz and /metrics port */
  healthPort: number;
  /** its log file's service name (see Stack.logFile) */
  service: string;
}

export interface Stack {
  baseUrl: string;
  storageDir: string;
  redisUrl: string;
  redis: Redis;
  secret: string;
  token(sub: string, claims?: Record<string, unknown>, options?: jwt.SignOptions): string;
  logFile(service: string): string;
  gateway: ChildProcess;
  workers: ChildProcess[];
  /** each worker's /healthz, /readyz and /metrics port */
  workerPorts: number[];
  /**
   * Starts one more worker process (env on top of `workerEnv` when `inherit` is not false) and, unless
   * `waitReady` is false, waits for its /readyz. It is stopped with the stack.
   */
  addWorker(env?: Record<string, string>, options?: { waitReady?: boolean; inherit?: boolean }): Promise<AddedWorker>;
  stop(): Promise<void>;
}

/**
 * Starts a gateway and workers as separate OS processes against the real Redis (one logical DB per
 * test file) and a temporary storage folder, exactly as `npm start` does, and waits until all are ready.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const lease = options.redisDb === undefined && options.redisUrl === undefined ? await leaseRedisDb() : undefined;
  const redisUrl = options.redisUrl ?? (lease ? lease.url : `redis://127.0.0.1:6379/${options.redisDb}`);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await redis.flushdb();
  const tmp = await mkdtemp(path.join(os.tmpdir(), `talkie-${options.name}-`));
  const storageDir = options.storageDir ?? path.join(tmp, 'storage');
  const secret = `test-secret-${options.name}-0123456789abcdef0123456789`;
  const logDir = path.join(ARTIFACTS, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = (service: string) => path.join(logDir, `${options.name}.${service}.log`);
  const common = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmp,
    REDIS_URL: redisUrl,
    STORAGE_URL: `file://${storageDir}`,
    DEMO_MODEL_DIR: path.join(tmp, 'models', 'demo'),
    // each test file runs its own gateway: let the OS pick the metrics port
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
  };
  let workerCount = 0;
  const launch = (main: string, service: string, env: Record<string, string>) => {
    const child = spawn(process.execPath, [main], { env: { ...common, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(logFile(service));
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    return child;
  };

  const port = await freePort();
  const gateway = launch(GATEWAY_MAIN, 'gateway', { HOST: '127.0.0.1', PORT: String(port), JWT_SECRET: secret, ...options.gatewayEnv });
  const workers: ChildProcess[] = [];
  const healthPorts: number[] = [];
  for (let i = 0; i < (options.workers ?? 1); i++) {
    const healthPort = await freePort();
    healthPorts.push(healthPort);
    workers.push(launch(WORKER_MAIN, `worker-${++workerCount}`, { HEALTH_PORT: String(healthPort), ...options.workerEnv }));
  }
  if (options.dispatcherEnv) {
    const healthPort = await freePort();
    healthPorts.push(healthPort);
    workers.push(launch(DISPATCHER_MAIN, 'dispatcher', { HEALTH_PORT: String(healthPort), ...options.dispatcherEnv }));
  }
  if (options.postprocessEnv) {
    const healthPort = await freePort();
    healthPorts.push(healthPort);
    workers.push(launch(POSTPROCESS_MAIN, 'postprocess', { HEALTH_PORT: String(healthPort), ...options.postprocessEnv }));
  }
  const baseUrl = `http://127.0.0.1:${port}`;

  const stop = async () => {
    const all = [gateway, ...workers].filter((c) => c.exitCode === null && c.signalCode === null);
    await Promise.all(
      all.map(
        (c) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    await redis.flushdb().catch(() => undefined);
    redis.disconnect();
    await lease?.release();
    await rm(tmp, { recursive: true, force: true });
  };

  try {
    await waitUntil(() => httpOk(`${baseUrl}/readyz`), 'gateway readiness');
    for (const p of healthPorts) await waitUntil(() => httpOk(`http://127.0.0.1:${p}/readyz`), 'worker readiness');
  } catch (err) {
    await stop();
    throw err;
  }

  const addWorker = async (env: Record<string, string> = {}, add: { waitReady?: boolean; inherit?: boolean } = {}): Promise<AddedWorker> => {
    const healthPort = await freePort();
    const service = `worker-${++workerCount}`;
    const child = launch(WORKER_MAIN, service, { HEALTH_PORT: String(healthPort), ...(add.inherit === false ? {} : options.workerEnv), ...env });
    healthPorts.push(healthPort);
    workers.push(child);
    if (add.waitReady !== false) await waitUntil(() => httpOk(`http://127.0.0.1:${healthPort}/readyz`), `${service} readiness`);
    return { process: child, healthPort, service };
  };

  return {
    baseUrl,
    storageDir,
    redisUrl,
    redis,
    secret,
    token: (sub, claims = {}, signOptions = {}) =>
      jwt.sign({ scope: 'jobs:read jobs:write', ...claims }, secret, { algorithm: 'HS256', subject: sub, expiresIn: '1h', ...signOptions }),
    logFile,
    gateway,
    workers,
    workerPorts: healthPorts,
    addWorker,
    stop,
  };
}
