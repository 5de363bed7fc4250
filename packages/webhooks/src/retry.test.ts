import { parseRetrySchedule, retryDelay, WEBHOOK_BACKOFF_TYPE, WEBHOOK_RETRY_SCHEDULE, webhookAttempts, webhookBackoffStrategy } from './retry';

describe('retry schedule', () => {
  it('is the Standard Webhooks schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    expect(WEBHOOK_RETRY_SCHEDULE).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(webhookAttempts(WEBHOOK_RETRY_SCHEDULE)).toBe(8);
  });

  it('parses WEBHOOK_RETRY_SCHEDULE_MS', () => {
    expect(parseRetrySchedule('100,200,300')).toEqual([100, 200, 300]);
    expect(parseRetrySchedule(' 0 , 50 ')).toEqual([0, 50]);
    expect(parseRetrySchedule(undefined)).toEqual([...WEBHOOK_RETRY_SCHEDULE]);
    expect(parseRetrySchedule('')).toEqual([...WEBHOOK_RETRY_SCHEDULE]);
    for (const bad of ['1,,2', 'a', '-5', '1.5', '1e3', String(8 * 24 * 3600_000), Array(31).fill('1').join(',')]) {
      expect(() => parseRetrySchedule(bad)).toThrow();
    }
  });

  it('jitters each delay by at most ±20 %', () => {
    const schedule = [1_000, 10_000];
    expect(retryDelay(schedule, 1, () => 0)).toBe(800);
    expect(retryDelay(schedule, 1, () => 0.5)).toBe(1_000);
    expect(retryDelay(schedule, 1, () => 0.999999)).toBe(1_200);
    expect(retryDelay(schedule, 2, () => 0.5)).toBe(10_000);
    expect(retryDelay(schedule, 9, () => 0.5)).toBe(10_000); // past the end: the last delay
    for (let i = 0; i < 1000; i++) {
      const d = retryDelay(WEBHOOK_RETRY_SCHEDULE, 3);
      expect(d).toBeGreaterThanOrEqual(1_440_000);
      expect(d).toBeLessThanOrEqual(2_160_000);
    }
  });

  it('is a BullMQ backoff strategy for its own type only', () => {
    const strategy = webhookBackoffStrategy([100, 200, 300], () => 0.5);
    expect([1, 2, 3].map((n) => strategy(n, WEBHOOK_BACKOFF_TYPE))).toEqual([100, 200, 300]);
    expect(() => strategy(1, 'something-else')).toThrow();
  });
});
