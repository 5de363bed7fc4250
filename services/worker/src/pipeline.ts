import { TalkieError, type FaceChoice, type JobError, type TranscriptResult, type VideoProbe } from '@talkie/contracts';
import type { MouthTracker } from '@talkie/faces';
import { roiFilterFor, type DecodingOptions, type LipReader, type StageTimings } from '@talkie/inference';
import { decodeFrames, type DecodedFrames, type DecodeOptions, type VideoProber } from '@talkie/media';
import type { ChunkProgress, JobStore, ProbeMemo } from '@talkie/queue';
import type { BlobStorage, LocalFile } from '@talkie/storage';
import { primaryRead, type FaceReading } from './face-results';
import type { WorkerMetrics } from './observability/worker-metrics';

/**
 * The steps the whole-video path (transcription-processor.ts) and the long-video path
 * (chunking/) share, so that a video read in windows is read exactly as one read whole.
 */

export type Reader = Pick<LipReader, 'manifest' | 'transcribe'>;
export type Tracker = Pick<MouthTracker, 'decodeFaceTracks'>;

/**
 * An upload its caller has already fetched and probed (the long-video planner, for a video it does
 * not split): the whole-video path takes both rather than fetch (from S3, a whole download) and
 * probe it again. The caller releases the file.
 */
export interface OpenedUpload {
  file: LocalFile;
  probe: VideoProbe;
}

/**
 * What the gateway recorded for these exact bytes when it did (ProbeMemo), else this worker's own
 * probe. Callers still check the probe against their own limits.
 */
export async function probeUpload(
  sources: { probeMemo?: ProbeMemo; prober: Pick<VideoProber, 'probe'> },
  file: string,
  sha256: string | undefined,
  timeoutMs: number,
): Promise<VideoProbe> {
  return (await sources.probeMemo?.recall(file, sha256)) ?? sources.prober.probe(file, { timeoutMs });
}

/**
 * The model's input frames. Issues 5 and 10: `landmarks` models get aligned mouth crops from the
 * tracker (which fails the job with no_face_detected when no frame has a face), the others an
 * ffmpeg crop. `source`: the probed size, which spares the tracker an ffprobe of its own.
 * Issue 17: `face` picks the track(s) read; `frames` are the primary one's (the active speaker,
 * or the track asked for), `faces` what the tracker found, with every read track's frames.
 */
export async function decodeModelFrames(
  file: string,
  reader: Reader,
  tracker: Tracker | undefined,
  options: Omit<DecodeOptions, 'roi'> & { source?: { width: number; height: number }; ffprobe: string; face?: FaceChoice },
): Promise<{ frames: DecodedFrames; faces?: FaceReading }> {
  const { manifest } = reader;
  const { source, ffprobe, face, ...decode } = options;
  if (manifest.roi.mode !== 'landmarks') return { frames: await decodeFrames(file, { ...decode, roi: roiFilterFor(manifest) }) };
  if (!tracker) throw new TalkieError('processing_failed', { message: 'The model needs a mouth tracker and none is loaded.' });
  const faces = await tracker.decodeFaceTracks(file, { ...decode, source, ffprobe, size: manifest.input, face });
  return { frames: primaryRead(faces).frames, faces };
}

/** Runs the model on decoded frames; any failure of it is `inference_failed`. */
export async function infer(reader: Reader, frames: DecodedFrames, decoding: DecodingOptions, metrics?: WorkerMetrics): Promise<TranscriptResult> {
  const timings: StageTimings = {};
  let result: TranscriptResult;
  try {
    result = await reader.transcribe(frames, decoding, timings);
  } catch (err) {
    throw new TalkieError('inference_failed', { cause: err });
  }
  if (metrics) {
    for (const [stage, seconds] of Object.entries(timings)) metrics.stageDuration.observe({ stage }, seconds);
    metrics.frames.inc(frames.count);
  }
  return result;
}

/** Removes what an ended job left: its windows' results (a chunked job's) and its upload. Idempotent. */
export async function releaseJob(deps: { storage: BlobStorage; progress?: ChunkProgress }, jobId: string, uploadKey: string | undefined): Promise<void> {
  await deps.progress?.clear(jobId);
  if (uploadKey) await deps.storage.delete(uploadKey);
}

/**
 * Fails a job for good, or finishes the bookkeeping of one that ended meanwhile, and releases what
 * it left; whole or chunked, and whoever gives up (a processor, BullMQ on a stalled job), the job
 * leaves nothing behind. Idempotent.
 */
export async function failJobForGood(
  deps: { store: JobStore; storage: BlobStorage; progress?: ChunkProgress },
  jobId: string,
  uploadKey: string | undefined,
  error: JobError,
): Promise<void> {
  if ((await deps.store.fail(jobId, error)) === 'terminal') await deps.store.settleTerminal(jobId);
  await releaseJob(deps, jobId, uploadKey);
}
