import type { z } from 'zod';
import { ChunkPayload } from './chunk';
import { PostprocessPayload, QUEUES, TranscribePayload, type QueueName } from './queue';
import { WebhookDeliveryPayload } from './webhook';

/*
 * Issue 19: the job catalogue. One entry per queue, with everything that producers and consumers
 * must agree on: the payload's schema and version, the retry policy, how long one attempt may take,
 * the lock and what BullMQ keeps of a finished job. `@talkie/queue`'s QueueHost builds queues and
 * workers from it, so a queue without an entry here is a type error, and adding a queue is adding
 * an entry (and a processor where it is consumed).
 */

/** How a failed attempt is retried. */
export type RetryPolicy =
  /** `attempts` in all, waiting `delayMs`, then twice that, … between them */
  | { kind: 'exponential'; attempts: number; delayMs: number }
  /**
   * A custom BullMQ backoff type (the consumer's `backoffStrategy` must know it); the attempts
   * follow a schedule the services read from their config (WEBHOOK_RETRY_SCHEDULE_MS) and are set
   * on each job when it is added.
   */
  | { kind: 'schedule'; backoffType: string };

export interface JobSpec<Q extends QueueName = QueueName, S extends z.ZodType = z.ZodType> {
  queue: Q;
  /** the BullMQ job name used when the producer gives none */
  jobName: string;
  /** validated by the producer on enqueue and again by the consumer on dequeue */
  payload: S;
  /** the payload's `v`: a consumer refuses (fails for good) a payload of another version */
  version: 1;
  retry: RetryPolicy;
  /**
   * The longest one attempt is expected to run, in ms, with the default settings (services pass
   * their configured bound to the host, which sizes the lock from it when `lock.outlastsTimeout`).
   */
  timeoutMs: number;
  lock: {
    /** BullMQ's lock on a running job, in ms: a job whose worker died comes back after at most this */
    durationMs: number;
    /** how often a worker looks for jobs whose lock expired, in ms */
    stalledIntervalMs: number;
    /** how often a job may lose its lock before BullMQ fails it for good ("stalled" give-up) */
    maxStalledCount: number;
    /**
     * true: the lock is at least twice `timeoutMs`, so a slow attempt (an LLM, a receiver) is never
     * taken for a dead one. false: the lock stays short, as the worker renews it while the attempt
     * runs (the inference thread keeps the event loop free), and a dead worker's job returns soon.
     */
    outlastsTimeout: boolean;
  };
  /** what BullMQ keeps of a finished job: the job record store (or the delivery log) is what clients read */
  retention: {
    removeOnComplete: true;
    /** true: at once (the payload carries a transcript); else for this long, at most this many */
    removeOnFail: true | { ageS: number; count: number };
  };
  /** the job is a child of a flow whose parent fails with it (the chunk queue) */
  failParentOnFailure?: true;
}

/** Talkie's work queues (transcription, chunks, postprocess): transient failures get two more tries. */
const WORK_RETRY: RetryPolicy = { kind: 'exponential', attempts: 3, delayMs: 2_000 };
const WORK_RETENTION: JobSpec['retention'] = { removeOnComplete: true, removeOnFail: { ageS: 24 * 3600, count: 10_000 } };
/** BullMQ's defaults: a 30 s lock, checked every 30 s, one lost lock forgiven */
const SHORT_LOCK = { durationMs: 30_000, stalledIntervalMs: 30_000, maxStalledCount: 1 } as const;

/** Name of the webhook queue's custom backoff type (the dispatcher's `webhookBackoffStrategy`). */
export const WEBHOOK_BACKOFF_TYPE = 'talkie-webhook';

export const JOB_CATALOGUE = {
  [QUEUES.transcribe]: {
    queue: QUEUES.transcribe,
    jobName: 'transcribe',
    payload: TranscribePayload,
    version: 1,
    retry: WORK_RETRY,
    // the worker's defaults: PROBE_TIMEOUT_MS + DECODE_TIMEOUT_MS + 10 s for inference
    timeoutMs: 145_000,
    lock: { ...SHORT_LOCK, outlastsTimeout: false },
    retention: WORK_RETENTION,
  },
  [QUEUES.chunks]: {
    queue: QUEUES.chunks,
    jobName: 'chunk',
    payload: ChunkPayload,
    version: 1,
    retry: WORK_RETRY,
    // DECODE_TIMEOUT_MS + 10 s: a window is decoded and read, never probed
    timeoutMs: 130_000,
    lock: { ...SHORT_LOCK, outlastsTimeout: false },
    retention: WORK_RETENTION,
    // a chunk that fails for good fails its parent (the chunk worker records the parent's failure
    // with the chunk's error code first)
    failParentOnFailure: true,
  },
  [QUEUES.postprocess]: {
    queue: QUEUES.postprocess,
    jobName: 'postprocess',
    payload: PostprocessPayload,
    version: 1,
    // The LLM call retries inside the openai client and a failed call still completes the job (with
    // the raw text), so these only cover the service itself: a process that died or lost Redis.
    retry: WORK_RETRY,
    // (LLM_TIMEOUT_MS + 8 s of the client's backoff) × (LLM_MAX_RETRIES + 1), with the defaults
    timeoutMs: 114_000,
    lock: { ...SHORT_LOCK, outlastsTimeout: true },
    retention: WORK_RETENTION,
  },
  [QUEUES.webhooks]: {
    queue: QUEUES.webhooks,
    // a delivery's job name is its event type (`job.completed`, …); this is only the fallback
    jobName: 'delivery',
    payload: WebhookDeliveryPayload,
    version: 1,
    retry: { kind: 'schedule', backoffType: WEBHOOK_BACKOFF_TYPE },
    // WEBHOOK_TIMEOUT_MS: one HTTP exchange
    timeoutMs: 10_000,
    lock: { ...SHORT_LOCK, outlastsTimeout: true },
    // The payload carries the transcript: it leaves Redis as soon as the delivery is settled (the
    // DeliveryLog keeps what integrators see).
    retention: { removeOnComplete: true, removeOnFail: true },
  },
} as const satisfies { [Q in QueueName]: JobSpec<Q> };

export type JobCatalogue = typeof JOB_CATALOGUE;
/** The payload type of a queue, inferred from its schema in the catalogue. */
export type PayloadOf<Q extends QueueName> = z.output<JobCatalogue[Q]['payload']>;

/** Every queue in the catalogue, in a stable order (the gateway's depth gauges, the docs). */
export const CATALOGUE_QUEUES = Object.keys(JOB_CATALOGUE) as QueueName[];
