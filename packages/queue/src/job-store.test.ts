import { Redis } from 'ioredis';
import { leaseRedisDb, type RedisDbLease } from '../../../test/support/redis-db';
import type { TranscriptResult } from '@talkie/contracts';
import { JobStore, toJobResource } from './job-store';

/** Against the real Redis, in a database of its own (15). */

const ID = '6f1c2b8e-3a4d-4e5f-9a0b-1c2d3e4f5a6b';
const RESULT: TranscriptResult = {
  text: 'HI',
  segments: [{ start: 0.4, end: 0.6, text: 'HI' }],
  duration_s: 1,
  frames: 25,
  model: { name: 'm', version: '1' },
};

describe('JobStore', () => {
  let redis: Redis;
  let now: Date;
  let store: JobStore;
  let lease: RedisDbLease;
  beforeAll(async () => {
    // a database of its own (leased), so parallel test files never share keys
    lease = await leaseRedisDb();
    redis = new Redis(lease.url);
  });
  beforeEach(async () => {
    await redis.flushdb();
    now = new Date('2026-01-01T00:00:00.000Z');
    store = new JobStore(redis, 60_000, () => now);
  });
  afterAll(async () => {
    await redis.flushdb();
    redis.disconnect();
    await lease.release();
  });

  it('creates a queued record and reads it back', async () => {
    await store.create({ id: ID, tenant: 'acme', upload_key: `uploads/${ID}` });
    expect(await store.countActive('acme')).toBe(1);
    expect(await store.get(ID)).toEqual({
      id: ID,
      tenant: 'acme',
      status: 'queued',
      progress: 0,
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
      upload_key: `uploads/${ID}`,
    });
    expect(await store.get('00000000-0000-4000-8000-000000000000')).toBeNull();
  });

  it('moves queued → processing → completed, keeps the result, and expires the record after the TTL', async () => {
    await store.create({ id: ID, tenant: 'acme', upload_key: 'uploads/x' });
    now = new Date('2026-01-01T00:00:01.000Z');
    expect(await store.markProcessing(ID)).toBe('applied');
    await store.setProgress(ID, 40);
    expect((await store.get(ID))?.progress).toBe(40);
    expect(await store.complete(ID, RESULT)).toBe('applied');
    const record = (await store.get(ID))!;
    expect(record).toMatchObject({ status: 'completed', progress: 100, result: RESULT, updated_at: '2026-01-01T00:00:01.000Z' });
    // due for the retention sweep at completion + TTL; Redis itself deletes it an hour later as a backstop
    expect(Number(await redis.zscore('talkie:jobs:expiry', ID))).toBe(new Date('2026-01-01T00:00:01.000Z').getTime() + 60_000);
    const ttl = await redis.pttl(`talkie:job:${ID}`);
    expect(ttl).toBeGreaterThan(3_655_000);
    expect(ttl).toBeLessThanOrEqual(3_660_000);
    expect(await store.countActive('acme')).toBe(0);
  });

  it('never leaves a terminal state: a late result cannot overwrite a failure or a cancel', async () => {
    await store.create({ id: ID, tenant: 'acme', upload_key: 'uploads/x' });
    await store.markProcessing(ID);
    expect(await store.fail(ID, { code: 'invalid_media', message: 'bad' })).toBe('applied');
    expect(await store.complete(ID, RESULT)).toBe('terminal');
    expect(await store.markProcessing(ID)).toBe('terminal');
    expect(await store.requeue(ID)).toBe('terminal');
    const record = (await store.get(ID))!;
    expect(record.status).toBe('failed');
    expect(record.result).toBeUndefined();
    expect(toJobResource(record)).toEqual({
      id: ID,
      status: 'failed',
      progress: 0,
      created_at: record.created_at,
      updated_at: record.updated_at,
      error: { code: 'invalid_media', message: 'bad' },
    });
  });

  it('moves progress forward only, and only while processing', async () => {
    await store.create({ id: ID, tenant: 'acme', upload_key: 'uploads/x' });
    await store.setProgress(ID, 50);
    expect((await store.get(ID))?.progress).toBe(0); // still queued
    await store.markProcessing(ID);
    await store.setProgress(ID, 50);
    await store.setProgress(ID, 30);
    expect((await store.get(ID))?.progress).toBe(50);
    await store.setProgress(ID, 250);
    expect((await store.get(ID))?.progress).toBe(99); // 100 means completed, and only that
  });

  it('settles a terminal job again when asked (a process died between the move and the rest)', async () => {
    const seen: string[] = [];
    store.onTerminal(async (record) => void seen.push(`${record.id}:${record.status}`));
    await store.create({ id: ID, tenant: 'acme', upload_key: 'uploads/x' });
    await store.markProcessing(ID);
    await store.complete(ID, RESULT);
    expect(seen).toEqual([`${ID}:completed`]);
    // simulate the crash: the in-flight entry and the expiry index were never updated
    await redis.sadd('talkie:tenant:acme:active', ID);
    await redis.zrem('talkie:jobs:expiry', ID);
    await store.settleTerminal(ID);
    expect(await store.countActive('acme')).toBe(0);
    expect(await redis.zscore('talkie:jobs:expiry', ID)).not.toBeNull();
    expect(seen).toEqual([`${ID}:completed`, `${ID}:completed`]); // listeners must be idempotent
    // a job that is not terminal is left alone
    await store.create({ id: '7f1c2b8e-3a4d-4e5f-9a0b-1c2d3e4f5a6b', tenant: 'acme', upload_key: 'uploads/y' });
    await store.settleTerminal('7f1c2b8e-3a4d-4e5f-9a0b-1c2d3e4f5a6b');
    expect(await store.countActive('acme')).toBe(1);
  });

  it('reports transitions of a missing record as missing', async () => {
    expect(await store.markProcessing(ID)).toBe('missing');
    expect(await redis.exists(`talkie:job:${ID}`)).toBe(0);
  });

  it('hides the tenant and the storage key from the client view', async () => {
    const record = await store.create({ id: ID, tenant: 'acme', upload_key: 'uploads/x' });
    const resource = toJobResource(record);
    expect(resource).not.toHaveProperty('tenant');
    expect(resource).not.toHaveProperty('upload_key');
  });

  describe('a job that asked for LLM correction (issue 8)', () => {
    it('shows correction pending from creation, holds the raw result while processing, and completes with the correction', async () => {
      const seen: string[] = [];
      store.onTerminal(async (record) => void seen.push(record.status));
      await store.create({ id: ID, tenant: 'acme', upload_key: 'uploads/x', correct: true });
      expect(toJobResource((await store.get(ID))!).correction).toEqual({ status: 'pending' });
      await store.markProcessing(ID);
      expect(await store.holdForCorrection(ID, RESULT)).toBe('applied');
      const held = (await store.get(ID))!;
      expect([held.status, held.progress, held.result]).toEqual(['processing', 95, RESULT]);
      expect(toJobResource(held)).not.toHaveProperty('result'); // not final: no result shown yet
      expect(seen).toEqual([]); // and no terminal event (no webhook) yet
      expect(await store.countActive('acme')).toBe(1);

      const corrected = { ...RESULT, corrected_text: 'Hi.' };
      const correction = { status: 'completed' as const, changes: [{ from: 'HI', to: 'Hi.' }], model: 'm' };
      expect(await store.complete(ID, corrected, correction)).toBe('applied');
      const resource = toJobResource((await store.get(ID))!);
      expect(resource).toMatchObject({ status: 'completed', progress: 100, result: corrected, correction });
      expect(seen).toEqual(['completed']);
    });

    it('refuses to hold a result for a job canceled meanwhile, and hides the correction of failed or canceled jobs', async () => {
      await store.create({ id: ID, tenant: 'acme', upload_key: 'uploads/x', correct: true });
      await store.markProcessing(ID);
      await store.cancel(ID);
      expect(await store.holdForCorrection(ID, RESULT)).toBe('terminal');
      expect((await store.get(ID))!.result).toBeUndefined();
      expect(toJobResource((await store.get(ID))!)).not.toHaveProperty('correction');
      expect(await store.holdForCorrection('00000000-0000-4000-8000-000000000000', RESULT)).toBe('missing');
    });

    it('records no correction for a job that did not ask for one', async () => {
      await store.create({ id: ID, tenant: 'acme', upload_key: 'uploads/x' });
      await store.markProcessing(ID);
      await store.complete(ID, RESULT);
      expect(await redis.hexists(`talkie:job:${ID}`, 'correction')).toBe(0);
      expect(toJobResource((await store.get(ID))!)).not.toHaveProperty('correction');
    });
  });
});
