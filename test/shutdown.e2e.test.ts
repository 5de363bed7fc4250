import { readFile, readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { getJob, submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { startStack, waitUntil, type Stack } from './support/stack';

/** SIGTERM, as an orchestrator sends it on every rollout: nothing is lost, nothing runs twice. */
describe('graceful shutdown', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ name: 'shutdown', workers: 1, workerEnv: { INTRA_OP_THREADS: '1' } });
  }, 60_000);
  afterAll(() => stack?.stop());

  const exitOf = (child: Stack['gateway']) => new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

  it('a worker that gets SIGTERM mid-job finishes it, exactly once, then exits 0', async () => {
    const video = await fixture('FINISH WHAT YOU STARTED', { padSeconds: 80 });
    const token = stack.token('alice');
    const created = await submit(stack.baseUrl, token, video.file);
    await waitUntil(async () => (await getJob(stack.baseUrl, token, created.body.id)).body.status === 'processing', 'processing', 30_000, 10);
    const worker = stack.workers[0];
    const exited = exitOf(worker);
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    const job = await waitForJob(stack.baseUrl, token, created.body.id, 10_000);
    expect(job.status).toBe('completed');
    expect(job.result?.text).toBe('FINISH WHAT YOU STARTED');
    const log = await readFile(stack.logFile('worker-1'), 'utf8');
    expect(log.split('\n').filter((l) => l.includes('"job completed"') && l.includes(created.body.id))).toHaveLength(1);
    // the signal came while the job ran: it was finished after it, not before
    expect(log.indexOf('shutting down')).toBeGreaterThan(-1);
    expect(log.indexOf('shutting down')).toBeLessThan(log.lastIndexOf('"job completed"'));
  }, 90_000);

  it('a gateway that gets SIGTERM mid-upload finishes that upload, answers it, then exits 0', async () => {
    const video = await readFile((await fixture('LAST ONE IN')).file);
    const boundary = 'talkie-shutdown-boundary';
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="video"; filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const url = new URL(`${stack.baseUrl}/v1/jobs`);
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${stack.token('alice')}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + video.length + tail.length } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // half the upload, then the signal, then the rest
      req.write(head);
      req.write(video.subarray(0, video.length >> 1));
      setTimeout(() => {
        stack.gateway.kill('SIGTERM');
        setTimeout(() => {
          req.write(video.subarray(video.length >> 1));
          req.end(tail);
        }, 300);
      }, 300);
    });
    const exited = exitOf(stack.gateway);
    const res = await answer;
    expect(res.status).toBe(202);
    expect(await exited).toBe(0);
    // the job it accepted is queued and, with the worker gone too, waits: nothing half-made
    const id = (JSON.parse(res.body) as { id: string }).id;
    expect(await stack.redis.hget(`talkie:job:${id}`, 'status')).toBe('queued');
    const uploads = await readdir(`${stack.storageDir}/uploads`);
    expect(uploads).toEqual([id]); // the one complete upload, no partial file
  }, 60_000);
});
