import { randomUUID } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import type { Logger } from '@talkie/runtime';
import { deliveryIdFor, type DeliveryAttempt, type WebhookDeliveryPayload } from '@talkie/contracts';
import { generateWebhookSecret, type DeliveryLog, type DeliveryResult, type DisabledEndpoints, type postWebhook } from '@talkie/webhooks';
import { DeadLetterError, DeliveryProcessor, verdictOf } from './delivery-processor';

const SECRET = generateWebhookSecret();
const MARKER = `TRANSCRIPT-${randomUUID()}`;

function harness(options: { answers?: DeliveryResult[]; secrets?: string[]; allowPrivate?: boolean; schedule?: number[] } = {}) {
  const recorded: Array<{ jobId: string; attempt: DeliveryAttempt }> = [];
  const disabledSet = new Set<string>();
  let deadLetters = 0;
  const posts: Array<{ url: string; body: string; headers: Record<string, string> }> = [];
  const answers = [...(options.answers ?? [])];
  const lines: string[] = [];
  const line = (...args: unknown[]) => void lines.push(JSON.stringify(args));
  const logger = { info: line, warn: line, error: line, debug: line } as unknown as Logger;
  const post = (async (url: string, body: string, headers: Record<string, string>) => {
    posts.push({ url, body, headers });
    return answers.shift() ?? { status: 200, durationMs: 3 };
  }) as typeof postWebhook;
  const processor = new DeliveryProcessor({
    secrets: { active: async () => options.secrets ?? [SECRET] },
    log: {
      record: async (jobId: string, attempt: DeliveryAttempt) => void recorded.push({ jobId, attempt }),
      countDeadLetter: async () => void deadLetters++,
    } as unknown as DeliveryLog,
    disabled: {
      isDisabled: async (tenant: string, url: string) => disabledSet.has(`${tenant} ${url}`),
      disable: async (tenant: string, url: string) => void disabledSet.add(`${tenant} ${url}`),
    } as unknown as DisabledEndpoints,
    logger,
    schedule: options.schedule ?? [100, 200, 300],
    http: { allowPrivate: options.allowPrivate ?? false, timeoutMs: 1_000, maxResponseBytes: 1024 },
    post,
    now: () => new Date(),
  });
  return { processor, recorded, posts, lines, disabledSet, deadLetters: () => deadLetters };
}

function job(overrides: { attemptsMade?: number; attempts?: number; url?: string; data?: unknown } = {}): Job {
  const id = randomUUID();
  const data: WebhookDeliveryPayload = {
    v: 1,
    delivery_id: deliveryIdFor(id, 'job.completed'),
    job_id: id,
    tenant: 'alice',
    url: overrides.url ?? 'https://example.com/hook',
    event: {
      type: 'job.completed',
      timestamp: new Date().toISOString(),
      data: { id, status: 'completed', progress: 100, created_at: new Date().toISOString(), updated_at: new Date().toISOString(), result: { text: MARKER, segments: [], duration_s: 1, frames: 1, model: { name: 'demo', version: '1' } } },
    },
  };
  return { id: data.delivery_id, data: overrides.data ?? data, attemptsMade: overrides.attemptsMade ?? 0, opts: { attempts: overrides.attempts ?? 4 } } as unknown as Job;
}

describe('verdictOf', () => {
  it.each([
    [{ status: 200 }, 'delivered'],
    [{ status: 204 }, 'delivered'],
    [{ status: 299 }, 'delivered'],
    [{ status: 500 }, 'retry'],
    [{ status: 503 }, 'retry'],
    [{ status: 408 }, 'retry'],
    [{ status: 429 }, 'retry'],
    [{ error: 'timeout' }, 'retry'],
    [{ error: 'connection_refused' }, 'retry'],
    [{ error: 'tls_error' }, 'retry'],
    [{ error: 'network_error' }, 'retry'],
    [{ error: 'address_not_allowed' }, 'refused'],
    [{ status: 410 }, 'gone'],
    [{ status: 400 }, 'stop'],
    [{ status: 401 }, 'stop'],
    [{ status: 404 }, 'stop'],
    [{ status: 301 }, 'stop'],
    [{ status: 302 }, 'stop'],
  ] as Array<[Omit<DeliveryResult, 'durationMs'>, string]>)('%j → %s', (result, verdict) => {
    expect(verdictOf({ ...result, durationMs: 1 })).toBe(verdict);
  });
});

