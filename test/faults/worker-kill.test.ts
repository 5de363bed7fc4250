import type { ChildProcess } from 'node:child_process';
import { verifyWebhook } from '@talkie/client';
import { getJob, waitForJob } from '../support/client';
import { fixture } from '../support/fixtures';
import { startStack, waitUntil, type Stack } from '../support/stack';
import { POLLING_GATEWAY_ENV, completions, createWebhookSecret, deliveries, exitOf, freezingRedisProxy, inFlight, logLines, processesMatching, say, sleep, startReceiver, submitForm, waitForLog, type Receiver } from './support/faults';

/**
 * Case 1: `kill -9` of the worker that is processing a job. BullMQ's stalled-job detection hands the
 * job to the other worker once the dead one's lock expires (shortened here through
 * QUEUE_LOCK_DURATION_MS / QUEUE_STALLED_INTERVAL_MS); the job completes exactly once: one result,
 * one "job completed", one webhook delivery id. Five trials; the killed worker is replaced each time.
 */
const TRIALS = 5;
const LOCK_MS = 3_000;
const STALLED_MS = 1_000;
const FAST_RETRIES = { WEBHOOK_RETRY_SCHEDULE_MS: '200,400,800,1600' };
const TEXT = 'KILL NINE';

describe('fault: kill -9 of a worker mid-job', () => {
  let stack: Stack;
  let receiver: Receiver;
  let secret: string;
  const tenant = 'fault-kill';
  const live = new Map<string, ChildProcess>();
  const everyWorker: string[] = [];

  beforeAll(async () => {
    stack = await startStack({
      name: 'fault-kill',
      workers: 2,
      workerEnv: { QUEUE_LOCK_DURATION_MS: String(LOCK_MS), QUEUE_STALLED_INTERVAL_MS: String(STALLED_MS), LOG_LEVEL: 'debug', ...FAST_RETRIES },
      gatewayEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', ...FAST_RETRIES, ...POLLING_GATEWAY_ENV },
      dispatcherEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', ...FAST_RETRIES },
    });
    live.set('worker-1', stack.workers[0]);
    live.set('worker-2', stack.workers[1]);
    everyWorker.push('worker-1', 'worker-2');
    receiver = await startReceiver();
    secret = await createWebhookSecret(stack, stack.token(tenant));
  }, 90_000);
  afterAll(async () => {
    await receiver?.close();
    await stack?.stop();
  });

  for (let trial = 1; trial <= TRIALS; trial++) {
    it(`trial ${trial}/${TRIALS}: the job is picked up again and completes exactly once, with one webhook delivery id`, async () => {
      const token = stack.token(tenant);
      const video = await fixture(TEXT, { padSeconds: 100 }); // long enough to catch a worker mid-decode
      const created = await submitForm(stack, token, video.file, { webhook_url: receiver.url });
      expect(created.status).toBe(202);
      const id = created.body.id;

      // the worker that probed the upload is the one processing it: kill it once decoding shows progress
      const victim = await waitForLog(stack, [...live.keys()], (l) => l.job_id === id && l.msg === 'probed', `a worker to start job ${id}`);
      const child = live.get(victim)!;
      let before = (await getJob(stack.baseUrl, token, id)).body;
      while (before.status === 'processing' && before.progress === 0) {
        await sleep(10);
        before = (await getJob(stack.baseUrl, token, id)).body;
      }
      const killedAt = Date.now();
      child.kill('SIGKILL');
      live.delete(victim);
      say(`case 1 trial ${trial}: injected kill -9 of ${victim} (pid ${child.pid}) while job ${id} was ${before.status} at ${before.progress}%`);
      expect(await exitOf(child, 5_000)).toEqual({ code: null, signal: 'SIGKILL' });
      expect(before.status).toBe('processing');

      const job = await waitForJob(stack.baseUrl, token, id, 60_000);
      const recoveredMs = Date.now() - killedAt;
      expect(job.status).toBe('completed');
      expect(job.result?.text).toBe(TEXT);

      const events = () => receiver.received.filter((r) => (JSON.parse(r.body) as { data?: { id?: string } }).data?.id === id);
      await waitUntil(async () => events().length >= 1, `the webhook for ${id}`, 20_000);
      await sleep(2_000); // a duplicate, if any, would come within the retry schedule
      const hooks = events();
      const ids = new Set(hooks.map((h) => h.headers['webhook-id']));
      const event = verifyWebhook(hooks[0].headers, hooks[0].body, [secret]);
      const done = await completions(stack, everyWorker, job);
      const attempts = await deliveries(stack, token, id);
      const orphans = processesMatching(/ffmpeg .*-i /).filter((p) => p.ppid === 1);
      const stillInFlight = await inFlight(stack, tenant);
      say(`case 1 trial ${trial}: observed`, {
        status: job.status,
        text: job.result?.text,
        recovered_ms: recoveredMs,
        completed_by: done,
        webhook_posts: hooks.length,
        webhook_ids: [...ids],
        delivery_log: attempts.map((a) => a.outcome),
        orphaned_ffmpeg: orphans.length,
        tenant_in_flight: stillInFlight,
      });
      expect(event).toMatchObject({ type: 'job.completed', data: { id, status: 'completed' } });
      expect(ids.size).toBe(1);
      expect(hooks).toHaveLength(1);
      expect(Object.values(done).reduce((a, b) => a + b, 0)).toBe(1);
      expect(done[victim]).toBeUndefined();
      expect(attempts.map((a) => a.outcome)).toEqual(['delivered']);
      expect(stillInFlight).toBe(0);

      // a restarted worker takes the victim's place for the next trial
      const replacement = await stack.addWorker();
      live.set(replacement.service, replacement.process);
      everyWorker.push(replacement.service);
    }, 90_000);
  }

  it('a job whose worker is killed twice (a poison pill) ends failed, not stuck in processing, with one job.failed webhook', async () => {
    const token = stack.token(tenant);
    const created = await submitForm(stack, token, (await fixture(TEXT, { padSeconds: 100 })).file, { webhook_url: receiver.url });
    expect(created.status).toBe(202);
    const id = created.body.id;
    const killed: string[] = [];
    for (let round = 1; round <= 2; round++) {
      const victim = await waitForLog(stack, [...live.keys()], (l) => l.job_id === id && l.msg === 'probed', `a worker to start job ${id}`, 30_000);
      live.get(victim)!.kill('SIGKILL');
      live.delete(victim);
      killed.push(victim);
      // replace it at once, so that someone is there to notice the stall
      const replacement = await stack.addWorker();
      live.set(replacement.service, replacement.process);
      everyWorker.push(replacement.service);
      if (round === 1) {
        // wait until another worker has picked the job up again before killing that one too
        await waitForLog(stack, [...live.keys()], (l) => l.job_id === id && l.msg === 'probed', `job ${id} to be picked up again`, 30_000);
      }
    }
    say(`case 1: injected kill -9 of ${killed.join(' and then ')}, each while processing job ${id}`);
    const job = await waitForJob(stack.baseUrl, token, id, 60_000);
    const events = () => receiver.received.filter((r) => (JSON.parse(r.body) as { data?: { id?: string } }).data?.id === id);
    await waitUntil(async () => events().length >= 1, `the webhook for ${id}`, 20_000);
    await sleep(2_000);
    const hooks = events();
    const event = verifyWebhook(hooks[0].headers, hooks[0].body, [secret]);
    say('case 1: observed after two kills', { status: job.status, error: job.error, webhook_posts: hooks.length, event: event.type, completed_by: await completions(stack, everyWorker, job) });
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('processing_failed');
    expect(hooks).toHaveLength(1);
    expect(event).toMatchObject({ type: 'job.failed', data: { id, status: 'failed' } });
  }, 90_000);
});

