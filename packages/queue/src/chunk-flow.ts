import type { Redis } from 'ioredis';
import { Queue, type ConnectionOptions } from 'bullmq';
import { z } from 'zod';
import { FaceTrackQuality, QUEUE_PREFIX, QUEUES, ResultWarning, Segment, type ChunkPayload } from '@talkie/contracts';

/*
 * Long videos as BullMQ flows: the `transcribe` job of a long video becomes the parent of one
 * child job per window on the chunk queue (QUEUES.chunks), which any worker takes; the parent runs
 * again once all are done and merges their results. Child jobs are internal: clients only ever see
 * the parent's record.
 */

// The chunk queue's payload lives in the contracts, with the job catalogue; re-exported for its users here.
export { ChunkPayload, ChunkWindow } from '@talkie/contracts';

/** A window's result (kept by `ChunkProgress`, not by BullMQ): the words it owns, in video time. */
export const ChunkResult = z.object({
  index: z.number().int().nonnegative(),
  /** frames decoded */
  frames: z.number().int().nonnegative(),
  segments: z.array(Segment),
  /** issue 17: the window's warnings and read track's quality (merged into the job's by `mergeChunks`) */
  warnings: z.array(ResultWarning).optional(),
  face_track: FaceTrackQuality.optional(),
});
export type ChunkResult = z.infer<typeof ChunkResult>;

/** What a chunk job returns to BullMQ: no words (those stay in `ChunkProgress`, under Talkie's retention). */
export interface ChunkOutcome {
  index: number;
  /** the parent's record was terminal (canceled, failed): nothing was done */
  skipped?: boolean;
  frames: number;
}

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
