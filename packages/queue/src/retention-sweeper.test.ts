import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { leaseRedisDb, type RedisDbLease } from '../../../test/support/redis-db';
import { LocalStorage } from '@talkie/storage';
import type { TranscriptResult } from '@talkie/contracts';
import { JobStore } from './job-store';
import { RETENTION_LOCK_KEY, RetentionSweeper, type SweepReport } from './retention-sweeper';

/** Real Redis (database 1) and real files; the clock is the test's. */

const TTL_MS = 3600_000;
const T0 = new Date('2026-03-01T12:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const RESULT: TranscriptResult = { text: 'SECRET WORDS', segments: [], duration_s: 1, frames: 25, model: { name: 'm', version: '1' } };
const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;

describe('RetentionSweeper', () => {
  let redis: Redis;
  let root: string;
  let storage: LocalStorage;
  let now: Date;
  let store: JobStore;
  let sweeper: RetentionSweeper;

  let lease: RedisDbLease;
  beforeAll(async () => {
    // a database of its own (leased), so parallel test files never share keys
    lease = await leaseRedisDb();
    redis = new Redis(lease.url);
  });
  beforeEach(async () => {
    await redis.flushdb();
    root = await mkdtemp(path.join(os.tmpdir(), 'talkie-sweep-'));
    storage = new LocalStorage(root);
    now = T0;
    store = new JobStore(redis, TTL_MS, () => now);
    sweeper = new RetentionSweeper({ redis, store, storage, orphanGraceMs: 60_000, partialGraceMs: 600_000 });
  });
  afterEach(() => rm(root, { recursive: true, force: true }));
  afterAll(async () => {
    await redis.flushdb();
    redis.disconnect();
    await lease.release();
  });

  const upload = async (n: number, mtime: Date) => {
    await mkdir(path.join(root, 'uploads'), { recursive: true });
    await writeFile(path.join(root, 'uploads', id(n)), 'video bytes');
    await utimes(path.join(root, 'uploads', id(n)), mtime, mtime);
  };

  it('deletes finished jobs and their results once RESULT_TTL has passed, not before', async () => {
    await store.create({ id: id(1), tenant: 'acme', upload_key: `uploads/${id(1)}` });
    await store.markProcessing(id(1));
    await store.complete(id(1), RESULT);
    await store.create({ id: id(2), tenant: 'acme', upload_key: `uploads/${id(2)}` });
    await store.fail(id(2), { code: 'invalid_media', message: 'x' });

    expect(await sweeper.sweep(at(TTL_MS - 1))).toEqual({ records: 0, files: 0 });
    expect(await store.get(id(1))).not.toBeNull();

    expect(await sweeper.sweep(at(TTL_MS + 1))).toEqual({ records: 2, files: 0 });
    expect(await store.get(id(1))).toBeNull();
    expect(await store.get(id(2))).toBeNull();
    // nothing of the transcript is left anywhere in Redis
    for (const key of await redis.keys('*')) {
      const type = await redis.type(key);
      const dump = type === 'hash' ? JSON.stringify(await redis.hgetall(key)) : type === 'zset' ? JSON.stringify(await redis.zrange(key, 0, -1)) : '';
      expect(dump).not.toContain('SECRET WORDS');
    }
  });

  it('deletes the upload of a job that expired without finishing, and the job itself', async () => {
    await store.create({ id: id(3), tenant: 'acme', upload_key: `uploads/${id(3)}` });
    await upload(3, T0);
    // never picked up: kept twice the TTL, then swept with its file
    expect((await sweeper.sweep(at(2 * TTL_MS - 1))).records).toBe(0);
    expect(await sweeper.sweep(at(2 * TTL_MS + 1))).toEqual({ records: 1, files: 0 });
    expect(await readdir(path.join(root, 'uploads'))).toEqual([]);
    expect(await store.countActive('acme')).toBe(0);
  });

  it('removes orphaned uploads and abandoned partial writes after their grace periods', async () => {
    await store.create({ id: id(4), tenant: 'acme', upload_key: `uploads/${id(4)}` });
    await upload(4, at(-3600_000)); // old, but its job exists: kept
    await upload(5, at(-3600_000)); // old, no job: orphan
    await upload(6, at(-10_000)); // no job yet, but fresh: the record is about to be written
    await mkdir(path.join(root, 'uploads'), { recursive: true });
    const partialOld = path.join(root, 'uploads', `${id(7)}.partial-aaaa`);
    const partialNew = path.join(root, 'uploads', `${id(8)}.partial-bbbb`);
    await writeFile(partialOld, 'half');
    await writeFile(partialNew, 'half');
    await utimes(partialOld, at(-3600_000), at(-3600_000));
    await utimes(partialNew, at(-60_000), at(-60_000));

    expect(await sweeper.sweep(now)).toEqual({ records: 0, files: 2 });
    expect((await readdir(path.join(root, 'uploads'))).sort()).toEqual([id(4), id(6), `${id(8)}.partial-bbbb`].sort());
  });

  it('lets only one replica sweep per interval (Redis lock)', async () => {
    const other = new RetentionSweeper({ redis, store, storage });
    await store.create({ id: id(9), tenant: 'acme', upload_key: `uploads/${id(9)}` });
    await store.fail(id(9), { code: 'timeout', message: 'x' });
    await redis.zadd('talkie:jobs:expiry', Date.now() - 1, id(9));
    // two replicas' ticks of one interval, interleaved: the lock lets exactly one sweep
    const reports = await Promise.all([sweeper.sweepIfFirst(200), other.sweepIfFirst(200), other.sweepIfFirst(200), sweeper.sweepIfFirst(200)]);
    expect(reports.filter((r) => r !== undefined)).toEqual([{ records: 1, files: expect.any(Number) }]);
    expect(await store.get(id(9))).toBeNull();
  });

  it('sweeps on its schedule once the last interval\'s lock has expired', async () => {
    await store.create({ id: id(10), tenant: 'acme', upload_key: `uploads/${id(10)}` });
    await store.fail(id(10), { code: 'timeout', message: 'x' });
    await redis.zadd('talkie:jobs:expiry', Date.now() - 1, id(10));
    await redis.del(RETENTION_LOCK_KEY);
    // awaited, not slept on: the first tick that takes the lock reports the record it removed
    const swept = new Promise<SweepReport>((resolve, reject) => {
      const stop = sweeper.schedule(50, reject, (report) => {
        stop();
        resolve(report);
      });
    });
    expect(await swept).toEqual({ records: 1, files: expect.any(Number) });
    expect(await store.get(id(10))).toBeNull();
  });
});
