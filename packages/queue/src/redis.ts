import { Redis, type RedisOptions } from 'ioredis';

/**
 * Connections as BullMQ requires them in production: a worker's blocking connection must retry
 * forever (`maxRetriesPerRequest: null`); a producer on a request path must fail fast instead of
 * queueing commands while Redis is away, so the gateway answers 503 rather than hanging.
 */
export type RedisRole = 'worker' | 'producer';

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const options: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5_000 };
  return new Redis(url, { ...options, lazyConnect: false, ...extra });
}

/** Resolves when the connection is ready, or rejects after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not reachable within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/**
 * BullMQ loses jobs if Redis evicts keys under memory pressure. Returns the policy so that services
 * can warn loudly at start when it is anything but `noeviction`.
 */
export async function evictionPolicy(redis: Redis): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    return reply[1];
  } catch {
    return undefined; // managed Redis often disables CONFIG; nothing to check then
  }
}

/** Every service's start-up check: a warning when Redis may evict keys (and so queued jobs). */
export function warnIfEvicting(redis: Redis, logger: { warn(fields: object, message: string): void }): void {
  evictionPolicy(redis).then((policy) => {
    if (policy && policy !== 'noeviction') logger.warn({ policy }, `Redis maxmemory-policy is "${policy}": it can evict queued jobs; set it to noeviction`);
  }, () => undefined);
}
