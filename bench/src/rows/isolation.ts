import { mkdirSync, openAsBlob } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import { JobStore } from '@talkie/queue';
import type { TranscriptResult } from '@talkie/contracts';
import { submit, waitForJob } from '../client';
import { runLoad, type LoadOptions, type LoadResult } from '../load';
import { busyShare, cpuTimes, sleep } from '../procs';
import { correctCoordinatedOmission, fmt, ratio, summarize, type Summary } from '../report';
import { redisUrl, startStack } from '../stack';
import { startBaselineServer } from './throughput';
import type { RowSpec } from './types';

const DB = 6 as const;
/**
 * The poll load: 300 req/s on one connection. autocannon meets a rate by sending each connection's
 * quota for the second back to back and then waiting, so with one connection no request ever
 * queues behind another of ours: each latency is the server's own answer time.
 */
const RATE = 300;
const CONNECTIONS = 1;
/**
 * 30 s per phase (9,000 polls): the p99 of either phase rests on a few stalls of 5-25 ms that
 * loopback polling sees on this shared machine even with idle workers; 15-s windows let one or two
 * of them move the ratio between 0.7 and 3.
 */
const DURATION_S = 30;
const BACKLOG = 100;
const WORKERS = 2;

interface Phase {
  load: LoadResult;
  /** latencies with coordinated omission corrected at the intended interval (report.ts) */
  corrected: Summary;
  cpu_busy: number;
}

async function phase(options: LoadOptions): Promise<Phase> {
  const before = cpuTimes();
  const load = await runLoad(options);
  return { load, corrected: summarize(correctCoordinatedOmission(load.samples, 1000 / RATE)), cpu_busy: busyShare(before, cpuTimes()) };
}

const figures = (p: Phase) => ({
  req_per_s: p.load.rps,
  ok: p.load.ok,
  non2xx: p.load.non2xx,
  errors: p.load.errors,
  latency_ms: p.load.latency,
  latency_ms_co_corrected: p.corrected,
  machine_cpu_busy: p.cpu_busy,
});
const pXX = (p: Phase) => `p50 ${fmt(p.corrected.p50)} / p99 ${fmt(p.corrected.p99)} ms`;

async function statusCounts(redis: Redis, ids: string[]): Promise<Record<string, number>> {
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hget(`talkie:job:${id}`, 'status');
  const replies = (await pipe.exec()) ?? [];
  const counts: Record<string, number> = {};
  for (const [, status] of replies) counts[String(status)] = (counts[String(status)] ?? 0) + 1;
  return counts;
}

/**
 * Row 1: does heavy work slow the API down? GET /v1/jobs/{id} is polled at a steady rate, first with
 * idle workers, then while 2 workers chew through a backlog of 100-s videos. The baseline is the same
 * poll against a one-process server that transcribes inside its upload handler, idle and then with 2
 * uploads always in progress (bench/src/servers/inline-server.ts).
 */
