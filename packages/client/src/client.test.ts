import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { backoffDelay, parseRetryAfter } from './backoff';
import { TalkieClient } from './client';
import { TalkieApiError, TalkieConnectionError, TalkieTimeoutError } from './errors';
import { job, loopback, sendJson, type Handler } from './loopback.testing';

const VIDEO = Buffer.from('\0\0\0\x18ftypisom fake video bytes');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
const serve = async (handlers: Handler[]) => {
  const server = await loopback(handlers);
  servers.push(server);
  return server;
};
const fast = { retryDelayMs: { initial: 10, max: 40 } };

const error = (status: number, code: string, headers: Record<string, string> = {}): Handler => (_req, res) =>
  sendJson(res, status, { error: { code, message: `${code} message`, request_id: `req-${code}` } }, headers);
const accepted: Handler = (_req, res) => sendJson(res, 202, job(), { location: `/v1/jobs/${job().id}` });
const dropConnection: Handler = (_req, res) => void res.socket?.destroy();

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('7')).toBe(7);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('-3')).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('doubles from the first delay up to the ceiling, with the jittered share random', () => {
    const o = { initialMs: 250, maxMs: 5_000 };
    expect([0, 1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, { ...o, random: () => 1 }))).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
    expect([0, 1, 5].map((n) => backoffDelay(n, { ...o, random: () => 0 }))).toEqual([125, 250, 2500]);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, o);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });
});

