import { UnrecoverableError, type Job } from 'bullmq';
import { TalkieError, TranscribePayload, type ErrorCode } from '@talkie/contracts';
import type { LipReader, DecodingOptions } from '@talkie/inference';
import { roiFilterFor } from '@talkie/inference';
import { decodeFrames, probeVideo, type FfmpegBinaries } from '@talkie/media';
import type { JobStore } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import type { BlobStorage } from '@talkie/storage';

export interface ProcessorDeps {
  store: JobStore;
  storage: BlobStorage;
  reader: LipReader;
  ffmpeg: FfmpegBinaries;
  logger: Logger;
  decoding: DecodingOptions;
  limits: { maxDurationS: number; probeTimeoutMs: number; decodeTimeoutMs: number };
}

/** Share of the progress bar given to decoding; inference and decoding the output take the rest. */
const DECODE_PROGRESS = 80;

/**
 * Runs one transcription job: probe, decode at the model's frame rate, infer, decode CTC, store
 * the result, remove the upload. The job record moves queued → processing → completed | failed;
 * a record that is already terminal (canceled) is left alone.
 */
export class TranscriptionProcessor {
  constructor(private readonly deps: ProcessorDeps) {}

  async process(job: Job<unknown>, signal?: AbortSignal): Promise<void> {
    const parsed = TranscribePayload.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid payload');
    const payload = parsed.data;
    const { store, storage, logger } = this.deps;
    const log = logger.child({ job_id: payload.job_id, attempt: job.attemptsMade + 1 });

    const started = await store.markProcessing(payload.job_id);
    if (started !== 'applied') {
      log.info({ outcome: started }, 'job no longer wanted: skipping');
      await storage.delete(payload.upload_key);
      return;
    }

    try {
      const result = await this.transcribe(payload, log, signal);
      const outcome = await store.complete(payload.job_id, result);
      log.info({ outcome, frames: result.frames, words: result.segments.length }, 'job completed');
      await storage.delete(payload.upload_key);
    } catch (err) {
      const error = err instanceof TalkieError ? err : new TalkieError('processing_failed', { cause: err, retryable: true });
      const attempts = job.opts.attempts ?? 1;
      const lastAttempt = !error.retryable || job.attemptsMade + 1 >= attempts;
      log.warn({ code: error.code, last_attempt: lastAttempt, err: error.cause instanceof Error ? error.cause.message : undefined }, 'job attempt failed');
      if (!lastAttempt) {
        await store.requeue(payload.job_id);
        throw error; // BullMQ retries with backoff
      }
      await this.failJob(payload.job_id, payload.upload_key, error.code, error.message);
      throw new UnrecoverableError(error.code);
    }
  }

  /** Marks a job failed for good and removes its upload. Also used when BullMQ gives up on a stalled job. */
  async failJob(jobId: string, uploadKey: string | undefined, code: ErrorCode, message: string): Promise<void> {
    await this.deps.store.fail(jobId, { code, message });
    if (uploadKey) await this.deps.storage.delete(uploadKey);
  }

  private async transcribe(payload: TranscribePayload, log: Logger, signal?: AbortSignal) {
    const { storage, store, reader, ffmpeg, limits } = this.deps;
    if (!(await storage.exists(payload.upload_key))) throw new TalkieError('upload_missing');
    const file = await storage.openLocal(payload.upload_key);
    try {
      const probe = await probeVideo(file.path, { ffprobe: ffmpeg.ffprobe, timeoutMs: limits.probeTimeoutMs });
      log.debug({ format: probe.format, codec: probe.codec, fps: probe.fps, duration_s: probe.duration_s }, 'probed');
      if (probe.duration_s > limits.maxDurationS) throw new TalkieError('video_too_long');

      const manifest = reader.manifest;
      const expectedFrames = Math.max(1, Math.ceil(probe.duration_s * manifest.frame_rate));
      const frames = await decodeFrames(file.path, {
        ffmpeg: ffmpeg.ffmpeg,
        fps: manifest.frame_rate,
        roi: roiFilterFor(manifest),
        // a little slack over the probed duration: container durations are approximate
        maxFrames: Math.ceil((limits.maxDurationS + 1) * manifest.frame_rate),
        timeoutMs: limits.decodeTimeoutMs,
        signal,
        onFrames: (n) => {
          void store.setProgress(payload.job_id, (Math.min(n, expectedFrames) / expectedFrames) * DECODE_PROGRESS);
        },
      });
      if (frames.count === 0) throw new TalkieError('decode_failed', { message: 'The video has no decodable frames.' });
      await store.setProgress(payload.job_id, DECODE_PROGRESS);
      try {
        return await reader.transcribe(frames, this.deps.decoding);
      } catch (err) {
        throw new TalkieError('inference_failed', { cause: err });
      }
    } finally {
      await file.release();
    }
  }
}

export type { ErrorCode };
