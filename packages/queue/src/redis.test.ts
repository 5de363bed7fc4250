import net from 'node:net';
import { Redis } from 'ioredis';
import { leaseRedisDb, type RedisDbLease } from '../../../test/support/redis-db';
import { createRedis, isRedisConnectionError } from './redis';

/** A port nothing listens on: one bound, then closed again. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** The error a real ioredis client rejects `run` with. */
async function rejection(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('the command did not fail');
}

/**
 * `isRedisConnectionError` against what ioredis really throws: each connection failure is made
 * happen (nothing listening, a closed client), and a command Redis itself refuses is not one.
 */
describe('isRedisConnectionError', () => {
  let lease: RedisDbLease;
  const clients: Redis[] = [];
  beforeAll(async () => {
    lease = await leaseRedisDb();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await lease.release();
  });

  it("knows a producer's refusal while Redis is unreachable (the gateway's connections)", async () => {
    const producer = createRedis(`redis://127.0.0.1:${await deadPort()}`, 'producer', { retryStrategy: () => null });
    clients.push(producer);
    producer.on('error', () => undefined);
    const err = await rejection(() => producer.get('k'));
    expect((err as Error).message).toBe("Stream isn't writeable and enableOfflineQueue options is false");
    expect(isRedisConnectionError(err)).toBe(true);
  });

  it('knows a closed connection and running out of retries', async () => {
    const closed = new Redis(lease.url);
    clients.push(closed);
    await closed.ping();
    closed.disconnect();
    const afterClose = await rejection(() => closed.get('k'));
    expect((afterClose as Error).message).toBe('Connection is closed.');
    expect(isRedisConnectionError(afterClose)).toBe(true);

    const retrying = new Redis(`redis://127.0.0.1:${await deadPort()}`, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    clients.push(retrying);
    retrying.on('error', () => undefined);
    const outOfRetries = await rejection(() => retrying.get('k'));
    expect((outOfRetries as Error).name).toBe('MaxRetriesPerRequestError');
    expect(isRedisConnectionError(outOfRetries)).toBe(true);
  });

  it("does not take Redis's own refusal of a command, or any other error, for an outage", async () => {
    const redis = new Redis(lease.url);
    clients.push(redis);
    await redis.set('talkie-test:string', 'x');
    const wrongType = await rejection(() => redis.lpush('talkie-test:string', 'y'));
    expect((wrongType as Error).message).toMatch(/^WRONGTYPE/);
    expect(isRedisConnectionError(wrongType)).toBe(false);
    await redis.del('talkie-test:string');
    expect(isRedisConnectionError(new Error('boom'))).toBe(false);
    // a disk's failure is no Redis outage, though it comes from a syscall too
    expect(isRedisConnectionError(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read' }))).toBe(false);
    expect(isRedisConnectionError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' }))).toBe(true);
    expect(isRedisConnectionError('Connection is closed.')).toBe(false);
  });
});
