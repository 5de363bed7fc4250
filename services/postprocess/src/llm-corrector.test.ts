import { freePort } from '../../../test/support/stack';
import { ANSWERS, startLlmServer, type LlmServer } from '../../../test/support/llm-server';
import { ALTERNATIVES_PROMPT, ANSWER_JSON_SCHEMA, LlmCorrector } from './llm-corrector';

/** Against a real OpenAI-compatible HTTP server on loopback (test/support/llm-server.ts). */

const KEY = 'sk-test-4f1d9c2e8b7a6d5c';
let llm: LlmServer;

const schemaAnswer = (text: string, changes: Array<{ from: string; to: string }> = []) => ({ content: JSON.stringify({ corrected_text: text, changes }) });

beforeAll(async () => {
  llm = await startLlmServer(() => ({ status: 500 }));
});
afterAll(() => llm.close());
beforeEach(() => {
  llm.requests.length = 0;
});

/**
 * Jest runs this file in its own VM realm, where fetch's AbortError (made in Node's main realm) is
 * no `instanceof Error`, so the SDK would see a timeout as a plain connection error. Re-raising it
 * as this realm's error restores what production (one realm) sees; test/llm-correction.e2e.test.ts
 * checks the real thing in separate processes.
 */
const realmFetch: typeof fetch = (input, init) =>
  fetch(input, init).catch((err: Error) => {
    throw Object.assign(new Error(err.message), { name: err.name, cause: err.cause });
  });

const corrector = (overrides: Partial<ConstructorParameters<typeof LlmCorrector>[0]> = {}) =>
  new LlmCorrector({ baseURL: llm.baseURL, model: 'test-model', apiKey: KEY, timeoutMs: 2_000, maxRetries: 1, ...overrides }, { fetch: realmFetch });

