import { UnrecoverableError, type Job } from 'bullmq';
import { TalkieError, TranscribePayload, type ErrorCode, type PostprocessPayload, type TranscriptResult, type VideoProbe } from '@talkie/contracts';
import type { DecodingOptions } from '@talkie/inference';
import { checkProbe, DEFAULT_MEDIA_LIMITS, type FfmpegBinaries, type VideoProber } from '@talkie/media';
import type { JobStore, ProbeMemo, TransitionOutcome } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import type { BlobStorage } from '@talkie/storage';
import { watchJob } from './job-watch';
import type { WorkerMetrics } from './observability/worker-metrics';
import { describeResult, primaryRead } from './face-results';
import { decodeModelFrames, failJobForGood, infer, probeUpload, type OpenedUpload, type Reader, type Tracker } from './pipeline';
import { ProgressReporter } from './progress-reporter';

export interface ProcessorDeps {
  store: JobStore;
  storage: BlobStorage;
  /** a LipReader, or the handle on the inference thread that runs one */
  reader: Reader;
  ffmpeg: FfmpegBinaries;
  logger: Logger;
  decoding: DecodingOptions;
  limits: { maxDurationS: number; probeTimeoutMs: number; decodeTimeoutMs: number; decodeThreads?: number };
  /** how often a running job looks whether it was canceled, in ms */
  cancelPollMs?: number;
  metrics?: WorkerMetrics;
  /** probes the gateway recorded by content (see ProbeMemo) */
  probeMemo?: ProbeMemo;
  /** probes a file when no recorded probe serves (talkie-probe or ffprobe) */
  prober: Pick<VideoProber, 'probe'>;
  /** the mouth tracker, loaded at start when the model's ROI is `landmarks` */
  tracker?: Tracker;
  /** queues the LLM correction of a job that asked for it (the postprocess service completes it) */
  enqueueCorrection: (payload: PostprocessPayload) => Promise<void>;
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

  /** `opened`: the upload, fetched and probed, when the caller has it already (the long-video path's planning). */
  async process(job: Job<unknown>, opened?: OpenedUpload): Promise<void> {
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
      const result = await this.transcribe(payload, log, watch.signal, opened);
      if (watch.signal.aborted) throw new TalkieError('processing_failed', { message: 'Processing was aborted.' });
      const { outcome, held } = await this.complete(payload, result);
      if (held) {
        log.info({ outcome, frames: result.frames, words: result.segments.length }, 'transcript stored; queued for correction');
        metrics?.jobs.inc({ outcome: 'completed' });
      } else {
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

  /**
   * Records a job's transcript: completes the job, or, for one that asked for correction (issue 8),
   * keeps the raw result with the job still `processing` and queues the correction; the postprocess
   * service completes it then, so the webhook fires once, at the end. The long-video path ends its
   * jobs through this too.
   */
  async complete(payload: TranscribePayload, result: TranscriptResult): Promise<{ outcome: TransitionOutcome; held: boolean }> {
    const { store, enqueueCorrection } = this.deps;
    if (!payload.correct) return { outcome: await store.complete(payload.job_id, result), held: false };
    const outcome = await store.holdForCorrection(payload.job_id, result);
    if (outcome === 'applied') await enqueueCorrection({ v: 1, job_id: payload.job_id, tenant: payload.tenant });
    return { outcome, held: true };
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
  failJob(jobId: string, uploadKey: string | undefined, code: ErrorCode, message: string): Promise<void> {
    return failJobForGood(this.deps, jobId, uploadKey, { code, message });
  }

  private async transcribe(payload: TranscribePayload, log: Logger, signal: AbortSignal, opened?: OpenedUpload): Promise<TranscriptResult> {
    const { storage, store, reader, ffmpeg, limits, metrics } = this.deps;
    if (!opened && !(await storage.exists(payload.upload_key))) throw new TalkieError('upload_missing');
    const file = opened?.file ?? (await storage.openLocal(payload.upload_key));
    try {
      const began = performance.now();
      let probe = opened?.probe;
      if (!probe) {
        probe = await probeUpload(this.deps, file.path, payload.upload_sha256, limits.probeTimeoutMs);
        metrics?.stageDuration.observe({ stage: 'probe' }, (performance.now() - began) / 1000);
      }
      log.debug({ format: probe.format, codec: probe.codec, fps: probe.fps, duration_s: probe.duration_s }, 'probed');
      // The gateway checked this file already; checking again here means a worker never trusts
      // what reaches its queue (another producer, an older gateway, a changed limit).
      const mediaLimits = { ...DEFAULT_MEDIA_LIMITS, maxDurationS: limits.maxDurationS };
      checkProbe(probe, mediaLimits);

      const manifest = reader.manifest;
      const expectedFrames = Math.max(1, Math.ceil(probe.duration_s * manifest.frame_rate));
      const progress = new ProgressReporter((percent) => store.setProgress(payload.job_id, percent));
      const decodeStart = performance.now();
      const { frames, faces } = await decodeModelFrames(file.path, reader, this.deps.tracker, {
        ffmpeg: ffmpeg.ffmpeg,
        ffprobe: ffmpeg.ffprobe,
        face: payload.face,
        source: probe,
        fps: manifest.frame_rate,
        // a little slack over the probed duration: container durations are approximate
        maxFrames: Math.ceil((limits.maxDurationS + 1) * manifest.frame_rate),
        // the frame limit the probe was checked against, now on the frames ffmpeg really decodes:
        // Matroska/WebM keep no count, and a header's duration or rate may lie
        maxSourceFrames: mediaLimits.maxFrames,
        timeoutMs: limits.decodeTimeoutMs,
        threads: limits.decodeThreads,
        signal,
        onFrames: (n) => progress.report((Math.min(n, expectedFrames) / expectedFrames) * DECODE_PROGRESS),
      });
      metrics?.stageDuration.observe({ stage: 'decode' }, (performance.now() - decodeStart) / 1000);
      if (frames.count === 0) throw new TalkieError('decode_failed', { message: 'The video has no decodable frames.' });
      progress.milestone(DECODE_PROGRESS);
      if (signal.aborted) throw new TalkieError('processing_failed', { message: 'Processing was aborted.' });
      // issue 17: the N best hypotheses only when the job asked (long videos read in windows have none: chunking/)
      const decoding = payload.alternatives ? { ...this.deps.decoding, alternatives: payload.alternatives } : this.deps.decoding;
      const result = await infer(reader, frames, decoding, metrics);
      // issue 17, face=all: every other track read too (no alternatives: those are the main reading's)
      const others = new Map<number, TranscriptResult>();
      const primary = faces ? primaryRead(faces) : undefined;
      for (const read of faces?.read ?? []) if (read !== primary) others.set(read.index, await infer(reader, read.frames, this.deps.decoding, metrics));
      metrics?.throughput.observe(frames.count / Math.max(1e-6, (performance.now() - began) / 1000));
      return describeResult(result, { modelFps: manifest.frame_rate, demo: manifest.demo, sourceFps: probe.fps }, faces, others);
    } finally {
      if (!opened) await file.release(); // an opened upload is its caller's to release
    }
  }
}

export type { ErrorCode };
