import { UnrecoverableError, type Job } from 'bullmq';
import { isTerminal, TalkieError } from '@talkie/contracts';
import type { MouthTracker } from '@talkie/faces';
import type { DecodingOptions, LipReader, StageTimings } from '@talkie/inference';
import { roiFilterFor } from '@talkie/inference';
import { decodeFrames, type FfmpegBinaries } from '@talkie/media';
import { ChunkPayload, type ChunkOutcome, type ChunkProgress, type ChunkResult, type JobStore } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import type { BlobStorage } from '@talkie/storage';
import { watchJob } from '../job-watch';
import type { WorkerMetrics } from '../observability/worker-metrics';
import { ownedSegments } from './windows';

export interface ChunkProcessorDeps {
  store: JobStore;
  storage: BlobStorage;
  reader: Pick<LipReader, 'manifest' | 'transcribe'>;
  ffmpeg: FfmpegBinaries;
  logger: Logger;
  decoding: DecodingOptions;
  progress: ChunkProgress;
  limits: { decodeTimeoutMs: number; decodeThreads?: number };
  /** how often a running chunk looks whether its job was canceled or failed, in ms */
  cancelPollMs?: number;
  metrics?: WorkerMetrics;
  /** the mouth tracker, loaded at start when the model's ROI is `landmarks` (issues 5 and 10) */
  tracker?: Pick<MouthTracker, 'decodeMouthFrames'>;
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
    const { store, storage, metrics } = this.deps;
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
      const current = await store.get(payload.job_id).catch(() => null);
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

  private mouthTracker(): Pick<MouthTracker, 'decodeMouthFrames'> {
    if (!this.deps.tracker) throw new TalkieError('processing_failed', { message: 'The model needs a mouth tracker and none is loaded.' });
    return this.deps.tracker;
  }

  /** Fails the whole job with a chunk's error; also used when BullMQ gives up on a stalled chunk. */
  async failParent(jobId: string, uploadKey: string | undefined, code: TalkieError['code'], message: string): Promise<void> {
    if ((await this.deps.store.fail(jobId, { code, message })) === 'terminal') await this.deps.store.settleTerminal(jobId);
    await this.deps.progress.clear(jobId);
    if (uploadKey) await this.deps.storage.delete(uploadKey);
  }

  private async transcribe(payload: ChunkPayload, signal: AbortSignal): Promise<ChunkResult> {
    const { storage, reader, ffmpeg, limits, metrics } = this.deps;
    const { window, fps } = payload;
    if (!(await storage.exists(payload.upload_key))) throw new TalkieError('upload_missing');
    const file = await storage.openLocal(payload.upload_key);
    try {
      const last = window.index === payload.count - 1;
      const began = performance.now();
      const decode = {
        ffmpeg: ffmpeg.ffmpeg,
        fps,
        // the last window reads to the end of the file, whose real length the probe only estimated
        window: { startS: window.start_frame / fps, ...(last ? {} : { durationS: window.frames / fps }) },
        maxFrames: window.frames + Math.ceil(2 * fps),
        timeoutMs: limits.decodeTimeoutMs,
        threads: limits.decodeThreads,
        signal,
      };
      // `landmarks` models: the mouth tracker on this window (issues 5 and 10)
      const frames =
        reader.manifest.roi.mode === 'landmarks'
          ? await this.mouthTracker().decodeMouthFrames(file.path, { ...decode, ffprobe: ffmpeg.ffprobe, size: reader.manifest.input })
          : await decodeFrames(file.path, { ...decode, roi: roiFilterFor(reader.manifest) });
      metrics?.stageDuration.observe({ stage: 'decode' }, (performance.now() - began) / 1000);
      if (frames.count === 0) {
        if (last && window.index > 0) return { index: window.index, frames: 0, segments: [] }; // the estimate ran past the end
        throw new TalkieError('decode_failed', { message: 'The video has no decodable frames.' });
      }
      const count = frames.count;
      const timings: StageTimings = {};
      let local;
      try {
        local = await reader.transcribe(frames, this.deps.decoding, timings);
      } catch (err) {
        throw new TalkieError('inference_failed', { cause: err });
      }
      if (metrics) {
        for (const [stage, seconds] of Object.entries(timings)) metrics.stageDuration.observe({ stage }, seconds);
        metrics.frames.inc(count);
      }
      return { index: window.index, frames: count, segments: ownedSegments(local.segments, window, fps) };
    } finally {
      await file.release();
    }
  }
}
