import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * Each test file that touches Redis gets a logical database of its own, leased from a pool, so test
 * files can run in parallel (jest workers) without seeing each other's queues, records or flushes.
 * Leases live in database 0 and expire unless renewed, so a killed run frees its databases soon.
 */
const POOL = Array.from({ length: 15 }, (_, i) => i + 1);
const LEASE_MS = 60_000;
const RENEW_MS = 20_000;
const leaseKey = (db: number) => `talkie-test:redis-db-lease:${db}`;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export interface RedisDbLease {
  db: number;
  url: string;
  release(): Promise<void>;
}

export async function leaseRedisDb(timeoutMs = 120_000): Promise<RedisDbLease> {
  const control = new Redis('redis://127.0.0.1:6379/0', { maxRetriesPerRequest: 1 });
  const token = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const deadline = Date.now() + timeoutMs;
  // start at a different place per process so parallel workers rarely race for the same db
  const offset = process.pid % POOL.length;
  try {
    for (;;) {
      for (let i = 0; i < POOL.length; i++) {
        const db = POOL[(i + offset) % POOL.length];
        if (await control.set(leaseKey(db), token, 'PX', LEASE_MS, 'NX')) {
          const renew = setInterval(() => void control.eval(RENEW, 1, leaseKey(db), token, String(LEASE_MS)).catch(() => undefined), RENEW_MS);
          renew.unref();
          return {
            db,
            url: `redis://127.0.0.1:6379/${db}`,
            release: async () => {
              clearInterval(renew);
              await control.eval(RELEASE, 1, leaseKey(db), token).catch(() => undefined);
              control.disconnect();
            },
          };
        }
      }
      if (Date.now() > deadline) throw new Error('no free Redis test database: are other test runs holding all 15?');
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    control.disconnect();
    throw err;
  }
}

/**
 * Every key of the database `redis` is on, with its values as strings: a string's value, a hash's
 * fields and values, the members of a list, set or sorted set, a stream's fields and values. For
 * tests that check something (a secret, a transcript) is stored nowhere. A type it cannot read
 * throws rather than being left out.
 */
export async function redisValues(redis: Redis): Promise<Map<string, string[]>> {
  const all = new Map<string, string[]>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let values: string[];
      if (type === 'string') values = [(await redis.get(key)) ?? ''];
      else if (type === 'hash') values = Object.entries(await redis.hgetall(key)).flat();
      else if (type === 'list') values = await redis.lrange(key, 0, -1);
      else if (type === 'set') values = await redis.smembers(key);
      else if (type === 'zset') values = await redis.zrange(key, 0, -1);
      else if (type === 'stream') values = (await redis.xrange(key, '-', '+')).flatMap(([, fields]) => fields);
      else if (type === 'none') continue; // gone (expired, deleted) since the scan saw it
      else throw new Error(`redisValues: ${key} is a ${type}, which it cannot read`);
      all.set(key, values);
    }
  } while (cursor !== '0');
  return all;
}