describe('DeliveryProcessor', () => {
  it('signs the exact body it sends, and records the delivery', async () => {
    const h = harness();
    const j = job();
    await expect(h.processor.process(j)).resolves.toBe('delivered');
    expect(h.posts).toHaveLength(1);
    const { body, headers } = h.posts[0];
    expect(JSON.parse(body)).toEqual((j.data as WebhookDeliveryPayload).event);
    expect(new Webhook(SECRET).verify(body, headers)).toBeTruthy();
    expect(headers['content-type']).toBe('application/json');
    expect(h.recorded).toEqual([{ jobId: (j.data as WebhookDeliveryPayload).job_id, attempt: expect.objectContaining({ attempt: 1, outcome: 'delivered', status_code: 200, duration_ms: 3 }) }]);
  });

  it('throws a plain error to retry, and a DeadLetterError on the last attempt', async () => {
    const h = harness({ answers: [{ status: 500, durationMs: 1 }, { error: 'timeout', durationMs: 1000 }] });
    const retry = h.processor.process(job({ attemptsMade: 0 }));
    await expect(retry).rejects.toThrow('receiver answered 500');
    await expect(retry).rejects.not.toBeInstanceOf(UnrecoverableError);
    await expect(h.processor.process(job({ attemptsMade: 3 }))).rejects.toBeInstanceOf(DeadLetterError);
    expect(h.recorded.map((r) => [r.attempt.attempt, r.attempt.outcome, r.attempt.error])).toEqual([
      [1, 'retrying', 'receiver answered 500'],
      [4, 'dead_letter', 'timeout'],
    ]);
  });

  it("never makes more attempts than the dispatcher's schedule allows, whatever the job says", async () => {
    const h = harness({ answers: [{ status: 503, durationMs: 1 }], schedule: [10] });
    expect(h.processor.maxAttempts(job({ attempts: 8 }))).toBe(2);
    await expect(h.processor.process(job({ attempts: 8, attemptsMade: 1 }))).rejects.toBeInstanceOf(DeadLetterError);
  });

  it('410 disables the endpoint; the next delivery there is skipped without a request', async () => {
    const h = harness({ answers: [{ status: 410, durationMs: 1 }] });
    await expect(h.processor.process(job())).rejects.toBeInstanceOf(UnrecoverableError);
    expect(h.disabledSet.size).toBe(1);
    await expect(h.processor.process(job())).rejects.toThrow('endpoint disabled');
    expect(h.posts).toHaveLength(1);
    expect(h.recorded.map((r) => r.attempt.outcome)).toEqual(['endpoint_disabled', 'endpoint_disabled']);
  });

  it('stops on other 4xx and on redirects', async () => {
    const h = harness({ answers: [{ status: 404, durationMs: 1 }, { status: 307, durationMs: 1 }] });
    await expect(h.processor.process(job())).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(h.processor.process(job())).rejects.toBeInstanceOf(UnrecoverableError);
    expect(h.recorded.map((r) => [r.attempt.outcome, r.attempt.status_code])).toEqual([
      ['failed', 404],
      ['failed', 307],
    ]);
  });

  it('re-checks the URL at delivery time: no request for loopback literals or http without allowPrivate', async () => {
    const h = harness();
    await expect(h.processor.process(job({ url: 'https://127.0.0.1/hook' }))).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(h.processor.process(job({ url: 'http://example.com/hook' }))).rejects.toBeInstanceOf(UnrecoverableError);
    expect(h.posts).toHaveLength(0);
    expect(h.recorded.map((r) => [r.attempt.outcome, r.attempt.error])).toEqual([
      ['refused', 'address not allowed'],
      ['refused', 'url not allowed'],
    ]);
  });

  it('records a resolved address refused by postWebhook as refused, without retry', async () => {
    const h = harness({ answers: [{ error: 'address_not_allowed', durationMs: 1 }] });
    await expect(h.processor.process(job())).rejects.toBeInstanceOf(UnrecoverableError);
    expect(h.recorded[0].attempt).toMatchObject({ outcome: 'refused', error: 'address not allowed' });
  });

  it('refuses to send unsigned when the tenant has no secret', async () => {
    const h = harness({ secrets: [] });
    await expect(h.processor.process(job())).rejects.toBeInstanceOf(UnrecoverableError);
    expect(h.posts).toHaveLength(0);
    expect(h.recorded[0].attempt).toMatchObject({ outcome: 'refused', error: 'no webhook secret' });
  });

  it('drops a malformed payload', async () => {
    const h = harness();
    await expect(h.processor.process(job({ data: { v: 2 } }))).rejects.toBeInstanceOf(UnrecoverableError);
    expect(h.posts).toHaveLength(0);
  });

  it('counts dead letters when BullMQ gives up, and records stalled deliveries', async () => {
    // the reason is BullMQ's (QueueHost reads it from the job's state: queue-host.test.ts)
    const h = harness();
    await h.processor.onGiveUp(job({ attemptsMade: 4 }), new DeadLetterError('x'), 'unrecoverable');
    expect(h.deadLetters()).toBe(1);
    expect(h.recorded).toHaveLength(0); // the processor recorded that attempt already
    await h.processor.onGiveUp(job({ attemptsMade: 1 }), new UnrecoverableError('receiver answered 404'), 'unrecoverable');
    expect(h.deadLetters()).toBe(1);
    await h.processor.onGiveUp(job({ attemptsMade: 1 }), new UnrecoverableError('job stalled more than allowable limit'), 'stalled');
    expect(h.deadLetters()).toBe(2);
    expect(h.recorded[0].attempt).toMatchObject({ outcome: 'dead_letter', error: 'dispatcher stopped during delivery' });
    await h.processor.onGiveUp(job({ attemptsMade: 4, attempts: 4 }), new Error('redis went away'), 'attempts_exhausted');
    expect(h.deadLetters()).toBe(3);
    expect(h.recorded[1].attempt).toMatchObject({ outcome: 'dead_letter', error: 'internal error' });
  });

  it('never logs the payload, the URL path or the secrets', async () => {
    const h = harness({ answers: [{ status: 500, durationMs: 1 }] });
    await h.processor.process(job({ url: 'https://example.com/hook/abc?token=tok123' })).catch(() => undefined);
    await h.processor.process(job({ url: 'https://example.com/hook/abc?token=tok123' }));
    const all = h.lines.join('');
    expect(all).toContain('webhook attempt');
    expect(all).toContain('https://example.com');
    expect(all).not.toContain(MARKER);
    expect(all).not.toContain('tok123');
    expect(all).not.toContain(SECRET.slice(6));
  });
});
