import os from 'node:os';
import { Redis } from 'ioredis';
import { createRedis, createTranscribeQueue, waitForRedis } from '@talkie/queue';
import { submit } from '../client';
import { busyShare, cpuTimes, processCpuSeconds, sleep } from '../procs';
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
/**
 * 60, not 30: a run of 30 lasts 3–4 s, where the last clip of the 2-worker run (one worker idle
 * while the other finishes it) and scheduling hiccups moved the ratio by ±0.1 between rounds.
 */
const CLIPS = 60;
/** The clock comes from the job records, so polling less often costs no precision; it only spares CPU the workers need. */
const POLL_MS = 250;

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
  /** clips per minute between the 10th and the 90th percentile completion: neither start nor tail */
  steady_clips_per_min: number;
  /** CPU per clip of the worker processes themselves (main and inference threads), all workers together */
  worker_cpu_ms_per_clip: number;
  /** CPU per clip of the ffmpeg runs the workers started */
  ffmpeg_cpu_ms_per_clip: number;
};

/** Completions per minute between the completions at the 10th and 90th percentile of the run. */
export function steadyRate(completedAt: number[]): number {
  const sorted = [...completedAt].sort((a, b) => a - b);
  const from = Math.floor(sorted.length * 0.1);
  const to = Math.floor(sorted.length * 0.9);
  const ms = sorted[to] - sorted[from];
  return ms > 0 ? ((to - from) / ms) * 60_000 : Number.NaN;
}

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
    const workerCpu = () => stack.workers.map((w) => processCpuSeconds(w.child.pid!)).reduce((a, b) => ({ own: a.own + b.own, children: a.children + b.children }));
    const workerCpuBefore = workerCpu();
    await queue.resume();
    const deadline = started + 300_000;
    // finished jobs: their record's last update (the worker's clock), and the error of a failed one
    const finished = new Map<string, { at: number; error?: string }>();
    for (;;) {
      const pending = ids.filter((id) => !finished.has(id));
      const pipe = redis.pipeline();
      for (const id of pending) pipe.hmget(`talkie:job:${id}`, 'status', 'updated_at', 'error');
      const rows = ((await pipe.exec()) ?? []).map(([, v]) => v as [string | null, string | null, string | null]);
      rows.forEach(([status, at, error], i) => {
        if (status === 'completed') finished.set(pending[i], { at: Date.parse(at!) });
        if (status === 'failed') finished.set(pending[i], { at: Date.parse(at!), error: error ?? '?' });
      });
      if (finished.size === ids.length) {
        const machine_cpu_busy = busyShare(cpuBefore, cpuTimes());
        const workerCpuAfter = workerCpu();
        const perClipMs = (seconds: number) => (seconds * 1000) / CLIPS;
        const ends = [...finished.values()];
        const seconds = (Math.max(...ends.map((e) => e.at)) - started) / 1000;
        const errors = ends.flatMap((e) => (e.error ? [e.error] : []));
        return {
          machine_cpu_busy, workers, clips: CLIPS, seconds, clips_per_min: (CLIPS / seconds) * 60, steady_clips_per_min: steadyRate(ends.map((e) => e.at)), failed: errors.length, errors,
          worker_cpu_ms_per_clip: perClipMs(workerCpuAfter.own - workerCpuBefore.own),
          ffmpeg_cpu_ms_per_clip: perClipMs(workerCpuAfter.children - workerCpuBefore.children),
        };
      }
      if (Date.now() > deadline) throw new Error(`${workers} worker(s) did not finish ${CLIPS} clips in 300 s`);
      await sleep(POLL_MS);
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
    const steady = ratio(two.steady_clips_per_min, one.steady_clips_per_min);
    const notes = [
      `${CLIPS} × ${ctx.fixtures.ten.duration_s}-s fixture clips queued while the queue is paused, then released; clock stops at the last completion; ${ROUNDS} rounds each, best round`,
      `steady state (10th to 90th percentile completion, no warm-up or tail): 1 worker ${fmt(one.steady_clips_per_min)}, 2 workers ${fmt(two.steady_clips_per_min)} clips/min, ${fmt(steady)}×`,
      `CPU per clip: worker processes ${fmt(one.worker_cpu_ms_per_clip)} ms + their ffmpeg runs ${fmt(one.ffmpeg_cpu_ms_per_clip)} ms with 1 worker; ${fmt(two.worker_cpu_ms_per_clip)} + ${fmt(two.ffmpeg_cpu_ms_per_clip)} ms with 2`,
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
