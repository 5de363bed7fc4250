import { Webhook } from 'standardwebhooks';
import { verifyWebhook } from '@talkie/client';
import { getJob, submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { startStack, waitUntil, type Stack } from './support/stack';
import { listDeliveries, startReceiver, type Receiver } from './support/webhook-receiver';

/**
 * Webhooks end to end: gateway, worker and dispatcher as separate processes; a receiver on
 * loopback (allowed only by the explicit WEBHOOK_ALLOW_PRIVATE opt-in); signatures checked with
 * Talkie's client and with the standardwebhooks reference implementation.
 */
const FAST_RETRIES = { WEBHOOK_RETRY_SCHEDULE_MS: '200,400,800,1600' };

describe('webhooks (local development opt-in: private addresses allowed)', () => {
  let stack: Stack;
  let receiver: Receiver;
  let secret: string;
  const auth = () => ({ authorization: `Bearer ${stack.token('hooked')}` });

  beforeAll(async () => {
    stack = await startStack({
      name: 'webhooks',

      gatewayEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', ...FAST_RETRIES },
      workerEnv: FAST_RETRIES,
      dispatcherEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', ...FAST_RETRIES },
    });
    receiver = await startReceiver();
  }, 60_000);
  afterAll(async () => {
    await receiver?.close();
    await stack?.stop();
  });

  const submitWithHook = (file: string, url: string) => submit(stack.baseUrl, stack.token('hooked'), file, { fields: { webhook_url: url } });
  const deliveries = (id: string) => listDeliveries(stack.baseUrl, stack.token('hooked'), id);

  it('refuses a webhook_url before the tenant has a signing secret', async () => {
    const video = await fixture('NO SECRET YET');
    const res = await submitWithHook(video.file, receiver.url);
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('webhook_secret_missing');
  });

  it('delivers job.completed, signed so that both verifiers accept it, and only that', async () => {
    const rotated = await fetch(`${stack.baseUrl}/v1/webhooks/secret`, { method: 'POST', headers: auth() });
    expect(rotated.status).toBe(201);
    secret = ((await rotated.json()) as { secret: string }).secret;
    expect(secret).toMatch(/^whsec_/);

    const video = await fixture('SIGNED AND SEALED');
    const created = await submitWithHook(video.file, receiver.url);
    expect(created.status).toBe(202);
    await waitUntil(async () => receiver.received.length >= 1, 'the webhook', 30_000);
    const { headers, body } = receiver.received[0];

    const event = verifyWebhook(headers as Record<string, string>, body, [secret]);
    expect(event.type).toBe('job.completed');
    expect(event.data.id).toBe(created.body.id);
    expect(event.data.result?.text).toBe('SIGNED AND SEALED');
    expect(new Webhook(secret).verify(body, headers as Record<string, string>)).toMatchObject({ type: 'job.completed' });
    // tampered body and an old timestamp fail both verifiers
    const tampered = body.replace('SIGNED AND SEALED', 'FORGED AND SEALED');
    expect(() => verifyWebhook(headers as Record<string, string>, tampered, [secret])).toThrow();
    expect(() => new Webhook(secret).verify(tampered, headers as Record<string, string>)).toThrow();
    expect(() => verifyWebhook(headers as Record<string, string>, body, [secret], { now: new Date(Date.now() + 10 * 60_000) })).toThrow();

    const attempts = await deliveries(created.body.id);
    expect(attempts).toEqual([expect.objectContaining({ outcome: 'delivered', attempt: 1, status_code: 200 })]);
    expect(attempts[0].delivery_id).toBe(headers['webhook-id']);
  }, 60_000);

  it('retries 500s with backoff: three attempts recorded, one success', async () => {
    const before = receiver.received.length;
    let calls = 0;
    receiver.answer = (_req, res) => {
      calls++;
      res.statusCode = calls <= 2 ? 500 : 200;
      res.end();
    };
    const created = await submitWithHook((await fixture('TRY AGAIN')).file, receiver.url);
    await waitUntil(async () => (await deliveries(created.body.id)).some((a) => a.outcome === 'delivered'), 'delivery after retries', 30_000);
    const attempts = await deliveries(created.body.id);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.status_code])).toEqual([
      [1, 'retrying', 500],
      [2, 'retrying', 500],
      [3, 'delivered', 200],
    ]);
    expect(receiver.received.length - before).toBe(3);
    // the same webhook-id on every attempt, for receivers' deduplication
    expect(new Set(receiver.received.slice(before).map((r) => r.headers['webhook-id'])).size).toBe(1);
    receiver.answer = (_req, res) => res.end('ok');
  }, 60_000);

  it('delivers once the receiver is back after being down when the job finished', async () => {
    const late = await startReceiver();
    const port = late.port;
    await late.close();
    const created = await submitWithHook((await fixture('CATCH ME LATER')).file, `http://127.0.0.1:${port}/hook`);
    await waitForJob(stack.baseUrl, stack.token('hooked'), created.body.id);
    await waitUntil(async () => (await deliveries(created.body.id)).length >= 1, 'a failed first attempt', 30_000);
    const back = await startReceiver(port);
    try {
      await waitUntil(async () => back.received.length >= 1, 'the late delivery', 30_000);
      expect(verifyWebhook(back.received[0].headers as Record<string, string>, back.received[0].body, [secret]).data.id).toBe(created.body.id);
      const attempts = await deliveries(created.body.id);
      expect(attempts[0].outcome).toBe('retrying');
      expect(attempts[attempts.length - 1].outcome).toBe('delivered');
    } finally {
      await back.close();
    }
  }, 60_000);

  it('stops at 410 and disables that endpoint for the tenant', async () => {
    const gone = await startReceiver();
    gone.answer = (_req, res) => {
      res.statusCode = 410;
      res.end();
    };
    try {
      const first = await submitWithHook((await fixture('GONE')).file, gone.url);
      await waitUntil(async () => (await deliveries(first.body.id)).length >= 1, 'the 410 attempt', 30_000);
      const second = await submitWithHook((await fixture('GONE AGAIN')).file, gone.url);
      await waitUntil(async () => (await deliveries(second.body.id)).length >= 1, 'the second event', 30_000);
      expect((await deliveries(first.body.id)).map((a) => a.outcome)).toEqual(['endpoint_disabled']);
      expect((await deliveries(second.body.id)).map((a) => a.outcome)).toEqual(['endpoint_disabled']);
      await new Promise((r) => setTimeout(r, 1500)); // longer than the compressed retry schedule
      expect(gone.received).toHaveLength(1);
    } finally {
      await gone.close();
    }
  }, 60_000);

  it('never follows a redirect (a 302 to another local server reaches nothing)', async () => {
    const target = await startReceiver();
    const redirecting = await startReceiver();
    redirecting.answer = (_req, res) => {
      res.statusCode = 302;
      res.setHeader('location', target.url);
      res.end();
    };
    try {
      const created = await submitWithHook((await fixture('NO DETOURS')).file, redirecting.url);
      await waitUntil(async () => (await deliveries(created.body.id)).length >= 1, 'the attempt', 30_000);
      await new Promise((r) => setTimeout(r, 1000));
      expect(target.connections).toBe(0);
      expect((await deliveries(created.body.id))[0]).toMatchObject({ status_code: 302 });
    } finally {
      await target.close();
      await redirecting.close();
    }
  }, 60_000);

  it('counts attempts by outcome and dead letters on the dispatcher\'s /metrics', async () => {
    const dispatcherPort = stack.workerPorts[stack.workerPorts.length - 1];
    const text = await (await fetch(`http://127.0.0.1:${dispatcherPort}/metrics`)).text();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
    expect(value(/^talkie_webhook_attempts_total\{outcome="delivered"[^}]*\} (\d+)/m)).toBeGreaterThanOrEqual(3);
    expect(value(/^talkie_webhook_attempts_total\{outcome="retrying"[^}]*\} (\d+)/m)).toBeGreaterThanOrEqual(2);
    expect(value(/^talkie_webhook_attempts_total\{outcome="endpoint_disabled"[^}]*\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^talkie_webhook_deliveries_total\{[^}]*\} (\d+)/m)).toBeGreaterThanOrEqual(3);
    expect(value(/^talkie_webhook_dead_letters\{[^}]*\} (\d+)/m)).toBeGreaterThanOrEqual(0);
    expect(value(/^talkie_webhook_attempt_duration_seconds_count\{[^}]*\} (\d+)/m)).toBeGreaterThanOrEqual(6);
  });

  it('sends job.canceled when a job is canceled', async () => {
    const before = receiver.received.length;
    const created = await submitWithHook((await fixture('NEVER MIND', { padSeconds: 60 })).file, receiver.url);
    const del = await fetch(`${stack.baseUrl}/v1/jobs/${created.body.id}`, { method: 'DELETE', headers: auth() });
    expect(del.status).toBe(200);
    await waitUntil(async () => receiver.received.length > before, 'the cancel event', 30_000);
    const event = verifyWebhook(receiver.received[before].headers as Record<string, string>, receiver.received[before].body, [secret]);
    expect(event).toMatchObject({ type: 'job.canceled', data: { id: created.body.id, status: 'canceled' } });
    expect((await getJob(stack.baseUrl, stack.token('hooked'), created.body.id)).body.status).toBe('canceled');
  }, 60_000);
});

