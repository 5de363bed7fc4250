import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { deliveryIdFor, QUEUE_PREFIX, QUEUES, type JobResource, type WebhookDeliveryPayload } from '@talkie/contracts';
import { createWebhookQueue, enqueueJobEvent } from './queue';
import { WEBHOOK_BACKOFF_TYPE } from './retry';

const connection = { host: '127.0.0.1', port: 6379, db: 0 };
// A private prefix: the real `{talkie}` queue in DB 0 may have a dispatcher (the e2e test) consuming it.
const prefix = `{talkie-test-${randomUUID().slice(0, 8)}}`;

const resource = (id: string): JobResource => ({
  id,
  status: 'completed',
  progress: 100,
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:05.000Z',
  result: { text: 'HELLO', segments: [{ start: 0, end: 1, text: 'HELLO' }], duration_s: 1, frames: 25, model: { name: 'demo', version: '1' } },
});

describe('webhook queue', () => {
  const queue = new Queue<WebhookDeliveryPayload>(QUEUES.webhooks, { connection, prefix });
  afterAll(async () => {
    await queue.obliterate({ force: true });
    // obliterate leaves the deduplication keys (they outlive jobs by design); the prefix is this file's own
    const redis = new Redis(connection);
    const leftovers = await redis.keys(`${prefix}:*`);
    if (leftovers.length) await redis.del(...leftovers);
    redis.disconnect();
    await queue.close();
  });

  it('createWebhookQueue uses the shared queue name and prefix', async () => {
    const q = createWebhookQueue(connection);
    expect(q.name).toBe(QUEUES.webhooks);
    expect(q.opts.prefix).toBe(QUEUE_PREFIX);
    await q.close();
  });

  it('enqueues a validated payload with the delivery id as job id, attempts and backoff from the schedule', async () => {
    const id = randomUUID();
    const at = new Date('2025-01-01T00:00:05.000Z');
    const deliveryId = await enqueueJobEvent(
      queue,
      { record: { id, tenant: 'alice', webhook_url: 'https://example.com/hook' }, resource: resource(id), type: 'job.completed', at },
      { schedule: [100, 200, 300] },
    );
    expect(deliveryId).toBe(deliveryIdFor(id, 'job.completed'));
    const job = await queue.getJob(deliveryId!);
    expect(job?.name).toBe('job.completed');
    expect(job?.opts.attempts).toBe(4);
    expect(job?.opts.backoff).toEqual({ type: WEBHOOK_BACKOFF_TYPE });
    // the catalogue's retention: the payload carries the transcript, so it leaves Redis once settled
    expect(job?.opts).toMatchObject({ removeOnComplete: true, removeOnFail: true });
    expect(job?.data).toEqual({
      v: 1,
      delivery_id: deliveryId,
      job_id: id,
      tenant: 'alice',
      url: 'https://example.com/hook',
      event: { type: 'job.completed', timestamp: at.toISOString(), data: resource(id) },
    });
  });

  it('a duplicated terminal event never produces two deliveries, even after the first is gone', async () => {
    const id = randomUUID();
    const event = { record: { id, tenant: 'alice', webhook_url: 'https://example.com/hook' }, resource: resource(id), type: 'job.completed' as const, at: new Date() };
    const first = await enqueueJobEvent(queue, event);
    const second = await enqueueJobEvent(queue, event);
    expect(second).toBe(first);
    expect((await queue.getJobs(['waiting', 'delayed'])).filter((j) => j.data.job_id === id)).toHaveLength(1);
    // delivered and removed (removeOnComplete): the deduplication key (ids only) still holds
    const worker = new Worker<WebhookDeliveryPayload>(QUEUES.webhooks, async () => 'delivered', { connection, prefix });
    await new Promise<void>((resolve) => worker.on('completed', (job) => job.id === first && resolve()));
    await worker.close();
    expect(await queue.getJob(first!)).toBeUndefined();
    await enqueueJobEvent(queue, event);
    expect(await queue.getJob(first!)).toBeUndefined();
    expect(await queue.getJobCounts('waiting', 'delayed')).toMatchObject({ waiting: 0, delayed: 0 });
    // another event type of the same job is another delivery
    const failed = await enqueueJobEvent(queue, { ...event, type: 'job.failed' });
    expect(failed).toBe(deliveryIdFor(id, 'job.failed'));
    expect(await queue.getJob(failed!)).toBeDefined();
  });

  it('does nothing for a job without webhook, and refuses invalid payloads', async () => {
    const id = randomUUID();
    expect(await enqueueJobEvent(queue, { record: { id, tenant: 'alice' }, resource: resource(id), type: 'job.completed', at: new Date() })).toBeNull();
    await expect(
      enqueueJobEvent(queue, { record: { id: 'nope', tenant: 'alice', webhook_url: 'https://example.com/' }, resource: resource(id), type: 'job.completed', at: new Date() }),
    ).rejects.toThrow();
    await expect(
      enqueueJobEvent(queue, { record: { id, tenant: '', webhook_url: 'https://example.com/' }, resource: resource(id), type: 'job.completed', at: new Date() }),
    ).rejects.toThrow();
  });
});
