import type { JobResource } from '@talkie/contracts';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { startStack, type Stack } from './support/stack';

/**
 * Dynamic batching end to end: the same videos through a worker that batches (MAX_BATCH=4, clips
 * of different lengths padded together, chunks of a long video together) and one that does not;
 * the transcripts are identical, word timings included, and right.
 */
const CLIPS = ['HELLO WORLD', 'READ MY LIPS', 'BATCH ME', 'SAME SIZE', 'EQUAL LEN', 'A LONGER SENTENCE HERE', 'OK'];
const LONG = { text: 'CHUNKS SHARE A BATCH TOO', padSeconds: 50 };

interface Run {
  jobs: JobResource[];
  batchSizes: { count: number; sum: number };
  ready: Record<string, unknown>;
}

async function runAll(stack: Stack): Promise<Run> {
  const token = stack.token('alice');
  const videos = await Promise.all([...CLIPS.map((text) => fixture(text)), fixture(LONG.text, { padSeconds: LONG.padSeconds })]);
  // all at once, so that they wait for inference together
  const created = await Promise.all(videos.map((v) => submit(stack.baseUrl, token, v.file)));
  const jobs = await Promise.all(created.map((c) => waitForJob(stack.baseUrl, token, c.body.id, 180_000)));
  const metrics = await (await fetch(`http://127.0.0.1:${stack.workerPorts[0]}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  const ready = (await (await fetch(`http://127.0.0.1:${stack.workerPorts[0]}/readyz`)).json()) as Record<string, unknown>;
  return { jobs, batchSizes: { count: value('talkie_worker_batch_size_count'), sum: value('talkie_worker_batch_size_sum') }, ready };
}

const GATEWAY = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_JOBS_MAX: '1000' };
const COMMON = { CHUNK_SECONDS: '20', CHUNK_OVERLAP_S: '4', INTRA_OP_THREADS: '1' };

describe('dynamic batching', () => {
  let batched: Run;
  let single: Run;
  beforeAll(async () => {
    const a = await startStack({ name: 'batching-on', gatewayEnv: GATEWAY, workerEnv: { ...COMMON, MAX_BATCH: '4', BATCH_WINDOW_MS: '1500', WORKER_CONCURRENCY: '4', CHUNK_CONCURRENCY: '4' } });
    try {
      batched = await runAll(a);
    } finally {
      await a.stop();
    }
    const b = await startStack({ name: 'batching-off', gatewayEnv: GATEWAY, workerEnv: { ...COMMON, MAX_BATCH: '1', WORKER_CONCURRENCY: '4', CHUNK_CONCURRENCY: '4' } });
    try {
      single = await runAll(b);
    } finally {
      await b.stop();
    }
  }, 420_000);

  it('really batched: several clips per inference call, padded to the longest', () => {
    expect(batched.ready).toMatchObject({ batching: { max_batch: 4, padding: 'pad' } });
    expect(single.ready).toMatchObject({ batching: { max_batch: 1 } });
    // every clip and chunk went through inference once; fewer calls than items means batches of more than one
    expect(batched.batchSizes.sum).toBe(single.batchSizes.sum);
    expect(batched.batchSizes.count).toBeLessThan(batched.batchSizes.sum);
    expect(single.batchSizes.count).toBe(single.batchSizes.sum);
  });

  it('gives transcripts identical to batch size 1, and right', () => {
    expect(batched.jobs.map((j) => j.status)).toEqual(single.jobs.map(() => 'completed'));
    expect(single.jobs.map((j) => j.status)).toEqual(single.jobs.map(() => 'completed'));
    batched.jobs.forEach((job, i) => {
      expect(job.result).toEqual(single.jobs[i].result);
      expect(job.result?.text).toBe([...CLIPS, LONG.text][i]);
    });
  });
});
