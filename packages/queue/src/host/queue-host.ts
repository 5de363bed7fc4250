import type { Redis } from 'ioredis';
import { Queue, UnrecoverableError, Worker, type BackoffStrategy, type Job, type JobsOptions } from 'bullmq';
import { CATALOGUE_QUEUES, JOB_CATALOGUE, QUEUE_PREFIX, type JobSpec, type PayloadOf, type QueueName } from '@talkie/contracts';
import { createRedis } from '../redis';
import { giveUpReason, type GiveUpReason } from './give-up';

/*
 * Issue 19: the one place where Talkie's services meet BullMQ. Queues and workers are built from
 * the job catalogue (contracts' JOB_CATALOGUE): payloads validated on both sides, the spec's retry,
 * lock and retention settings, "BullMQ gave up" read from BullMQ's state, depth of every queue for
 * the metrics, and one graceful close. A service's main.ts hands it processors; nothing else there
 * touches BullMQ.
 */

/** The logger the host reports connection errors and failed give-up handlers to. */
export interface HostLogger {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface QueueHostOptions {
  redisUrl: string;
  logger: HostLogger;
  /** BullMQ's key prefix; QUEUE_PREFIX unless a test gives each run its own */
  prefix?: string;
}

/** Runs one job; its payload has been checked against the queue's schema already. */
export type Processor<Q extends QueueName> = (job: Job<PayloadOf<Q>>, token?: string) => Promise<unknown>;

export interface ConsumeOptions {
  /** jobs of this queue in flight at once in this process */
  concurrency: number;
  /** the configured bound on one attempt, in ms (the spec's `timeoutMs` otherwise): sizes the lock when the spec says so */
  timeoutMs?: number;
  /** the lock, in ms, overriding the spec's (QUEUE_LOCK_DURATION_MS) */
  lockDurationMs?: number;
  /** how often to look for stalled jobs, in ms, overriding the spec's (QUEUE_STALLED_INTERVAL_MS) */
  stalledIntervalMs?: number;
  /** overriding the spec's; tests set 0 so that one lost lock gives up */
  maxStalledCount?: number;
  /** the custom backoff of a `schedule` retry policy (the webhook queue's) */
  backoffStrategy?: BackoffStrategy;
  /**
   * BullMQ gave up on a job (after the processor's last attempt, or without the processor: it
   * stalled too often): the job's record must still end. Called once per job given up on.
   */
  onGiveUp?: (job: Job<unknown>, err: Error, reason: GiveUpReason) => Promise<void>;
}

/** BullMQ job options of a queue, from its spec (the producer adds its job id, and a `schedule` policy its attempts). */
export function jobOptionsOf(spec: JobSpec): JobsOptions {
  const { retry, retention } = spec;
  return {
    ...(retry.kind === 'exponential' ? { attempts: retry.attempts, backoff: { type: 'exponential', delay: retry.delayMs } } : { backoff: { type: retry.backoffType } }),
    removeOnComplete: retention.removeOnComplete,
    removeOnFail: retention.removeOnFail === true ? true : { age: retention.removeOnFail.ageS, count: retention.removeOnFail.count },
    ...(spec.failParentOnFailure ? { failParentOnFailure: true } : {}),
  };
}

export type AddOptions = JobsOptions & { jobName?: string };

/** A job as BullMQ takes it: the payload checked against the queue's schema, the spec's name and options, `options` on top. */
function jobEntry(name: QueueName, payload: unknown, options: AddOptions = {}): { name: string; data: unknown; opts: JobsOptions } {
  const spec: JobSpec = JOB_CATALOGUE[name];
  const { jobName, ...jobOptions } = options;
  return { name: jobName ?? spec.jobName, data: spec.payload.parse(payload), opts: { ...jobOptionsOf(spec), ...jobOptions } };
}

/**
 * How every producer adds a job, through the host or with a queue of its own: the payload checked
 * against the queue's schema (nothing is queued when it fails), the spec's job name and options,
 * `options` on top (the job id, a webhook's attempts).
 */
export async function addJob<Q extends QueueName>(queue: Queue<PayloadOf<Q>>, name: Q, payload: PayloadOf<Q>, options: AddOptions = {}): Promise<Job<PayloadOf<Q>>> {
  const job = jobEntry(name, payload, options);
  return (await (queue as unknown as Queue).add(job.name, job.data, job.opts)) as Job<PayloadOf<Q>>;
}

/**
 * `addJob` for several jobs of one queue in one round trip (a flow's children): every payload is
 * checked first, so one bad payload queues none of them.
 */
export async function addJobs<Q extends QueueName>(
  queue: Queue<PayloadOf<Q>>,
  name: Q,
  entries: readonly { payload: PayloadOf<Q>; options?: AddOptions }[],
): Promise<Job<PayloadOf<Q>>[]> {
  const jobs = entries.map(({ payload, options }) => jobEntry(name, payload, options));
  return (await (queue as unknown as Queue).addBulk(jobs)) as Job<PayloadOf<Q>>[];
}

/** The lock of a consumer: the configured one, else the spec's, at least twice the attempt's bound where the spec asks. */
export function lockDurationOf(spec: JobSpec, options: Pick<ConsumeOptions, 'timeoutMs' | 'lockDurationMs'> = {}): number {
  if (options.lockDurationMs !== undefined) return options.lockDurationMs;
  return spec.lock.outlastsTimeout ? Math.max(spec.lock.durationMs, 2 * (options.timeoutMs ?? spec.timeoutMs)) : spec.lock.durationMs;
}

export class QueueHost {
  private readonly prefix: string;
  /** one non-blocking connection for every producer and the depth counts (workers have their own) */
  private producerConnection?: Redis;
  private readonly queues = new Map<QueueName, Queue>();
  private readonly workers: Worker[] = [];
  private readonly workerConnections: Redis[] = [];
  private closed = false;

