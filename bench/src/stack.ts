import { mkdirSync } from 'node:fs';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { freePort, httpOk, spawnNode, waitUntil, type Spawned } from './procs';

export const ROOT = path.resolve(__dirname, '..', '..');
const GATEWAY_MAIN = path.join(ROOT, 'services', 'gateway', 'dist', 'main.js');
const WORKER_MAIN = path.join(ROOT, 'services', 'worker', 'dist', 'main.js');

/** Redis logical databases the benchmark may use, and no others. */
export const BENCH_DBS = [6, 7, 8, 9] as const;
export type BenchDb = (typeof BENCH_DBS)[number];
export const redisUrl = (db: BenchDb) => `redis://127.0.0.1:6379/${db}`;

/**
 * The gateway's abuse limits are set far out of reach: the benchmark measures the request path
 * (the limiter's own cost included, where the gateway has one), not how fast it says 429.
 * Settings a gateway does not know are ignored by its config loader.
 */
const UNLIMITED = {
  RATE_LIMIT_MAX: '1000000000',
  RATE_LIMIT_JOBS_MAX: '1000000000',
  MAX_JOBS_IN_FLIGHT: '1000000',
  MAX_QUEUE_DEPTH: '1000000',
};

export interface StackOptions {
  name: string;
  db: BenchDb;
  workers: number;
  /** scratch folder of this run: storage, logs and the demo model live under it */
  tmp: string;
  demoModelDir: string;
  gatewayEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
}

export interface Stack {
  baseUrl: string;
  storageDir: string;
  redisUrl: string;
  /** the gateway's HS256 secret */
  secret: string;
  gateway: Spawned;
  workers: Spawned[];
  /** a bearer token for `sub` with the scopes a client of the jobs API needs */
  token(sub: string): string;
  stop(): Promise<void>;
}

/** Gateway and workers as separate OS processes, exactly as `npm start` runs them. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const url = redisUrl(options.db);
  const storageDir = path.join(options.tmp, `storage-${options.name}`);
  const logDir = path.join(options.tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  const secret = `bench-secret-${options.name}-${process.pid}-0123456789abcdef0123456789`;
  const common = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? options.tmp,
    REDIS_URL: url,
    STORAGE_URL: `file://${storageDir}`,
    DEMO_MODEL_DIR: options.demoModelDir,
    LOG_LEVEL: 'info',
  };
  const port = await freePort();
  // METRICS_PORT 0: the OS picks a free one, so the bench never collides with a Talkie already running here
  const gateway = spawnNode('gateway', GATEWAY_MAIN, { ...common, ...UNLIMITED, HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: '0', JWT_SECRET: secret, ...options.gatewayEnv }, path.join(logDir, `${options.name}.gateway.log`));
  const workers: Spawned[] = [];
  const healthPorts: number[] = [];
  for (let i = 0; i < options.workers; i++) {
    const healthPort = await freePort();
    healthPorts.push(healthPort);
    workers.push(spawnNode(`worker-${i + 1}`, WORKER_MAIN, { ...common, HEALTH_PORT: String(healthPort), ...options.workerEnv }, path.join(logDir, `${options.name}.worker-${i + 1}.log`)));
  }
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await Promise.all([gateway, ...workers].map((p) => p.stop(3_000)));
  };
  try {
    await waitUntil(() => httpOk(`${baseUrl}/readyz`), `gateway of ${options.name} (log: ${gateway.logFile})`, 60_000, 100, gateway.child);
    for (let i = 0; i < workers.length; i++) {
      await waitUntil(() => httpOk(`http://127.0.0.1:${healthPorts[i]}/readyz`), `worker of ${options.name} (log: ${workers[i].logFile})`, 60_000, 100, workers[i].child);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    baseUrl,
    storageDir,
    redisUrl: url,
    secret,
    gateway,
    workers,
    token: (sub) => jwt.sign({ scope: 'jobs:read jobs:write' }, secret, { algorithm: 'HS256', subject: sub, expiresIn: '1h' }),
    stop,
  };
}
