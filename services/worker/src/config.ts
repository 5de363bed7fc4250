import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { envBoolean, envInt, LogLevel, parseEnv } from '@talkie/runtime';

/** Every setting of the worker, with its env name, default and unit in one place. */
export const WorkerEnv = z.object({
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  STORAGE_URL: z.string().default(`file://${process.cwd()}/.talkie/storage`),
  /** model package folder (model.json + model.onnx); unset: the built-in demo model */
  MODEL_DIR: z.string().optional(),
  /** where the demo model is generated when MODEL_DIR is unset */
  DEMO_MODEL_DIR: z.string().default(path.join(os.tmpdir(), 'talkie', 'models', 'demo')),
  /** comma-separated ONNX Runtime execution providers, in order of preference */
  EXECUTION_PROVIDERS: z.string().default('cpu'),
  /** ONNX Runtime intra-op threads; 0 lets it choose */
  INTRA_OP_THREADS: envInt(0, { min: 0, max: 256 }),
  /** jobs processed at once by this process */
  WORKER_CONCURRENCY: envInt(1, { min: 1, max: 64 }),
  /** CPU niceness of this process and its ffmpeg children, so the gateway on the same box stays responsive */
  WORKER_NICE: envInt(10, { min: 0, max: 19 }),
  /** CTC decoder: the manifest's choice unless set */
  CTC_DECODER: z.enum(['greedy', 'beam']).optional(),
  BEAM_WIDTH: z.coerce.number().int().min(1).max(256).optional(),
  /** longest video accepted, in seconds */
  MAX_DURATION_S: envInt(120, { min: 1 }),
  /**
   * BullMQ job lock: a worker holds each job's lock for this long and renews it at half of it. A
   * worker that dies (kill -9, lost node) loses its jobs' locks after at most this long.
   */
  QUEUE_LOCK_DURATION_MS: envInt(30_000, { min: 1_000 }),
  /** how often a worker looks for jobs whose lock expired (stalled) and hands them back to the queue, in ms */
  QUEUE_STALLED_INTERVAL_MS: envInt(30_000, { min: 500 }),
  /** limits on ffprobe and ffmpeg runs, in ms */
  PROBE_TIMEOUT_MS: envInt(15_000, { min: 100 }),
  DECODE_TIMEOUT_MS: envInt(120_000, { min: 100 }),
  /**
   * oldest ffmpeg major version the worker starts with; ffmpeg parses untrusted uploads, and old
   * builds carry known, fixed bugs. Git snapshot builds (no release number) count as older.
   */
  FFMPEG_MIN_MAJOR: envInt(5, { min: 1, max: 99 }),
  /** explicit override: start with an ffmpeg older than FFMPEG_MIN_MAJOR anyway (logged as a warning) */
  FFMPEG_ALLOW_OLD: envBoolean(false),
  /** how long finished jobs and their results are kept, in seconds (default 24 h) */
  RESULT_TTL_S: envInt(24 * 3600, { min: 60 }),
  /** optional /healthz and /readyz server for orchestrators; off when unset */
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HEALTH_HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: LogLevel,
});
export type WorkerConfig = z.infer<typeof WorkerEnv>;

export const loadWorkerConfig = (env: NodeJS.ProcessEnv = process.env): WorkerConfig => parseEnv(WorkerEnv, env);