export const isolationRow: RowSpec = {
  id: 1,
  name: 'API isolation',
  target: 'p99 busy/idle ≤ 2.0; inline server reported beside it',
  async run(ctx) {
    const url = redisUrl(DB);
    const notes: string[] = [];
    let idle: Phase;
    let busy: Phase;
    let result: TranscriptResult;
    let backlog: Record<string, number>;

    // Talkie: gateway + 2 workers, at the lower CPU priority they take by default.
    const redis = new Redis(url);
    const stack = await startStack({ name: 'isolation', db: DB, workers: WORKERS, tmp: ctx.tmp, demoModelDir: ctx.demoModelDir });
    try {
      const token = stack.token('bench-isolation');
      const polled = await waitForJob(stack.baseUrl, token, (await submit(stack.baseUrl, token, ctx.fixtures.short.file)).id);
      if (polled.status !== 'completed') throw new Error(`the polled job ended ${polled.status}: ${JSON.stringify(polled.error)}`);
      result = polled.result as TranscriptResult;
      const poll = { url: `${stack.baseUrl}/v1/jobs/${polled.id}`, headers: { authorization: `Bearer ${token}` }, connections: CONNECTIONS, overallRate: RATE, durationS: DURATION_S };
      ctx.log('  Talkie, idle workers');
      idle = await phase({ ...poll, warmupS: 2 });

      ctx.log(`  Talkie, ${WORKERS} workers on a backlog of ${BACKLOG} × ${ctx.fixtures.long.duration_s}-s videos`);
      const ids: string[] = [];
      let submitted = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (submitted++ < BACKLOG) ids.push((await submit(stack.baseUrl, token, ctx.fixtures.long.file)).id);
        }),
      );
      const deadline = Date.now() + 30_000;
      while (((await statusCounts(redis, ids)).processing ?? 0) < WORKERS && Date.now() < deadline) await sleep(50);
      busy = await phase(poll);
      backlog = await statusCounts(redis, ids);
      if (!backlog.queued) notes.push(`WARNING: the backlog ran out during the busy window (${JSON.stringify(backlog)}): the workers were not busy throughout`);
    } finally {
      await stack.stop();
      await redis.flushdb();
      redis.disconnect();
    }

    // Baseline: everything in one process, the work inside the request handler.
    const secret = `bench-inline-${process.pid}-0123456789abcdef0123456789abcdef`;
    const uploadDir = path.join(ctx.tmp, 'inline-uploads');
    mkdirSync(uploadDir, { recursive: true });
    const store = new Redis(url);
    let inlineIdle: Phase;
    let inlineBusy: Phase;
    let inlineDone = 0;
    const inlineErrors: string[] = [];
    try {
      // the same record, read by the same JobStore code, as Talkie's gateway serves
      const id = '0b6e7a52-8f3c-4c1e-9a7d-2f5b8c9d0e1f';
      const jobs = new JobStore(store, 3_600_000);
      await jobs.create({ id, tenant: 'bench-inline', upload_key: `uploads/${id}` });
      await jobs.markProcessing(id);
      await jobs.complete(id, result);
      const server = await startBaselineServer('inline-server', ctx.tmp, { REDIS_URL: url, JWT_SECRET: secret, MODEL_DIR: ctx.demoModelDir, UPLOAD_DIR: uploadDir });
      try {
        const token = jwt.sign({ scope: 'jobs:read jobs:write' }, secret, { algorithm: 'HS256', subject: 'bench-inline', expiresIn: '1h' });
        const poll = { url: `${server.baseUrl}/v1/jobs/${id}`, headers: { authorization: `Bearer ${token}` }, connections: CONNECTIONS, overallRate: RATE, durationS: DURATION_S };
        ctx.log('  inline server, idle');
        inlineIdle = await phase({ ...poll, warmupS: 2 });
        ctx.log(`  inline server, ${WORKERS} uploads always in progress`);
        const video = await openAsBlob(ctx.fixtures.long.file);
        let stop = false;
        const uploader = async () => {
          while (!stop) {
            const form = new FormData();
            form.append('video', video, 'long.mp4');
            const res = await fetch(`${server.baseUrl}/v1/transcribe`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } });
            const text = await res.text();
            if (res.ok) inlineDone++;
            else inlineErrors.push(`${res.status} ${text.slice(0, 200)}`);
          }
        };
        const uploaders = Array.from({ length: WORKERS }, uploader);
        await sleep(500); // both uploads inside their handlers
        inlineBusy = await phase(poll);
        stop = true;
        await Promise.all(uploaders);
      } finally {
        await server.proc.stop();
      }
    } finally {
      await store.flushdb();
      store.disconnect();
    }
    if (inlineErrors.length) notes.push(`inline server: ${inlineErrors.length} uploads failed, e.g. ${inlineErrors[0]}`);

    const r = ratio(busy.corrected.p99, idle.corrected.p99);
    const inlineRatio = ratio(inlineBusy.corrected.p99, inlineIdle.corrected.p99);
    for (const [name, p] of [['Talkie idle', idle], ['Talkie busy', busy], ['inline idle', inlineIdle], ['inline busy', inlineBusy]] as const) {
      if (p.load.non2xx || p.load.errors) notes.push(`${name}: ${p.load.non2xx} non-2xx answers, ${p.load.errors} errors (not in the latencies)`);
      if (p.load.rps < RATE * 0.95) notes.push(`${name}: only ${fmt(p.load.rps)} of ${RATE} req/s answered: the server fell behind`);
    }
    notes.push(
      `autocannon, ${RATE} req/s on ${CONNECTIONS} connection, ${DURATION_S} s per phase; latencies corrected for coordinated omission at ${fmt(1000 / RATE)} ms ` +
        `(uncorrected p99: Talkie idle ${fmt(idle.load.latency.p99)}, busy ${fmt(busy.load.latency.p99)}; inline idle ${fmt(inlineIdle.load.latency.p99)}, busy ${fmt(inlineBusy.load.latency.p99)} ms)`,
      `machine CPU busy during the windows: Talkie idle ${fmt(idle.cpu_busy * 100)}%, busy ${fmt(busy.cpu_busy * 100)}%; inline idle ${fmt(inlineIdle.cpu_busy * 100)}%, busy ${fmt(inlineBusy.cpu_busy * 100)}%`,
      `Talkie workers at their defaults (nice 10, concurrency 1); ${BACKLOG} jobs of ${ctx.fixtures.long.duration_s} s queued, after the window: ${JSON.stringify(backlog)}`,
    );
    return {
      talkie: `idle ${pXX(idle)}; busy ${pXX(busy)}`,
      baseline: `inline server: idle ${pXX(inlineIdle)}; busy ${pXX(inlineBusy)}; p99 busy/idle ${fmt(inlineRatio)}`,
      ratio: r,
      ratioLabel: 'Talkie p99 busy / idle',
      checks: [{ label: 'Talkie p99 busy/idle', value: r, op: '<=', limit: 2 }],
      figures: { idle: figures(idle), busy: figures(busy), p99_ratio: r, backlog: { jobs: BACKLOG, video_s: ctx.fixtures.long.duration_s, status_after_window: backlog } },
      baselineFigures: { idle: figures(inlineIdle), busy: figures(inlineBusy), p99_ratio: inlineRatio, transcriptions_done: inlineDone },
      notes,
    };
  },
};
