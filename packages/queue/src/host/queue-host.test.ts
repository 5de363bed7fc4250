import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Worker, type Job } from 'bullmq';
import { CATALOGUE_QUEUES, QUEUES, type ChunkPayload, type TranscribePayload } from '@talkie/contracts';
import { leaseRedisDb, type RedisDbLease } from '../../../../test/support/redis-db';
import { type GiveUpReason } from './give-up';
import { addJobs, QueueHost } from './queue-host';

/** The queue host against the real Redis (a leased database), with a fresh BullMQ prefix per test. */
const payload = (): TranscribePayload => ({ v: 1, job_id: randomUUID(), tenant: 'acme', upload_key: 'uploads/acme/x.mp4', upload_bytes: 10 });

const logger = { lines: [] as string[], warn: (_f: object, m: string) => void logger.lines.push(m), error: (_f: object, m: string) => void logger.lines.push(m) };

/** Resolves with the first give-up a consumer reports. */
function giveUps() {
  const seen: Array<{ job: Job<unknown>; err: Error; reason: GiveUpReason }> = [];
  let notify: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (notify = resolve));
  return {
    seen,
    first,
    onGiveUp: async (job: Job<unknown>, err: Error, reason: GiveUpReason) => {
      seen.push({ job, err, reason });
      notify();
    },
  };
}

