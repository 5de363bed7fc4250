import { UnrecoverableError, WaitingChildrenError, type Job, type Queue } from 'bullmq';
import { isTerminal, QUEUES, TranscribePayload, type TranscriptResult } from '@talkie/contracts';
import { checkProbe, DEFAULT_MEDIA_LIMITS, MAX_SOURCE_FPS, type VideoProber } from '@talkie/media';
import { addJobs, chunkJobId, ChunkWindow, type ChunkPayload, type ChunkProgress, type JobStore, type ProbeMemo } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import type { BlobStorage } from '@talkie/storage';
import type { WorkerMetrics } from '../observability/worker-metrics';
import { failJobForGood, probeUpload, releaseJob, type OpenedUpload } from '../pipeline';
import { mergeChunks, planWindows } from './windows';

export interface CoordinatorDeps {
  store: JobStore;
  storage: BlobStorage;
  logger: Logger;
  chunkQueue: Queue<ChunkPayload>;
  progress: ChunkProgress;
  /** the model's frame rate and identity */
  model: { fps: number; name: string; version: string; demo?: boolean };
  chunkSeconds: number;
  overlapS: number;
  limits: { maxDurationS: number; probeTimeoutMs: number };
  /** probes a file when no recorded probe serves (talkie-probe or ffprobe) */
  prober: Pick<VideoProber, 'probe'>;
  /** handles every job that is not chunked: the whole-video path, given the upload when planning fetched and probed it */
  whole: (job: Job<unknown>, opened?: OpenedUpload) => Promise<void>;
  /** records the merged transcript, as the whole-video path records its own (held for correction when asked) */
  complete: (payload: TranscribePayload, result: TranscriptResult) => Promise<unknown>;
  metrics?: WorkerMetrics;
  /** probes the gateway recorded by content (see ProbeMemo): no second ffprobe for the same bytes */
  probeMemo?: ProbeMemo;
}

/** What the parent job's data carries once it is split (BullMQ `updateData`), so a rerun merges. */
interface ChunkedData {
  chunks?: unknown;
  source?: ChunkPayload['source'];
}

/**
 * The `transcribe` queue's processor when chunking is on. A video longer than `chunkSeconds` is
 * split into overlapping windows, added as child jobs of this one (a BullMQ flow) on the chunk
 * queue where every worker takes them, and this job waits (`moveToWaitingChildren`). When all are
 * done BullMQ runs it again: it merges the windows' words into one transcript and completes the
 * record. The record stays one job for the client throughout; children are internal.
 */
export class LongVideoCoordinator {
  constructor(private readonly deps: CoordinatorDeps) {}

  async process(job: Job<unknown>, token?: string): Promise<void> {
    const parsed = TranscribePayload.safeParse(job.data);
    if (!parsed.success) return this.deps.whole(job);
    const payload = parsed.data;
    const stored = ChunkWindow.array().min(1).safeParse((job.data as ChunkedData).chunks);
    let windows = stored.success ? stored.data : undefined;
    const log = this.deps.logger.child({ job_id: payload.job_id, attempt: job.attemptsMade + 1 });

    if (!windows) {
      const plan = await this.plan(payload);
      // short, unreadable or over the limit: the whole-video path does it (with the upload already
      // fetched and probed, when it is short, so it is not downloaded and probed twice), or fails
      // it with the right code
      if (!plan.windows) {
        try {
          return await this.deps.whole(job, plan.upload);
        } finally {
          await plan.upload?.file.release();
        }
      }
      if ((await this.deps.store.markProcessing(payload.job_id)) !== 'applied') return this.deps.whole(job);
      windows = plan.windows;
      await job.updateData({ ...(job.data as object), chunks: windows, source: plan.source });
      log.info({ chunks: windows.length }, 'long video: split into chunks');
    }

    try {
      await this.finishChunked(job, payload, windows, log, token);
    } catch (err) {
      if (err instanceof WaitingChildrenError) throw err;
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log.warn({ err: (err as Error).message, last_attempt: lastAttempt }, 'chunked job attempt failed');
      if (!lastAttempt) throw err; // BullMQ runs this job again: it picks up where it stopped
      await failJobForGood(this.deps, payload.job_id, payload.upload_key, { code: 'processing_failed', message: 'Processing failed.' });
      this.deps.metrics?.failures.inc({ code: 'processing_failed' });
      throw new UnrecoverableError('processing_failed');
    }
  }

