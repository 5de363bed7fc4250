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

/**
 * The errors ioredis rejects a command with when the connection, not the command, failed. ioredis
 * has no error classes for the first two (plain `Error`s with fixed messages, `utils.
 * CONNECTION_CLOSED_ERROR_MSG` and the offline-queue refusal), so their messages are the contract;
 * `MaxRetriesPerRequestError` is a class of its own, and socket errors carry their code.
 */
const CONNECTION_MESSAGES = new Set(['Connection is closed.', "Stream isn't writeable and enableOfflineQueue options is false"]);
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether `err` says Redis could not be reached. A command sent in the instant a socket dies
 * fails with one of these while the client's `status` still reads `ready` (its close event comes
 * after), so callers cannot rely on `status` alone to tell an outage from a bug.
 */
export function isRedisConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (CONNECTION_MESSAGES.has(err.message) || err.name === 'MaxRetriesPerRequestError') return true;
  // socket errors (a disk's EIO is not one: it says nothing of Redis)
  return SOCKET_CODES.has((err as NodeJS.ErrnoException).code ?? '');
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