describe('TalkieClient.submit: retries', () => {
  it('waits out a 503 Retry-After, then retries with the same Idempotency-Key', async () => {
    const server = await serve([error(503, 'queue_full', { 'retry-after': '1' }), accepted]);
    const client = new TalkieClient({ baseUrl: server.url, token: 'tok', ...fast });
    const created = await client.submit(VIDEO, { filename: 'clip.mp4' });
    expect(created).toEqual(job());
    const [first, second] = server.requests;
    expect(server.requests).toHaveLength(2);
    expect(second.at - first.at).toBeGreaterThanOrEqual(950);
    expect(first.headers['idempotency-key']).toMatch(UUID);
    expect(second.headers['idempotency-key']).toBe(first.headers['idempotency-key']);
    for (const r of server.requests) {
      expect(r.method).toBe('POST');
      expect(r.url).toBe('/v1/jobs');
      expect(r.headers.authorization).toBe('Bearer tok');
      expect(r.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
      expect(r.body.toString('latin1')).toContain('Content-Disposition: form-data; name="video"; filename="clip.mp4"');
      expect(r.body.includes(VIDEO)).toBe(true);
    }
  });

  it('retries 429 with Retry-After, and network errors with backoff, all under one key', async () => {
    const server = await serve([error(429, 'rate_limited', { 'retry-after': '0' }), dropConnection, accepted]);
    const client = new TalkieClient({ baseUrl: server.url, ...fast });
    await client.submit(VIDEO, { filename: 'a.webm', idempotencyKey: 'my-key-1' });
    expect(server.requests.map((r) => r.headers['idempotency-key'])).toEqual(['my-key-1', 'my-key-1', 'my-key-1']);
  });

  it('uses a new key for each call', async () => {
    const server = await serve([accepted]);
    const client = new TalkieClient({ baseUrl: server.url });
    await client.submit(VIDEO, { filename: 'a.mp4' });
    await client.submit(VIDEO, { filename: 'a.mp4' });
    const [a, b] = server.requests.map((r) => r.headers['idempotency-key']);
    expect(a).not.toBe(b);
  });

  it('gives up after maxRetries and throws the last answer', async () => {
    const server = await serve([error(503, 'service_unavailable', { 'retry-after': '0' })]);
    const client = new TalkieClient({ baseUrl: server.url, maxRetries: 2, ...fast });
    const err = await client.submit(VIDEO, { filename: 'a.mp4' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TalkieApiError);
    expect(err).toMatchObject({ status: 503, code: 'service_unavailable', retryAfterS: 0, requestId: 'req-service_unavailable' });
    expect(server.requests).toHaveLength(3);
  });

  it('does not wait for a Retry-After beyond maxRetryAfterS', async () => {
    const server = await serve([error(429, 'too_many_jobs', { 'retry-after': '120' }), accepted]);
    const client = new TalkieClient({ baseUrl: server.url, maxRetryAfterS: 30 });
    await expect(client.submit(VIDEO, { filename: 'a.mp4' })).rejects.toMatchObject({ status: 429, code: 'too_many_jobs', retryAfterS: 120 });
    expect(server.requests).toHaveLength(1);
  });

  it('never retries a client error', async () => {
    const server = await serve([error(415, 'unsupported_media_type'), accepted]);
    const client = new TalkieClient({ baseUrl: server.url, ...fast });
    const err = (await client.submit(VIDEO, { filename: 'a.mp4' }).catch((e: unknown) => e)) as TalkieApiError;
    expect(err).toBeInstanceOf(TalkieApiError);
    expect(err).toMatchObject({ status: 415, code: 'unsupported_media_type', message: 'unsupported_media_type message' });
    expect(err.retryAfterS).toBeUndefined();
    expect(server.requests).toHaveLength(1);
  });

  it('turns a server that cannot be reached into a TalkieConnectionError', async () => {
    const server = await serve([accepted]);
    await server.close();
    const client = new TalkieClient({ baseUrl: server.url, maxRetries: 1, ...fast });
    await expect(client.get(job().id)).rejects.toBeInstanceOf(TalkieConnectionError);
  });

  it('stops waiting when the signal aborts', async () => {
    const server = await serve([error(503, 'queue_full', { 'retry-after': '30' })]);
    const client = new TalkieClient({ baseUrl: server.url });
    const started = Date.now();
    await expect(client.submit(VIDEO, { filename: 'a.mp4', signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reads a non-JSON error answer as http_<status>', async () => {
    const server = await serve([
      (_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html', 'x-request-id': 'proxy-1' });
        res.end('<h1>Bad gateway</h1>');
      },
    ]);
    const client = new TalkieClient({ baseUrl: server.url, maxRetries: 0 });
    await expect(client.get(job().id)).rejects.toMatchObject({ status: 502, code: 'http_502', requestId: 'proxy-1' });
  });
});

describe('TalkieClient.submit: inputs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-client-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('streams a file from disk under its own name, with the webhook URL', async () => {
    const file = path.join(dir, 'Holiday Clip.MOV');
    await writeFile(file, VIDEO);
    const server = await serve([accepted]);
    await new TalkieClient({ baseUrl: server.url, apiKey: 'key-1' }).submit(file, { webhookUrl: 'https://example.com/hook' });
    const [r] = server.requests;
    expect(r.headers['x-api-key']).toBe('key-1');
    expect(r.headers.authorization).toBeUndefined();
    const body = r.body.toString('latin1');
    expect(body).toContain('name="video"; filename="Holiday Clip.MOV"');
    expect(body).toMatch(/name="webhook_url"\r\n\r\nhttps:\/\/example\.com\/hook\r\n/);
    expect(r.body.includes(VIDEO)).toBe(true);
    // no `correct` field unless asked: the tenant's default applies
    expect(body).not.toContain('name="correct"');
  });

  it('sends correct=true or correct=false when the caller chooses', async () => {
    const server = await serve([accepted, accepted]);
    const client = new TalkieClient({ baseUrl: server.url, apiKey: 'key-1' });
    await client.submit(VIDEO, { filename: 'a.mp4', correct: true });
    await client.submit(VIDEO, { filename: 'b.mp4', correct: false });
    expect(server.requests[0].body.toString('latin1')).toMatch(/name="correct"\r\n\r\ntrue\r\n/);
    expect(server.requests[1].body.toString('latin1')).toMatch(/name="correct"\r\n\r\nfalse\r\n/);
  });

  it('sends alternatives and face only when asked (issue 17)', async () => {
    const server = await serve([accepted, accepted, accepted]);
    const client = new TalkieClient({ baseUrl: server.url, apiKey: 'key-1' });
    await client.submit(VIDEO, { filename: 'a.mp4', alternatives: 3, face: 'all' });
    await client.submit(VIDEO, { filename: 'b.mp4', face: 1 });
    await client.submit(VIDEO, { filename: 'c.mp4' });
    const [all, one, plain] = server.requests.map((r) => r.body.toString('latin1'));
    expect(all).toMatch(/name="alternatives"\r\n\r\n3\r\n/);
    expect(all).toMatch(/name="face"\r\n\r\nall\r\n/);
    expect(one).toMatch(/name="face"\r\n\r\n1\r\n/);
    expect(one).not.toContain('name="alternatives"');
    expect(plain).not.toMatch(/name="(alternatives|face)"/);
  });

  it('reads Node and web streams (so that a retry can send them again)', async () => {
    const server = await serve([dropConnection, accepted]);
    const client = new TalkieClient({ baseUrl: server.url, ...fast });
    await client.submit(Readable.from([VIDEO.subarray(0, 5), VIDEO.subarray(5)]), { filename: 'n.mkv' });
    const web = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(VIDEO));
        c.close();
      },
    });
    await client.submit(web, { filename: 'w.avi' });
    expect(server.requests).toHaveLength(3);
    for (const r of server.requests) expect(r.body.includes(VIDEO)).toBe(true);
    expect(server.requests[1].body.toString('latin1')).toContain('filename="n.mkv"');
    expect(server.requests[2].body.toString('latin1')).toContain('filename="w.avi"');
  });

  it('needs a file name with an allowed extension for bytes and streams', async () => {
    const client = new TalkieClient({ baseUrl: 'http://127.0.0.1:9' });
    await expect(client.submit(VIDEO)).rejects.toThrow(/needs options.filename/);
    await expect(client.submit(new Uint8Array(VIDEO), { filename: 'clip.gif' })).rejects.toThrow(/\.mp4 \.mov \.webm \.mkv \.avi/);
    await expect(client.submit(path.join(dir, 'notes.txt'))).rejects.toThrow(TypeError);
  });
});