describe('LlmCorrector', () => {
  it('asks for strict JSON-schema output and returns the exact corrected text and changes', async () => {
    llm.answer = () => schemaAnswer('Hello, world.', [{ from: 'HELLO', to: 'Hello,' }, { from: 'WORLD', to: 'world.' }]);
    const out = await corrector().correct('HELLO WORLD');
    expect(out).toEqual({
      correction: { status: 'completed', changes: [{ from: 'HELLO', to: 'Hello,' }, { from: 'WORLD', to: 'world.' }], model: 'test-model' },
      correctedText: 'Hello, world.',
      mode: 'json_schema',
    });
    expect(llm.requests).toHaveLength(1);
    const [req] = llm.requests;
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.body.model).toBe('test-model');
    expect(req.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'transcript_correction', strict: true, schema: ANSWER_JSON_SCHEMA } });
    expect(ANSWER_JSON_SCHEMA).toMatchObject({ required: ['corrected_text', 'changes'], additionalProperties: false });
    expect(req.transcript).toBe('HELLO WORLD');
    expect(req.body.messages?.[0].role).toBe('system');
    expect(req.body.messages?.[0].content).not.toContain(ALTERNATIVES_PROMPT);
    expect(req.alternatives).toBeUndefined();
  });

  it("sends the model's alternatives with the transcript, in one user message, and says what they are (issue 17)", async () => {
    llm.answer = (r) => (r.mode === 'json_schema' ? { content: '{"corrected_text": "Bat' } : { content: 'Pat bat.' });
    const alternatives = [
      { text: 'BAT BAT', score: -1.23456 },
      { text: 'PAT BAT', score: -2.5 },
      { text: 'MAT BAT', score: -4 },
    ];
    await expect(corrector().correct('BAT BAT', alternatives)).resolves.toMatchObject({ correctedText: 'Pat bat.', mode: 'plain' });
    // both the schema request and the plain fallback carry them
    expect(llm.requests.map((r) => r.mode)).toEqual(['json_schema', 'plain']);
    for (const req of llm.requests) {
      expect(req.body.messages?.map((m) => m.role)).toEqual(['system', 'user']);
      expect(req.body.messages?.[0].content).toContain(ALTERNATIVES_PROMPT);
      expect(req.transcript).toBe('BAT BAT');
      expect(req.alternatives).toEqual([
        { text: 'BAT BAT', score: -1.235 },
        { text: 'PAT BAT', score: -2.5 },
        { text: 'MAT BAT', score: -4 },
      ]);
    }
  });

  it('sends the transcript alone when the only alternative is the transcript itself', async () => {
    llm.answer = () => schemaAnswer('Bat.');
    await corrector().correct('BAT', [{ text: 'BAT', score: -1 }]);
    expect(llm.requests[0].body.messages?.[1].content).toBe('BAT');
    expect(llm.requests[0].body.messages?.[0].content).not.toContain(ALTERNATIVES_PROMPT);
  });

  it('falls back to a plain prompt when the JSON is malformed or not the schema', async () => {
    llm.answer = (r) => (r.mode === 'plain' ? { content: '  Good morning.\n' } : r.transcript === 'GOOD MORNING' ? { content: '{"corrected_text": "Good mor' } : { content: '{"text": "x"}' });
    await expect(corrector().correct('GOOD MORNING')).resolves.toEqual({ correction: { status: 'completed', model: 'test-model' }, correctedText: 'Good morning.', mode: 'plain' });
    expect(llm.requests.map((r) => r.mode)).toEqual(['json_schema', 'plain']);
    expect(llm.requests[1].body.response_format).toBeUndefined();
    await expect(corrector().correct('GOOD EVENING')).resolves.toMatchObject({ correctedText: 'Good morning.', mode: 'plain' });
  });

  it('falls back when the server refuses response_format (400), and fails invalid_output when nothing is usable', async () => {
    llm.answer = (r) => (r.mode === 'json_schema' ? { status: 400 } : { content: 'Fine.' });
    await expect(corrector().correct('FINE')).resolves.toMatchObject({ correction: { status: 'completed' }, correctedText: 'Fine.' });
    llm.answer = (r) => (r.mode === 'json_schema' ? { content: 'not json' } : { content: '   ' });
    await expect(corrector().correct('FINE')).resolves.toEqual({ correction: { status: 'failed', reason: 'invalid_output', model: 'test-model' } });
    llm.answer = () => ({ content: 'X'.repeat(5_000) }); // a runaway answer in both forms
    await expect(corrector().correct('FINE')).resolves.toMatchObject({ correction: { status: 'failed', reason: 'invalid_output' } });
  });

  it('takes corrected_text from a JSON answer with other key names (list_of_changes), without the fallback', async () => {
    llm.answer = () => ANSWERS.otherKeys('Good evening.', [{ from: 'GOOD', to: 'Good' }]);
    await expect(corrector().correct('GOOD EVENING')).resolves.toEqual({
      correction: { status: 'completed', model: 'test-model' }, // changes under another name are not the edits list: left out
      correctedText: 'Good evening.',
      mode: 'json_schema',
    });
    expect(llm.requests.map((r) => r.mode)).toEqual(['json_schema']);
    // the schema's keys with changes that are no list of edits: the text still counts
    llm.answer = () => ANSWERS.json({ corrected_text: 'See you.', changes: 'two words' });
    await expect(corrector().correct('SEE YOU')).resolves.toEqual({ correction: { status: 'completed', model: 'test-model' }, correctedText: 'See you.', mode: 'json_schema' });
    // fenced, or encoded twice
    llm.answer = () => ANSWERS.fenced({ corrected_text: 'Fenced.', changes: [{ from: 'FENCED', to: 'Fenced.' }] });
    await expect(corrector().correct('FENCED')).resolves.toMatchObject({ correction: { changes: [{ from: 'FENCED', to: 'Fenced.' }] }, correctedText: 'Fenced.', mode: 'json_schema' });
    llm.answer = () => ANSWERS.doubleEncoded('Twice.');
    await expect(corrector().correct('TWICE')).resolves.toMatchObject({ correctedText: 'Twice.', mode: 'json_schema' });
  });

  it('unwraps JSON in the plain answer (bare, fenced, after a sentence) to its corrected_text', async () => {
    for (const [raw, plainAnswer] of [
      ['PLAIN BARE', ANSWERS.otherKeys('Plain bare.')],
      ['PLAIN FENCED', ANSWERS.fenced({ list_of_changes: [], corrected_text: 'Plain fenced.' })],
      ['PLAIN PREAMBLE', ANSWERS.afterPreamble({ corrected_text: 'Plain preamble.' })],
    ] as const) {
      // the schema request gets JSON of another shape: the fallback is asked, and answers JSON again
      llm.answer = (r) => (r.mode === 'json_schema' ? ANSWERS.json({ list_of_changes: [], text: 'x' }) : plainAnswer);
      const out = await corrector().correct(raw);
      expect(out).toMatchObject({ correction: { status: 'completed' }, mode: 'plain' });
      expect(out.correctedText).toBe(`${raw[0]}${raw.slice(1).toLowerCase()}.`);
    }
  });

  it('never stores JSON as the corrected text: JSON without a usable corrected_text fails invalid_output', async () => {
    const cases = [
      ANSWERS.json({ list_of_changes: [{ from: 'A', to: 'B' }], text: 'Not the key.' }),
      ANSWERS.json({ corrected_text: ['an', 'array'] }),
      ANSWERS.json({ corrected_text: '' }),
      ANSWERS.json(['Just a list.']),
      ANSWERS.fenced({ answer: 'Fenced other shape.' }),
      ANSWERS.broken('Broken off.'),
      ANSWERS.afterPreamble({ text: 'Preamble other shape.' }),
      ANSWERS.json({ corrected_text: JSON.stringify({ corrected_text: JSON.stringify({ corrected_text: 'Too deep.' }) }) }),
    ];
    for (const [i, plainAnswer] of cases.entries()) {
      llm.answer = (r) => (r.mode === 'json_schema' ? ANSWERS.json({ list_of_changes: [] }) : plainAnswer);
      const out = await corrector().correct(`CASE ${i}`);
      expect([i, out]).toEqual([i, { correction: { status: 'failed', reason: 'invalid_output', model: 'test-model' } }]);
    }
  });

  it('retries a 500 and a slow answer (timeout), then succeeds', async () => {
    llm.answer = (r) => (r.attempt === 0 ? { status: 500 } : schemaAnswer('Again.'));
    await expect(corrector().correct('AGAIN')).resolves.toMatchObject({ correctedText: 'Again.', mode: 'json_schema' });
    expect(llm.requests).toHaveLength(2);
    llm.requests.length = 0;
    llm.answer = (r) => (r.attempt === 0 ? { ...schemaAnswer('Late.'), delayMs: 5_000 } : schemaAnswer('Slow.'));
    await expect(corrector({ timeoutMs: 300 }).correct('SLOW')).resolves.toMatchObject({ correctedText: 'Slow.' });
    expect(llm.requests).toHaveLength(2);
  });

  it('fails with a reason, without fallback, when every attempt errs: llm_error, timeout, unreachable', async () => {
    llm.answer = () => ({ status: 503, body: { error: { message: `Incorrect API key provided: ${KEY.slice(0, 6)}…` } } });
    await expect(corrector().correct('DOWN')).resolves.toEqual({ correction: { status: 'failed', reason: 'llm_error', model: 'test-model' } });
    expect(llm.requests.map((r) => r.mode)).toEqual(['json_schema', 'json_schema']); // 1 + maxRetries, no plain fallback
    llm.answer = () => ({ ...schemaAnswer('Never.'), delayMs: 5_000 });
    await expect(corrector({ timeoutMs: 200, maxRetries: 0 }).correct('SLOW')).resolves.toMatchObject({ correction: { status: 'failed', reason: 'timeout' } });
    const closed = await freePort();
    await expect(corrector({ baseURL: `http://127.0.0.1:${closed}/v1`, maxRetries: 0 }).correct('ANYONE')).resolves.toMatchObject({ correction: { status: 'failed', reason: 'unreachable' } });
  });

  it('sends no Authorization without a key, ignores OPENAI_* variables, and skips an empty transcript', async () => {
    const saved = { ...process.env };
    process.env.OPENAI_BASE_URL = 'http://127.0.0.1:1/v1';
    process.env.OPENAI_API_KEY = 'sk-from-env';
    try {
      llm.answer = () => schemaAnswer('Hi.');
      await expect(corrector({ apiKey: undefined }).correct('HI')).resolves.toMatchObject({ correctedText: 'Hi.' });
      expect(llm.requests[0].headers.authorization).toBeUndefined();
      await expect(corrector().correct('  ')).resolves.toEqual({ correction: { status: 'skipped', reason: 'empty_transcript' } });
      expect(llm.requests).toHaveLength(1);
    } finally {
      process.env = saved;
    }
  });
});
