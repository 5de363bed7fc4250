import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '@talkie/contracts';
import { createRedis, QueueHost, waitForRedis } from '@talkie/queue';
import { fmt, median, ratio, summarize, type Summary } from '../report';
import { redisUrl } from '../stack';
import type { RowSpec } from './types';

const DB = 8 as const;
const CONCURRENCY = 50;
const LATENCY_JOBS = 300;
const LATENCY_WARMUP = 50;
const THROUGHPUT_JOBS = 4_000;
/** enqueues in flight at once while measuring throughput */
const PRODUCERS = 64;
const ROUNDS = 3;

interface Path {
  name: string;
  /** enqueues one job; `mark` is called with the key the processor will see */
  enqueue(mark: (key: string) => void): Promise<void>;
  startWorker(onStart: (key: string) => void): Worker;
  close(): Promise<void>;
}

/** Talkie's own job path: the QueueHost the services use (issue 19): catalogue options, payloads validated on enqueue and dequeue. */
async function talkiePath(url: string): Promise<Path> {
  const probe = createRedis(url, 'producer');
  await waitForRedis(probe);
  probe.disconnect();
  const quiet = { warn: () => undefined, error: () => undefined };
  const host = new QueueHost({ redisUrl: url, logger: quiet });
  return {
    name: 'talkie',
    async enqueue(mark) {
      const id = randomUUID();
      mark(id);
      await host.add(QUEUES.transcribe, { v: 1, job_id: id, tenant: 'bench', upload_key: `uploads/${id}`, upload_bytes: 1_000 }, { jobId: id });
    },
    startWorker(onStart) {
      const worker = host.consume(QUEUES.transcribe, async (job) => onStart(job.id!), { concurrency: CONCURRENCY });
      void worker.run();
      return worker;
    },
    async close() {
      await host.queue(QUEUES.transcribe).obliterate({ force: true }).catch(() => undefined);
      await host.close();
    },
  };
}

/** The baseline: BullMQ as its README shows it, default options, a queue of its own. */
async function rawPath(url: string): Promise<Path> {
  const producer = new Redis(url);
  const queue = new Queue('bench-raw-noop', { connection: producer });
  const workerConnections: Redis[] = [];
  let seq = 0;
  return {
    name: 'raw',
    async enqueue(mark) {
      const key = String(seq++);
      mark(key);
      await queue.add('noop', { key });
    },
    startWorker(onStart) {
      const connection = new Redis(url, { maxRetriesPerRequest: null });
      workerConnections.push(connection);
      return new Worker('bench-raw-noop', async (job) => onStart((job.data as { key: string }).key), { connection, concurrency: CONCURRENCY });
    },
    async close() {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      producer.disconnect();
      for (const c of workerConnections) c.disconnect();
    },
  };
}

interface PathFigures {
  latency: Summary[];
  jobsPerS: number[];
}

async function measure(make: () => Promise<Path>): Promise<{ latency: Summary; jobsPerS: number }> {
  const path = await make();
  const enqueuedAt = new Map<string, number>();
  const waiters = new Map<string, (at: number) => void>();
  const latencies: number[] = [];
  let onStart = (key: string) => {
    const at = performance.now();
    const waiter = waiters.get(key);
    if (waiter) waiter(at);
  };
  const worker = path.startWorker((key) => onStart(key));
  try {
    await worker.waitUntilReady();
    // Latency: one job at a time through an idle worker, enqueue call → processor start.
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_JOBS; i++) {
      let key = '';
      let resolveStart!: (at: number) => void;
      const started = new Promise<number>((resolve) => (resolveStart = resolve));
      await path.enqueue((k) => {
        key = k;
        waiters.set(k, resolveStart);
        enqueuedAt.set(k, performance.now());
      });
      const at = await started;
      if (i >= LATENCY_WARMUP) latencies.push(at - enqueuedAt.get(key)!);
      waiters.delete(key);
    }
    // Throughput: THROUGHPUT_JOBS no-op jobs enqueued by PRODUCERS concurrent callers while the
    // worker drains them; first enqueue → last completion.
    let completed = 0;
    onStart = () => undefined;
    const done = new Promise<number>((resolve) => {
      worker.on('completed', () => {
        if (++completed === THROUGHPUT_JOBS) resolve(performance.now());
      });
    });
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: PRODUCERS }, async () => {
        while (next < THROUGHPUT_JOBS) {
          next++;
          await path.enqueue(() => undefined);
        }
      }),
    );
    const finished = await done;
    return { latency: summarize(latencies), jobsPerS: THROUGHPUT_JOBS / ((finished - started) / 1000) };
  } finally {
    await worker.close();
    await path.close();
  }
}

