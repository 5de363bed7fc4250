/**
 * The dispatcher as a real process (the built dist, as `npm start` would run it) against the real
 * Redis and loopback receivers. Redis DB 0 is shared, so this file touches only its own keys: a
 * unique tenant, fresh job ids, and the deduplication keys of its deliveries; it flushes nothing.
 * Only this file runs a dispatcher on the `{talkie}:webhooks` queue.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { deliveryIdFor, QUEUE_PREFIX, QUEUES, type DeliveryAttempt, type JobResource, type WebhookEventType } from '@talkie/contracts';
import {
  createWebhookQueue,
  DEAD_LETTER_KEY,
  deliveriesKey,
  DeliveryLog,
  disabledKey,
  enqueueJobEvent,
  secretsKey,
  WebhookSecretStore,
} from '@talkie/webhooks';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MAIN = path.join(ROOT, 'services', 'webhook-dispatcher', 'dist', 'main.js');
const LOG_DIR = path.join(ROOT, 'test', '.artifacts', 'logs');
const REDIS_URL = 'redis://127.0.0.1:6379/0';
const SCHEDULE = [250, 500, 750];
/** put in every transcript: it must never show up in the dispatcher's logs */
const TRANSCRIPT_MARKER = `TRANSCRIPT-${randomUUID()}`;

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const queue = createWebhookQueue({ host: '127.0.0.1', port: 6379, db: 0 });
const tenant = `webhook-e2e-${randomUUID()}`;
const secretStore = new WebhookSecretStore(redis, { overlapMs: 3600_000 });
const deliveryLog = new DeliveryLog(redis, { ttlMs: 3600_000 });
const jobIds: string[] = [];
const deliveryIds: string[] = [];
const secretsSeen: string[] = [];
let deadLettersBefore = 0;
let counterExisted = false;
let queueExisted = false;

async function hasKeys(pattern: string): Promise<boolean> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
    if (keys.length > 0) return true;
    cursor = next;
  } while (cursor !== '0');
  return false;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntil(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}
interface Receiver {
  port: number;
  url: (p?: string) => string;
  connections: number;
  requests: Received[];
  close(): Promise<void>;
}

