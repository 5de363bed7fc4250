import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { JOB_CATALOGUE, QUEUE_PREFIX, QUEUES, TranscribePayload } from '@talkie/contracts';
import { addJob, jobOptionsOf } from './host/queue-host';

/**
 * Retry policy of Talkie's work queues (transcription, chunks, postprocess): transient failures (a
 * timeout, a lost worker) get two more tries. From the job catalogue (issue 19), as the QueueHost
 * applies it; the job record store (job-store.ts) is what clients read, BullMQ's copy is only the
 * work item.
 */
export const WORK_JOB_OPTIONS: JobsOptions = jobOptionsOf(JOB_CATALOGUE[QUEUES.transcribe]);

export function createTranscribeQueue(connection: ConnectionOptions): Queue<TranscribePayload> {
  return new Queue<TranscribePayload>(QUEUES.transcribe, { connection, prefix: QUEUE_PREFIX });
}

/** Validates on enqueue (the worker validates again on dequeue). The BullMQ job id is the Talkie job id. */
export async function enqueueTranscription(queue: Queue<TranscribePayload>, payload: TranscribePayload): Promise<void> {
  await addJob(queue, QUEUES.transcribe, payload, { jobId: payload.job_id });
}
