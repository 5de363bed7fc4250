import { UnrecoverableError, type Job } from 'bullmq';
import { isTerminal, TalkieError, type JobError } from '@talkie/contracts';
import type { DecodingOptions } from '@talkie/inference';
import { MAX_SOURCE_FPS, type FfmpegBinaries } from '@talkie/media';
import { ChunkPayload, type ChunkOutcome, type ChunkProgress, type ChunkResult, type JobStore } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import type { BlobStorage } from '@talkie/storage';
import { watchJob } from '../job-watch';
import type { WorkerMetrics } from '../observability/worker-metrics';
import { describeResult } from '../face-results';
import { decodeModelFrames, failJobForGood, infer, type Reader, type Tracker } from '../pipeline';
import { ownedSegments } from './windows';

export interface ChunkProcessorDeps {
  store: JobStore;
  storage: BlobStorage;
  reader: Reader;
  ffmpeg: FfmpegBinaries;
  logger: Logger;
  decoding: DecodingOptions;
  progress: ChunkProgress;
  limits: { decodeTimeoutMs: number; decodeThreads?: number };
  /** how often a running chunk looks whether its job was canceled or failed, in ms */
  cancelPollMs?: number;
  metrics?: WorkerMetrics;
  /** the mouth tracker, loaded at start when the model's ROI is `landmarks` (issues 5 and 10) */
  tracker?: Tracker;
}

/**
 * Transcribes one window of a long video (a child job of its `transcribe` job): decode just that
 * window, infer, keep the words the window owns, in video time. Progress of the parent's record is
 * chunks done / chunks. A chunk that fails for good fails the parent's record with its error code
 * (and BullMQ fails the parent job: `failParentOnFailure`); a canceled or failed parent makes the
 * remaining chunks stop or skip.
 */
export class ChunkProcessor {
  constructor(private readonly deps: ChunkProcessorDeps) {}

  async process(job: Job<unknown>): Promise<ChunkOutcome> {
    const parsed = ChunkPayload.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid payload');
    const payload = parsed.data;
    const { window } = payload;
    const { store, metrics } = this.deps;
    const log = this.deps.logger.child({ job_id: payload.job_id, chunk: window.index, attempt: job.attemptsMade + 1 });
    const skipped: ChunkOutcome = { index: window.index, skipped: true, frames: 0 };

    const record = await store.get(payload.job_id);
    if (!record || isTerminal(record.status)) {
      log.info({ status: record?.status ?? 'missing' }, 'job no longer wanted: chunk skipped');
      return skipped;
    }
    const watch = watchJob(store, payload.job_id, (current) => !current || isTerminal(current.status), this.deps.cancelPollMs);

    try {
      const result = await this.transcribe(payload, watch.signal);
      if (watch.signal.aborted) return skipped;
      // the words go to Talkie's own store (deleted with the job), never into BullMQ's job data
      const done = await this.deps.progress.record(payload.job_id, result);
      await store.setProgress(payload.job_id, (done / payload.count) * 100);
      metrics?.chunks.inc({ outcome: 'completed' });
      log.info({ frames: result.frames, words: result.segments.length, done, of: payload.count }, 'chunk transcribed');
      return { index: result.index, frames: result.frames };
    } catch (err) {
      // Issue 19: a record that cannot be read (Redis away) is no reason to skip: that would count
      // as success. The attempt fails with its own error, and BullMQ retries or gives up.
      const current = watch.signal.aborted ? null : await store.get(payload.job_id).catch((lookup: Error) => {
        log.warn({ err: lookup.message }, 'could not read the job record after a failed chunk attempt');
        throw err;
      });
      if (watch.signal.aborted || !current || isTerminal(current.status)) {
        log.info('job ended while its chunk ran: chunk stopped');
        return skipped;
      }
      const error = err instanceof TalkieError ? err : new TalkieError('processing_failed', { cause: err, retryable: true });
      const lastAttempt = !error.retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      metrics?.failures.inc({ code: error.code });
      log.warn({ code: error.code, last_attempt: lastAttempt, err: error.cause instanceof Error ? error.cause.message : undefined }, 'chunk attempt failed');
      if (!lastAttempt) throw error; // BullMQ retries this chunk with backoff
      await this.failParent(payload.job_id, payload.upload_key, error.code, error.message);
      metrics?.chunks.inc({ outcome: 'failed' });
      throw new UnrecoverableError(error.code);
    } finally {
      watch.stop();
    }
  }

  /** Fails the whole job with a chunk's error; also used when BullMQ gives up on a stalled chunk. */
  failParent(jobId: string, uploadKey: string | undefined, code: TalkieError['code'], message: string): Promise<void> {
    return failJobForGood(this.deps, jobId, uploadKey, { code, message });
  }

  private async transcribe(payload: ChunkPayload, signal: AbortSignal): Promise<ChunkResult> {
    const { storage, reader, ffmpeg, limits, metrics } = this.deps;
    const { window, fps } = payload;
    if (!(await storage.exists(payload.upload_key))) throw new TalkieError('upload_missing');
    const file = await storage.openLocal(payload.upload_key);
    try {
      const last = window.index === payload.count - 1;
      const began = performance.now();
      // issue 17: `all` reads each window's active speaker (a window's tracks are its own; see README)
      const face = payload.face === 'all' ? 'active' : payload.face;
      const { frames, faces } = await decodeModelFrames(file.path, reader, this.deps.tracker, {
        ffmpeg: ffmpeg.ffmpeg,
        ffprobe: ffmpeg.ffprobe,
        fps,
        face,
        source: payload.source && { width: payload.source.width, height: payload.source.height },
        // the last window reads to the end of the file, whose real length the probe only estimated
        window: { startS: window.start_frame / fps, ...(last ? {} : { durationS: window.frames / fps }) },
        maxFrames: window.frames + Math.ceil(2 * fps),
        // the coordinator's source-frame limit (MAX_SOURCE_FPS a second), for this window and the
        // same slack: the last window reads to the end, wherever a lying header put it
        maxSourceFrames: Math.ceil((window.frames / fps + 2) * MAX_SOURCE_FPS),
        timeoutMs: limits.decodeTimeoutMs,
        threads: limits.decodeThreads,
        signal,
      });
      metrics?.stageDuration.observe({ stage: 'decode' }, (performance.now() - began) / 1000);
      if (frames.count === 0) {
        if (last && window.index > 0) return { index: window.index, frames: 0, segments: [] }; // the estimate ran past the end
        throw new TalkieError('decode_failed', { message: 'The video has no decodable frames.' });
      }
      const local = describeResult(await infer(reader, frames, this.deps.decoding, metrics), { modelFps: fps, demo: reader.manifest.demo, sourceFps: payload.source?.fps }, faces);
      const { warnings, face_track } = local;
      return { index: window.index, frames: frames.count, segments: ownedSegments(local.segments, window, fps), ...(warnings ? { warnings } : {}), ...(face_track ? { face_track } : {}) };
    } finally {
      await file.release();
    }
  }
}