  constructor(private readonly options: QueueHostOptions) {
    this.prefix = options.prefix ?? QUEUE_PREFIX;
  }

  /** The BullMQ queue of a catalogue entry, created on first use (for producers and counts). */
  queue<Q extends QueueName>(name: Q): Queue<PayloadOf<Q>> {
    let queue = this.queues.get(name);
    if (!queue) {
      this.producerConnection ??= this.connection('producer');
      queue = new Queue(name, { connection: this.producerConnection, prefix: this.prefix });
      queue.on('error', (err) => this.options.logger.warn({ err: err.message, queue: name }, 'queue connection error'));
      this.queues.set(name, queue);
    }
    return queue as unknown as Queue<PayloadOf<Q>>;
  }

  /**
   * Validates a payload against its queue's schema and adds it with the spec's options (`options`
   * go on top: the job id, a webhook's attempts). Throws on an invalid payload: nothing is queued.
   */
  async add<Q extends QueueName>(name: Q, payload: PayloadOf<Q>, options: AddOptions = {}): Promise<Job<PayloadOf<Q>>> {
    return addJob(this.queue(name), name, payload, options);
  }

  /**
   * A worker for a catalogue queue, started by `start()`. A payload that fails the queue's schema
   * fails for good (`invalid payload`) without reaching the processor.
   */
  consume<Q extends QueueName>(name: Q, processor: Processor<Q>, options: ConsumeOptions): Worker {
    const spec: JobSpec = JOB_CATALOGUE[name];
    const connection = this.connection('worker');
    this.workerConnections.push(connection);
    const worker = new Worker(
      name,
      async (job: Job, token?: string) => {
        if (!spec.payload.safeParse(job.data).success) throw new UnrecoverableError('invalid payload');
        return processor(job as Job<PayloadOf<Q>>, token);
      },
      {
        connection,
        prefix: this.prefix,
        concurrency: options.concurrency,
        lockDuration: lockDurationOf(spec, options),
        stalledInterval: options.stalledIntervalMs ?? spec.lock.stalledIntervalMs,
        maxStalledCount: options.maxStalledCount ?? spec.lock.maxStalledCount,
        ...(options.backoffStrategy ? { settings: { backoffStrategy: options.backoffStrategy } } : {}),
        autorun: false,
      },
    );
    worker.on('error', (err) => this.options.logger.warn({ err: err.message, queue: name }, 'worker error'));
    const onGiveUp = options.onGiveUp;
    if (onGiveUp) {
      worker.on('failed', (job, err) => {
        if (!job) return;
        const reason = giveUpReason(job, err);
        if (!reason) return;
        onGiveUp(job, err, reason).catch((e: Error) =>
          this.options.logger.error({ err: e.message, queue: name, job_id: job.id, reason }, 'could not settle a job BullMQ gave up on'),
        );
      });
    }
    this.workers.push(worker);
    return worker;
  }

  /** Starts every worker made by `consume`. */
  start(): void {
    for (const worker of this.workers) void worker.run();
  }

  /**
   * Every catalogue queue with its counts, for the depth gauges: a queue no one produces to from
   * here is counted all the same (one shared connection; counting needs nothing else).
   */
  depthSources(): Array<{ name: QueueName; queue: Pick<Queue, 'getJobCounts'> }> {
    return CATALOGUE_QUEUES.map((name) => ({ name, queue: this.queue(name) }));
  }

  /**
   * Graceful: the workers finish the jobs in hand (BullMQ hands back what they had not started),
   * then the queues and connections close. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await Promise.all([...this.workerConnections, ...(this.producerConnection ? [this.producerConnection] : [])].map((c) => c.quit().catch(() => c.disconnect())));
  }

  private connection(role: 'worker' | 'producer'): Redis {
    const connection = createRedis(this.options.redisUrl, role);
    connection.on('error', (err) => this.options.logger.warn({ err: err.message, role }, 'redis connection error'));
    return connection;
  }
}
