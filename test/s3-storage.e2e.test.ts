import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-s3-e2e-'));
    s3 = spawn(process.execPath, ['--openssl-legacy-provider', path.join(ROOT, 'packages/storage/testing/s3-server.js'), dir, 'talkie'], { stdio: ['pipe', 'pipe', 'inherit'] });
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
    stack = await startStack({ name: 's3', workers: 2, gatewayEnv: env, workerEnv: env });
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

  it('leaves the bucket empty: uploads removed once their jobs are terminal, no unfinished multipart uploads', async () => {
    const left: string[] = [];
    for await (const blob of storage.list('uploads')) left.push(blob.key);
    expect(left).toEqual([]);
  });
});
