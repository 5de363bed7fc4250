import { z } from 'zod';
import { Sha256Hex } from './media';
import { TenantId } from './auth';
import { JobId, MAX_ALTERNATIVES } from './job';

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

/** Most face tracks a video is followed with (the tracker's MAX_FACE_TRACKS); a track index is below it. */
export const MAX_FACE_TRACKS = 4;
/** Issue 17: `active` (the face whose mouth moves most), `all` (one transcript per track) or a track index. */
export const FaceChoice = z.union([z.enum(['active', 'all']), z.number().int().min(0).max(MAX_FACE_TRACKS - 1)]);
export type FaceChoice = z.infer<typeof FaceChoice>;

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
  /** issue 17: how many best hypotheses to return (the `alternatives` form field); none when unset */
  alternatives: z.number().int().min(1).max(MAX_ALTERNATIVES).optional(),
  /** issue 17: which face to read (the `face` form field): the active speaker (unset), every track, or one by index */
  face: FaceChoice.optional(),
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
