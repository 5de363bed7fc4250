import type { Redis } from 'ioredis';
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import { JobId, QUEUE_PREFIX, QUEUES, Segment, TenantId } from '@talkie/contracts';
import { WORK_JOB_OPTIONS } from './transcribe-queue';

/*
 * Long videos as BullMQ flows: the `transcribe` job of a long video becomes the parent of one
 * child job per window on the chunk queue (QUEUES.chunks), which any worker takes; the parent runs
 * again once all are done and merges their results. Child jobs are internal: clients only ever see
 * the parent's record.
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
  source: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }).optional(),
});
export type ChunkPayload = z.infer<typeof ChunkPayload>;

/** A window's result (kept by `ChunkProgress`, not by BullMQ): the words it owns, in video time. */
export const ChunkResult = z.object({
  index: z.number().int().nonnegative(),
  /** frames decoded */
  frames: z.number().int().nonnegative(),
  segments: z.array(Segment),
});
export type ChunkResult = z.infer<typeof ChunkResult>;

/** What a chunk job returns to BullMQ: no words (those stay in `ChunkProgress`, under Talkie's retention). */
export interface ChunkOutcome {
  index: number;
  /** the parent's record was terminal (canceled, failed): nothing was done */
  skipped?: boolean;
  frames: number;
}

/**
 * Chunk retries as for whole jobs; a chunk that fails for good fails its parent (the chunk worker
 * records the parent's failure with the chunk's error code first).
 */
export const CHUNK_JOB_OPTIONS: JobsOptions = { ...WORK_JOB_OPTIONS, failParentOnFailure: true };

/** BullMQ job id of a window: stable, so adding the children again (a retried parent) adds nothing twice. */
export const chunkJobId = (jobId: string, index: number): string => `${jobId}-chunk-${index}`;

export function createChunkQueue(connection: ConnectionOptions): Queue<ChunkPayload> {
  return new Queue<ChunkPayload>(QUEUES.chunks, { connection, prefix: QUEUE_PREFIX });
}

const resultsKey = (jobId: string) => `talkie:job:${jobId}:chunks`;

/** KEYS[1] results hash; ARGV: chunk index, result json, ttl ms. Returns how many distinct chunks are done. */
const RECORD_SCRIPT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HLEN', KEYS[1])
`;

/**
 * The finished windows of a job, kept by Talkie rather than in BullMQ's copy of the child jobs:
 * one Redis hash per job, chunk index → its words. It gives the parent's progress (chunks done /
 * chunks; a chunk run twice, a retry after its worker died, counts once) and the merge its input,
 * and it goes with the job: deleted when the job completes, fails or is canceled, and expiring on
 * its own otherwise, so no transcript fragment outlives the job's retention.
 */
export class ChunkProgress {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {}

  /** Stores a window's result; returns how many windows of the job are done. */
  async record(jobId: string, result: ChunkResult): Promise<number> {
    return (await this.redis.eval(RECORD_SCRIPT, 1, resultsKey(jobId), String(result.index), JSON.stringify(result), String(this.ttlMs))) as number;
  }

  /** Every stored window result of a job (any order). */
  async results(jobId: string): Promise<ChunkResult[]> {
    const hash = await this.redis.hgetall(resultsKey(jobId));
    return Object.values(hash).flatMap((json) => {
      const parsed = ChunkResult.safeParse(JSON.parse(json));
      return parsed.success ? [parsed.data] : [];
    });
  }

  async clear(jobId: string): Promise<void> {
    await this.redis.del(resultsKey(jobId));
  }
}
