import os from 'node:os';
import { Redis } from 'ioredis';
import { createRedis, createTranscribeQueue, waitForRedis } from '@talkie/queue';
import { submit } from '../client';
import { busyShare, cpuTimes, sleep } from '../procs';
import { fmt, ratio } from '../report';
import { redisUrl, startStack } from '../stack';
import type { RowSpec } from './types';

const DB = 9 as const;
/**
 * Scaling out by processes means one core per worker: with the defaults, one worker's ffmpeg and
 * ONNX Runtime already spread over every core, so a second worker mostly contends with it.
 * Measured on 2 cores (2026-11-29): defaults 400 → 511 clips/min (1.28×); one thread each
 * 333 → 615 (1.84×), more clips per minute with 2 workers either way.
 */
const ONE_CORE_EACH = { INTRA_OP_THREADS: '1', DECODE_THREADS: '1' };
const CLIPS = 30;

type Run = {
  workers: number;
  clips: number;
  seconds: number;
  clips_per_min: number;
  failed: number;
  /** error codes of failed jobs */
  errors: string[];
  /** share of the machine's CPU time that was busy while the clips were processed */
  machine_cpu_busy: number;
};

/**
 * Throughput of `workers` worker processes: CLIPS uploads are queued while the queue is paused, then
 * the queue is resumed and the clock runs until the last job's record says completed (the worker's
 * own timestamp), so neither uploading nor polling is in the figure.
 */
async function measure(ctx: Parameters<RowSpec['run']>[0], workers: number): Promise<Run> {
  const stack = await startStack({ name: `scale-${workers}`, db: DB, workers, tmp: ctx.tmp, demoModelDir: ctx.demoModelDir, workerEnv: ONE_CORE_EACH });
  const producer = createRedis(stack.redisUrl, 'producer');
  const redis = new Redis(stack.redisUrl);
  const queue = createTranscribeQueue(producer);
  try {
    await waitForRedis(producer);
    const token = stack.token('bench-scale');
    await queue.pause();
    const ids: string[] = [];
    for (let i = 0; i < CLIPS; i++) ids.push((await submit(stack.baseUrl, token, ctx.fixtures.ten.file)).id);
    const started = Date.now();
    const cpuBefore = cpuTimes();
    await queue.resume();
    const deadline = started + 300_000;
    for (;;) {
      const pipe = redis.pipeline();
      for (const id of ids) pipe.hmget(`talkie:job:${id}`, 'status', 'updated_at', 'error');
      const rows = ((await pipe.exec()) ?? []).map(([, v]) => v as [string | null, string | null, string | null]);
      if (rows.every(([status]) => status === 'completed' || status === 'failed')) {
        const last = Math.max(...rows.map(([, at]) => Date.parse(at!)));
        const seconds = (last - started) / 1000;
        const machine_cpu_busy = busyShare(cpuBefore, cpuTimes());
        return {
          machine_cpu_busy, workers, clips: CLIPS, seconds, clips_per_min: (CLIPS / seconds) * 60, failed: rows.filter(([s]) => s === 'failed').length, errors: rows.filter(([s]) => s === 'failed').map(([, , e]) => e ?? '?') };
      }
      if (Date.now() > deadline) throw new Error(`${workers} worker(s) did not finish ${CLIPS} clips in 300 s`);
      await sleep(100);
    }
  } finally {
    await queue.close();
    producer.disconnect();
    await redis.flushdb();
    redis.disconnect();
    await stack.stop();
  }
}

const ROUNDS = 2;

/**
 * Row 7: 10-s clips per minute with 1 and with 2 worker processes (one ffmpeg and one ONNX Runtime
 * thread each, ONE_CORE_EACH) on this
 * machine, in interleaved rounds (1, 2, 1, 2); each side's best round counts.
 */
export const scaleOutRow: RowSpec = {
  id: 7,
  name: 'scale-out',
  target: '2 workers ≥ 1.6 × 1 worker',
  async run(ctx) {
    const runs: Run[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const workers of [1, 2]) {
        ctx.log(`  round ${round + 1}: ${workers} worker${workers > 1 ? 's' : ''}, ${CLIPS} clips`);
        runs.push(await measure(ctx, workers));
      }
    }
    const best = (workers: number) => runs.filter((r) => r.workers === workers).reduce((a, b) => (b.clips_per_min > a.clips_per_min ? b : a));
    const one = best(1);
    const two = best(2);
    const r = ratio(two.clips_per_min, one.clips_per_min);
    const notes = [
      `${CLIPS} × ${ctx.fixtures.ten.duration_s}-s fixture clips queued while the queue is paused, then released; clock stops at the last completion; ${ROUNDS} rounds each, best round`,
      `gateway, Redis and the workers share the machine's ${os.cpus().length} cores; workers at concurrency 1 with INTRA_OP_THREADS=1 and DECODE_THREADS=1 (one core each); machine CPU busy while processing: 1 worker ${fmt(one.machine_cpu_busy * 100)}%, 2 workers ${fmt(two.machine_cpu_busy * 100)}%`,
    ];
    const failed = runs.flatMap((x) => x.errors);
    if (failed.length) notes.push(`${failed.length} jobs failed: ${[...new Set(failed)].join('; ')}`);
    return {
      talkie: `2 workers: ${fmt(two.clips_per_min)} clips/min`,
      baseline: `1 worker: ${fmt(one.clips_per_min)} clips/min`,
      ratio: r,
      ratioLabel: '2 workers / 1',
      checks: [{ label: 'speed-up with 2 workers', value: r, op: '>=', limit: 1.6 }],
      figures: { ...two, rounds_clips_per_min: runs.filter((x) => x.workers === 2).map((x) => x.clips_per_min) },
      baselineFigures: { ...one, rounds_clips_per_min: runs.filter((x) => x.workers === 1).map((x) => x.clips_per_min) },
      notes,
    };
  },
};
