import { readFile } from 'node:fs/promises';
import type { JobResource } from '@talkie/contracts';
import { getJob, submit as submitFile, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { ANSWERS, startLlmServer, type LlmAnswer, type LlmRequest, type LlmServer } from './support/llm-server';
import { redisValues } from './support/redis-db';
import { startStack, waitUntil, type Stack } from './support/stack';
import { createWebhookSecret, listDeliveries, startReceiver, type Receiver } from './support/webhook-receiver';

/**
 * LLM correction end to end (issue 8): gateway, worker, postprocess service and webhook dispatcher
 * as separate processes on the real Redis; the LLM is a real OpenAI-compatible HTTP server on
 * loopback that answers, by transcript, schema-conformant JSON, malformed JSON (then plain text to
 * the fallback prompt), a slow answer (past LLM_TIMEOUT_MS) then a good one, 500s, and at the end
 * nothing at all (closed). The demo model reads each fixture video to its exact text.
 */

const KEY = `sk-talkie-e2e-${Math.random().toString(36).slice(2)}-secret`;
const FAST_RETRIES = { WEBHOOK_RETRY_SCHEDULE_MS: '200,400,800,1600' };
/** the slow case's retry is held until the test has looked at the job in the meantime */
let releaseSlow!: () => void;
const slowReleased = new Promise<void>((resolve) => (releaseSlow = resolve));
const json = (corrected_text: string, changes: Array<{ from: string; to: string }> = []): LlmAnswer => ({ content: JSON.stringify({ corrected_text, changes }) });

/** What the loopback LLM says to each transcript (and attempt, and mode). */
function answer(req: LlmRequest): LlmAnswer {
  switch (req.transcript) {
    case 'HELLO WORLD':
      return json('Hello, world.', [{ from: 'HELLO', to: 'Hello,' }, { from: 'WORLD', to: 'world.' }]);
    case 'GOOD MORNING': // malformed JSON to the schema request; the plain fallback gets text
      return req.mode === 'json_schema' ? { content: '{"corrected_text": "Good morn' } : { content: 'Good morning.' };
    case 'SLOW START': // the first answer would come long after LLM_TIMEOUT_MS; the retry gets one
      return req.attempt === 0 ? { ...json('Too late.'), delayMs: 30_000 } : { ...json('Slow start.'), hold: slowReleased };
    case 'SERVER ERROR': // two 500s, then an answer: the client's retries
      return req.attempt < 2 ? { status: 500 } : json('Server error.');
    case 'ALWAYS DOWN':
      return { status: 500 };
    case 'OTHER KEYS': // the schema's corrected_text beside other key names, and the same JSON to the plain prompt
      return ANSWERS.otherKeys('Other keys.', [{ from: 'OTHER', to: 'Other' }]);
    case 'JSON AGAIN': // JSON of another shape to the schema request, then JSON with the text to the plain prompt
      return req.mode === 'json_schema' ? ANSWERS.json({ list_of_changes: [], text: 'Json again.' }) : ANSWERS.fenced({ list_of_changes: [], corrected_text: 'Json again.' });
    case 'ONLY JSON': // JSON without a corrected_text, whatever it is asked
      return ANSWERS.json({ list_of_changes: [{ from: 'ONLY', to: 'Only' }], text: 'Only json.' });
    default:
      return json(req.transcript.toLowerCase());
  }
}

describe('LLM transcript correction (postprocess service, loopback OpenAI-compatible server)', () => {
  let stack: Stack;
  let llm: LlmServer;
  let receiver: Receiver;
  let hookedJobId: string;

  beforeAll(async () => {
    llm = await startLlmServer(answer);
    receiver = await startReceiver();
    stack = await startStack({
      name: 'llm-correction',
      gatewayEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', CORRECTION_DEFAULT_TENANTS: 'defaulted', ...FAST_RETRIES },
      workerEnv: FAST_RETRIES,
      dispatcherEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', ...FAST_RETRIES },
      postprocessEnv: { LLM_BASE_URL: llm.baseURL, LLM_API_KEY: KEY, LLM_MODEL: 'test-model', LLM_TIMEOUT_MS: '4000', LLM_MAX_RETRIES: '2', ...FAST_RETRIES },
    });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
    await llm?.close();
  });

  const token = (tenant = 'alice') => stack.token(tenant);
  const submit = async (text: string, fields: Record<string, string> = {}, tenant = 'alice') => submitFile(stack.baseUrl, token(tenant), (await fixture(text)).file, { fields });
  const finished = (id: string, tenant = 'alice') => waitForJob(stack.baseUrl, token(tenant), id, 120_000);
  const resultAs = async (id: string, format: string) => (await fetch(`${stack.baseUrl}/v1/jobs/${id}/result?format=${format}`, { headers: { authorization: `Bearer ${token()}` } })).text();

  it('corrects with schema-conformant JSON: exact corrected text and changes, raw text kept, captions corrected, one webhook at the end', async () => {
    // (throws unless 201)
    expect(await createWebhookSecret(stack.baseUrl, token())).toMatch(/^whsec_/);
    const created = await submit('HELLO WORLD', { correct: 'true', webhook_url: receiver.url });
    expect(created.status).toBe(202);
    expect(created.body.correction).toEqual({ status: 'pending' });
    hookedJobId = created.body.id;

    const job = await finished(hookedJobId);
    expect(job.status).toBe('completed');
    expect(job.result?.text).toBe('HELLO WORLD');
    expect(job.result?.corrected_text).toBe('Hello, world.');
    expect(job.correction).toEqual({ status: 'completed', changes: [{ from: 'HELLO', to: 'Hello,' }, { from: 'WORLD', to: 'world.' }], model: 'test-model' });
    expect(await resultAs(hookedJobId, 'txt')).toBe('Hello, world.\n');
    expect(await resultAs(hookedJobId, 'srt')).toMatch(/^1\n00:00:0\d,\d{3} --> 00:00:0\d,\d{3}\nHello, world\.\n$/);
    const data = JSON.parse(await resultAs(hookedJobId, 'json'));
    expect([data.text, data.corrected_text]).toEqual(['HELLO WORLD', 'Hello, world.']);

    // the request really used the key, asked for strict JSON-schema output, and carried the raw text only
    const [req] = llm.requestsFor('HELLO WORLD');
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.body.model).toBe('test-model');
    expect(req.body.response_format).toMatchObject({ type: 'json_schema', json_schema: { strict: true } });

    // the webhook fired at the real end: its job is the corrected, completed one
    await waitUntil(async () => receiver.received.length >= 1, 'the webhook', 60_000);
    const event = JSON.parse(receiver.received[0].body) as { type: string; data: JobResource };
    expect(event.type).toBe('job.completed');
    expect(event.data).toMatchObject({ id: hookedJobId, status: 'completed', correction: { status: 'completed' }, result: { corrected_text: 'Hello, world.' } });
  }, 180_000);

  it('stays processing with correction pending while the LLM works, then retries a slow answer past the timeout', async () => {
    const created = await submit('SLOW START', { correct: '1' });
    await waitUntil(async () => llm.requestsFor('SLOW START').length >= 1, 'the first (slow) LLM request', 120_000);
    const during = (await getJob(stack.baseUrl, token(), created.body.id)).body;
    expect(during.status).toBe('processing');
    expect(during.correction).toEqual({ status: 'pending' });
    expect(during.result).toBeUndefined();
    releaseSlow();
    const job = await finished(created.body.id);
    expect(job.result?.corrected_text).toBe('Slow start.');
    expect(job.correction?.status).toBe('completed');
    // the first request timed out and was retried (more than once if this machine is very slow)
    const modes = llm.requestsFor('SLOW START').map((r) => r.mode);
    expect(modes.length).toBeGreaterThanOrEqual(2);
    expect(new Set(modes)).toEqual(new Set(['json_schema']));
  }, 180_000);

  it('falls back to a plain prompt when the JSON is malformed', async () => {
    const job = await finished((await submit('GOOD MORNING', { correct: 'true' })).body.id);
    expect(job.result?.text).toBe('GOOD MORNING');
    expect(job.result?.corrected_text).toBe('Good morning.');
    expect(job.correction).toEqual({ status: 'completed', model: 'test-model' }); // no change list from the fallback
    expect(llm.requestsFor('GOOD MORNING').map((r) => r.mode)).toEqual(['json_schema', 'plain']);
  }, 180_000);

  it("takes a JSON answer's corrected_text whatever its other keys, unwraps JSON from the plain prompt, and never stores JSON as the text", async () => {
    const [otherKeys, jsonAgain, onlyJson] = await Promise.all(['OTHER KEYS', 'JSON AGAIN', 'ONLY JSON'].map(async (text) => finished((await submit(text, { correct: 'true' })).body.id)));
    expect(otherKeys.result?.corrected_text).toBe('Other keys.');
    expect(otherKeys.correction).toEqual({ status: 'completed', model: 'test-model' });
    expect(llm.requestsFor('OTHER KEYS').map((r) => r.mode)).toEqual(['json_schema']);

    expect(jsonAgain.result?.corrected_text).toBe('Json again.');
    expect(llm.requestsFor('JSON AGAIN').map((r) => r.mode)).toEqual(['json_schema', 'plain']);

    expect(onlyJson.status).toBe('completed');
    expect(onlyJson.result?.text).toBe('ONLY JSON');
    expect(onlyJson.result).not.toHaveProperty('corrected_text');
    expect(onlyJson.correction).toEqual({ status: 'failed', reason: 'invalid_output', model: 'test-model' });
    expect(await resultAs(onlyJson.id, 'txt')).toBe('ONLY JSON\n');
    for (const job of [otherKeys, jsonAgain, onlyJson]) expect(job.result?.corrected_text ?? '').not.toMatch(/[{}]/);
  }, 180_000);

  it('retries 500s; when they never stop, the job still completes with the raw text and correction failed (llm_error)', async () => {
    const retried = await finished((await submit('SERVER ERROR', { correct: 'true' })).body.id);
    expect(retried.result?.corrected_text).toBe('Server error.');
    expect(llm.requestsFor('SERVER ERROR')).toHaveLength(3);

    const down = await finished((await submit('ALWAYS DOWN', { correct: 'true' })).body.id);
    expect(down.status).toBe('completed');
    expect(down.result?.text).toBe('ALWAYS DOWN');
    expect(down.result).not.toHaveProperty('corrected_text');
    expect(down.correction).toEqual({ status: 'failed', reason: 'llm_error', model: 'test-model' });
    expect(await resultAs(down.id, 'txt')).toBe('ALWAYS DOWN\n');
  }, 180_000);

  it("follows the tenant's default unless the submit says otherwise, and refuses a bad value", async () => {
    const defaulted = await submit('TENANT DEFAULT', {}, 'defaulted');
    expect(defaulted.body.correction).toEqual({ status: 'pending' });
    expect((await finished(defaulted.body.id, 'defaulted')).result?.corrected_text).toBe('tenant default');
    const optedOut = await submit('OPTED OUT', { correct: 'false' }, 'defaulted');
    const plain = await finished(optedOut.body.id, 'defaulted');
    expect(plain.result?.text).toBe('OPTED OUT');
    expect(plain).not.toHaveProperty('correction');
    expect(plain.result).not.toHaveProperty('corrected_text');
    expect(llm.requestsFor('OPTED OUT')).toHaveLength(0);
    // another tenant, no field: no correction
    expect((await submit('OPTED OUT')).body).not.toHaveProperty('correction');

    const bad = await submit('OPTED OUT', { correct: 'maybe' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('invalid_request');
    expect(bad.body.error?.message).toBe('correct must be true or false.');
  }, 180_000);

  it('when the LLM is unreachable, completes with the raw text and correction failed (unreachable)', async () => {
    await llm.close();
    const job = await finished((await submit('NOBODY HOME', { correct: 'true' })).body.id);
    expect(job.status).toBe('completed');
    expect(job.result?.text).toBe('NOBODY HOME');
    expect(job.correction).toEqual({ status: 'failed', reason: 'unreachable', model: 'test-model' });
  }, 180_000);

  it('sent one webhook for the hooked job, and keeps the API key out of every log and all job data', async () => {
    expect(receiver.received).toHaveLength(1);
    expect(await listDeliveries(stack.baseUrl, token(), hookedJobId)).toEqual([expect.objectContaining({ event_type: 'job.completed', attempt: 1, outcome: 'delivered' })]);

    const logs = await Promise.all(['gateway', 'worker-1', 'dispatcher', 'postprocess'].map((s) => readFile(stack.logFile(s), 'utf8')));
    const postprocessLog = logs[3];
    expect(postprocessLog).toContain('postprocess service ready');
    expect(postprocessLog).toContain('correction finished');
    for (const log of logs) expect(log).not.toContain(KEY);
    // nor transcripts, raw or corrected
    for (const text of ['HELLO WORLD', 'Hello, world.', 'Good morning.']) expect(postprocessLog).not.toContain(text);

    // every value of every key in this stack's Redis database: job records, queues, deliveries
    const stored = await redisValues(stack.redis);
    for (const [key, values] of stored) expect([key, values.some((v) => v.includes(KEY))]).toEqual([key, false]);
    expect(stored.size).toBeGreaterThan(10);
    // the job records themselves are there, with their correction (so the scan above saw them)
    expect(await stack.redis.hget(`talkie:job:${hookedJobId}`, 'correction')).toContain('"completed"');
  }, 60_000);

  it("counts each job's correction outcome in the postprocess service's metrics", async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${stack.workerPorts.at(-1)}/metrics`)).text();
    const count = (status: string, reason: string) =>
      Number(new RegExp(`^talkie_postprocess_corrections_total\\{[^}]*status="${status}",reason="${reason}"[^}]*\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    // HELLO WORLD, SLOW START, GOOD MORNING, OTHER KEYS, JSON AGAIN, SERVER ERROR, TENANT DEFAULT; ONLY JSON; ALWAYS DOWN; NOBODY HOME
    expect([count('completed', ''), count('failed', 'invalid_output'), count('failed', 'llm_error'), count('failed', 'unreachable')]).toEqual([7, 1, 1, 1]);
    // the plain prompt: GOOD MORNING, JSON AGAIN, ONLY JSON
    expect(metrics).toMatch(/^talkie_postprocess_llm_request_duration_seconds_count\{[^}]*mode="plain"[^}]*outcome="ok"[^}]*\} 3$/m);
  });
});

describe('LLM correction asked for, but no LLM configured (LLM_BASE_URL unset)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ name: 'llm-correction-off', postprocessEnv: {} });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('completes the job with the raw text and correction skipped (not_configured)', async () => {
    const token = stack.token('alice');
    const created = await submitFile(stack.baseUrl, token, (await fixture('HELLO WORLD')).file, { fields: { correct: 'true' } });
    expect(created.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token, created.body.id, 120_000);
    expect(job.status).toBe('completed');
    expect(job.result?.text).toBe('HELLO WORLD');
    expect(job.result).not.toHaveProperty('corrected_text');
    expect(job.correction).toEqual({ status: 'skipped', reason: 'not_configured' });
    expect(await readFile(stack.logFile('postprocess'), 'utf8')).toContain('LLM_BASE_URL is unset');
  }, 180_000);
});
