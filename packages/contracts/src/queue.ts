import { z } from 'zod';
import { JobId } from './job';

/**
 * Queue names. The `{talkie}` hash tag keeps every key of a queue in one Redis Cluster slot, which
 * BullMQ's multi-key scripts require.
 */
export const QUEUE_PREFIX = '{talkie}';
export const QUEUES = {
  transcribe: 'transcribe',
  webhooks: 'webhooks',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Payload of a `transcribe` queue job, validated by the producer and again by the consumer. */
export const TranscribePayload = z.object({
  v: z.literal(1),
  job_id: JobId,
  tenant: z.string().min(1).max(256),
  /** storage key of the upload; never a client-supplied name */
  upload_key: z.string().min(1),
  /** size of the upload in bytes, as stored */
  upload_bytes: z.number().int().nonnegative(),
});
export type TranscribePayload = z.infer<typeof TranscribePayload>;
