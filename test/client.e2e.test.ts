import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { JobResource, TranscriptResult, WebhookEvent, type JobResource as Job } from '@talkie/contracts';
import { readSse, TalkieApiError, TalkieClient, verifyWebhook, WebhookVerificationError } from '@talkie/client';
import { signatureHeaders } from '@talkie/webhooks';
import { fixture } from './support/fixtures';
import { ROOT, startStack, type Stack } from './support/stack';

/**
 * `@talkie/client` and the `talkie` CLI against the real gateway (and a real worker): every route
 * the client wraps, through the client's own code, and the built CLI as a user would run it.
 */
const CLI = path.join(ROOT, 'packages', 'client', 'dist', 'cli.js');
const TEXT = 'HELLO CLIENT';

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A client whose raw answers (status, headers) the test can look at. */
function recordingClient(stack: Stack, tenant: string) {
  const answers: Array<{ method: string; url: string; status: number; headers: Headers }> = [];
  const client = new TalkieClient({
    baseUrl: stack.baseUrl,
    token: stack.token(tenant),
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      answers.push({ method: init?.method ?? 'GET', url: String(input), status: res.status, headers: res.headers });
      return res;
    },
  });
  return { client, answers };
}

const clock = (seconds: number, sep: string) => {
  const ms = Math.round(seconds * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}${sep}${pad(ms % 1000, 3)}`;
};

describe('client e2e: the API surface (no workers, so jobs stay queued)', () => {
  let stack: Stack;
  let video: string;
  beforeAll(async () => {
    [stack, video] = await Promise.all([startStack({ name: 'client-api', workers: 0 }), fixture(TEXT).then((f) => f.file)]);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('lists newest first, page by page, following next_cursor; listAll walks every page', async () => {
    const client = new TalkieClient({ baseUrl: stack.baseUrl, token: stack.token(`lister-${randomUUID()}`) });
    const submitted: Job[] = [];
    for (let i = 0; i < 3; i++) {
      submitted.push(await client.submit(video));
      await new Promise((r) => setTimeout(r, 5)); // distinct created_at
    }
    for (const job of submitted) expect(JobResource.parse(job)).toMatchObject({ status: 'queued', progress: 0 });
    const newestFirst = submitted.map((j) => j.id).reverse();

    const first = await client.list({ limit: 2 });
    expect(first.data.map((j) => j.id)).toEqual(newestFirst.slice(0, 2));
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await client.list({ limit: 2, cursor: first.next_cursor! });
    expect(second.data.map((j) => j.id)).toEqual(newestFirst.slice(2));
    expect(second.next_cursor).toBeNull();
    for (const job of [...first.data, ...second.data]) JobResource.parse(job);

    const all: string[] = [];
    for await (const job of client.listAll({ limit: 2 })) all.push(job.id);
    expect(all).toEqual(newestFirst);
    expect((await client.list({ status: 'queued' })).data).toHaveLength(3);
    expect(await client.list({ status: 'completed' })).toEqual({ data: [], next_cursor: null });

    await expect(client.list({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ status: 400, code: 'invalid_request' });
  });

  it('submits idempotently: the same key twice gives the same job, the second answer is 200; another file is a conflict', async () => {
    const { client, answers } = recordingClient(stack, `idem-${randomUUID()}`);
    const key = `key-${randomUUID()}`;
    const a = await client.submit(video, { idempotencyKey: key });
    const b = await client.submit(video, { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    expect(answers.map((x) => x.status)).toEqual([202, 200]);
    expect(answers[0].headers.get('location')).toBe(`/v1/jobs/${a.id}`);
    expect(answers[1].headers.get('idempotent-replayed')).toBe('true');
    expect((await client.list()).data.map((j) => j.id)).toEqual([a.id]);

    const other = await fixture('ANOTHER CLIP');
    const conflict = (await client.submit(other.file, { idempotencyKey: key }).catch((e: unknown) => e)) as TalkieApiError;
    expect(conflict).toBeInstanceOf(TalkieApiError);
    expect(conflict).toMatchObject({ status: 409, code: 'idempotency_conflict', requestId: expect.any(String) });

    // without a key of its own, each call is a new job (a fresh random key)
    const c = await client.submit(video);
    expect(c.id).not.toBe(a.id);
  });

  it('cancels a queued job (200, canceled), deletes a finished one (204 → null), then it is gone', async () => {
    const client = new TalkieClient({ baseUrl: stack.baseUrl, token: stack.token(`cancel-${randomUUID()}`) });
    const job = await client.submit(video);
    const canceled = await client.cancel(job.id);
    expect(JobResource.parse(canceled)).toMatchObject({ id: job.id, status: 'canceled' });
    expect(await client.get(job.id)).toMatchObject({ status: 'canceled' });
    // a canceled job is terminal: `wait` returns at once, by either mode
    expect(await client.wait(job.id, { mode: 'poll', timeoutMs: 5_000 })).toMatchObject({ status: 'canceled' });
    expect(await client.wait(job.id, { mode: 'sse', timeoutMs: 5_000 })).toMatchObject({ status: 'canceled' });
    await expect(client.result(job.id)).rejects.toMatchObject({ status: 409, code: 'result_not_ready' });

    expect(await client.cancel(job.id)).toBeNull();
    await expect(client.get(job.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(client.cancel(job.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
  });

  it('the event stream of a job that is already terminal holds one status event, then closes', async () => {
    const token = stack.token(`sse-${randomUUID()}`);
    const client = new TalkieClient({ baseUrl: stack.baseUrl, token });
    const job = await client.submit(video);
    const canceled = await client.cancel(job.id);
    // raw, so that the client's fallback (read the job when the stream fails) cannot hide a failure
    const res = await fetch(`${stack.baseUrl}/v1/jobs/${job.id}/events`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = [];
    for await (const event of readSse(res.body!)) events.push(event);
    expect(events).toEqual([{ event: 'status', id: '1', data: expect.any(String) }]);
    expect(JSON.parse(events[0].data)).toEqual(canceled);
  });

  it('reports API errors with their code, message and request id', async () => {
    const client = new TalkieClient({ baseUrl: stack.baseUrl, token: stack.token(`errors-${randomUUID()}`) });
    const missing = (await client.get(randomUUID()).catch((e: unknown) => e)) as TalkieApiError;
    expect(missing).toBeInstanceOf(TalkieApiError);
    expect(missing).toMatchObject({ status: 404, code: 'not_found', message: 'No such resource.', requestId: expect.stringMatching(/.+/) });
    const queued = await client.submit(video);
    await expect(client.result(queued.id, 'srt')).rejects.toMatchObject({ status: 409, code: 'result_not_ready' });
    await expect(client.wait(randomUUID(), { mode: 'sse' })).rejects.toMatchObject({ status: 404, code: 'not_found' });

    const anonymous = new TalkieClient({ baseUrl: stack.baseUrl });
    await expect(anonymous.get(queued.id)).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    const readOnly = new TalkieClient({ baseUrl: stack.baseUrl, token: stack.token('reader', { scope: 'jobs:read' }) });
    await expect(readOnly.submit(video)).rejects.toMatchObject({ status: 403, code: 'forbidden' });
  });

  it("rotates the webhook secret; events signed by Talkie's signer verify with either secret of the rotation", async () => {
    const client = new TalkieClient({ baseUrl: stack.baseUrl, token: stack.token(`hooks-${randomUUID()}`) });
    const first = await client.rotateWebhookSecret();
    const second = await client.rotateWebhookSecret();
    expect(first.secret).toMatch(/^whsec_/);
    expect(second.secret).toMatch(/^whsec_/);
    expect(second.secret).not.toBe(first.secret);
    expect(second.previous_secret_valid_for_s).toBeGreaterThan(0);

    const job = await client.submit(video);
    expect(await client.deliveries(job.id)).toEqual([]);
    const canceled = (await client.cancel(job.id))!;
    const body = JSON.stringify({ type: 'job.canceled', timestamp: new Date().toISOString(), data: canceled });
    const headers = signatureHeaders(`msg_${job.id.replace(/-/g, '')}_canceled`, new Date(), body, [second.secret, first.secret]);
    expect(WebhookEvent.parse(verifyWebhook(headers, body, first.secret))).toMatchObject({ type: 'job.canceled', data: { id: job.id } });
    expect(verifyWebhook(headers, Buffer.from(body), [second.secret]).data.status).toBe('canceled');
    expect(() => verifyWebhook(headers, body.replace('canceled', 'completed'), [first.secret, second.secret])).toThrow(WebhookVerificationError);
  });

  it('CLI: list, get and cancel print JSON; bad credentials exit 1 with the error code', async () => {
    const env = { TALKIE_URL: stack.baseUrl, TALKIE_TOKEN: stack.token(`cli-${randomUUID()}`) };
    const submitted = await runCli(['submit', video], env);
    expect(submitted.code).toBe(0);
    const job = JobResource.parse(JSON.parse(submitted.stdout));

    const listed = await runCli(['list', '--status', 'queued'], env);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({ data: [expect.objectContaining({ id: job.id })], next_cursor: null });

    const got = await runCli(['get', job.id], env);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: job.id, status: 'queued' });

    const canceled = await runCli(['cancel', job.id], env);
    expect(canceled.code).toBe(0);
    expect(JSON.parse(canceled.stdout)).toMatchObject({ id: job.id, status: 'canceled' });

    const unauthorized = await runCli(['get', job.id], { TALKIE_URL: stack.baseUrl, TALKIE_TOKEN: 'not-a-jwt' });
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stdout).toBe('');
    expect(unauthorized.stderr).toMatch(/^talkie: error unauthorized \(HTTP 401\)/);

    const missing = await runCli(['result', randomUUID()], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error not_found');
  });
});

describe('client e2e: transcription (one worker)', () => {
  let stack: Stack;
  let video: string;
  let client: TalkieClient;
  let token: string;
  beforeAll(async () => {
    [stack, video] = await Promise.all([startStack({ name: 'client-transcribe', workers: 1 }), fixture(TEXT).then((f) => f.file)]);
    token = stack.token(`transcribe-${randomUUID()}`);
    client = new TalkieClient({ baseUrl: stack.baseUrl, token });
  }, 120_000);
  afterAll(() => stack?.stop());

  it('submit → wait (poll) → the exact transcript, and the result as json, txt, srt and vtt', async () => {
    const job = await client.submit(video);
    const seen: string[] = [];
    const done = await client.wait(job.id, { mode: 'poll', timeoutMs: 60_000, onProgress: (j) => seen.push(j.status) });
    expect(JobResource.parse(done)).toMatchObject({ id: job.id, status: 'completed', progress: 100 });
    expect(done.result!.text).toBe(TEXT);
    expect(seen[0]).toMatch(/queued|processing|completed/);
    expect(seen.at(-1)).toBe('completed');

    const json = await client.result(job.id, 'json');
    expect(TranscriptResult.parse(json)).toEqual(done.result);
    expect(await client.result(job.id)).toEqual(json);
    expect(await client.result(job.id, 'txt')).toBe(`${TEXT}\n`);

    const words = json.segments;
    expect(words.map((s) => s.text)).toEqual(TEXT.split(' '));
    // the demo fixture's two words are close together: one caption cue
    const start = words[0].start;
    const end = words.at(-1)!.end;
    expect(await client.result(job.id, 'srt')).toBe(`1\n${clock(start, ',')} --> ${clock(end, ',')}\n${TEXT}\n`);
    // issue 17: the demo model's warning and the cue's confidence ride along as NOTE blocks, which players skip
    const confidence = Math.min(...words.map((w) => w.confidence!)).toFixed(2);
    expect(await client.result(job.id, 'vtt')).toBe(
      `WEBVTT\n\nNOTE warnings\ndemo_model: ${json.warnings![0].message}\n\nNOTE confidence ${confidence}\n\n${clock(start, '.')} --> ${clock(end, '.')}\n${TEXT}\n`,
    );
  });

  it('submit → wait (sse): status events up to the terminal one, with the transcript', async () => {
    const job = await client.submit(video);
    const seen: Job[] = [];
    const done = await client.wait(job.id, { mode: 'sse', timeoutMs: 60_000, onProgress: (j) => seen.push(JobResource.parse(j)) });
    expect(done).toMatchObject({ id: job.id, status: 'completed', progress: 100, result: { text: TEXT } });
    expect(seen.at(-1)).toEqual(done);
    const progress = seen.map((j) => j.progress);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress); // never goes back
    // a finished job's stream holds one event and closes
    expect(await client.wait(job.id, { mode: 'sse', timeoutMs: 5_000 })).toEqual(done);
  });

  it('CLI: submit --wait prints the transcript and exits 0; --format vtt with --sse', async () => {
    const env = { TALKIE_URL: stack.baseUrl, TALKIE_TOKEN: token };
    const txt = await runCli(['submit', video, '--wait'], env);
    expect(txt).toMatchObject({ code: 0, stdout: `${TEXT}\n` });
    expect(txt.stderr).toMatch(/job [0-9a-f-]{36}: completed/);

    const vtt = await runCli(['submit', video, '--wait', '--sse', '--format', 'vtt', '--quiet'], env);
    expect(vtt.code).toBe(0);
    expect(vtt.stdout).toMatch(
      new RegExp(`^WEBVTT\\n\\nNOTE warnings\\ndemo_model: [^\\n]+\\n\\nNOTE confidence [01]\\.\\d\\d\\n\\n\\d\\d:\\d\\d:\\d\\d\\.\\d{3} --> \\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\n${TEXT}\\n$`),
    );
    // --quiet drops progress, not the result's warnings: the demo model says so on stderr
    expect(vtt.stderr).toMatch(/^talkie: warning demo_model: [^\n]+\n$/);

    const json = await runCli(['submit', video, '--wait', '--format', 'json', '--quiet'], env);
    expect(TranscriptResult.parse(JSON.parse(json.stdout)).text).toBe(TEXT);
  });

  it('CLI: a refused upload exits non-zero with the error code', async () => {
    const env = { TALKIE_URL: stack.baseUrl, TALKIE_TOKEN: token };
    const dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-client-e2e-'));
    try {
      // looks like MP4 to the gateway's sniffer, but its probe finds no readable video
      const broken = path.join(dir, 'broken.mp4');
      await writeFile(broken, Buffer.concat([Buffer.from('\0\0\0\x18ftypisom\0\0\x02\0isomiso2'), Buffer.alloc(4096, 7)]));
      const refused = await runCli(['submit', broken, '--wait'], env);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(/^talkie: error invalid_media \(HTTP 422\)/m);

      const text = path.join(dir, 'notes.mp4');
      await writeFile(text, 'just some text, not a video at all');
      const sniffed = await runCli(['submit', text], env);
      expect(sniffed.code).toBe(1);
      expect(sniffed.stderr).toMatch(/^talkie: error unsupported_media_type \(HTTP 415\)/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
