import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { startStack, type Stack } from './support/stack';

/** Where the gateway records its probe of a file: under the SHA-256 of its bytes. */
const probeKey = async (file: string) => `talkie:probe:${createHash('sha256').update(await readFile(file)).digest('hex')}`;

/** The gateway's probe of `file`, which must have been recorded by the time the upload was accepted. */
async function recordedProbe(stack: Stack, file: string): Promise<Record<string, unknown>> {
  const recorded = JSON.parse((await stack.redis.get(await probeKey(file))) ?? 'null');
  expect(recorded).toMatchObject({ width: 176, video_streams: 1 });
  return recorded;
}

/** Rewrites the recorded probe of `file` with a frame width over any limit, as if limits were tighter than what the gateway checked. */
async function alterProbe(stack: Stack, file: string): Promise<void> {
  await stack.redis.set(await probeKey(file), JSON.stringify({ ...(await recordedProbe(stack, file)), width: 100_000 }));
}

/**
 * The gateway probes each upload and records the probe under the upload's SHA-256; the worker that
 * takes the job uses that record for the same bytes instead of running ffprobe again, and still
 * applies its own limits to it. The record is what the worker checks: a record altered in Redis
 * (a frame size over the limit) fails the job, which only happens if the worker read it.
 */
describe('probe memo: the worker re-checks the gateway\'s probe of the same bytes instead of probing again', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ name: 'probe-memo', workers: 0 });
  }, 60_000);
  afterAll(() => stack?.stop());

  it('records the probe by content and completes the job with it', async () => {
    const video = await fixture('MEMO');
    const created = await submit(stack.baseUrl, stack.token('alice'), video.file);
    expect(created.status).toBe(202);
    await recordedProbe(stack, video.file);

    // an altered record (as if limits were tighter than what the gateway checked) is still judged
    const other = await fixture('ALTERED');
    const altered = await submit(stack.baseUrl, stack.token('alice'), other.file);
    expect(altered.status).toBe(202);
    await alterProbe(stack, other.file);

    await stack.addWorker();
    const done = await waitForJob(stack.baseUrl, stack.token('alice'), created.body.id);
    expect(done).toMatchObject({ status: 'completed', result: { text: 'MEMO' } });
    const failed = await waitForJob(stack.baseUrl, stack.token('alice'), altered.body.id);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'frame_too_large' } });
  }, 120_000);
});

describe('REUSE_GATEWAY_PROBE=false: the worker always runs ffprobe itself', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ name: 'probe-memo-off', workers: 0, workerEnv: { REUSE_GATEWAY_PROBE: 'false' } });
  }, 60_000);
  afterAll(() => stack?.stop());

  it('ignores the recorded probe, even an altered one', async () => {
    const video = await fixture('OWN PROBE');
    const created = await submit(stack.baseUrl, stack.token('alice'), video.file);
    expect(created.status).toBe(202);
    // (the gateway still records it: the worker is what ignores it)
    await alterProbe(stack, video.file);
    await stack.addWorker();
    expect(await waitForJob(stack.baseUrl, stack.token('alice'), created.body.id)).toMatchObject({ status: 'completed', result: { text: 'OWN PROBE' } });
  }, 120_000);
});
