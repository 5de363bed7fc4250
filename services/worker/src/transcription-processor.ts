import { UnrecoverableError, type Job } from 'bullmq';
import { TalkieError, TranscribePayload, type ErrorCode } from '@talkie/contracts';
import type { LipReader, DecodingOptions, StageTimings } from '@talkie/inference';
import { roiFilterFor } from '@talkie/inference';
import { checkProbe, decodeFrames, DEFAULT_MEDIA_LIMITS, probeVideo, type FfmpegBinaries, type VideoProber } from '@talkie/media';
import type { MouthTracker } from '@talkie/faces';
import type { JobStore, ProbeMemo } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import type { BlobStorage } from '@talkie/storage';
import { watchJob } from './job-watch';
import type { WorkerMetrics } from './observability/worker-metrics';

export interface ProcessorDeps {
  store: JobStore;
  storage: BlobStorage;
  /** a LipReader, or the handle on the inference thread that runs one */
  reader: Pick<LipReader, 'manifest' | 'transcribe'>;
  ffmpeg: FfmpegBinaries;
  logger: Logger;
  decoding: DecodingOptions;
  limits: { maxDurationS: number; probeTimeoutMs: number; decodeTimeoutMs: number; decodeThreads?: number };
  /** how often a running job looks whether it was canceled, in ms */
  cancelPollMs?: number;
  metrics?: WorkerMetrics;
  /** probes the gateway recorded by content (see ProbeMemo) */
  probeMemo?: ProbeMemo;
  /** probes a file when no recorded probe serves (talkie-probe or ffprobe); ffprobe when absent */
  prober?: Pick<VideoProber, 'probe'>;
  /** the mouth tracker, loaded at start when the model's ROI is `landmarks` */
  tracker?: Pick<MouthTracker, 'decodeMouthFrames'>;
  /** queues the LLM correction of a job that asked for it (the postprocess service completes it) */
  enqueueCorrection?: (payload: { v: 1; job_id: string; tenant: string }) => Promise<void>;
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

  async process(job: Job<unknown>): Promise<void> {
    const parsed = TranscribePayload.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid payload');
    const payload = parsed.data;
    const { store, storage, logger } = this.deps;
    const log = logger.child({ job_id: payload.job_id, attempt: job.attemptsMade + 1 });

    const metrics = this.deps.metrics;
    if (job.processedOn) metrics?.queueWait.observe({ queue: job.queueName }, Math.max(0, job.processedOn - job.timestamp) / 1000);
    const started = await store.markProcessing(payload.job_id);
    if (started !== 'applied') {
      log.info({ outcome: started }, 'job no longer wanted: skipping');
      // Already finished: the process that finished it may have died before the rest (in-flight
      // count, retention, webhook), which is why the job came back. Finish that; it is idempotent.
      if (started === 'terminal') await store.settleTerminal(payload.job_id);
      await storage.delete(payload.upload_key);
      return;
    }

    // DELETE /v1/jobs/{id} marks a running job canceled; notice it and stop ffmpeg and the rest.
    const watch = watchJob(store, payload.job_id, (record) => !record || record.status === 'canceled', this.deps.cancelPollMs);

    try {
      const result = await this.transcribe(payload, log, watch.signal);
      if (watch.signal.aborted) throw new TalkieError('processing_failed', { message: 'Processing was aborted.' });
      if (payload.correct && this.deps.enqueueCorrection) {
        // Issue 8: the raw result is kept and the job stays `processing` until the postprocess
        // service has corrected it; that service completes it, so the webhook fires once, at the end.
        const held = await store.holdForCorrection(payload.job_id, result);
        if (held === 'applied') await this.deps.enqueueCorrection({ v: 1, job_id: payload.job_id, tenant: payload.tenant });
        log.info({ outcome: held, frames: result.frames, words: result.segments.length }, 'transcript stored; queued for correction');
        metrics?.jobs.inc({ outcome: 'completed' });
      } else {
        const outcome = await store.complete(payload.job_id, result);
        log.info({ outcome, frames: result.frames, words: result.segments.length }, 'job completed');
        this.observeEnd(payload.job_id, 'completed');
      }
      await storage.delete(payload.upload_key);
    } catch (err) {
      // A cancel also deletes the upload, so a failure right after one (ffprobe finding no file)
      // is the cancel too, even before the watcher has noticed it.
      if (watch.signal.aborted || (await store.get(payload.job_id).catch(() => null))?.status === 'canceled') {
        log.info('job canceled while processing: stopped');
        metrics?.jobs.inc({ outcome: 'canceled' });
        // the gateway that canceled it did this unless it died right after the cancel; idempotent
        await store.settleTerminal(payload.job_id);
        await storage.delete(payload.upload_key);
        return;
      }
      const error = err instanceof TalkieError ? err : new TalkieError('processing_failed', { cause: err, retryable: true });
      const attempts = job.opts.attempts ?? 1;
      const lastAttempt = !error.retryable || job.attemptsMade + 1 >= attempts;
      metrics?.failures.inc({ code: error.code });
      log.warn({ code: error.code, last_attempt: lastAttempt, err: error.cause instanceof Error ? error.cause.message : undefined }, 'job attempt failed');
      if (!lastAttempt) {
        await store.requeue(payload.job_id);
        throw error; // BullMQ retries with backoff
      }
      await this.failJob(payload.job_id, payload.upload_key, error.code, error.message);
      this.observeEnd(payload.job_id, 'failed');
      throw new UnrecoverableError(error.code);
    } finally {
      watch.stop();
    }
  }

