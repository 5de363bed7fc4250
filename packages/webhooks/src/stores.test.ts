import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { DeliveryAttempt } from '@talkie/contracts';
import { DEAD_LETTER_KEY, deliveriesKey, DeliveryLog } from './delivery-log';
import { disabledKey, DisabledEndpoints, endpointHash } from './disabled-endpoints';

const redis = new Redis('redis://127.0.0.1:6379/0', { maxRetriesPerRequest: 1 });
const keys: string[] = [];
afterAll(async () => {
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const attempt = (n: number, outcome: DeliveryAttempt['outcome']): DeliveryAttempt => ({
  delivery_id: 'msg_x_completed',
  event_type: 'job.completed',
  attempt: n,
  at: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString(),
  outcome,
  ...(outcome === 'retrying' ? { status_code: 500 } : {}),
  duration_ms: 12,
});

describe('DeliveryLog', () => {
  it('records attempts oldest first and expires them with the job retention', async () => {
    const log = new DeliveryLog(redis, { ttlMs: 60_000 });
    const jobId = randomUUID();
    keys.push(deliveriesKey(jobId));
    await log.record(jobId, attempt(1, 'retrying'));
    await log.record(jobId, attempt(2, 'delivered'));
    expect(await log.list(jobId)).toEqual([attempt(1, 'retrying'), attempt(2, 'delivered')]);
    const ttl = await redis.pttl(deliveriesKey(jobId));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await log.delete(jobId);
    expect(await log.list(jobId)).toEqual([]);
  });

  it('validates what it stores and what it is asked', async () => {
    const log = new DeliveryLog(redis, { ttlMs: 60_000 });
    await expect(log.record('not-a-uuid', attempt(1, 'delivered'))).rejects.toThrow();
    await expect(log.record(randomUUID(), { ...attempt(1, 'delivered'), outcome: 'maybe' as never })).rejects.toThrow();
    expect(await log.list('../../etc')).toEqual([]);
    expect(() => new DeliveryLog(redis, { ttlMs: 0 })).toThrow();
  });

  it('counts dead letters', async () => {
    const log = new DeliveryLog(redis, { ttlMs: 60_000 });
    const existed = (await redis.exists(DEAD_LETTER_KEY)) === 1;
    const before = await log.deadLetters();
    await log.countDeadLetter();
    expect(await log.deadLetters()).toBe(before + 1);
    // leave the shared counter as found
    if ((await redis.decr(DEAD_LETTER_KEY)) === 0 && !existed) await redis.del(DEAD_LETTER_KEY);
  });
});

describe('DisabledEndpoints', () => {
  it('disables an endpoint per tenant, storing only a hash of the URL', async () => {
    const endpoints = new DisabledEndpoints(redis);
    const a = `webhook-test-${randomUUID()}`;
    const b = `webhook-test-${randomUUID()}`;
    keys.push(disabledKey(a), disabledKey(b));
    const url = 'https://example.com/hooks/talkie?token=s3cret';
    expect(await endpoints.isDisabled(a, url)).toBe(false);
    await endpoints.disable(a, url);
    expect(await endpoints.isDisabled(a, url)).toBe(true);
    expect(await endpoints.isDisabled(a, 'HTTPS://EXAMPLE.com:443/hooks/talkie?token=s3cret')).toBe(true);
    expect(await endpoints.isDisabled(a, 'https://example.com/hooks/other')).toBe(false);
    expect(await endpoints.isDisabled(b, url)).toBe(false);
    const stored = await redis.smembers(disabledKey(a));
    expect(stored).toEqual([endpointHash(url)]);
    expect(stored.join()).not.toContain('s3cret');
    await endpoints.enable(a, url);
    expect(await endpoints.isDisabled(a, url)).toBe(false);
  });
});