/**
 * The worst moment to die: right after the worker's "completed" write reached Redis, before the worker
 * heard back and did the rest (the tenant's in-flight count, the retention index, the webhook). A
 * proxy between that worker and Redis lets the write through, holds the reply, and the worker is
 * killed. The job comes back through stalled-job detection; the next worker finds it completed and
 * must finish the bookkeeping: the tenant's in-flight slot is freed (MAX_JOBS_IN_FLIGHT=1 here, so a
 * leak would refuse the tenant's next upload with 429) and the job.completed webhook goes out, once.
 */
describe('fault: kill -9 of a worker right after its completion reached Redis', () => {
  let stack: Stack;
  let receiver: Receiver;
  const tenant = 'fault-kill-late';

  beforeAll(async () => {
    stack = await startStack({
      name: 'fault-kill-late',
      workers: 0,
      workerEnv: { QUEUE_LOCK_DURATION_MS: String(LOCK_MS), QUEUE_STALLED_INTERVAL_MS: String(STALLED_MS), ...FAST_RETRIES },
      gatewayEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', MAX_JOBS_IN_FLIGHT: '1', ...FAST_RETRIES, ...POLLING_GATEWAY_ENV },
      dispatcherEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', ...FAST_RETRIES },
    });
    receiver = await startReceiver();
  }, 90_000);
  afterAll(async () => {
    await receiver?.close();
    await stack?.stop();
  });

  it('the job stays completed, the tenant keeps its in-flight slot, and the webhook is delivered once', async () => {
    const token = stack.token(tenant);
    const secret = await createWebhookSecret(stack, token);
    // the transition script's arguments when a job completes: status "completed", progress 100
    const proxy = await freezingRedisProxy(stack.redisUrl, Buffer.from('$9\r\ncompleted\r\n$3\r\n100\r\n'));
    try {
      const doomed = await stack.addWorker({ REDIS_URL: proxy.url });
      const created = await submitForm(stack, token, (await fixture('LAST WORDS')).file, { webhook_url: receiver.url });
      expect(created.status).toBe(202);
      const id = created.body.id;
      await Promise.race([proxy.tripped, sleep(30_000).then(() => Promise.reject(new Error('the completion never reached the proxy')))]);
      doomed.process.kill('SIGKILL');
      await exitOf(doomed.process, 5_000);
      const atKill = (await getJob(stack.baseUrl, token, id)).body.status;
      const inFlightAtKill = await inFlight(stack, tenant);
      say(`case 1: injected kill -9 of ${doomed.service} right after its "completed" write for job ${id} reached Redis (reply withheld)`, { status: atKill, tenant_in_flight: inFlightAtKill });

      const next = await stack.addWorker();
      const job = await waitForJob(stack.baseUrl, token, id, 30_000);
      const events = () => receiver.received.filter((r) => (JSON.parse(r.body) as { data?: { id?: string } }).data?.id === id);
      const delivered = await waitUntil(async () => events().length >= 1, `the webhook for ${id}`, 15_000).then(
        () => true,
        () => false,
      );
      const settled = await waitUntil(async () => (await inFlight(stack, tenant)) === 0, 'the in-flight slot to be freed', 15_000).then(
        () => true,
        () => false,
      );
      await sleep(delivered ? 1_500 : 0);
      const again = await submitForm(stack, token, (await fixture('LAST WORDS')).file);
      const skipped = logLines(stack, next.service).some((l) => l.job_id === id && l.msg === 'job no longer wanted: skipping');
      say('case 1: observed after the worst-moment kill', {
        status: job.status,
        text: job.result?.text,
        next_worker_found_it_done: skipped,
        in_flight_slot_freed: settled,
        webhook_posts: events().length,
        next_upload_same_tenant: again.status,
      });
      expect(atKill).toBe('completed');
      expect(job).toMatchObject({ status: 'completed', result: { text: 'LAST WORDS' } });
      expect(settled).toBe(true);
      expect(again.status).toBe(202);
      expect(events()).toHaveLength(1);
      expect(verifyWebhook(events()[0].headers, events()[0].body, [secret])).toMatchObject({ type: 'job.completed', data: { id } });
      if (again.status === 202) await waitForJob(stack.baseUrl, token, again.body.id, 30_000);
    } finally {
      await proxy.close();
    }
  }, 90_000);
});
