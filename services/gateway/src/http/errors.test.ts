import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { leaseRedisDb, type RedisDbLease } from '../../../../test/support/redis-db';
import { errorHandler } from './errors';

/**
 * The last middleware's answer to errors while Redis is (or just went) away. A command caught by a
 * dying socket fails before the client's status leaves `ready` (seen in the fault suite's Redis
 * SIGKILL case as one 500 among 503s): the error itself must make it a 503 too.
 */
describe('errorHandler', () => {
  let lease: RedisDbLease;
  let server: http.Server;
  let base: string;
  let redisError: unknown;
  beforeAll(async () => {
    lease = await leaseRedisDb();
    // the real error a command on a lost connection fails with
    const redis = new Redis(lease.url);
    await redis.ping();
    redis.disconnect();
    redisError = await redis.get('k').then(() => new Error('the command did not fail'), (err: unknown) => err);

    const app = express();
    app.get('/redis-lost', (_req, _res, next) => next(redisError));
    app.get('/bug', (_req, _res, next) => next(new Error('a bug at /srv/app/x.js')));
    // the client's status still reads `ready`, as in the instant the socket dies
    app.use(errorHandler(() => true));
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await lease.release();
  });

  it("answers 503 with Retry-After for Redis's connection errors, though the client still says ready", async () => {
    expect((redisError as Error).message).toBe('Connection is closed.');
    const res = await fetch(`${base}/redis-lost`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect((await res.json()).error.code).toBe('service_unavailable');
  });

  it('still answers a bare 500 for any other unexpected error, with nothing of its message', async () => {
    const res = await fetch(`${base}/bug`);
    expect(res.status).toBe(500);
    expect(res.headers.get('retry-after')).toBeNull();
    const body = await res.text();
    expect(JSON.parse(body).error).toMatchObject({ code: 'internal_error', message: 'Internal error.' });
    expect(body).not.toMatch(/srv|bug/);
  });
});
