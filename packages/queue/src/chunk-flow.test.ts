import { Redis } from 'ioredis';
import { leaseRedisDb, type RedisDbLease } from '../../../test/support/redis-db';
import { ChunkPayload, ChunkProgress, chunkJobId } from './chunk-flow';

/** Chunk bookkeeping against the real Redis, in a leased database. */
const ID = '6f1c2b8e-3a4d-4e5f-9a0b-1c2d3e4f5a6b';

describe('chunk flow bookkeeping', () => {
  let redis: Redis;
  let lease: RedisDbLease;
  beforeAll(async () => {
    lease = await leaseRedisDb();
    redis = new Redis(lease.url);
    await redis.flushdb();
  });
  afterAll(async () => {
    await redis.flushdb();
    redis.disconnect();
    await lease.release();
  });

  it('keeps each window once, however often it is reported, counts them, and expires on its own', async () => {
    const progress = new ChunkProgress(redis, 60_000);
    const words = (index: number) => ({ index, frames: 750, segments: [{ start: index * 26 + 1, end: index * 26 + 2, text: `W${index}` }] });
    expect(await progress.record(ID, words(0))).toBe(1);
    expect(await progress.record(ID, words(3))).toBe(2);
    expect(await progress.record(ID, words(0))).toBe(2); // a chunk run again after its worker died
    expect((await progress.results(ID)).sort((a, b) => a.index - b.index)).toEqual([words(0), words(3)]);
    const ttl = await redis.pttl(`talkie:job:${ID}:chunks`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await progress.clear(ID);
    expect(await redis.exists(`talkie:job:${ID}:chunks`)).toBe(0);
    expect(await progress.results(ID)).toEqual([]);
  });

  it('names child jobs stably (BullMQ ids may not contain a colon) and validates payloads', () => {
    expect(chunkJobId(ID, 4)).toBe(`${ID}-chunk-4`);
    expect(chunkJobId(ID, 4)).not.toContain(':');
    const window = { index: 1, start_frame: 650, frames: 750, own_from: 700, own_to: 1350 };
    expect(ChunkPayload.safeParse({ v: 1, job_id: ID, tenant: 't', upload_key: `uploads/${ID}`, fps: 25, count: 3, window }).success).toBe(true);
    expect(ChunkPayload.safeParse({ v: 1, job_id: 'not-a-uuid', tenant: 't', upload_key: 'u', fps: 25, count: 3, window }).success).toBe(false);
    expect(ChunkPayload.safeParse({ v: 1, job_id: ID, tenant: 't', upload_key: 'u', fps: 25, count: 3, window: { ...window, frames: 0 } }).success).toBe(false);
  });
});
