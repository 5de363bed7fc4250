import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { residentProberPath } from '@talkie/media';
import { createRedis, createTranscribeQueue, enqueueTranscription, JobStore } from '@talkie/queue';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { getJob, submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { ARTIFACTS, startStack, type Stack } from './support/stack';

/**
 * Bad input at the spine stage: every rejection is a clean 4xx with a stable code (or a failed job
 * with one), nothing is left in storage, and the next good job still works.
 */
const MAX_UPLOAD_BYTES = 300_000;

describe('gateway: authentication, ownership and bad input', () => {
  let stack: Stack;
  let files: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack({ name: 'gateway-input', gatewayEnv: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) } });
    const dir = path.join(ARTIFACTS, 'bad-inputs');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
    const good = await fixture('GOOD INPUT');
    const mp4 = await readFile(good.file);
    files = {
      text: path.join(dir, 'notes.mp4'),
      empty: path.join(dir, 'empty.mp4'),
      truncated: path.join(dir, 'truncated.mp4'),
      oversized: path.join(dir, 'oversized.mkv'),
      good: good.file,
    };
    await writeFile(files.text, 'these are not the frames you are looking for\n'.repeat(20));
    await writeFile(files.empty, '');
    // Real MP4 magic bytes, cut before the first frame: passes the sniff, fails in ffprobe.
    await writeFile(files.truncated, mp4.subarray(0, 48));
    await writeFile(files.oversized, Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), Buffer.alloc(MAX_UPLOAD_BYTES + 10_000, 7)]));
  }, 60_000);
  afterAll(() => stack?.stop());

  // A worker deletes an upload just after recording the job's result: allow it a moment.
  const uploadsLeft = async () => {
    const list = () => readdir(path.join(stack.storageDir, 'uploads')).catch(() => [] as string[]);
    for (let i = 0; i < 50 && (await list()).length; i++) await new Promise((r) => setTimeout(r, 100));
    return list();
  };

  describe('authentication', () => {
    const expect401 = async (authorization?: string) => {
      const res = await fetch(`${stack.baseUrl}/v1/jobs/00000000-0000-4000-8000-000000000000`, {
        headers: authorization ? { authorization } : {},
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'unauthorized', request_id: expect.any(String) } });
    };

    it('refuses requests without a token', () => expect401());
    it('refuses a token signed with another secret', () => expect401(`Bearer ${jwt.sign({}, 'another-secret-another-secret-12345', { subject: 'a', expiresIn: '1h' })}`));
    it('refuses an unsigned token (alg none)', () => expect401(`Bearer ${jwt.sign({ sub: 'a', exp: Math.floor(Date.now() / 1000) + 600 }, '', { algorithm: 'none' })}`));
    it('refuses an expired token', () => expect401(`Bearer ${jwt.sign({ exp: Math.floor(Date.now() / 1000) - 3600 }, stack.secret, { subject: 'alice' })}`));
    it('refuses a token without exp', () => expect401(`Bearer ${jwt.sign({}, stack.secret, { subject: 'alice' })}`));
    it('refuses a token signed with HS512 (algorithm pinned)', () => expect401(`Bearer ${jwt.sign({}, stack.secret, { subject: 'a', algorithm: 'HS512', expiresIn: '1h' })}`));
    it('refuses other schemes', () => expect401(`Basic ${Buffer.from('alice:pw').toString('base64')}`));

    it('does not take a token from the query string', async () => {
      const res = await fetch(`${stack.baseUrl}/v1/jobs/00000000-0000-4000-8000-000000000000?access_token=${stack.token('alice')}`);
      expect(res.status).toBe(401);
    });
  });

  it("hides one subject's job from another (404, same as a missing job)", async () => {
    const created = await submit(stack.baseUrl, stack.token('alice'), files.good);
    expect(created.status).toBe(202);
    const asBob = await getJob(stack.baseUrl, stack.token('bob'), created.body.id);
    expect(asBob.status).toBe(404);
    expect(asBob.body).toMatchObject({ error: { code: 'not_found' } });
    // the tenant claim, when present, owns the job rather than the subject
    const asAliceOtherTenant = await getJob(stack.baseUrl, stack.token('alice', { tenant: 'acme' }), created.body.id);
    expect(asAliceOtherTenant.status).toBe(404);
    const job = await waitForJob(stack.baseUrl, stack.token('alice'), created.body.id);
    expect(job.result?.text).toBe('GOOD INPUT');
    expect((await getJob(stack.baseUrl, stack.token('alice'), 'not-a-uuid')).status).toBe(404);
  });

  it.each([
    ['a text file named .mp4', 'text', 415, 'unsupported_media_type'],
    ['a zero-byte file', 'empty', 415, 'unsupported_media_type'],
    ['a file over MAX_UPLOAD_BYTES', 'oversized', 413, 'payload_too_large'],
  ])('rejects %s with a clean %s and stores nothing', async (_what, key, status, code) => {
    const res = await submit(stack.baseUrl, stack.token('alice'), files[key]);
    expect(res.status).toBe(status);
    expect(res.body).toEqual({ error: { code, message: expect.any(String), request_id: expect.any(String) } });
    expect(JSON.stringify(res.body)).not.toMatch(/\/tmp|\/work|at .*\.js/);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('queues no job for a rejected upload', async () => {
    const before = await stack.redis.keys('talkie:job:*');
    await submit(stack.baseUrl, stack.token('alice'), files.text);
    await submit(stack.baseUrl, stack.token('alice'), files.oversized);
    expect(await stack.redis.keys('talkie:job:*')).toEqual(before);
  });

  it('refuses a file with video magic bytes but no readable video before queueing it (ffprobe at the gateway)', async () => {
    const before = await stack.redis.keys('talkie:job:*');
    const res = await submit(stack.baseUrl, stack.token('alice'), files.truncated);
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ error: { code: 'invalid_media', message: 'The file could not be read as a video.' } });
    expect(await stack.redis.keys('talkie:job:*')).toEqual(before);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('re-checks in the worker: a bad file that reaches the queue some other way fails with a stable code', async () => {
    // Another producer (or an older gateway) enqueues a file the gateway would have refused.
    const id = '0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d';
    await mkdir(path.join(stack.storageDir, 'uploads'), { recursive: true });
    await writeFile(path.join(stack.storageDir, 'uploads', id), await readFile(files.truncated));
    const store = new JobStore(stack.redis, 3600_000);
    // BullMQ leaves a connection it was handed open on close: the test owns it and quits it
    const producer = createRedis(stack.redisUrl, 'producer');
    const queue = createTranscribeQueue(producer);
    try {
      await store.create({ id, tenant: 'alice', upload_key: `uploads/${id}` });
      await enqueueTranscription(queue, { v: 1, job_id: id, tenant: 'alice', upload_key: `uploads/${id}`, upload_bytes: 48 });
    } finally {
      await queue.close();
      await producer.quit();
    }
    const job = await waitForJob(stack.baseUrl, stack.token('alice'), id);
    expect(job.status).toBe('failed');
    expect(job.error).toEqual({ code: 'invalid_media', message: 'The file could not be read as a video.' });
    expect(await uploadsLeft()).toEqual([]);
  });

  it('answers malformed requests with 4xx JSON', async () => {
    const auth = { authorization: `Bearer ${stack.token('alice')}` };
    const json = await fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"video":1}' });
    expect(json.status).toBe(415);
    const noFile = new FormData();
    noFile.append('note', 'hello');
    const missing = await fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', headers: auth, body: noFile });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: 'missing_file' } });
    const wrongField = await submit(stack.baseUrl, stack.token('alice'), files.good, { field: 'file' });
    expect(wrongField.status).toBe(400);
    expect(wrongField.body).toMatchObject({ error: { code: 'unexpected_field' } });
    const broken = await fetch(`${stack.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nContent-Disposition: form-data; name="video"; filename="a.mp4"\r\n\r\nabc',
    });
    expect(broken.status).toBeGreaterThanOrEqual(400);
    expect(broken.status).toBeLessThan(500);
    const unknown = await fetch(`${stack.baseUrl}/v2/anything`, { headers: auth });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'route_not_found' } });
    expect(await uploadsLeft()).toEqual([]);
  });

  it('stays healthy and keeps working after all of the above', async () => {
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${stack.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    // the version of what parses untrusted input here (ffmpeg's libavformat) is reported, and how:
    // talkie-probe wherever `npm run build` could build it (all of the above went through it)
    const versions = ((await ready.json()) as { versions: { ffmpeg: string; prober: string } }).versions;
    expect(versions.ffmpeg).toMatch(/^\d+\./);
    expect(versions.prober).toBe(existsSync(residentProberPath()) ? 'resident' : 'ffprobe');
    const created = await submit(stack.baseUrl, stack.token('carol'), files.good);
    const job = await waitForJob(stack.baseUrl, stack.token('carol'), created.body.id);
    expect(job.result?.text).toBe('GOOD INPUT');
    expect(stack.gateway.exitCode).toBeNull();
    expect(stack.workers.every((w) => w.exitCode === null)).toBe(true);
  });

  it('sends security headers and no X-Powered-By', async () => {
    const res = await fetch(`${stack.baseUrl}/healthz`);
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('keeps tokens and transcripts out of the logs', async () => {
    const logs = await readFile(stack.logFile('gateway'), 'utf8') + (await readFile(stack.logFile('worker-1'), 'utf8'));
    expect(logs).not.toContain('GOOD INPUT');
    // signatures of tokens that were sent: none may appear
    for (const sub of ['alice', 'bob', 'carol']) expect(logs).not.toContain(stack.token(sub).split('.')[2]);
    expect(logs).not.toContain(stack.secret);
    expect(logs).not.toMatch(/Bearer [A-Za-z0-9_-]+\./);
  });
});
