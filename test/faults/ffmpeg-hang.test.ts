import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { waitForJob } from '../support/client';
import { fixture } from '../support/fixtures';
import { startStack, type Stack } from '../support/stack';
import { POLLING_GATEWAY_ENV, hangingFfmpeg, logLines, processesMatching, say, submitForm, type HangingFfmpeg } from './support/faults';

/**
 * Case 5: ffprobe or ffmpeg hangs in the worker (a real process that never answers: the worker's
 * FFPROBE_PATH/FFMPEG_PATH point at wrappers that run the real binaries, or `exec sleep` while a
 * flag file exists). The job fails with `timeout` after the configured limits (each of its three
 * attempts is killed at the limit), no hung process is left, and the same worker process goes on
 * with the next job. The gateway's own ffprobe (its look at each upload before queueing) hanging
 * is answered too: 422 after the gateway's PROBE_TIMEOUT_MS, nothing stored, nothing queued.
 */
const PROBE_TIMEOUT_MS = 1_000;
const DECODE_TIMEOUT_MS = 1_500;
/** BullMQ's backoff between the three attempts of a retryable failure: 2 s, then 4 s */
const BACKOFF_MS = 2_000 + 4_000;

describe('fault: ffmpeg hangs', () => {
  let stack: Stack;
  let wrappers: HangingFfmpeg;
  let gatewayWrappers: HangingFfmpeg;
  const tenant = 'fault-ffmpeg';

  beforeAll(async () => {
    wrappers = hangingFfmpeg();
    gatewayWrappers = hangingFfmpeg();
    stack = await startStack({
      name: 'fault-ffmpeg',
      gatewayEnv: { ...POLLING_GATEWAY_ENV, FFMPEG_PATH: gatewayWrappers.ffmpeg, FFPROBE_PATH: gatewayWrappers.ffprobe, PROBE_TIMEOUT_MS: String(PROBE_TIMEOUT_MS) },
      workerEnv: {
        FFMPEG_PATH: wrappers.ffmpeg,
        FFPROBE_PATH: wrappers.ffprobe,
        PROBE_TIMEOUT_MS: String(PROBE_TIMEOUT_MS),
        DECODE_TIMEOUT_MS: String(DECODE_TIMEOUT_MS),
        // the worker's own ffprobe is what hangs here: no reuse of the gateway's recorded probe
        REUSE_GATEWAY_PROBE: 'false',
        LOG_LEVEL: 'debug',
      },
    });
  }, 90_000);
  afterAll(async () => {
    wrappers?.hangProbe(false);
    wrappers?.hangDecode(false);
    gatewayWrappers?.hangProbe(false);
    await stack?.stop();
    for (const w of [wrappers, gatewayWrappers]) if (w) await rm(w.dir, { recursive: true, force: true });
  });

  const hung = () => processesMatching(/^sleep 100000$/);
  const attemptFailures = (id: string) => logLines(stack, 'worker-1').filter((l) => l.job_id === id && l.msg === 'job attempt failed').map((l) => l.code);

  it.each([
    ['ffprobe', PROBE_TIMEOUT_MS, (on: boolean) => wrappers.hangProbe(on)],
    ['ffmpeg (decode)', DECODE_TIMEOUT_MS, (on: boolean) => wrappers.hangDecode(on)],
  ] as const)('%s hangs: the job fails with timeout after the limit, and the worker takes the next job', async (what, limitMs, hang) => {
    const token = stack.token(tenant);
    const worker = stack.workers[0];
    hang(true);
    const started = Date.now();
    const created = await submitForm(stack, token, (await fixture('HANG ON')).file);
    expect(created.status).toBe(202);
    say(`case 5: injected a hanging ${what} (limit ${limitMs} ms) for job ${created.body.id}`);
    const job = await waitForJob(stack.baseUrl, token, created.body.id, 60_000);
    const tookMs = Date.now() - started;
    const failures = attemptFailures(created.body.id);
    const leftHanging = hung().length;
    hang(false);

    const next = await submitForm(stack, token, (await fixture('NEXT JOB')).file);
    const nextJob = await waitForJob(stack.baseUrl, token, next.body.id, 30_000);
    say(`case 5: observed (${what})`, {
      status: job.status,
      error: job.error,
      attempts: failures,
      took_ms: tookMs,
      hung_processes_left: leftHanging,
      worker_pid_unchanged: worker.exitCode === null,
      next_job: { status: nextJob.status, text: nextJob.result?.text },
    });
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('timeout');
    expect(failures).toEqual(['timeout', 'timeout', 'timeout']);
    // three attempts, each stopped at the limit, plus the backoff between them (and some slack)
    expect(tookMs).toBeGreaterThanOrEqual(3 * limitMs + BACKOFF_MS - 500);
    expect(tookMs).toBeLessThan(3 * limitMs + BACKOFF_MS + 10_000);
    expect(leftHanging).toBe(0);
    expect(worker.exitCode).toBeNull();
    expect(nextJob).toMatchObject({ status: 'completed', result: { text: 'NEXT JOB' } });
  }, 90_000);

  it("the gateway's ffprobe hangs on an upload: 422 after its PROBE_TIMEOUT_MS, nothing stored or queued, next upload fine", async () => {
    const token = stack.token(tenant);
    const video = await fixture('HANG ON');
    gatewayWrappers.hangProbe(true);
    say(`case 5: injected a hanging ffprobe in the gateway (limit ${PROBE_TIMEOUT_MS} ms)`);
    const started = Date.now();
    let refused;
    try {
      refused = await submitForm(stack, token, video.file);
    } finally {
      gatewayWrappers.hangProbe(false);
    }
    const tookMs = Date.now() - started;
    const left = await readdir(path.join(stack.storageDir, 'uploads')).catch(() => [] as string[]);
    const hungLeft = hung().length;
    const next = await submitForm(stack, token, (await fixture('NEXT JOB')).file);
    const nextJob = next.status === 202 ? await waitForJob(stack.baseUrl, token, next.body.id, 30_000) : undefined;
    say('case 5: observed (gateway ffprobe)', { answer: refused.status, code: refused.body.error?.code, took_ms: tookMs, uploads_left: left.length, hung_processes_left: hungLeft, next_upload: next.status, next_job: nextJob?.status });
    expect(refused.status).toBe(422);
    expect(refused.body.error?.code).toBe('invalid_media');
    expect(tookMs).toBeGreaterThanOrEqual(PROBE_TIMEOUT_MS);
    expect(tookMs).toBeLessThan(PROBE_TIMEOUT_MS + 5_000);
    expect(left).toEqual([]);
    expect(hungLeft).toBe(0);
    expect(nextJob).toMatchObject({ status: 'completed', result: { text: 'NEXT JOB' } });
  }, 60_000);
});