/** A loopback webhook receiver that answers each request with `answer(n)` (n from 0) and counts TCP connections. */
async function startReceiver(answer: (n: number) => number, port = 0): Promise<Receiver> {
  const sockets = new Set<Socket>();
  const requests: Received[] = [];
  let connections = 0;
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = requests.length;
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      res.writeHead(answer(n), { 'content-type': 'text/plain' }).end('an answer that is never stored');
    });
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: (p = '/hook') => `http://127.0.0.1:${bound}${p}`,
    get connections() {
      return connections;
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Dispatcher {
  child: ChildProcess;
  logFile: string;
  stop(): Promise<number | null>;
}

async function startDispatcher(name: string, env: Record<string, string>): Promise<Dispatcher> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npm run build)`);
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `webhook-dispatcher.${name}.log`);
  const healthPort = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      REDIS_URL,
      HEALTH_PORT: String(healthPort),
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      WEBHOOK_RETRY_SCHEDULE_MS: SCHEDULE.join(','),
      WEBHOOK_TIMEOUT_MS: '2000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      child.kill('SIGTERM');
    });
  try {
    await waitUntil(async () => {
      if (child.exitCode !== null) throw new Error('dispatcher exited');
      return (await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(1_000) })).ok;
    }, 'dispatcher readiness');
  } catch (err) {
    await stop();
    throw new Error(`dispatcher did not start (${(err as Error).message}); see ${logFile}`);
  }
  return { child, logFile, stop };
}

const resourceFor = (id: string): JobResource => ({
  id,
  status: 'completed',
  progress: 100,
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:05.000Z',
  result: { text: TRANSCRIPT_MARKER, segments: [{ start: 0, end: 1, text: TRANSCRIPT_MARKER }], duration_s: 1, frames: 25, model: { name: 'demo', version: '1' } },
});

async function enqueue(url: string, options: { type?: WebhookEventType; tenant?: string; jobId?: string } = {}) {
  const id = options.jobId ?? randomUUID();
  const type = options.type ?? 'job.completed';
  if (!jobIds.includes(id)) jobIds.push(id);
  const deliveryId = await enqueueJobEvent(
    queue,
    { record: { id, tenant: options.tenant ?? tenant, webhook_url: url }, resource: resourceFor(id), type, at: new Date() },
    { schedule: SCHEDULE },
  );
  deliveryIds.push(deliveryId!);
  return { jobId: id, deliveryId: deliveryId! };
}

const attempts = (jobId: string) => deliveryLog.list(jobId);
const settled = (list: DeliveryAttempt[]) => list.some((a) => a.outcome !== 'retrying');
/**
 * Until no attempt is left for a delivery: BullMQ removes a delivery's job when it is settled for
 * good (removeOnComplete/removeOnFail) and keeps it, delayed, while a retry is due, so after this
 * nothing more can reach a receiver. Awaited instead of a "nothing more arrives" sleep.
 */
async function untilNoAttemptLeft(...deliveries: string[]): Promise<void> {
  for (const id of deliveries) await waitUntil(async () => (await queue.getJob(id)) === undefined, `no attempt left for delivery ${id}`);
}

async function waitSettled(jobId: string, timeoutMs = 15_000): Promise<DeliveryAttempt[]> {
  await waitUntil(async () => settled(await attempts(jobId)), `delivery of ${jobId} to settle`, timeoutMs);
  return attempts(jobId);
}

beforeAll(async () => {
  counterExisted = (await redis.exists(DEAD_LETTER_KEY)) === 1;
  queueExisted = await hasKeys(`${QUEUE_PREFIX}:${QUEUES.webhooks}:*`);
  deadLettersBefore = await deliveryLog.deadLetters();
  secretsSeen.push(await secretStore.rotate(tenant));
});

afterAll(async () => {
  // Only what this file created: its tenant's keys, its jobs' logs, its deliveries' queue entries.
  const extraTenants = [`${tenant}-nosecret`];
  await redis.del(secretsKey(tenant), disabledKey(tenant), ...extraTenants.map(secretsKey), ...jobIds.map(deliveriesKey));
  for (const id of deliveryIds) {
    await queue.remove(id).catch(() => undefined);
    await redis.del(`${QUEUE_PREFIX}:${QUEUES.webhooks}:de:${id}`);
  }
  const added = (await deliveryLog.deadLetters()) - deadLettersBefore;
  if (added > 0) await redis.decrby(DEAD_LETTER_KEY, added);
  if (!counterExisted && Number(await redis.get(DEAD_LETTER_KEY)) === 0) await redis.del(DEAD_LETTER_KEY);
  // The queue's own keys (meta, id, events…) are this file's when there were none before and no
  // job is left in it: then (only then) remove them too. Dispatchers are stopped by now.
  if (!queueExisted) {
    const counts = await queue.getJobCounts();
    if (Object.values(counts).every((n) => n === 0)) await queue.obliterate().catch(() => undefined);
  }
  await queue.close();
  redis.disconnect();
});

describe('webhook dispatcher (WEBHOOK_ALLOW_PRIVATE=true, compressed schedule)', () => {
  let dispatcher: Dispatcher;
  let first: Receiver;
  let firstDelivery: { jobId: string; deliveryId: string };

  beforeAll(async () => {
    // Enqueued before any dispatcher runs: delivered once one starts.
    first = await startReceiver(() => 200);
    secretsSeen.push(await secretStore.rotate(tenant)); // two active secrets: rotation overlap
    firstDelivery = await enqueue(first.url('/hooks/talkie?source=e2e'));
    dispatcher = await startDispatcher('private', { WEBHOOK_ALLOW_PRIVATE: 'true' });
  });

  afterAll(async () => {
    await first.close();
    const code = await dispatcher.stop();
    expect(code).toBe(0); // graceful SIGTERM
    const log = readFileSync(dispatcher.logFile, 'utf8');
    expect(log).toMatch(/WEBHOOK_ALLOW_PRIVATE=true/);
    expect(log).not.toContain(TRANSCRIPT_MARKER);
    for (const secret of secretsSeen) expect(log).not.toContain(secret.slice(6));
    expect(log).not.toContain('source=e2e'); // only origins are logged, never paths or queries
  });

  it('delivers a signed event that verifies with the standardwebhooks reference, for each active secret', async () => {
    const list = await waitSettled(firstDelivery.jobId);
    expect(list).toEqual([
      expect.objectContaining({ delivery_id: firstDelivery.deliveryId, event_type: 'job.completed', attempt: 1, outcome: 'delivered', status_code: 200 }),
    ]);
    expect(first.requests).toHaveLength(1);
    const { headers, body } = first.requests[0];
    expect(headers['content-type']).toBe('application/json');
    expect(headers['webhook-id']).toBe(firstDelivery.deliveryId);
    const active = await secretStore.active(tenant);
    expect(active).toHaveLength(2);
    expect(String(headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const secret of active) {
      const event = new Webhook(secret).verify(body, headers as Record<string, string>) as { type: string; data: JobResource };
      expect(event.type).toBe('job.completed');
      expect(event.data).toEqual(resourceFor(firstDelivery.jobId));
    }
    expect(() => new Webhook(secretsSeen[0]).verify(body.replace(TRANSCRIPT_MARKER, 'TAMPERED'), headers as Record<string, string>)).toThrow();

    // the same terminal event reported again is not delivered twice
    const again = await enqueue(first.url('/hooks/talkie?source=e2e'), { jobId: firstDelivery.jobId });
    expect(again.deliveryId).toBe(firstDelivery.deliveryId);
    await untilNoAttemptLeft(again.deliveryId);
    expect(first.requests).toHaveLength(1);
    expect(await attempts(firstDelivery.jobId)).toHaveLength(1);
  });

  it('retries 5xx on the schedule: 500, 500, then 200 is three attempts and one delivery', async () => {
    const r = await startReceiver((n) => (n < 2 ? 500 : 200));
    try {
      const { jobId } = await enqueue(r.url());
      const list = await waitSettled(jobId);
      expect(list.map((a) => [a.attempt, a.outcome, a.status_code])).toEqual([
        [1, 'retrying', 500],
        [2, 'retrying', 500],
        [3, 'delivered', 200],
      ]);
      expect(r.requests).toHaveLength(3);
      // waits follow the schedule (±20 % jitter): ~250 ms then ~500 ms
      const gaps = [r.requests[1].at - r.requests[0].at, r.requests[2].at - r.requests[1].at];
      expect(gaps[0]).toBeGreaterThanOrEqual(190);
      expect(gaps[1]).toBeGreaterThanOrEqual(390);
      // each attempt is signed afresh, with the same webhook-id
      expect(new Set(r.requests.map((q) => q.headers['webhook-id'])).size).toBe(1);
    } finally {
      await r.close();
    }
  });

  it('a receiver that is down when the event is enqueued gets it once it is up', async () => {
    const port = await freePort();
    const { jobId } = await enqueue(`http://127.0.0.1:${port}/late`);
    await waitUntil(async () => (await attempts(jobId)).length >= 1, 'the first (refused) attempt');
    expect((await attempts(jobId))[0]).toMatchObject({ attempt: 1, outcome: 'retrying', error: 'connection refused' });
    const r = await startReceiver(() => 204, port);
    try {
      const list = await waitSettled(jobId);
      expect(list.at(-1)).toMatchObject({ outcome: 'delivered', status_code: 204 });
      expect(r.requests).toHaveLength(1);
    } finally {
      await r.close();
    }
  });

  it('410 Gone disables the endpoint for the tenant: no more attempts, later deliveries are endpoint_disabled', async () => {
    const r = await startReceiver(() => 410);
    try {
      const gone = await enqueue(r.url('/gone'));
      expect(await waitSettled(gone.jobId)).toEqual([expect.objectContaining({ attempt: 1, outcome: 'endpoint_disabled', status_code: 410 })]);
      const next = await enqueue(r.url('/gone'), { type: 'job.failed' });
      expect(await waitSettled(next.jobId)).toEqual([expect.objectContaining({ attempt: 1, outcome: 'endpoint_disabled', event_type: 'job.failed' })]);
      await untilNoAttemptLeft(gone.deliveryId, next.deliveryId);
      expect(r.requests).toHaveLength(1);
      expect(await attempts(gone.jobId)).toHaveLength(1);
      expect(await redis.smembers(disabledKey(tenant))).toHaveLength(1);
    } finally {
      await r.close();
    }
  });

  it('other 4xx stop at once; 429 is retried', async () => {
    const r = await startReceiver((n) => (n === 0 ? 429 : 400));
    try {
      const { jobId, deliveryId } = await enqueue(r.url('/strict'));
      const list = await waitSettled(jobId);
      expect(list.map((a) => [a.outcome, a.status_code])).toEqual([
        ['retrying', 429],
        ['failed', 400],
      ]);
      await untilNoAttemptLeft(deliveryId);
      expect(r.requests).toHaveLength(2);
    } finally {
      await r.close();
    }
  });

  it('when every attempt fails the last one is a dead letter, counted once', async () => {
    const before = await deliveryLog.deadLetters();
    const r = await startReceiver(() => 503);
    try {
      const { jobId, deliveryId } = await enqueue(r.url('/down'));
      const list = await waitSettled(jobId);
      expect(list.map((a) => a.outcome)).toEqual(['retrying', 'retrying', 'retrying', 'dead_letter']);
      expect(list.at(-1)).toMatchObject({ attempt: SCHEDULE.length + 1, status_code: 503 });
      await waitUntil(async () => (await deliveryLog.deadLetters()) === before + 1, 'the dead-letter count');
      await untilNoAttemptLeft(deliveryId);
      expect(await deliveryLog.deadLetters()).toBe(before + 1);
      expect(r.requests).toHaveLength(SCHEDULE.length + 1);
    } finally {
      await r.close();
    }
  });

  it('never sends unsigned: a tenant without a secret is refused', async () => {
    const r = await startReceiver(() => 200);
    try {
      const { jobId } = await enqueue(r.url(), { tenant: `${tenant}-nosecret` });
      expect(await waitSettled(jobId)).toEqual([expect.objectContaining({ outcome: 'refused', error: 'no webhook secret' })]);
      expect(r.connections).toBe(0);
    } finally {
      await r.close();
    }
  });
});

