import { z } from 'zod';
import { Sha256Hex } from './media';
import { TenantId } from './auth';
import { JobId } from './job';

/**
 * Queue names. The `{talkie}` hash tag keeps every key of a queue in one Redis Cluster slot, which
 * BullMQ's multi-key scripts require.
 */
export const QUEUE_PREFIX = '{talkie}';
export const QUEUES = {
  transcribe: 'transcribe',
  webhooks: 'webhooks',
  /** LLM correction of finished transcripts, by the postprocess service (never the GPU worker) */
  postprocess: 'postprocess',
  /** windows of long videos (CHUNK_SECONDS), child jobs of a transcribe job; every worker serves it */
  chunks: 'transcribe-chunks',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Payload of a `transcribe` queue job, validated by the producer and again by the consumer. */
export const TranscribePayload = z.object({
  v: z.literal(1),
  job_id: JobId,
  tenant: TenantId,
  /** storage key of the upload; never a client-supplied name */
  upload_key: z.string().min(1),
  /** size of the upload in bytes, as stored */
  upload_bytes: z.number().int().nonnegative(),
  /** SHA-256 of the upload as the gateway received and probed it (see ProbeMemo) */
  upload_sha256: Sha256Hex.optional(),
  /** hand the transcript to the postprocess queue for LLM correction instead of completing the job */
  correct: z.boolean().optional(),
});
export type TranscribePayload = z.infer<typeof TranscribePayload>;

/**
 * Payload of a `postprocess` queue job. Only ids: the raw transcript is read from the job record,
 * and nothing secret (the LLM's key stays in the postprocess service's environment).
 */
export const PostprocessPayload = z.object({
  v: z.literal(1),
  job_id: JobId,
  tenant: TenantId,
});
export type PostprocessPayload = z.infer<typeof PostprocessPayload>;
