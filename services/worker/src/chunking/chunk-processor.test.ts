import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { UnrecoverableError, type Job } from 'bullmq';
import { QUEUES, TalkieError, type ChunkPayload } from '@talkie/contracts';
import { addJobs, ChunkProgress, JobStore, QueueHost } from '@talkie/queue';
import { createLogger } from '@talkie/runtime';
import { createStorage, type BlobStorage } from '@talkie/storage';
import { leaseRedisDb, type RedisDbLease } from '../../../../test/support/redis-db';
import { ChunkProcessor, type ChunkProcessorDeps } from './chunk-processor';

/**
 * What a chunk attempt that fails does with the parent's record, against the real Redis (a leased
 * database), real BullMQ jobs and real file storage. The attempts here fail before decoding (the
 * upload is not there), so no reader or ffmpeg runs; the storage's `exists` is where each case
 * makes something happen while the chunk is in flight (Redis goes away, the job is canceled).
 */
describe('ChunkProcessor, a failed attempt', () => {
  let lease: RedisDbLease;
  let dir: string;
  let host: QueueHost;
  let prefix: string;
  const connections: Redis[] = [];
  const lines: string[] = [];
  const logger = createLogger(
    { service: 'worker-test', level: 'debug' },
    new Writable({ write: (chunk, _enc, done) => void (lines.push(String(chunk)), done()) }),
  );

  beforeAll(async () => {
    lease = await leaseRedisDb();
    dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-chunk-'));
  });
  beforeEach(() => {
    prefix = `{talkie-test-${randomUUID()}}`;
    host = new QueueHost({ redisUrl: lease.url, logger, prefix });
  });
  afterEach(async () => {
    await host.close();
    for (const c of connections.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await lease.release();
  });

  /** A store on a connection of its own (so a case can cut it), with one processing record. */
  async function setUp(duringAttempt: (deps: { store: JobStore; redis: Redis; id: string }) => Promise<void>) {
    // no retries per command: a command on a cut connection fails at once, as when Redis is away
    const redis = new Redis(lease.url, { maxRetriesPerRequest: 0 });
    connections.push(redis);
    const store = new JobStore(redis, 60_000);
    const id = randomUUID();
    const uploadKey = `uploads/acme/${id}.mp4`;
    await store.create({ id, tenant: 'acme', upload_key: uploadKey });
    expect(await store.markProcessing(id)).toBe('applied');

    const files = createStorage(pathToFileURL(dir).href);
    const storage: BlobStorage = Object.assign(Object.create(files) as BlobStorage, {
      exists: async (key: string) => {
        await duringAttempt({ store, redis, id });
        return files.exists(key);
      },
    });
    const deps: ChunkProcessorDeps = {
      store,
      storage,
      progress: new ChunkProgress(redis, 60_000),
      logger,
      // never reached: every attempt here fails on the missing upload, before any decoding
      reader: undefined as unknown as ChunkProcessorDeps['reader'],
      ffmpeg: { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' } as ChunkProcessorDeps['ffmpeg'],
      decoding: {} as ChunkProcessorDeps['decoding'],
      limits: { decodeTimeoutMs: 10_000 },
      cancelPollMs: 60_000,
    };
    const payload: ChunkPayload = {
      v: 1,
      job_id: id,
      tenant: 'acme',
      upload_key: uploadKey,
      fps: 25,
      count: 2,
      window: { index: 0, start_frame: 0, frames: 100, own_from: 0, own_to: 90 },
    };
    const [job] = await addJobs(host.queue(QUEUES.chunks), QUEUES.chunks, [{ payload, options: { jobId: `${id}-chunk-0` } }]);
    return { processor: new ChunkProcessor(deps), job: job as Job<unknown>, store, redis, id };
  }

  it('fails the attempt with its own error when the record cannot be read (Redis away), instead of skipping', async () => {
    const { processor, job, id } = await setUp(async ({ redis }) => redis.disconnect());
    const attempt = processor.process(job);
    // a skipped chunk would resolve (BullMQ counts it a success); this one must reject, retryably
    await expect(attempt).rejects.toBeInstanceOf(TalkieError);
    await expect(attempt).rejects.not.toBeInstanceOf(UnrecoverableError);
    await expect(attempt).rejects.toMatchObject({ code: 'upload_missing' });
    expect(lines.some((l) => l.includes('could not read the job record after a failed chunk attempt'))).toBe(true);
    // nothing was written meanwhile: the record is still processing for the next attempt
    const reader = new Redis(lease.url);
    connections.push(reader);
    expect((await new JobStore(reader, 60_000).get(id))?.status).toBe('processing');
  });

  it('skips when the job was canceled while the chunk ran', async () => {
    const { processor, job, store, id } = await setUp(async ({ store: s, id: jobId }) => void (await s.cancel(jobId)));
    await expect(processor.process(job)).resolves.toEqual({ index: 0, skipped: true, frames: 0 });
    expect((await store.get(id))?.status).toBe('canceled');
  });

  it("fails the parent's record with the chunk's code when the error is final and Redis answers", async () => {
    const { processor, job, store, id } = await setUp(async () => undefined);
    await expect(processor.process(job)).rejects.toEqual(new UnrecoverableError('upload_missing'));
    expect(await store.get(id)).toMatchObject({ status: 'failed', error: { code: 'upload_missing' } });
  });
});
