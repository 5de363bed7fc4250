import { UnrecoverableError, type Job } from 'bullmq';

/**
 * Why BullMQ gave up on a job, read from its own state:
 * - `stalled`: the job lost its lock more often than `maxStalledCount` allows (its workers died),
 *   so BullMQ failed it without the processor's say (it marks such a job `deferredFailure`);
 * - `unrecoverable`: the processor threw `UnrecoverableError` (or a subclass), or discarded the job;
 * - `attempts_exhausted`: the processor threw on the last attempt the job's options allow.
 */
export type GiveUpReason = 'stalled' | 'unrecoverable' | 'attempts_exhausted';

/** What `giveUpReason` reads: the job as BullMQ's `failed` event hands it over. */
export type FailedJobState = Pick<Job, 'attemptsMade' | 'opts'> & Partial<Pick<Job, 'finishedOn' | 'deferredFailure'>>;

/**
 * For a Worker's `failed` event, which BullMQ emits after every failed attempt: the reason it
 * gave up on the job, or undefined when it will try again. The decision is BullMQ's own: a job it
 * moved to `failed` for good has `finishedOn` set (a retried one goes to `delayed` or `waiting`
 * without it); nothing is matched on error messages.
 */
export function giveUpReason(job: FailedJobState, err: Error): GiveUpReason | undefined {
  if (job.finishedOn === undefined || job.finishedOn === null) return undefined;
  if (job.deferredFailure) return 'stalled';
  // by name too, as BullMQ itself does (an error from another copy of bullmq is no instance)
  if (err instanceof UnrecoverableError || err.name === 'UnrecoverableError') return 'unrecoverable';
  // moved to failed for good with attempts left and no UnrecoverableError: the job was discarded
  return job.attemptsMade >= (job.opts.attempts ?? 1) ? 'attempts_exhausted' : 'unrecoverable';
}
