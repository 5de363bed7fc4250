import { Queue, type ConnectionOptions } from 'bullmq';
import { type PostprocessPayload, QUEUE_PREFIX, QUEUES } from '@talkie/contracts';
import { addJob } from './host/queue-host';

export function createPostprocessQueue(connection: ConnectionOptions): Queue<PostprocessPayload> {
  return new Queue<PostprocessPayload>(QUEUES.postprocess, { connection, prefix: QUEUE_PREFIX });
}

/**
 * Validates on enqueue (the postprocess service validates again on dequeue). The BullMQ job id is
 * the Talkie job id, so a transcription retried after a crash queues its correction once.
 */
export async function enqueuePostprocess(queue: Queue<PostprocessPayload>, payload: PostprocessPayload): Promise<void> {
  // The catalogue's work-queue retries. The LLM call retries inside the openai client (timeouts,
  // 5xx, 429) and a failed call still completes the job (with the raw text), so these only cover
  // the service itself: a process that died or lost Redis mid-job.
  await addJob(queue, QUEUES.postprocess, payload, { jobId: payload.job_id });
}
