import { UnrecoverableError, type Job } from 'bullmq';
import { PostprocessPayload, type Correction } from '@talkie/contracts';
import type { GiveUpReason, JobStore } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import type { LlmCorrector } from './llm-corrector';
import { correctedSegments } from './corrected-segments';

export interface CorrectionDeps {
  store: JobStore;
  /** undefined: no LLM configured (LLM_BASE_URL unset); jobs complete with correction skipped */
  corrector?: Pick<LlmCorrector, 'correct'>;
  logger: Logger;
  /** counts each job's final correction status */
  onOutcome?: (correction: Correction) => void;
}

/**
 * Runs one postprocess job: reads the raw transcript the worker left on the job record, asks the
 * LLM for a corrected one, and completes the job. The job was `processing` until now, so this is
 * where it becomes `completed` and its one terminal event (the webhook) fires. An LLM that is down
 * or useless never fails the job: it completes with the raw text and `correction.status = "failed"`.
 */
export class CorrectionProcessor {
  constructor(private readonly deps: CorrectionDeps) {}

  async process(job: Job<unknown>): Promise<Correction['status'] | 'skipped_job'> {
    const parsed = PostprocessPayload.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid payload');
    const { job_id: jobId } = parsed.data;
    const { store, logger } = this.deps;
    const log = logger.child({ job_id: jobId, attempt: job.attemptsMade + 1 });

    const record = await store.get(jobId);
    if (!record) {
      log.info('job gone (deleted or expired): nothing to correct');
      return 'skipped_job';
    }
    if (record.status !== 'processing') {
      log.info({ status: record.status }, 'job no longer processing: skipping');
      // Completed or canceled already: whoever did it may have died before the rest; idempotent.
      await store.settleTerminal(jobId);
      return 'skipped_job';
    }
    if (!record.result) throw new UnrecoverableError('no raw transcript on the job record');

    const started = performance.now();
    let correction: Correction;
    let correctedText: string | undefined;
    let mode: string | undefined;
    if (!this.deps.corrector) {
      correction = { status: 'skipped', reason: 'not_configured' };
    } else {
      ({ correction, correctedText, mode } = await this.deps.corrector.correct(record.result.text, record.result.alternatives));
    }
    const result =
      correctedText === undefined
        ? record.result
        : { ...record.result, corrected_text: correctedText, corrected_segments: correctedSegments(record.result.segments, correctedText) };
    const outcome = await store.complete(jobId, result, correction);
    if (outcome === 'terminal') await store.settleTerminal(jobId);
    this.deps.onOutcome?.(correction);
    // Never the texts or the changes: transcripts stay out of logs.
    log.info(
      { outcome, correction: correction.status, reason: correction.reason, mode, changes: correction.changes?.length, ms: Math.round(performance.now() - started) },
      'correction finished',
    );
    return correction.status;
  }

  /**
   * BullMQ gave up on a postprocess job (the QueueHost's `onGiveUp`, whatever the reason: its
   * attempts ran out, it stalled too often, or it failed for good): the job must still end. With a
   * raw transcript it completes with that and `correction.status = "failed"`.
   */
  async onGiveUp(job: Job<unknown>, err: Error, reason: GiveUpReason): Promise<void> {
    const parsed = PostprocessPayload.safeParse(job.data);
    if (!parsed.success) return;
    const { store, logger } = this.deps;
    const jobId = parsed.data.job_id;
    const record = await store.get(jobId);
    if (!record || record.status !== 'processing') return;
    const correction: Correction = { status: 'failed', reason: 'postprocess_failed' };
    const outcome = record.result
      ? await store.complete(jobId, record.result, correction)
      : await store.fail(jobId, { code: 'processing_failed', message: 'Processing failed.' });
    if (outcome === 'terminal') await store.settleTerminal(jobId);
    this.deps.onOutcome?.(correction);
    logger.warn({ job_id: jobId, err: err.message, reason }, 'postprocess gave up: job completed without correction');
  }
}