describe('QueueHost', () => {
  let lease: RedisDbLease;
  let redis: Redis;
  let host: QueueHost;
  let prefix: string;
  beforeAll(async () => {
    lease = await leaseRedisDb();
    redis = new Redis(lease.url);
  });
  beforeEach(() => {
    prefix = `{talkie-test-${randomUUID()}}`;
    host = new QueueHost({ redisUrl: lease.url, logger, prefix });
  });
  afterEach(async () => {
    await host.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  });
  afterAll(async () => {
    redis.disconnect();
    await lease.release();
  });

  it('validates payloads on enqueue and adds them with the catalogue spec options', async () => {
    await expect(host.add(QUEUES.transcribe, { ...payload(), upload_key: '' })).rejects.toThrow();
    expect(await host.queue(QUEUES.transcribe).count()).toBe(0);
    const data = payload();
    const job = await host.add(QUEUES.transcribe, data, { jobId: data.job_id });
    expect(job.id).toBe(data.job_id);
    expect(job.name).toBe('transcribe');
    expect(job.opts).toMatchObject({ attempts: 3, backoff: { type: 'exponential', delay: 2_000 }, removeOnComplete: true });
  });

  it('fails a payload that breaks the schema for good, without running the processor', async () => {
    const g = giveUps();
    let ran = 0;
    host.consume(QUEUES.postprocess, async () => void ran++, { concurrency: 1, onGiveUp: g.onGiveUp });
    host.start();
    // a producer that skipped validation (another version, a bug): straight into BullMQ
    await host.queue(QUEUES.postprocess).add('postprocess', { v: 2 } as never, { attempts: 3 });
    await g.first;
    expect(ran).toBe(0);
    expect(g.seen.map((s) => [s.reason, s.err.message])).toEqual([['unrecoverable', 'invalid payload']]);
  });

  it('gives up once the attempts run out, from BullMQ state, and not before', async () => {
    const g = giveUps();
    const attempts: number[] = [];
    const failedEvents: number[] = [];
    const worker = host.consume(
      QUEUES.transcribe,
      async (job) => {
        attempts.push(job.attemptsMade);
        throw new Error('redis went away'); // no word of stalling, exhaustion or anything else
      },
      { concurrency: 1, onGiveUp: g.onGiveUp },
    );
    worker.on('failed', (job) => failedEvents.push(job?.attemptsMade ?? -1));
    host.start();
    const data = payload();
    await host.add(QUEUES.transcribe, data, { jobId: data.job_id, attempts: 2, backoff: { type: 'fixed', delay: 0 } });
    await g.first;
    expect(attempts).toEqual([0, 1]);
    expect(failedEvents).toEqual([1, 2]); // BullMQ reports both attempts; only the last is a give-up
    expect(g.seen).toHaveLength(1);
    expect(g.seen[0].reason).toBe('attempts_exhausted');
    expect(g.seen[0].job.data).toEqual(data);
  });

  it('names a job whose worker died too often "stalled", without its processor', async () => {
    const data = payload();
    await host.add(QUEUES.transcribe, data, { jobId: data.job_id });
    // A worker takes the job and dies: its lock goes (here at once, as if it had expired).
    const deadConnection = new Redis(lease.url, { maxRetriesPerRequest: null });
    const dead = new Worker(QUEUES.transcribe, null, { connection: deadConnection, prefix });
    const taken = await dead.getNextJob('dead-worker-token');
    expect(taken?.id).toBe(data.job_id);
    await redis.del(`${prefix}:${QUEUES.transcribe}:${data.job_id}:lock`);
    await dead.close();
    deadConnection.disconnect();

    const g = giveUps();
    let ran = 0;
    host.consume(QUEUES.transcribe, async () => void ran++, { concurrency: 1, stalledIntervalMs: 100, maxStalledCount: 0, onGiveUp: g.onGiveUp });
    host.start();
    await g.first;
    expect(ran).toBe(0);
    expect(g.seen.map((s) => s.reason)).toEqual(['stalled']);
    expect(g.seen[0].job.id).toBe(data.job_id);
  });

  it("adds several jobs (a flow's children) only when every payload passes, with the spec options", async () => {
    const parent = payload();
    const chunk = (index: number): ChunkPayload => ({
      v: 1,
      job_id: parent.job_id,
      tenant: parent.tenant,
      upload_key: parent.upload_key,
      fps: 25,
      count: 2,
      window: { index, start_frame: index * 100, frames: 120, own_from: index * 100, own_to: index * 100 + 100 },
    });
    const queue = host.queue(QUEUES.chunks);
    const broken = { ...chunk(1), window: { ...chunk(1).window, frames: 0 } };
    await expect(addJobs(queue, QUEUES.chunks, [{ payload: chunk(0) }, { payload: broken }])).rejects.toThrow();
    expect(await queue.count()).toBe(0);
    const jobs = await addJobs(queue, QUEUES.chunks, [0, 1].map((i) => ({ payload: chunk(i), options: { jobId: `${parent.job_id}-chunk-${i}` } })));
    expect(jobs.map((j) => [j.id, j.name])).toEqual([0, 1].map((i) => [`${parent.job_id}-chunk-${i}`, 'chunk']));
    expect(jobs[0].opts).toMatchObject({ attempts: 3, failParentOnFailure: true, removeOnComplete: true });
    expect(await queue.count()).toBe(2);
  });

  it('counts every queue of the catalogue, the webhook queue included', async () => {
    const data = payload();
    await host.add(QUEUES.transcribe, data, { jobId: data.job_id });
    const sources = host.depthSources();
    expect(sources.map((s) => s.name).sort()).toEqual([...CATALOGUE_QUEUES].sort());
    expect(sources.map((s) => s.name)).toContain(QUEUES.webhooks);
    const counts = Object.fromEntries(await Promise.all(sources.map(async (s) => [s.name, (await s.queue.getJobCounts('waiting')).waiting])));
    expect(counts).toEqual({ [QUEUES.transcribe]: 1, [QUEUES.chunks]: 0, [QUEUES.postprocess]: 0, [QUEUES.webhooks]: 0 });
  });

  it('closes gracefully: the job in hand finishes before close resolves', async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (started = resolve));
    host.consume(
      QUEUES.postprocess,
      async () => {
        started();
        await held;
        order.push('job finished');
      },
      { concurrency: 1 },
    );
    host.start();
    const id = randomUUID();
    await host.add(QUEUES.postprocess, { v: 1, job_id: id, tenant: 'acme' }, { jobId: id });
    await running;
    const closing = host.close().then(() => order.push('closed'));
    order.push('close called');
    release();
    await closing;
    expect(order).toEqual(['close called', 'job finished', 'closed']);
    await host.close(); // twice is fine
  });
});