describe('TalkieClient: other calls', () => {
  it('sends a User-Agent, lists with query parameters, and follows cursors in listAll', async () => {
    const a = job({ id: '11111111-1111-4111-8111-111111111111' });
    const b = job({ id: '22222222-2222-4222-8222-222222222222' });
    const c = job({ id: '33333333-3333-4333-8333-333333333333' });
    const server = await serve([
      (_r, res) => sendJson(res, 200, { data: [a, b], next_cursor: 'c1' }),
      (_r, res) => sendJson(res, 200, { data: [c], next_cursor: null }),
    ]);
    const client = new TalkieClient({ baseUrl: `${server.url}/`, userAgent: 'test-agent/1' });
    const seen: string[] = [];
    for await (const j of client.listAll({ status: 'queued', limit: 2 })) seen.push(j.id);
    expect(seen).toEqual([a.id, b.id, c.id]);
    expect(server.requests.map((r) => r.url)).toEqual(['/v1/jobs?status=queued&limit=2', '/v1/jobs?status=queued&limit=2&cursor=c1']);
    expect(server.requests[0].headers['user-agent']).toBe('test-agent/1');
  });

  it('cancel: the canceled job on 200, null on 204; not retried after a dropped connection', async () => {
    const server = await serve([(_r, res) => sendJson(res, 200, job({ status: 'canceled' })), (_r, res) => void res.writeHead(204).end(), dropConnection]);
    const client = new TalkieClient({ baseUrl: server.url, ...fast });
    expect(await client.cancel(job().id)).toMatchObject({ status: 'canceled' });
    expect(await client.cancel(job().id)).toBeNull();
    await expect(client.cancel(job().id)).rejects.toBeInstanceOf(TalkieConnectionError);
    expect(server.requests.map((r) => r.method)).toEqual(['DELETE', 'DELETE', 'DELETE']);
  });

  it('result: data for json, text for captions', async () => {
    const transcript = { text: 'HI', segments: [], duration_s: 1, frames: 25, model: { name: 'm', version: '1' } };
    const server = await serve([
      (_r, res) => sendJson(res, 200, transcript),
      (_r, res) => {
        res.writeHead(200, { 'content-type': 'text/vtt' });
        res.end('WEBVTT\n\n');
      },
    ]);
    const client = new TalkieClient({ baseUrl: server.url });
    expect(await client.result(job().id)).toEqual(transcript);
    expect(await client.result(job().id, 'vtt')).toBe('WEBVTT\n\n');
    expect(server.requests.map((r) => r.url)).toEqual([`/v1/jobs/${job().id}/result?format=json`, `/v1/jobs/${job().id}/result?format=vtt`]);
  });

  it('deliveries and rotateWebhookSecret', async () => {
    const attempt = { delivery_id: 'msg_x', event_type: 'job.completed', attempt: 1, at: '2026-01-01T00:00:00.000Z', outcome: 'delivered', status_code: 200, duration_ms: 12 };
    const server = await serve([(_r, res) => sendJson(res, 200, { data: [attempt] }), (_r, res) => sendJson(res, 201, { secret: 'whsec_abc', previous_secret_valid_for_s: 86400 })]);
    const client = new TalkieClient({ baseUrl: server.url });
    expect(await client.deliveries(job().id)).toEqual([attempt]);
    expect(await client.rotateWebhookSecret()).toEqual({ secret: 'whsec_abc', previous_secret_valid_for_s: 86400 });
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`GET /v1/jobs/${job().id}/deliveries`, 'POST /v1/webhooks/secret']);
  });
});

