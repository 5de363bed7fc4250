import { openAsBlob } from 'node:fs';
import path from 'node:path';
import { submit, waitForJob } from './support/client';
import { blurredWord, fixture } from './support/fixtures';
import { startLlmServer, type LlmServer } from './support/llm-server';
import { startStack, waitUntil, type Stack } from './support/stack';

/**
 * Issue 17 end to end: gateway, worker and postprocess service as separate processes on the real
 * Redis, the demo ONNX model, real ffmpeg. Every word gets a confidence; a real blur (ffmpeg's
 * boxblur, enabled over one word's time range only) lowers that word's and leaves the others high;
 * `alternatives=N` returns the beam's N best readings and they reach the LLM's prompt.
 */

describe('per-word confidence and alternatives (issue 17)', () => {
  let stack: Stack;
  let llm: LlmServer;
  beforeAll(async () => {
    llm = await startLlmServer((req) => ({ content: JSON.stringify({ corrected_text: req.transcript.toLowerCase(), changes: [] }) }));
    stack = await startStack({ name: 'confidence', postprocessEnv: { LLM_BASE_URL: llm.baseURL, LLM_MODEL: 'test-model', LLM_TIMEOUT_MS: '10000' } });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await llm?.close();
  });

  const token = () => stack.token('alice');
  const read = async (file: string, fields: Record<string, string> = {}) => {
    const created = await submit(stack.baseUrl, token(), file, { fields });
    expect(created.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token(), created.body.id, 120_000);
    expect(job.status).toBe('completed');
    return job.result!;
  };

  it('gives every word a confidence, high on a clean video, and no alternatives unless asked', async () => {
    const result = await read((await fixture('READ MY LIPS')).file);
    expect(result.text).toBe('READ MY LIPS');
    expect(result.segments).toHaveLength(3);
    for (const segment of result.segments) expect(segment.confidence).toBeGreaterThan(0.95);
    expect(result).not.toHaveProperty('alternatives');
  });

  it('lowers the confidence of the word whose frames are blurred, and keeps the others high', async () => {
    const result = await read((await blurredWord('READ MY LIPS', 1)).file);
    expect(result.segments.map((s) => s.text)).toEqual(['READ', 'MY', 'LIPS']);
    const [read_, my, lips] = result.segments.map((s) => s.confidence!);
    expect(read_).toBeGreaterThan(0.95);
    expect(lips).toBeGreaterThan(0.95);
    expect(my).toBeLessThan(0.9);
    expect(my).toBeGreaterThanOrEqual(0);
  });

  it('returns the 3 best hypotheses with alternatives=3: distinct, the transcript first, scores descending', async () => {
    const result = await read((await fixture('HELLO WORLD')).file, { alternatives: '3' });
    expect(result.text).toBe('HELLO WORLD');
    const alternatives = result.alternatives!;
    expect(alternatives).toHaveLength(3);
    expect(alternatives[0].text).toBe(result.text);
    expect(new Set(alternatives.map((a) => a.text)).size).toBe(3);
    for (const a of alternatives) expect(a.score).toBeLessThanOrEqual(0); // log-probabilities
    for (let i = 1; i < alternatives.length; i++) expect(alternatives[i].score).toBeLessThanOrEqual(alternatives[i - 1].score);
    // alternatives=1: the transcript alone
    expect((await read((await fixture('HELLO WORLD')).file, { alternatives: '1' })).alternatives).toEqual([alternatives[0]]);
  });

  it('refuses an alternatives value that is not an integer from 1 to 10 with 400 invalid_request', async () => {
    const { file } = await fixture('HELLO WORLD');
    for (const value of ['0', '11', '-1', '3.5', '03', 'three', '', '1e1']) {
      const answer = await submit(stack.baseUrl, token(), file, { fields: { alternatives: value } });
      expect([value, answer.status, answer.body.error?.code]).toEqual([value, 400, 'invalid_request']);
      expect(JSON.stringify(answer.body)).not.toMatch(/at |\/work\//);
    }
    expect((await submit(stack.baseUrl, token(), file, { fields: { alternatives: '10' } })).status).toBe(202);
  });

  it('joins the idempotency fingerprint only when set: a key replays without it and conflicts with it', async () => {
    const { file } = await fixture('HELLO WORLD');
    const key = `alt-${Date.now()}`;
    const send = (fields: Record<string, string>) => fetchWithKey(file, key, fields);
    const first = await send({});
    expect(first.status).toBe(202);
    const replay = await send({});
    expect([replay.status, replay.body.id]).toEqual([200, first.body.id]);
    const other = await send({ alternatives: '3' });
    expect([other.status, other.body.error?.code]).toEqual([409, 'idempotency_conflict']);
  });

  it('sends the alternatives to the LLM with the transcript when the job asks for correction', async () => {
    const result = await read((await fixture('GOOD MORNING')).file, { alternatives: '3', correct: 'true' });
    expect(result.corrected_text).toBe('good morning');
    await waitUntil(async () => llm.requestsFor('GOOD MORNING').length > 0, 'the LLM request');
    const [request] = llm.requestsFor('GOOD MORNING');
    expect(request.alternatives!.map((a) => a.text)).toEqual(result.alternatives!.map((a) => a.text));
    expect(request.alternatives!.map((a) => a.score)).toEqual(result.alternatives!.map((a) => expect.closeTo(a.score, 2)));
    expect(request.body.messages?.[0].content).toMatch(/alternatives/);
  });

  /** POST /v1/jobs with an Idempotency-Key (the support client sends none). */
  async function fetchWithKey(file: string, key: string, fields: Record<string, string>) {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('video', await openAsBlob(file), path.basename(file));
    const res = await fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token()}`, 'idempotency-key': key } });
    return { status: res.status, body: (await res.json()) as { id: string; error?: { code: string } } };
  }
});
