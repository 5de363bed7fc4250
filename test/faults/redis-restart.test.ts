import { openAsBlob } from 'node:fs';
import { getJob } from '../support/client';
import { fixture } from '../support/fixtures';
import { startStack, waitUntil, type Stack } from '../support/stack';
import { POLLING_GATEWAY_ENV, inFlight, say, sleep, startPrivateRedis, submitForm, type PrivateRedis } from './support/faults';

/**
 * Case 3: Redis restarts (a private redis-server configured as docker-compose.yml configures it:
 * append-only file on) while jobs are queued and one is running: once stopped cleanly (SIGTERM, as a
 * `docker restart` or a rolling update does), once killed (SIGKILL: no shutdown, the append-only file
 * is replayed). Every accepted job completes; while Redis is away the gateway answers 503 with
 * Retry-After (never hangs, never 500), and it recovers by itself once Redis is back, as do the workers.
 */
const OUTAGE_MS = 5_000;
const JOBS = 5;

describe('fault: Redis restarts while jobs are queued and running', () => {
  let redis: PrivateRedis;
  let stack: Stack;
  const tenant = 'fault-redis';

  beforeAll(async () => {
    redis = await startPrivateRedis();
    stack = await startStack({ name: 'fault-redis', redisUrl: redis.url, gatewayEnv: POLLING_GATEWAY_ENV });
  }, 90_000);
  afterAll(async () => {
    await redis?.start().catch(() => undefined); // running again if a failed assertion left it stopped
    await stack?.stop();
    await redis?.destroy();
  });

  it.each([
    ['stopped (SIGTERM)', 'SIGTERM'],
    ['killed (SIGKILL)', 'SIGKILL'],
  ] as const)('Redis %s: every accepted job completes; 503 + Retry-After during the outage; recovers by itself', async (how, signal) => {
    const token = stack.token(tenant);
    const auth = { authorization: `Bearer ${token}` };
    const videos = await Promise.all(Array.from({ length: JOBS }, (_, i) => fixture(`REDIS RESTART ${'ABCDE'[i]}`, { padSeconds: 40 })));
    const accepted: Array<{ id: string; text: string }> = [];
    for (const v of videos) {
      const res = await submitForm(stack, token, v.file);
      expect(res.status).toBe(202);
      accepted.push({ id: res.body.id, text: v.text });
    }
    await waitUntil(async () => (await getJob(stack.baseUrl, token, accepted[0].id)).body.status === 'processing', 'the first job to run', 20_000, 20);
    const statuses = await Promise.all(accepted.map(async (a) => (await getJob(stack.baseUrl, token, a.id)).body.status));

    await redis.stop(signal);
    const downAt = Date.now();
    say(`case 3: injected redis-server ${how}, append-only file on, port ${redis.port}, for ${OUTAGE_MS} ms`, { job_statuses: statuses });

    // during the outage: status polls, readiness and new uploads
    const seen: Array<{ what: string; status: number; retry_after: string | null; ms: number }> = [];
    const probe = async (what: string, request: () => Promise<Response>) => {
      const t = performance.now();
      try {
        const res = await request();
        await res.arrayBuffer();
        seen.push({ what, status: res.status, retry_after: res.headers.get('retry-after'), ms: Math.round(performance.now() - t) });
      } catch (err) {
        seen.push({ what: `${what} (${(err as Error).message})`, status: 0, retry_after: null, ms: Math.round(performance.now() - t) });
      }
    };
    const upload = await fixture('DURING THE OUTAGE');
    let rounds = 0;
    while (Date.now() - downAt < OUTAGE_MS) {
      await probe('GET /v1/jobs/{id}', () => fetch(`${stack.baseUrl}/v1/jobs/${accepted[1].id}`, { headers: auth, signal: AbortSignal.timeout(8_000) }));
      await probe('GET /readyz', () => fetch(`${stack.baseUrl}/readyz`, { signal: AbortSignal.timeout(8_000) }));
      if (rounds++ % 4 === 0) {
        const form = new FormData();
        form.append('video', await openAsBlob(upload.file), 'clip.mp4');
        await probe('POST /v1/jobs', () => fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', headers: auth, body: form, signal: AbortSignal.timeout(8_000) }));
      }
      await sleep(250);
    }
    const summary = Object.entries(
      seen.reduce<Record<string, number>>((acc, s) => {
        const key = `${s.what} → ${s.status}${s.retry_after ? ` Retry-After ${s.retry_after}` : ''}`;
        acc[key] = (acc[key] ?? 0) + 1;
        return acc;
      }, {}),
    ).map(([k, n]) => `${k} ×${n}`);
    say(`case 3: observed while Redis was away (${how})`, { answers: summary, slowest_ms: Math.max(...seen.map((s) => s.ms)) });

    await redis.start();
    const upAt = Date.now();
    await waitUntil(async () => (await fetch(`${stack.baseUrl}/readyz`)).status === 200, 'the gateway to be ready again', 30_000, 100);
    const readyAfterMs = Date.now() - upAt;
    const afterUpload = await submitForm(stack, token, upload.file);

    const finals = await Promise.all(
      accepted.map(async (a) => {
        let body = (await getJob(stack.baseUrl, token, a.id)).body;
        const deadline = Date.now() + 60_000;
        while (!['completed', 'failed', 'canceled'].includes(body.status) && Date.now() < deadline) {
          await sleep(200);
          body = (await getJob(stack.baseUrl, token, a.id)).body;
        }
        return { id: a.id, status: body.status, text: body.result?.text, expected: a.text };
      }),
    );
    let after: { status?: string; text?: string } = {};
    if (afterUpload.status === 202) {
      await waitUntil(async () => ['completed', 'failed'].includes((await getJob(stack.baseUrl, token, afterUpload.body.id)).body.status), 'the job submitted after the restart', 30_000, 200);
      const body = (await getJob(stack.baseUrl, token, afterUpload.body.id)).body;
      after = { status: body.status, text: body.result?.text };
    }
    const stillInFlight = await inFlight(stack, tenant);
    say(`case 3: observed after Redis came back (${how})`, {
      gateway_ready_after_ms: readyAfterMs,
      jobs: finals.map((f) => `${f.status}${f.text === f.expected ? ' (right text)' : ` (text ${JSON.stringify(f.text)})`}`),
      new_upload: afterUpload.status,
      new_job: after,
      tenant_in_flight: stillInFlight,
    });

    // every answer during the outage was a clean 503 with Retry-After, quickly
    expect(seen.length).toBeGreaterThan(0);
    for (const s of seen) {
      expect(s).toMatchObject({ status: 503 });
      if (!s.what.startsWith('GET /readyz')) expect(s.retry_after).toMatch(/^\d+$/);
      expect(s.ms).toBeLessThan(6_000);
    }
    for (const f of finals) expect(f).toMatchObject({ status: 'completed', text: f.expected });
    expect(afterUpload.status).toBe(202);
    expect(after).toEqual({ status: 'completed', text: 'DURING THE OUTAGE' });
    expect(stillInFlight).toBe(0);
  }, 120_000);
});