  /** Adds the windows not done yet as child jobs and waits for them, or merges them all. */
  private async finishChunked(job: Job<unknown>, payload: TranscribePayload, windows: ChunkWindow[], log: Logger, token?: string): Promise<void> {
    const record = await this.deps.store.get(payload.job_id);
    if (record?.status === 'queued') await this.deps.store.markProcessing(payload.job_id); // a retry after a requeue
    if (!record || isTerminal(record.status)) {
      // canceled, or failed by a chunk: finish the bookkeeping (idempotent) and stop
      log.info({ status: record?.status ?? 'missing' }, 'chunked job no longer wanted');
      await this.settleEnded(payload);
      return;
    }

    let results = await this.deps.progress.results(payload.job_id);
    const missing = windows.filter((w) => !results.some((r) => r.index === w.index));
    if (missing.length) {
      // first run, or a rerun after a crash before every child was added: adding is idempotent by job id
      await addJobs(
        this.deps.chunkQueue,
        QUEUES.chunks,
        missing.map((window) => ({
          payload: {
            v: 1,
            job_id: payload.job_id,
            tenant: payload.tenant,
            upload_key: payload.upload_key,
            fps: this.deps.model.fps,
            count: windows.length,
            window,
            source: (job.data as ChunkedData).source,
            ...(payload.face !== undefined ? { face: payload.face } : {}),
          },
          options: { jobId: chunkJobId(payload.job_id, window.index), parent: { id: job.id!, queue: job.queueQualifiedName } },
        })),
      );
      if (token && (await job.moveToWaitingChildren(token))) throw new WaitingChildrenError();
      // No wait (the children were done already): the job may have ended meanwhile (canceled, or
      // failed by a chunk). With nothing missing, the look at the top was just made.
      if (isTerminal((await this.deps.store.get(payload.job_id))?.status ?? 'canceled')) {
        await this.settleEnded(payload);
        return;
      }
      results = await this.deps.progress.results(payload.job_id);
    }

    const { name, version, demo } = this.deps.model;
    const result = mergeChunks(results, windows, this.deps.model.fps, { name, version, ...(demo ? { demo } : {}) });
    await this.deps.complete(payload, result);
    log.info({ frames: result.frames, words: result.segments.length, chunks: windows.length }, 'chunked job completed');
    this.deps.metrics?.jobs.inc({ outcome: 'completed' });
    await releaseJob(this.deps, payload.job_id, payload.upload_key);
  }

  /** A job found terminal: finish its bookkeeping (idempotent) and remove what it left. */
  private async settleEnded(payload: TranscribePayload): Promise<void> {
    await this.deps.store.settleTerminal(payload.job_id);
    await releaseJob(this.deps, payload.job_id, payload.upload_key);
  }

  /**
   * The windows for a video longer than one chunk. No windows for anything the whole-video path
   * should take; then the upload too, still open, when it passed the checks (a short video).
   */
  private async plan(payload: TranscribePayload): Promise<{ windows?: ChunkWindow[]; source?: ChunkPayload['source']; upload?: OpenedUpload }> {
    const { storage, limits, model, metrics } = this.deps;
    try {
      if (!(await storage.exists(payload.upload_key))) return {};
      const file = await storage.openLocal(payload.upload_key);
      let handedOn = false;
      try {
        const began = performance.now();
        const probe = await probeUpload(this.deps, file.path, payload.upload_sha256, limits.probeTimeoutMs);
        metrics?.stageDuration.observe({ stage: 'probe' }, (performance.now() - began) / 1000);
        // the source-frame limit scales with the duration limit (120 fps), as a long video is never
        // decoded whole; each window's decode is capped the same way (chunk-processor.ts)
        checkProbe(probe, { ...DEFAULT_MEDIA_LIMITS, maxDurationS: limits.maxDurationS, maxFrames: Math.max(DEFAULT_MEDIA_LIMITS.maxFrames, limits.maxDurationS * MAX_SOURCE_FPS) });
        if (!(probe.duration_s > this.deps.chunkSeconds)) {
          handedOn = true;
          return { upload: { file, probe } };
        }
        return {
          windows: planWindows(Math.ceil(probe.duration_s * model.fps), model.fps, this.deps.chunkSeconds, this.deps.overlapS),
          source: { width: probe.width, height: probe.height, fps: probe.fps },
        };
      } finally {
        if (!handedOn) await file.release();
      }
    } catch {
      return {}; // the whole-video path probes again and reports the problem with its code
    }
  }
}
