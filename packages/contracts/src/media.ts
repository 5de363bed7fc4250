import { z } from 'zod';

/**
 * What ffprobe found in an upload. The gateway probes every upload before queueing it and records
 * the result under the upload's SHA-256 (`ProbeMemo` in @talkie/queue), so a worker handed the same
 * bytes re-checks that record against its own limits instead of running ffprobe a second time.
 */
export const VideoProbe = z.object({
  format: z.string(),
  duration_s: z.number().nonnegative(),
  width: z.number().int().nonnegative(),
  height: z.number().int().nonnegative(),
  /** average frame rate of the source, frames per second */
  fps: z.number().nonnegative(),
  codec: z.string(),
  video_streams: z.number().int().nonnegative(),
  streams: z.number().int().nonnegative(),
  /**
   * frames in the first video stream: the container's count, or where it keeps none (Matroska,
   * WebM) the declared duration × the higher of its frame rates; 0 when neither is known
   */
  frames: z.number().int().nonnegative(),
});
export type VideoProbe = z.infer<typeof VideoProbe>;

/**
 * The file extensions an upload may have (the gateway checks each against the container's magic
 * bytes; `GET /v1/limits` lists them): MP4/MOV, WebM/Matroska, AVI and MPEG program streams.
 */
export const UPLOAD_EXTENSIONS = ['.mp4', '.mov', '.webm', '.mkv', '.avi', '.mpg', '.mpeg'] as const;
export type UploadExtension = (typeof UPLOAD_EXTENSIONS)[number];

/** A SHA-256 digest in lower-case hex: the name of an upload's content. */
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
