import type { ChildProcess } from 'node:child_process';
import { getJob, waitForJob } from '../support/client';
import { fixture } from '../support/fixtures';
import { startStack, type Stack } from '../support/stack';
import { POLLING_GATEWAY_ENV, completions, exitOf, inFlight, say, sleep, submitForm, waitForLog } from './support/faults';

/**
 * Case 2: SIGTERM to the worker that is processing a job (what an orchestrator sends on a rolling
 * update). The worker finishes the job in hand and exits 0, taking no new job meanwhile; when the
 * operator insists (a second signal: exit now) the job is handed back through stalled-job detection
 * and another worker completes it. Never lost, never done twice.
 */
const QUEUE_ENV = { QUEUE_LOCK_DURATION_MS: '3000', QUEUE_STALLED_INTERVAL_MS: '1000', LOG_LEVEL: 'debug' };
const TEXT = 'GRACEFUL';

describe('fault: SIGTERM to a worker mid-job', () => {
  let stack: Stack;
  const tenant = 'fault-sigterm';
  const live = new Map<string, ChildProcess>();
  const everyWorker: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ name: 'fault-sigterm', workers: 2, workerEnv: QUEUE_ENV, gatewayEnv: POLLING_GATEWAY_ENV });
    live.set('worker-1', stack.workers[0]);
    live.set('worker-2', stack.workers[1]);
    everyWorker.push('worker-1', 'worker-2');
  }, 90_000);
  afterEach(async () => {
    // whatever happened to the worker, no job of the tenant is still counted in flight once all are done
    const n = await inFlight(stack, tenant);
    say(`case 2: tenant jobs still counted in flight: ${n}`);
    expect(n).toBe(0);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** Submits a long job and resolves once a worker is decoding it, with that worker. */
  const startLongJob = async () => {
    const token = stack.token(tenant);
    const video = await fixture(TEXT, { padSeconds: 100 });
    const created = await submitForm(stack, token, video.file);
    expect(created.status).toBe(202);
    const id = created.body.id;
    const victim = await waitForLog(stack, [...live.keys()], (l) => l.job_id === id && l.msg === 'probed', `a worker to start job ${id}`);
    let before = (await getJob(stack.baseUrl, token, id)).body;
    while (before.status === 'processing' && before.progress === 0) {
      await sleep(10);
      before = (await getJob(stack.baseUrl, token, id)).body;
    }
    return { id, token, victim, child: live.get(victim)!, before };
  };

  it('one SIGTERM: the worker finishes the job in hand, takes no new one, and exits 0', async () => {
    const { id, token, victim, child, before } = await startLongJob();
    child.kill('SIGTERM');
    live.delete(victim);
    say(`case 2a: injected SIGTERM to ${victim} (pid ${child.pid}) while job ${id} was ${before.status} at ${before.progress}%`);
    // a job submitted during the shutdown must go to the other worker
    const next = await submitForm(stack, token, (await fixture('NEXT ONE')).file);
    expect(next.status).toBe(202);

    const exit = await exitOf(child, 35_000);
    const job = await waitForJob(stack.baseUrl, token, id, 60_000);
    const nextJob = await waitForJob(stack.baseUrl, token, next.body.id, 60_000);
    const done = await completions(stack, everyWorker, job);
    const nextDone = await completions(stack, everyWorker, nextJob);
    say('case 2a: observed', { exit, status: job.status, text: job.result?.text, completed_by: done, next_job: nextJob.status, next_completed_by: nextDone });
    expect(before.status).toBe('processing');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(job.status).toBe('completed');
    expect(job.result?.text).toBe(TEXT);
    expect(done).toEqual({ [victim]: 1 });
    expect(nextJob.result?.text).toBe('NEXT ONE');
    expect(nextDone[victim]).toBeUndefined();

    const replacement = await stack.addWorker();
    live.set(replacement.service, replacement.process);
    everyWorker.push(replacement.service);
  }, 90_000);

  it('SIGTERM then a second signal (exit now): the job is handed back and another worker completes it once', async () => {
    const { id, token, victim, child, before } = await startLongJob();
    child.kill('SIGTERM');
    await waitForLog(stack, [victim], (l) => l.msg === 'shutting down', `${victim} to start shutting down`, 5_000);
    child.kill('SIGTERM');
    live.delete(victim);
    const stoppedAt = Date.now();
    say(`case 2b: injected SIGTERM, then a second SIGTERM, to ${victim} (pid ${child.pid}) while job ${id} was ${before.status} at ${before.progress}%`);
    const exit = await exitOf(child, 10_000);
    const job = await waitForJob(stack.baseUrl, token, id, 60_000);
    const done = await completions(stack, everyWorker, job);
    say('case 2b: observed', { exit, status: job.status, text: job.result?.text, completed_by: done, recovered_ms: Date.now() - stoppedAt });
    expect(before.status).toBe('processing');
    expect(exit).toEqual({ code: 1, signal: null });
    expect(job.status).toBe('completed');
    expect(job.result?.text).toBe(TEXT);
    expect(Object.values(done).reduce((a, b) => a + b, 0)).toBe(1);
    expect(done[victim]).toBeUndefined();
  }, 90_000);
});
