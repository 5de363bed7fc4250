/**
 * The worker process itself (services/worker/dist/main.js, built by `npm run build`) against a
 * stand-in ffmpeg 4.4.2: it refuses to start, saying which version and how to override; with
 * FFMPEG_ALLOW_OLD=true it starts with a warning. With the real ffmpeg it reports the ffmpeg and
 * ONNX Runtime versions in its start-up log and in /readyz. Needs Redis on 127.0.0.1:6379 for
 * the runs that get past the gate (as the other end-to-end tests do).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { leaseRedisDb, type RedisDbLease } from '../../../test/support/redis-db';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const WORKER_MAIN = path.join(ROOT, 'services', 'worker', 'dist', 'main.js');
const ORT_VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;

let tmp: string;
let standIn: string;
let lease: RedisDbLease;
const children: ChildProcess[] = [];

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** the JSON log lines printed so far */
  logs: () => Record<string, unknown>[];
}

function startWorker(env: Record<string, string>): Run {
  const base: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmp,
    REDIS_URL: lease.url,
    STORAGE_URL: `file://${path.join(tmp, 'storage')}`,
    DEMO_MODEL_DIR: path.join(tmp, 'm'),
    LOG_LEVEL: 'info',
    ONNXRUNTIME_NODE_INSTALL: 'skip',
  };
  const child = spawn(process.execPath, [WORKER_MAIN], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const logs = () =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { child, stdout: () => out, stderr: () => err, exited, logs };
}

async function waitFor<T>(what: string, check: () => T | undefined | false, run: Run, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = check();
    if (value) return value;
    if (run.child.exitCode !== null) throw new Error(`worker exited (${run.child.exitCode}) before ${what}:\n${run.stdout()}\n${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}:\n${run.stdout()}\n${run.stderr()}`);
}

beforeAll(async () => {
  lease = await leaseRedisDb();
  if (!existsSync(WORKER_MAIN)) throw new Error(`${WORKER_MAIN} is missing: run npm run build first`);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'talkie-ffmpeg-gate-'));
  standIn = path.join(tmp, 'ffmpeg-4.4.2');
  writeFileSync(standIn, '#!/bin/sh\necho "ffmpeg version 4.4.2 Copyright (c) 2000-2021 the FFmpeg developers"\necho "built with gcc 10 (Debian 10.2.1-6)"\n');
  chmodSync(standIn, 0o755);
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
  }
});

afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await lease.release();
});

describe('the worker’s ffmpeg version gate', () => {
  it('exits non-zero with a clear message naming the version and the override when FFMPEG_PATH is an ffmpeg 4.4.2', async () => {
    const run = startWorker({ FFMPEG_PATH: standIn, FFPROBE_PATH: standIn });
    expect(await run.exited).not.toBe(0);
    const message = run.stderr();
    expect(message).toMatch(/^worker: ffmpeg 4\.4\.2 .*is older than the minimum major version 5 \(FFMPEG_MIN_MAJOR\)/m);
    expect(message).toContain(standIn);
    expect(message).toContain('set FFMPEG_ALLOW_OLD=true');
  });

  it('follows FFMPEG_MIN_MAJOR', async () => {
    const run = startWorker({ FFMPEG_PATH: '/usr/bin/ffmpeg', FFPROBE_PATH: '/usr/bin/ffprobe', FFMPEG_MIN_MAJOR: '99' });
    expect(await run.exited).not.toBe(0);
    expect(run.stderr()).toMatch(/worker: ffmpeg \S+ .*is older than the minimum major version 99/);
  });

  it('starts with a warning when FFMPEG_ALLOW_OLD=true, and reports the versions in /readyz', async () => {
    const run = startWorker({ FFMPEG_PATH: standIn, FFPROBE_PATH: standIn, FFMPEG_ALLOW_OLD: 'true', HEALTH_PORT: '0' });
    const warning = await waitFor('the override warning', () => run.logs().find((l) => /FFMPEG_ALLOW_OLD=true/.test(String(l.msg))), run);
    expect(warning).toMatchObject({ level: 40, ffmpeg: '4.4.2', min_major: 5 });
    expect(String(warning.msg)).toMatch(/ffmpeg 4\.4\.2 .*older than the minimum major version 5.*running it anyway/);

    const port = await waitFor('the health port', () => run.logs().find((l) => l.msg === 'health and metrics server listening')?.port as number | undefined, run);
    await waitFor('worker ready', () => run.logs().some((l) => l.msg === 'worker ready'), run, 90_000);
    const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as Record<string, unknown>;
    expect(ready).toMatchObject({ status: 'ready', ffmpeg: '4.4.2', onnxruntime: ORT_VERSION });
  }, 120_000);

  it('logs the real ffmpeg and the ONNX Runtime versions at start-up', async () => {
    const run = startWorker({ FFMPEG_PATH: '/usr/bin/ffmpeg', FFPROBE_PATH: '/usr/bin/ffprobe' });
    const line = await waitFor('the versions line', () => run.logs().find((l) => typeof l.onnxruntime === 'string'), run);
    expect(line).toMatchObject({ level: 30, ffmpeg: expect.stringMatching(/^[5-9]\.|^\d{2,}\./), onnxruntime: ORT_VERSION, source: 'env' });
    expect(String(line.msg)).toContain(`onnxruntime ${ORT_VERSION}`);
    expect(run.logs().some((l) => l.level === 40 && /FFMPEG/.test(String(l.msg)))).toBe(false);
  });
});
