import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net, { type AddressInfo, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { submit } from '../../support/client';
import { exitOf, freePort, waitUntil, type Stack } from '../../support/stack';
import { createWebhookSecret as createSecret, listDeliveries } from '../../support/webhook-receiver';

/**
 * Helpers for the fault-injection suite (`npm run test:faults`): every case says what it injected and
 * what it observed on lines starting with `[fault]`, so a CI log reads as a report.
 */
export function say(message: string, details?: Record<string, unknown>): void {
  console.log(`[fault] ${message}${details ? ` ${JSON.stringify(details)}` : ''}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Gateway settings for every fault stack: the cases poll job status often from one address, which the
 * default rate limit (600 requests a minute) would refuse; rate limiting is not what they test.
 */
export const POLLING_GATEWAY_ENV = { RATE_LIMIT_MAX: '100000' };

export { exitOf };

/** Reads a service's pino log as parsed lines (lines that are not JSON, e.g. a fatal message on stderr, come back as { msg }). */
export function logLines(stack: Stack, service: string): Array<Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(stack.logFile(service), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return { msg: line };
      }
    });
}

/** Waits until a line of one of `services`' logs matches; returns the service that logged it. */
export async function waitForLog(stack: Stack, services: string[], match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
  let found: string | undefined;
  await waitUntil(
    async () => {
      found = services.find((s) => logLines(stack, s).some(match));
      return found !== undefined;
    },
    what,
    timeoutMs,
    50,
  );
  return found!;
}

/**
 * Completions of `job` that took effect, per worker service: "job completed" lines whose store
 * transition was applied (a worker finishing a job another one already completed logs outcome "terminal").
 * `job` is its final resource, as `waitForJob` returns it.
 */
export async function completions(stack: Stack, services: string[], job: { id: string; status: string }): Promise<Record<string, number>> {
  const count = () => {
    const counts: Record<string, number> = {};
    for (const s of services) {
      const n = logLines(stack, s).filter((l) => l.job_id === job.id && l.msg === 'job completed' && l.outcome === 'applied').length;
      if (n) counts[s] = n;
    }
    return counts;
  };
  // The worker logs "job completed" just after the record says so (and after the bookkeeping that
  // follows): give the line a moment to reach its log file before counting. A job that did not
  // complete has no such line to wait for.
  if (job.status === 'completed') {
    await waitUntil(async () => Object.keys(count()).length > 0, `the completion of ${job.id} in a worker log`, 5_000, 50).catch(() => undefined);
  }
  return count();
}

/** Jobs the gateway counts as in flight for `tenant` (its MAX_JOBS_IN_FLIGHT budget): 0 once all are finished. */
export const inFlight = (stack: Stack, tenant: string): Promise<number> => stack.redis.scard(`talkie:tenant:${tenant}:active`);

/** POST /v1/jobs with a file and optional extra form fields (webhook_url…). */
export const submitForm = (stack: Stack, token: string, file: string, fields: Record<string, string> = {}) => submit(stack.baseUrl, token, file, { fields });

/** Creates (rotates) the tenant's webhook signing secret. */
export const createWebhookSecret = (stack: Stack, token: string): Promise<string> => createSecret(stack.baseUrl, token);

export const deliveries = (stack: Stack, token: string, jobId: string) => listDeliveries(stack.baseUrl, token, jobId);

export { startReceiver, type Receiver } from '../../support/webhook-receiver';

/**
 * A private redis-server on a free port with its own data folder, configured as docker-compose.yml
 * configures Talkie's (append-only file on, noeviction), so it can be stopped and started again
 * without touching the shared Redis on 6379.
 */
export interface PrivateRedis {
  url: string;
  port: number;
  dir: string;
  /** how the server stops: SIGTERM (a graceful shutdown, as `docker stop`/`systemctl restart`) or SIGKILL */
  stop(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  /** stops it and removes its data folder */
  destroy(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'talkie-fault-redis-'));
  let child: ChildProcess | undefined;
  const ping = async () => {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } finally {
      client.disconnect();
    }
  };
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    if (running()) return;
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log')],
      { stdio: 'ignore' },
    );
    await waitUntil(ping, `private redis-server on ${port}`, 15_000);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    if (!c || !running()) return;
    const exited = exitOf(c, 15_000);
    c.kill(signal);
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    start,
    destroy: async () => {
      await stop('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * ffmpeg and ffprobe wrappers that run the real binaries, except while a flag file exists: then a
 * run that reads an input (`-i …` for ffmpeg, any file argument for ffprobe) becomes a process that
 * hangs for ever (`exec sleep`: the same pid, so killing it ends it, as killing a hung ffmpeg would).
 * `-version` and fluent-ffmpeg's capability queries always reach the real ffmpeg.
 */
export interface HangingFfmpeg {
  ffmpeg: string;
  ffprobe: string;
  hangProbe(on: boolean): void;
  hangDecode(on: boolean): void;
  dir: string;
}

export function hangingFfmpeg(): HangingFfmpeg {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'talkie-fault-ffmpeg-'));
  const which = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  const realFfmpeg = which('ffmpeg');
  const realFfprobe = which('ffprobe');
  const ffmpeg = path.join(dir, 'ffmpeg');
  const ffprobe = path.join(dir, 'ffprobe');
  const probeFlag = path.join(dir, 'hang-probe');
  const decodeFlag = path.join(dir, 'hang-decode');
  writeFileSync(
    ffmpeg,
    `#!/bin/sh
# fault injection: hang (for ever, as this very process) when asked to read an input while ${decodeFlag} exists
if [ -e '${decodeFlag}' ]; then
  for a in "$@"; do [ "$a" = "-i" ] && exec sleep 100000; done
fi
exec '${realFfmpeg}' "$@"
`,
  );
  writeFileSync(
    ffprobe,
    `#!/bin/sh
# fault injection: hang (for ever, as this very process) while ${probeFlag} exists, unless only asked for the version
if [ -e '${probeFlag}' ] && [ "$*" != "-version" ] && [ "$*" != "-hide_banner -version" ]; then exec sleep 100000; fi
exec '${realFfprobe}' "$@"
`,
  );
  chmodSync(ffmpeg, 0o755);
  chmodSync(ffprobe, 0o755);
  const flag = (file: string, on: boolean) => (on ? writeFileSync(file, '') : rmSync(file, { force: true }));
  return {
    ffmpeg,
    ffprobe,
    dir,
    hangProbe: (on) => flag(probeFlag, on),
    hangDecode: (on) => flag(decodeFlag, on),
  };
}

/** Processes whose command line matches `pattern` (e.g. the hanging wrapper's sleep, orphaned ffmpeg). */
export function processesMatching(pattern: RegExp): Array<{ pid: number; ppid: number; cmd: string }> {
  const out = spawnSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), cmd: m[3] }))
    .filter((p) => pattern.test(p.cmd));
}

/**
 * A TCP proxy in front of Redis for one process's connections. Armed with a byte pattern, it lets the
 * command that contains it through to Redis but then holds every reply on that connection, and
 * resolves `tripped`: the command took effect, its sender will never hear so. Killing the sender
 * then is a process dying at exactly the worst moment (after its write, before its bookkeeping).
 */
export interface FreezingProxy {
  /** the Redis URL to give the process (same database as `target`) */
  url: string;
  tripped: Promise<void>;
  close(): Promise<void>;
}

export async function freezingRedisProxy(target: string, pattern: Buffer): Promise<FreezingProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let trip!: () => void;
  const tripped = new Promise<void>((resolve) => (trip = resolve));
  let armed = true;
  const server = net.createServer((client) => {
    const redis = net.connect(Number(upstream.port || 6379), upstream.hostname);
    sockets.add(client);
    sockets.add(redis);
    let frozen = false;
    let tail = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      const seen = Buffer.concat([tail, chunk]);
      if (armed && seen.includes(pattern)) {
        armed = false;
        frozen = true;
        redis.write(chunk, () => trip());
        return;
      }
      tail = seen.subarray(Math.max(0, seen.length - pattern.length));
      redis.write(chunk);
    });
    redis.on('data', (chunk: Buffer) => {
      if (!frozen) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      redis.destroy();
    };
    client.on('error', end);
    redis.on('error', end);
    client.on('close', end);
    redis.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}${upstream.pathname}`,
    tripped,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
