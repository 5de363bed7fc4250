import { z } from 'zod';
import { TenantId } from './auth';
import { JobId } from './job';
import { FaceChoice } from './queue';

/*
 * The payload of the chunk queue (QUEUES.chunks): one window of a long video, a child job of its
 * `transcribe` job (packages/queue's chunk-flow.ts runs the flow). Here, beside the other queues'
 * payloads, so the job catalogue (job-catalogue.ts) names every queue's schema in one package.
 */

/** One window of a long video, in frames at the model's rate (exact, whatever the source's rate). */
export const ChunkWindow = z.object({
  index: z.number().int().nonnegative(),
  /** first frame of the window */
  start_frame: z.number().int().nonnegative(),
  /** frames in the window */
  frames: z.number().int().positive(),
  /** words whose centre falls in [own_from, own_to) frames belong to this window (overlaps are shared) */
  own_from: z.number().int().nonnegative(),
  own_to: z.number().int().positive(),
});
export type ChunkWindow = z.infer<typeof ChunkWindow>;

/** Payload of a `transcribe-chunks` job: the parent job's ids and one window. */
export const ChunkPayload = z.object({
  v: z.literal(1),
  job_id: JobId,
  tenant: TenantId,
  upload_key: z.string().min(1),
  /** the model's frame rate, which windows are counted in */
  fps: z.number().positive(),
  count: z.number().int().positive(),
  window: ChunkWindow,
  /**
   * The upload's frame size from the planner's probe: the mouth tracker (`landmarks` models) needs
   * it and would otherwise probe the whole file again for every window. Absent in payloads queued
   * before it was added; the tracker probes then.
   */
  source: z
    .object({
      width: z.number().int().positive(),
      height: z.number().int().positive(),
      /** issue 17: the source's frame rate, for `face_track.source_fps` and the `frame_rate_resampled` warning */
      fps: z.number().nonnegative().optional(),
    })
    .optional(),
  /** issue 17: the parent's `face` choice; chosen in each window by its own tracks (see README, long videos) */
  face: FaceChoice.optional(),
});
export type ChunkPayload = z.infer<typeof ChunkPayload>;