  private mouthTracker(): Pick<MouthTracker, 'decodeMouthFrames'> {
    if (!this.deps.tracker) throw new TalkieError('processing_failed', { message: 'The model needs a mouth tracker and none is loaded.' });
    return this.deps.tracker;
  }

  private observeEnd(jobId: string, outcome: 'completed' | 'failed'): void {
    const metrics = this.deps.metrics;
    if (!metrics) return;
    metrics.jobs.inc({ outcome });
    this.deps.store.get(jobId).then(
      (record) => record && metrics.endToEnd.observe({ outcome }, (Date.parse(record.updated_at) - Date.parse(record.created_at)) / 1000),
      () => undefined,
    );
  }

  /** Marks a job failed for good and removes its upload. Also used when BullMQ gives up on a stalled job. */
  async failJob(jobId: string, uploadKey: string | undefined, code: ErrorCode, message: string): Promise<void> {
    if ((await this.deps.store.fail(jobId, { code, message })) === 'terminal') await this.deps.store.settleTerminal(jobId);
    if (uploadKey) await this.deps.storage.delete(uploadKey);
  }

  private async transcribe(payload: TranscribePayload, log: Logger, signal: AbortSignal) {
    const { storage, store, reader, ffmpeg, limits } = this.deps;
    if (!(await storage.exists(payload.upload_key))) throw new TalkieError('upload_missing');
    const file = await storage.openLocal(payload.upload_key);
    try {
      const metrics = this.deps.metrics;
      const began = performance.now();
      // The gateway's probe of these exact bytes when it recorded one, else our own; either way the
      // limits below are this worker's own.
      const probe =
        (await this.deps.probeMemo?.recall(file.path, payload.upload_sha256)) ??
        (await (this.deps.prober?.probe(file.path, { timeoutMs: limits.probeTimeoutMs }) ?? probeVideo(file.path, { ffprobe: ffmpeg.ffprobe, timeoutMs: limits.probeTimeoutMs })));
      metrics?.stageDuration.observe({ stage: 'probe' }, (performance.now() - began) / 1000);
      log.debug({ format: probe.format, codec: probe.codec, fps: probe.fps, duration_s: probe.duration_s }, 'probed');
      // The gateway checked this file already; checking again here means a worker never trusts
      // what reaches its queue (another producer, an older gateway, a changed limit).
      checkProbe(probe, { ...DEFAULT_MEDIA_LIMITS, maxDurationS: limits.maxDurationS });

      const manifest = reader.manifest;
      const expectedFrames = Math.max(1, Math.ceil(probe.duration_s * manifest.frame_rate));
      const decodeStart = performance.now();
      const decode = {
        ffmpeg: ffmpeg.ffmpeg,
        fps: manifest.frame_rate,
        // a little slack over the probed duration: container durations are approximate
        maxFrames: Math.ceil((limits.maxDurationS + 1) * manifest.frame_rate),
        timeoutMs: limits.decodeTimeoutMs,
        threads: limits.decodeThreads,
        signal,
        onFrames: (n: number) => {
          void store.setProgress(payload.job_id, (Math.min(n, expectedFrames) / expectedFrames) * DECODE_PROGRESS);
        },
      };
      // Issues 5 and 10: `landmarks` models get aligned mouth crops from the tracker (which fails
      // the job with no_face_detected when no frame has a face); the others an ffmpeg crop.
      const frames =
        manifest.roi.mode === 'landmarks'
          ? await this.mouthTracker().decodeMouthFrames(file.path, { ...decode, source: probe, size: manifest.input })
          : await decodeFrames(file.path, { ...decode, roi: roiFilterFor(manifest) });
      metrics?.stageDuration.observe({ stage: 'decode' }, (performance.now() - decodeStart) / 1000);
      if (frames.count === 0) throw new TalkieError('decode_failed', { message: 'The video has no decodable frames.' });
      await store.setProgress(payload.job_id, DECODE_PROGRESS);
      if (signal.aborted) throw new TalkieError('processing_failed', { message: 'Processing was aborted.' });
      const timings: StageTimings = {};
      let result;
      try {
        result = await reader.transcribe(frames, this.deps.decoding, timings);
      } catch (err) {
        throw new TalkieError('inference_failed', { cause: err });
      }
      if (metrics) {
        for (const [stage, seconds] of Object.entries(timings)) metrics.stageDuration.observe({ stage }, seconds);
        metrics.frames.inc(frames.count);
        metrics.throughput.observe(frames.count / Math.max(1e-6, (performance.now() - began) / 1000));
      }
      return result;
    } finally {
      await file.release();
    }
  }
}

export type { ErrorCode };
