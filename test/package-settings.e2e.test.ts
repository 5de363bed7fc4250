/**
 * Issue 19: the settings the packages own (storage, ffmpeg, webhook retries) are pieces of each
 * service's config schema, so a bad one stops the service at start, listed with every other bad
 * key, before anything is connected. Each service is started from dist/ with real processes.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startGatewayForConfig } from './support/gateway-start';
import { ROOT } from './support/stack';

/** Starts a service from dist/ with only `env` (and PATH) and resolves with how it ended. */
function startForConfig(dir: string, env: Record<string, string>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'services', dir, 'dist', 'main.js')], {
    // an unreachable Redis: a config that passed would hang here, never answer
    env: { PATH: process.env.PATH ?? '', REDIS_URL: 'redis://127.0.0.1:1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // a config that passed would keep trying Redis: the refusal this file expects never comes
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

const BAD_PACKAGE_SETTINGS = {
  STORAGE_URL: 'ftp://uploads.example/talkie',
  S3_FORCE_PATH_STYLE: 'maybe',
  FFMPEG_PATH: '/usr/bin/ffmpeg', // without FFPROBE_PATH
  WEBHOOK_RETRY_SCHEDULE_MS: '5s,1m',
};

function expectRefusal(result: { code: number | null; signal: NodeJS.Signals | null; stderr: string }, keys: string[]) {
  expect([result.code, result.signal]).toEqual([1, null]);
  expect(result.stderr).toContain('Invalid configuration');
  const listed = [...result.stderr.matchAll(/^\s+([A-Z0-9_]+): /gm)].map((m) => m[1]);
  expect(listed.sort()).toEqual([...keys].sort());
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('package-owned settings are validated with the service config at start', () => {
  it('the gateway refuses bad storage, ffmpeg and retry settings, listing them all with its own bad key', async () => {
    const result = await startGatewayForConfig({ ...BAD_PACKAGE_SETTINGS, RATE_LIMIT_MAX: '0' });
    expectRefusal(result, ['STORAGE_URL', 'S3_FORCE_PATH_STYLE', 'FFPROBE_PATH', 'WEBHOOK_RETRY_SCHEDULE_MS', 'RATE_LIMIT_MAX']);
    expect(result.stderr).toContain('STORAGE_URL scheme ftp: is not supported');
    expect(result.stderr).toContain('set both FFMPEG_PATH and FFPROBE_PATH, or neither');
    expect(result.stdout).not.toContain('gateway listening');
  });

  it('the worker refuses them too, and half a pair of S3 keys', async () => {
    const { FFMPEG_PATH, ...rest } = BAD_PACKAGE_SETTINGS;
    const result = await startForConfig('worker', { ...rest, FFPROBE_PATH: FFMPEG_PATH, AWS_ACCESS_KEY_ID: 'only-half' });
    expectRefusal(result, ['STORAGE_URL', 'S3_FORCE_PATH_STYLE', 'FFMPEG_PATH', 'WEBHOOK_RETRY_SCHEDULE_MS', 'AWS_SECRET_ACCESS_KEY']);
    expect(result.stderr).toContain('set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
  });

  it.each([
    ['postprocess', { LLM_TIMEOUT_MS: '1' }, 'LLM_TIMEOUT_MS'],
    ['webhook-dispatcher', { WEBHOOK_CONCURRENCY: '0' }, 'WEBHOOK_CONCURRENCY'],
  ])('%s refuses a bad WEBHOOK_RETRY_SCHEDULE_MS beside its own bad key', async (dir, own, key) => {
    const result = await startForConfig(dir, { WEBHOOK_RETRY_SCHEDULE_MS: '100,soon', ...own });
    expectRefusal(result, ['WEBHOOK_RETRY_SCHEDULE_MS', key]);
    expect(result.stderr).toContain('retry delay "soon" is not a whole number of ms');
  });
});
