import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { QUEUE_PREFIX, QUEUES, TranscribePayload } from '@talkie/contracts';

/**
 * Retry policy of Talkie's work queues (transcription, chunks, postprocess): transient failures (a
 * timeout, a lost worker) get two more tries.
 */
export const WORK_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 2_000 },
  // The job record store (job-store.ts) is what clients read; BullMQ's copy is only the work item.
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3600, count: 10_000 },
};

export function createTranscribeQueue(connection: ConnectionOptions): Queue<TranscribePayload> {
  return new Queue<TranscribePayload>(QUEUES.transcribe, { connection, prefix: QUEUE_PREFIX });
}

/** Validates on enqueue (the worker validates again on dequeue). The BullMQ job id is the Talkie job id. */
export async function enqueueTranscription(queue: Queue<TranscribePayload>, payload: TranscribePayload): Promise<void> {
  const data = TranscribePayload.parse(payload);
  await queue.add('transcribe', data, { ...WORK_JOB_OPTIONS, jobId: data.job_id });
}
