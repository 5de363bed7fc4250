import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createStorage, type BlobStorage } from '@talkie/storage';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { ROOT, startStack, type Stack } from './support/stack';

/**
 * The spine end to end with STORAGE_URL=s3://…: uploads stream into a real S3-compatible server
 * (s3rver, its own process on loopback), the worker streams them back out, and the bucket is empty
 * once the jobs are terminal.
 */
describe('S3-compatible storage end to end', () => {
  let s3: ChildProcess;
  let dir: string;
  let stack: Stack;
  let storage: BlobStorage;
  let env: Record<string, string>;
  let requestLog: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-s3-e2e-'));
    requestLog = path.join(dir, 'requests.log');
    s3 = spawn(process.execPath, ['--openssl-legacy-provider', path.join(ROOT, 'packages/storage/testing/s3-server.js'), path.join(dir, 'data'), 'talkie'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, S3_REQUEST_LOG: requestLog },
    });
    const info = await new Promise<{ endpoint: string; accessKeyId: string; secretAccessKey: string }>((resolve, reject) => {
      let out = '';
      s3.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
      });
      s3.once('exit', (code) => reject(new Error(`s3 server exited with ${code}`)));
    });
    env = {
      STORAGE_URL: 's3://talkie/e2e',
      S3_ENDPOINT: info.endpoint,
      AWS_ACCESS_KEY_ID: info.accessKeyId,
      AWS_SECRET_ACCESS_KEY: info.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    storage = createStorage(env.STORAGE_URL, env);
    // long-video mode on (none of the clips is long): short uploads go through the planner first
    stack = await startStack({ name: 's3', workers: 2, gatewayEnv: env, workerEnv: { ...env, CHUNK_SECONDS: '60' } });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    s3?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['HELLO FROM THE BUCKET', 25, 'mp4'],
    ['SHARED STORAGE', 16, 'webm'],
    ['MANY NODES', 30, 'mkv'],
  ] as const)('reads "%s" (%i fps %s) through S3', async (text, fps, format) => {
    const video = await fixture(text, { fps, format });
    const token = stack.token('alice');
    const created = await submit(stack.baseUrl, token, video.file);
    expect(created.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token, created.body.id);
    expect(job.result?.text).toBe(text);
    job.result!.segments.forEach((s, i) => expect(Math.abs(s.start - video.words[i].start)).toBeLessThanOrEqual(0.1));
  });

  it('downloads each upload once: not back to the gateway to probe it, not twice in the worker when the long-video planner looked at it first', async () => {
    const gets = new Map<string, number>();
    for (const line of (await readFile(requestLog, 'utf8')).split('\n')) {
      const [method, key] = line.split(' ');
      if (method === 'GET' && key?.includes('/uploads/')) gets.set(key, (gets.get(key) ?? 0) + 1);
    }
    expect(gets.size).toBe(3);
    expect([...gets.values()]).toEqual([1, 1, 1]);
  });

  it('leaves the bucket empty: uploads removed once their jobs are terminal, no unfinished multipart uploads', async () => {
    const left: string[] = [];
    for await (const blob of storage.list('uploads')) left.push(blob.key);
    expect(left).toEqual([]);
  });
});
