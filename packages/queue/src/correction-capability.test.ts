import { Redis } from 'ioredis';
import { leaseRedisDb, type RedisDbLease } from '../../../test/support/redis-db';
import { CorrectionCapability } from './correction-capability';

/** On the real Redis (a leased database of its own): the claim appears, is renewed, and lapses. */
describe('CorrectionCapability', () => {
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

  it('is unavailable until announced, renewed while announcing, and lapses after the last announcement', async () => {
    const capability = new CorrectionCapability(redis, 3_000);
    expect(await capability.available()).toBe(false);
    const stop = capability.announce();
    await waitFor(() => capability.available());
    // renewed every second: the TTL goes back up instead of running out
    let last = await redis.pttl('talkie:capabilities:correction');
    await waitFor(async () => {
      const now = await redis.pttl('talkie:capabilities:correction');
      const renewed = now > last;
      last = now;
      return renewed;
    });
    stop();
    await waitFor(async () => !(await capability.available()));
  }, 20_000);
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50));
}
