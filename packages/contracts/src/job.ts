import { z } from 'zod';
import { Correction } from './correction';

/**
 * The states a client sees. BullMQ has more (waiting, delayed, prioritized, stalled…); they all map
 * onto these five so integrators never depend on queue internals.
 */
export const JOB_STATUSES = ['queued', 'processing', 'completed', 'failed', 'canceled'] as const;
export const JobStatus = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatus>;

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'canceled']);
export const isTerminal = (status: JobStatus): boolean => TERMINAL_STATUSES.has(status);

/** Job ids are server-generated UUIDs; anything else is rejected before it reaches Redis. */
export const JobId = z.uuid();

export const Segment = z.object({
  /** seconds from the start of the video */
  start: z.number().nonnegative(),
  end: z.number().nonnegative(),
  text: z.string(),
});
export type Segment = z.infer<typeof Segment>;

export const ModelInfo = z.object({ name: z.string(), version: z.string() });
export type ModelInfo = z.infer<typeof ModelInfo>;

export const TranscriptResult = z.object({
  text: z.string(),
  segments: z.array(Segment),
  /** duration of the decoded video, in seconds */
  duration_s: z.number().nonnegative(),
  /** frames fed to the model, after resampling to the model's frame rate */
  frames: z.number().int().nonnegative(),
  model: ModelInfo,
  /** the LLM-corrected text, when the job asked for correction and it succeeded (`text` stays the raw reading) */
  corrected_text: z.string().optional(),
  /**
   * `corrected_text`'s words on the raw timings, each on the raw word it aligns with (set with
   * `corrected_text`, once, by the service that corrects; captions are made from it)
   */
  corrected_segments: z.array(Segment).optional(),
});
export type TranscriptResult = z.infer<typeof TranscriptResult>;

export const JobError = z.object({ code: z.string(), message: z.string() });
export type JobError = z.infer<typeof JobError>;

/** The job resource served by `GET /v1/jobs/{id}`. */
export const JobResource = z.object({
  id: JobId,
  status: JobStatus,
  progress: z.number().int().min(0).max(100),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  result: TranscriptResult.optional(),
  error: JobError.optional(),
  /** present when the job asked for LLM correction (`correct=true` or the tenant's default) */
  correction: Correction.optional(),
});
export type JobResource = z.infer<typeof JobResource>;