describe('TalkieClient.wait', () => {
  it('polls with growing delays until the job is terminal, reporting each change', async () => {
    const server = await serve([
      (_r, res) => sendJson(res, 200, job()),
      (_r, res) => sendJson(res, 200, job({ status: 'processing', progress: 40 })),
      (_r, res) => sendJson(res, 200, job({ status: 'processing', progress: 40 })),
      (_r, res) => sendJson(res, 200, job({ status: 'completed', progress: 100 })),
    ]);
    const progress: string[] = [];
    const done = await new TalkieClient({ baseUrl: server.url }).wait(job().id, { onProgress: (j) => progress.push(`${j.status}:${j.progress}`) });
    expect(done.status).toBe('completed');
    expect(progress).toEqual(['queued:0', 'processing:40', 'completed:100']);
    const gaps = server.requests.slice(1).map((r, i) => r.at - server.requests[i].at);
    // 250 ms, 500 ms, 1 s, each with up to half of it random
    expect(gaps[0]).toBeGreaterThanOrEqual(120);
    expect(gaps[1]).toBeGreaterThanOrEqual(245);
    expect(gaps[2]).toBeGreaterThanOrEqual(495);
    expect(gaps[2]).toBeLessThan(1_500);
  });

  it('throws a TalkieTimeoutError after timeoutMs', async () => {
    const server = await serve([(_r, res) => sendJson(res, 200, job({ status: 'processing', progress: 10 }))]);
    const started = Date.now();
    await expect(new TalkieClient({ baseUrl: server.url }).wait(job().id, { timeoutMs: 600 })).rejects.toBeInstanceOf(TalkieTimeoutError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('passes API errors through (an unknown job)', async () => {
    const server = await serve([error(404, 'not_found')]);
    await expect(new TalkieClient({ baseUrl: server.url }).wait(job().id, { mode: 'sse' })).rejects.toMatchObject({ status: 404, code: 'not_found' });
  });

  const sse = (events: Array<Record<string, unknown> | string>, end = true): Handler => async (_r, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let id = 0;
    for (const e of events) {
      const text = typeof e === 'string' ? e : `id: ${++id}\nevent: status\ndata: ${JSON.stringify(e)}\n\n`;
      // cut every event in two, to exercise the parser across chunks
      const mid = Math.floor(text.length / 2);
      res.write(text.slice(0, mid));
      await new Promise((r) => setTimeout(r, 5));
      res.write(text.slice(mid));
    }
    if (end) res.end();
  };

  it('follows the event stream to the terminal event', async () => {
    const server = await serve([
      sse([job(), ': keep-alive\n\n', job({ status: 'processing', progress: 50 }), job({ status: 'completed', progress: 100, result: { text: 'HI' } })]),
    ]);
    const progress: string[] = [];
    const done = await new TalkieClient({ baseUrl: server.url }).wait(job().id, { mode: 'sse', onProgress: (j) => progress.push(`${j.status}:${j.progress}`) });
    expect(done).toMatchObject({ status: 'completed', result: { text: 'HI' } });
    expect(progress).toEqual(['queued:0', 'processing:50', 'completed:100']);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0].url).toBe(`/v1/jobs/${job().id}/events`);
    expect(server.requests[0].headers.accept).toBe('text/event-stream');
  });

  it('reads the job and reopens the stream when it closes before the end', async () => {
    const server = await serve([
      sse([job()]), // closes early
      (_r, res) => sendJson(res, 200, job({ status: 'processing', progress: 20 })),
      sse([job({ status: 'processing', progress: 20 }), job({ status: 'failed', progress: 20, error: { code: 'decode_failed', message: 'x' } })]),
    ]);
    const done = await new TalkieClient({ baseUrl: server.url }).wait(job().id, { mode: 'sse' });
    expect(done).toMatchObject({ status: 'failed', error: { code: 'decode_failed' } });
    expect(server.requests.map((r) => r.url)).toEqual([`/v1/jobs/${job().id}/events`, `/v1/jobs/${job().id}`, `/v1/jobs/${job().id}/events`]);
  });

  it('reads the job at once when the event stream connection fails, and returns if it is terminal', async () => {
    const server = await serve([dropConnection, (_r, res) => sendJson(res, 200, job({ status: 'canceled' }))]);
    const started = Date.now();
    const done = await new TalkieClient({ baseUrl: server.url }).wait(job().id, { mode: 'sse' });
    expect(done.status).toBe('canceled');
    expect(Date.now() - started).toBeLessThan(200);
    expect(server.requests.map((r) => r.url)).toEqual([`/v1/jobs/${job().id}/events`, `/v1/jobs/${job().id}`]);
  });

  it('retries the event stream after a 503 with Retry-After', async () => {
    const server = await serve([error(503, 'service_unavailable', { 'retry-after': '0' }), sse([job({ status: 'completed', progress: 100 })])]);
    expect(await new TalkieClient({ baseUrl: server.url }).wait(job().id, { mode: 'sse' })).toMatchObject({ status: 'completed' });
    expect(server.requests).toHaveLength(2);
  });

  it('times out on a stream that never ends', async () => {
    const server = await serve([sse([job({ status: 'processing', progress: 1 })], false)]);
    await expect(new TalkieClient({ baseUrl: server.url }).wait(job().id, { mode: 'sse', timeoutMs: 400 })).rejects.toBeInstanceOf(TalkieTimeoutError);
  });
});