/**
 * Row 4: what Talkie's job path costs over BullMQ itself. Both run in this process against the same
 * Redis (database 8), with a no-op processor at concurrency 50, in interleaved rounds.
 */
export const queueRow: RowSpec = {
  id: 4,
  name: 'queue overhead',
  target: '≥ 0.5 of raw BullMQ jobs/s; enqueue→start p50 ≤ 2 ms',
  async run() {
    const url = redisUrl(DB);
    const flush = async () => {
      const r = new Redis(url);
      await r.flushdb();
      r.disconnect();
    };
    const talkie: PathFigures = { latency: [], jobsPerS: [] };
    const raw: PathFigures = { latency: [], jobsPerS: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [figures, make] of [[raw, rawPath], [talkie, talkiePath]] as const) {
        await flush();
        const m = await measure(() => make(url));
        figures.jobsPerS.push(m.jobsPerS);
        figures.latency.push(m.latency);
      }
    }
    await flush();
    const lat = (f: PathFigures) => ({ p50: median(f.latency.map((l) => l.p50)), p99: median(f.latency.map((l) => l.p99)) });
    const talkieLatency = lat(talkie);
    const rawLatency = lat(raw);
    const talkieRate = median(talkie.jobsPerS);
    const rawRate = median(raw.jobsPerS);
    const r = ratio(talkieRate, rawRate);
    return {
      talkie: `${fmt(talkieRate)} jobs/s; enqueue→start p50 ${fmt(talkieLatency.p50)} ms, p99 ${fmt(talkieLatency.p99)} ms`,
      baseline: `raw BullMQ: ${fmt(rawRate)} jobs/s; p50 ${fmt(rawLatency.p50)} ms, p99 ${fmt(rawLatency.p99)} ms`,
      ratio: r,
      ratioLabel: 'jobs/s Talkie / raw',
      checks: [
        { label: 'jobs/s ratio', value: r, op: '>=', limit: 0.5 },
        { label: 'enqueue→start p50 (ms)', value: talkieLatency.p50, op: '<=', limit: 2 },
      ],
      figures: { jobs_per_s: talkieRate, rounds_jobs_per_s: talkie.jobsPerS, enqueue_to_start_ms: talkieLatency, rounds_enqueue_to_start_ms: talkie.latency },
      baselineFigures: { jobs_per_s: rawRate, rounds_jobs_per_s: raw.jobsPerS, enqueue_to_start_ms: rawLatency, rounds_enqueue_to_start_ms: raw.latency },
      notes: [
        `producer and no-op worker (concurrency ${CONCURRENCY}) in the bench process, Redis DB ${DB}; latency: ${LATENCY_JOBS} jobs one at a time; throughput: ${THROUGHPUT_JOBS} jobs from ${PRODUCERS} concurrent producers; medians over ${ROUNDS} interleaved rounds (of each round's p50 and p99)`,
        "Talkie's path: QueueHost.add + QueueHost.consume (zod validation on enqueue and dequeue, jobId = job id, the catalogue's attempts 3, removeOnComplete); raw: queue.add with BullMQ's defaults",
      ],
    };
  },
};