describe('webhooks with default settings: SSRF-safe', () => {
  let stack: Stack;
  let target: Receiver;
  beforeAll(async () => {
    stack = await startStack({ name: 'webhooks-default', workers: 0 });
    target = await startReceiver();
    await fetch(`${stack.baseUrl}/v1/webhooks/secret`, { method: 'POST', headers: { authorization: `Bearer ${stack.token('t')}` } });
  }, 60_000);
  afterAll(async () => {
    await target?.close();
    await stack?.stop();
  });

  it.each([
    'https://127.0.0.1/hook',
    'https://localhost/hook',
    'https://[::1]/hook',
    'https://10.0.0.1/hook',
    'https://169.254.169.254/latest/meta-data/',
    'https://[::ffff:127.0.0.1]/hook',
    'https://0x7f000001/hook',
    'https://2130706433/hook',
    'https://localhost./hook',
    'http://example.com/hook', // plain http
    'https://user:pw@example.com/hook',
    'ftp://example.com/hook',
    'not a url',
  ])('refuses %s at submit time with 400 invalid_webhook_url', async (url) => {
    const form = new FormData();
    form.append('webhook_url', url.replace('/hook', `:${target.port}/hook`).replace('example.com:' + target.port, 'example.com'));
    form.append('video', await import('node:fs').then(async (fs) => fs.openAsBlob((await fixture('SSRF')).file)), 'clip.mp4');
    const res = await fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${stack.token('t')}` }, body: form });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_webhook_url');
    expect(target.connections).toBe(0);
    expect(await stack.redis.keys('talkie:job:*')).toEqual([]);
  });
});