describe('webhook dispatcher without WEBHOOK_ALLOW_PRIVATE', () => {
  let dispatcher: Dispatcher;
  beforeAll(async () => {
    dispatcher = await startDispatcher('strict', {});
  });
  afterAll(async () => {
    expect(await dispatcher.stop()).toBe(0);
  });

  it('refuses loopback at delivery time, and no connection reaches the receiver', async () => {
    const r = await startReceiver(() => 200);
    try {
      const literal = await enqueue(`https://127.0.0.1:${r.port}/hook`);
      const named = await enqueue(`https://localhost:${r.port}/hook`);
      const mapped = await enqueue(`https://[::ffff:127.0.0.1]:${r.port}/hook`);
      const plain = await enqueue(r.url());
      for (const { jobId } of [literal, named, mapped]) {
        expect(await waitSettled(jobId)).toEqual([expect.objectContaining({ attempt: 1, outcome: 'refused', error: 'address not allowed' })]);
      }
      expect(await waitSettled(plain.jobId)).toEqual([expect.objectContaining({ attempt: 1, outcome: 'refused', error: 'url not allowed' })]);
      await untilNoAttemptLeft(...[literal, named, mapped, plain].map((d) => d.deliveryId));
      expect(r.connections).toBe(0);
      for (const { jobId } of [literal, named, mapped, plain]) expect(await attempts(jobId)).toHaveLength(1);
    } finally {
      await r.close();
    }
  });
});
