import { readFile } from 'node:fs/promises';
import { getJob, submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { startStack, type Stack } from './support/stack';

/** What integrators rely on beyond submit/poll: listing, result formats, SSE, idempotency, cancel. */
describe('job lifecycle', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ name: 'lifecycle', workerEnv: { INTRA_OP_THREADS: '1' } });
  }, 60_000);
  afterAll(() => stack?.stop());

  const auth = (sub = 'alice') => ({ authorization: `Bearer ${stack.token(sub)}` });
  const post = async (file: string, headers: Record<string, string>, fields: Record<string, string> = {}) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('video', new Blob([await readFile(file)]), 'clip.mp4');
    const res = await fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', headers, body: form });
    return { status: res.status, headers: res.headers, body: (await res.json()) as { id: string; status: string; error?: { code: string } } };
  };

  it('serves the transcript as JSON, text, SRT and WebVTT', async () => {
    const video = await fixture('CAPTION THIS');
    const created = await submit(stack.baseUrl, stack.token('alice'), video.file);
    await waitForJob(stack.baseUrl, stack.token('alice'), created.body.id);
    const get = (format: string) => fetch(`${stack.baseUrl}/v1/jobs/${created.body.id}/result?format=${format}`, { headers: auth() });

    const json = await get('json');
    expect(await json.json()).toMatchObject({ text: 'CAPTION THIS', segments: [{ text: 'CAPTION' }, { text: 'THIS' }] });
    const txt = await get('txt');
    expect(txt.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await txt.text()).toBe('CAPTION THIS\n');
    const [w1, w2] = video.words;
    const srt = await (await get('srt')).text();
    expect(srt).toMatch(/^1\n00:00:0\d,\d{3} --> 00:00:0\d,\d{3}\nCAPTION THIS\n$/);
    // the cue spans the words, within the 0.1 s the spine promises
    const [, start, end] = /^1\n(\S+) --> (\S+)/.exec(srt)!;
    const seconds = (t: string) => Number(t.slice(6).replace(',', '.'));
    expect(Math.abs(seconds(start) - w1.start)).toBeLessThanOrEqual(0.1);
    expect(Math.abs(seconds(end) - w2.end)).toBeLessThanOrEqual(0.1);
    const vtt = await (await get('vtt')).text();
    expect(vtt.startsWith('WEBVTT\n\n')).toBe(true);
    expect(vtt).toContain('CAPTION THIS');
    expect((await get('docx')).status).toBe(400);
    expect((await fetch(`${stack.baseUrl}/v1/jobs/${created.body.id}/result`, { headers: auth('mallory') })).status).toBe(404);
  });

  it('lists a tenant’s jobs newest first, with a cursor, a status filter and a capped limit', async () => {
    const video = await fixture('LIST ME');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit(stack.baseUrl, stack.token('lister'), video.file)).body.id);
    for (const id of ids) await waitForJob(stack.baseUrl, stack.token('lister'), id);
    const page = async (query: string) => (await fetch(`${stack.baseUrl}/v1/jobs?${query}`, { headers: auth('lister') })).json() as Promise<{ data: Array<{ id: string; status: string }>; next_cursor: string | null }>;

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const p = await page(`limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(p.data.length).toBeLessThanOrEqual(2);
      seen.push(...p.data.map((j) => j.id));
      cursor = p.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expect((await page('status=completed&limit=100')).data).toHaveLength(5);
    expect((await page('status=failed')).data).toHaveLength(0);
    expect((await fetch(`${stack.baseUrl}/v1/jobs?limit=101`, { headers: auth('lister') })).status).toBe(400);
    expect((await fetch(`${stack.baseUrl}/v1/jobs?cursor=garbage`, { headers: auth('lister') })).status).toBe(400);
    // other tenants see none of them
    expect((await page('limit=100')).data.every((j) => ids.includes(j.id))).toBe(true);
    expect(((await (await fetch(`${stack.baseUrl}/v1/jobs`, { headers: auth('someone-else') })).json()) as { data: unknown[] }).data).toEqual([]);
  });

  it('streams status and progress as Server-Sent Events and closes at the terminal state', async () => {
    // long enough that decoding spans several of the worker's progress intervals (250 ms each)
    const video = await fixture('STREAM ME', { padSeconds: 100 });
    const created = await submit(stack.baseUrl, stack.token('alice'), video.file);
    const res = await fetch(`${stack.baseUrl}/v1/jobs/${created.body.id}/events`, { headers: auth() });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text(); // ends when the server closes the stream
    const events = text
      .split('\n\n')
      .filter((block) => block.includes('event: status'))
      .map((block) => JSON.parse(/data: (.*)/.exec(block)![1]) as { status: string; progress: number; result?: { text: string } });
    expect(events[0].status).toMatch(/queued|processing/);
    const last = events[events.length - 1];
    expect(last.status).toBe('completed');
    expect(last.result?.text).toBe('STREAM ME');
    const progress = events.map((e) => e.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(progress.some((p) => p > 0 && p < 100)).toBe(true);
  }, 60_000);

  it('returns the original job for a repeated Idempotency-Key, and 409 for the same key with another file', async () => {
    const a = await fixture('FIRST TRY');
    const b = await fixture('OTHER FILE');
    const headers = { ...auth(), 'idempotency-key': 'order-42' };
    const first = await post(a.file, headers);
    expect(first.status).toBe(202);
    const again = await post(a.file, headers);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const conflict = await post(b.file, headers);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error?.code).toBe('idempotency_conflict');
    // keys are per tenant
    const otherTenant = await post(a.file, { ...auth('bob'), 'idempotency-key': 'order-42' });
    expect(otherTenant.status).toBe(202);
    expect(otherTenant.body.id).not.toBe(first.body.id);
    expect((await waitForJob(stack.baseUrl, stack.token('alice'), first.body.id)).result?.text).toBe('FIRST TRY');
  });

  it('cancels a processing job: the worker stops, the upload is gone, the next job still runs', async () => {
    const long = await fixture('CANCEL ME', { padSeconds: 100 });
    const created = await submit(stack.baseUrl, stack.token('alice'), long.file);
    // wait until the worker has it
    for (;;) {
      const { body } = await getJob(stack.baseUrl, stack.token('alice'), created.body.id);
      if (body.status === 'processing') break;
      expect(body.status).toBe('queued');
      await new Promise((r) => setTimeout(r, 20));
    }
    const del = await fetch(`${stack.baseUrl}/v1/jobs/${created.body.id}`, { method: 'DELETE', headers: auth() });
    expect(del.status).toBe(200);
    expect(((await del.json()) as { status: string }).status).toBe('canceled');
    const next = await submit(stack.baseUrl, stack.token('alice'), (await fixture('AFTER CANCEL')).file);
    expect((await waitForJob(stack.baseUrl, stack.token('alice'), next.body.id)).result?.text).toBe('AFTER CANCEL');
    const canceled = await getJob(stack.baseUrl, stack.token('alice'), created.body.id);
    expect(canceled.body.status).toBe('canceled');
    expect(canceled.body.result).toBeUndefined();
    const log = await readFile(stack.logFile('worker-1'), 'utf8');
    expect(log).toContain('job canceled while processing: stopped');
  }, 60_000);
});
