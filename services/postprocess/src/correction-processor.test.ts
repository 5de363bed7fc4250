import { randomUUID } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Correction, TranscriptResult } from '@talkie/contracts';
import { JobStore, toJobResource, type JobRecord } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import { leaseRedisDb, type RedisDbLease } from '../../../test/support/redis-db';
import { CorrectionProcessor } from './correction-processor';
import type { LlmCorrector } from './llm-corrector';

/** The processor against the real Redis job store; the LLM client is tested on its own (llm-corrector.test.ts). */

const RAW: TranscriptResult = { text: 'HELLO WORLD', segments: [{ start: 0.4, end: 1.88, text: 'HELLO' }, { start: 2.32, end: 3.8, text: 'WORLD' }], duration_s: 4.2, frames: 105, model: { name: 'demo', version: '1' } };

let lease: RedisDbLease;
let redis: Redis;
let store: JobStore;
let terminal: JobRecord[];
let lines: string[];
const logger = (() => {
  const line = (...args: unknown[]) => void lines.push(JSON.stringify(args));
  const l = { info: line, warn: line, error: line, debug: line, child: () => l };
  return l as unknown as Logger;
})();

beforeAll(async () => {
  lease = await leaseRedisDb();
  redis = new Redis(lease.url);
});
beforeEach(async () => {
  await redis.flushdb();
  terminal = [];
  lines = [];
  store = new JobStore(redis, 60_000).onTerminal(async (r) => void terminal.push(r));
});
afterAll(async () => {
  await redis.flushdb();
  redis.disconnect();
  await lease.release();
});

async function heldJob(result: TranscriptResult = RAW): Promise<string> {
  const id = randomUUID();
  await store.create({ id, tenant: 'acme', upload_key: `uploads/${id}`, correct: true });
  await store.markProcessing(id);
  await store.holdForCorrection(id, result);
  return id;
}
const job = (id: string, extra: Partial<Job> = {}) => ({ data: { v: 1, job_id: id, tenant: 'acme' }, attemptsMade: 0, opts: { attempts: 3 }, ...extra }) as unknown as Job;
const answering = (out: Awaited<ReturnType<LlmCorrector['correct']>>) => ({ correct: async () => out });

describe('CorrectionProcessor', () => {
  it("hands the LLM client the transcript's alternatives when the job has them (issue 17), and keeps them on the result", async () => {
    const alternatives = [
      { text: 'HELLO WORLD', score: -1 },
      { text: 'JELLO WORLD', score: -2 },
    ];
    const id = await heldJob({ ...RAW, alternatives });
    const calls: unknown[][] = [];
    const corrector = { correct: async (...args: unknown[]) => (calls.push(args), { correction: { status: 'completed' as const, model: 'm' }, correctedText: 'Hello, world.' }) };
    await new CorrectionProcessor({ store, logger, corrector }).process(job(id));
    expect(calls).toEqual([['HELLO WORLD', alternatives]]);
    expect((await store.get(id))!.result).toMatchObject({ alternatives, corrected_text: 'Hello, world.' });
    // a job without them: the transcript alone
    const plain = await heldJob();
    await new CorrectionProcessor({ store, logger, corrector }).process(job(plain));
    expect(calls[1]).toEqual(['HELLO WORLD', undefined]);
  });

  it('completes the held job with the corrected text and the correction, firing the terminal event once', async () => {
    const id = await heldJob();
    const correction: Correction = { status: 'completed', changes: [{ from: 'HELLO', to: 'Hello,' }], model: 'm' };
    const processor = new CorrectionProcessor({ store, logger, corrector: answering({ correction, correctedText: 'Hello, world.', mode: 'json_schema' }) });
    await expect(processor.process(job(id))).resolves.toBe('completed');
    const resource = toJobResource((await store.get(id))!);
    expect(resource).toMatchObject({ status: 'completed', progress: 100, result: { ...RAW, corrected_text: 'Hello, world.' }, correction });
    // the captions' word timings, aligned once here rather than on every download
    expect(resource.result?.corrected_segments).toEqual([
      { start: 0.4, end: 1.88, text: 'Hello,' },
      { start: 2.32, end: 3.8, text: 'world.' },
    ]);
    expect(terminal.map((r) => r.id)).toEqual([id]);
    expect(lines.join('')).not.toMatch(/HELLO|Hello/); // no transcript in logs
  });

  it('completes with the raw text when the LLM failed, or is not configured', async () => {
    const failed = await heldJob();
    await new CorrectionProcessor({ store, logger, corrector: answering({ correction: { status: 'failed', reason: 'unreachable', model: 'm' } }) }).process(job(failed));
    expect(toJobResource((await store.get(failed))!)).toMatchObject({ status: 'completed', result: RAW, correction: { status: 'failed', reason: 'unreachable' } });
    expect((await store.get(failed))!.result).not.toHaveProperty('corrected_text');
    const unconfigured = await heldJob();
    await expect(new CorrectionProcessor({ store, logger }).process(job(unconfigured))).resolves.toBe('skipped');
    expect(toJobResource((await store.get(unconfigured))!)).toMatchObject({ status: 'completed', result: RAW, correction: { status: 'skipped', reason: 'not_configured' } });
  });

  it('leaves a canceled or deleted job alone, and refuses a bad payload', async () => {
    const id = await heldJob();
    await store.cancel(id);
    let asked = 0;
    const processor = new CorrectionProcessor({ store, logger, corrector: { correct: async () => (asked++, { correction: { status: 'skipped' } }) } });
    await expect(processor.process(job(id))).resolves.toBe('skipped_job');
    await expect(processor.process(job(randomUUID()))).resolves.toBe('skipped_job');
    expect(asked).toBe(0);
    expect((await store.get(id))!.status).toBe('canceled');
    await expect(processor.process({ data: { v: 2 }, attemptsMade: 0, opts: {} } as unknown as Job)).rejects.toBeInstanceOf(UnrecoverableError);
  });

  it('when BullMQ gives up, completes the job with the raw text and correction failed (postprocess_failed)', async () => {
    const id = await heldJob();
    const processor = new CorrectionProcessor({ store, logger });
    // called only once BullMQ has given up (the QueueHost reads that from BullMQ's state: queue-host.test.ts)
    await processor.onGiveUp(job(id, { attemptsMade: 1 }), new UnrecoverableError('job stalled more than allowable limit'), 'stalled');
    expect(toJobResource((await store.get(id))!)).toMatchObject({ status: 'completed', result: RAW, correction: { status: 'failed', reason: 'postprocess_failed' } });
    expect(terminal).toHaveLength(1);
  });
});
