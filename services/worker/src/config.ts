import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseExecutionProviders } from '@talkie/inference';
import { checkMediaEnv, MediaEnv, PROBER_MODES } from '@talkie/media';
import { checkStorageEnv, StorageEnv } from '@talkie/storage';
import { WebhookRetryEnv } from '@talkie/webhooks';
import { ConfigError, crossKeyCheck, envBoolean, envInt, LogLevel, parseEnv } from '@talkie/runtime';

/**
 * Every setting of the worker, with its env name, default and unit in one place; the settings of
 * the packages it configures (storage, ffmpeg, webhook retries) are theirs, merged here.
 */
export const WorkerEnv = z
  .object({
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    ...StorageEnv,
    ...MediaEnv,
    ...WebhookRetryEnv,
    /** model package folder (model.json + model.onnx); unset: the built-in demo model */
    MODEL_DIR: z.string().optional(),
    /**
     * face package (face.json + ONNX models) for models whose ROI is `landmarks` and that name none
     * of their own; unset: face-api's models converted into .talkie/models/faces
     */
    FACE_MODEL_DIR: z.string().optional(),
    /** where the demo model is generated when MODEL_DIR is unset */
    DEMO_MODEL_DIR: z.string().default(path.join(os.tmpdir(), 'talkie', 'models', 'demo')),
    /** comma-separated ONNX Runtime execution providers, in order of preference */
    EXECUTION_PROVIDERS: z
      .string()
      .default('cpu')
      .superRefine((value, ctx) => {
        try {
          parseExecutionProviders(value);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    /** GPU index for the cuda/tensorrt providers; unset: the provider's default (0) */
    EXECUTION_DEVICE_ID: z.coerce.number().int().min(0).max(64).optional(),
    /** ffmpeg decoder threads per job; 0 lets ffmpeg choose (about one per core) */
    DECODE_THREADS: envInt(0, { min: 0, max: 64 }),
    /** ONNX Runtime intra-op threads; 0 lets it choose */
    INTRA_OP_THREADS: envInt(0, { min: 0, max: 256 }),
    /** ONNX Runtime inter-op threads (independent graph branches in parallel); 0: sequential execution */
    INTER_OP_THREADS: envInt(0, { min: 0, max: 256 }),
    /**
     * dynamic batching: inference calls (clips or chunks in flight in this process) waiting at once are
     * run together, up to this many; 1 turns batching off. Useful with WORKER_CONCURRENCY or
     * CHUNK_CONCURRENCY of at least this much.
     */
    MAX_BATCH: envInt(1, { min: 1, max: 64 }),
    /** how long the first waiting call waits for others to fill a batch, in ms */
    BATCH_WINDOW_MS: envInt(10, { min: 0, max: 10_000 }),
    /**
     * long videos: a video longer than this is split into windows of this many seconds, transcribed
     * as child jobs by any worker and merged; 0 (default) turns chunking off
     */
    CHUNK_SECONDS: envInt(0, { min: 0, max: 3600 }),
    /** seconds shared by neighbouring windows; must be at least the longest word, and under half a window */
    CHUNK_OVERLAP_S: z.coerce.number().min(0).max(600).default(4),
    /** chunk jobs processed at once by this process (each runs its own ffmpeg); default: MAX_BATCH, at least 1 */
    CHUNK_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
    /** jobs processed at once by this process */
    WORKER_CONCURRENCY: envInt(1, { min: 1, max: 64 }),
    /** CPU niceness of this process and its ffmpeg children, so the gateway on the same box stays responsive */
    WORKER_NICE: envInt(10, { min: 0, max: 19 }),
    /** CTC decoder: the manifest's choice unless set */
    CTC_DECODER: z.enum(['greedy', 'beam', 'joint']).optional(),
    BEAM_WIDTH: z.coerce.number().int().min(1).max(256).optional(),
    /** joint CTC/attention decoding's CTC weight λ (0–1); the manifest's unless set */
    CTC_WEIGHT: z.coerce.number().min(0).max(1).optional(),
    /** longest video accepted, in seconds */
    MAX_DURATION_S: envInt(120, { min: 1 }),
    /**
     * BullMQ job lock: a worker holds each job's lock for this long and renews it at half of it. A
     * worker that dies (kill -9, lost node) loses its jobs' locks after at most this long.
     */
    QUEUE_LOCK_DURATION_MS: envInt(30_000, { min: 1_000 }),
    /** how often a worker looks for jobs whose lock expired (stalled) and hands them back to the queue, in ms */
    QUEUE_STALLED_INTERVAL_MS: envInt(30_000, { min: 500 }),
    /**
     * re-check the gateway's recorded probe of an upload (by SHA-256 of its bytes, see ProbeMemo)
     * instead of running ffprobe again; false: always run ffprobe here too
     */
    REUSE_GATEWAY_PROBE: envBoolean(true),
    /** limits on ffprobe and ffmpeg runs, in ms */
    PROBE_TIMEOUT_MS: envInt(15_000, { min: 100 }),
    /** how files are probed when no gateway record serves: `auto` (talkie-probe when built for this ffmpeg, else ffprobe), `resident`, `ffprobe` */
    PROBER: z.enum(PROBER_MODES).default('auto'),
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
  })
  .check(crossKeyCheck(checkStorageEnv), crossKeyCheck(checkMediaEnv));
export type WorkerConfig = z.infer<typeof WorkerEnv>;

export const loadWorkerConfig = (env: NodeJS.ProcessEnv = process.env): WorkerConfig => {
  const config = parseEnv(WorkerEnv, env);
  if (config.CHUNK_SECONDS > 0 && config.CHUNK_OVERLAP_S * 2 >= config.CHUNK_SECONDS) {
    throw new ConfigError(`Invalid configuration:\n  CHUNK_OVERLAP_S: ${config.CHUNK_OVERLAP_S} must be less than half of CHUNK_SECONDS (${config.CHUNK_SECONDS})`);
  }
  return config;
};
