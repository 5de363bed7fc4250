import type { Job } from 'bullmq';
import { QUEUES, type ErrorCode } from '@talkie/contracts';
import { ensureDemoModel } from '@talkie/demo-model';
import { loadMouthTracker, type MouthTracker } from '@talkie/faces';
import { onnxRuntimeVersion, parseExecutionProviders } from '@talkie/inference';
import { createVideoProber, residentProberPath, resolveCheckedFfmpeg, warmUpFfmpeg } from '@talkie/media';
import { ChunkProgress, createRedis, enqueuePostprocess, QueueHost, warnIfEvicting, JobStore, ProbeMemo, toJobResource, type ConsumeOptions } from '@talkie/queue';
import { createLogger, createMetricsRegistry, lowerProcessPriority, onShutdown, startOpsServer } from '@talkie/runtime';
import { createStorage } from '@talkie/storage';
import { publishTerminalEvents } from '@talkie/webhooks';
import { ChunkProcessor } from './chunking/chunk-processor';
import { LongVideoCoordinator } from './chunking/long-video-coordinator';
import { loadWorkerConfig } from './config';
import { ThreadedLipReader } from './inference/threaded-reader';
import { WorkerMetrics } from './observability/worker-metrics';
import { TranscriptionProcessor } from './transcription-processor';

/**
 * How long the job in hand may take to finish after SIGTERM before the worker exits anyway (BullMQ
 * then hands it back): its probe and decode limits plus time for inference. With the defaults,
 * 145 s: under the 150 s that docker-compose.yml and k8s give a worker to stop.
 */
const shutdownGraceMs = (config: { PROBE_TIMEOUT_MS: number; DECODE_TIMEOUT_MS: number }): number =>
  config.PROBE_TIMEOUT_MS + config.DECODE_TIMEOUT_MS + 10_000;

/**
 * BullMQ gave up on a job without the processor's say (its worker died too often, or an error got
 * past the processor on the last attempt; the QueueHost reads which from BullMQ's state): its record
 * must still end as failed. `fail` records that (the whole job's or a chunk's parent's). A job
 * failed with UnrecoverableError was recorded by its processor first.
 */
function failGivenUp(fail: (jobId: string, uploadKey: string | undefined, code: ErrorCode, message: string) => Promise<void>): ConsumeOptions['onGiveUp'] {
  return async (job, _err, reason) => {
    if (reason === 'unrecoverable') return;
    const data = job.data as { job_id?: string; upload_key?: string };
    if (!data.job_id) return;
    await fail(data.job_id, data.upload_key, 'processing_failed', reason === 'stalled' ? 'Processing stopped repeatedly; giving up.' : 'Processing failed.');
  };
}

async function main() {
  const config = loadWorkerConfig();
  const logger = createLogger({ service: 'worker', level: config.LOG_LEVEL });
  let ready = false;
  const info: Record<string, unknown> = {};

  // Lower priority than the gateway, for every thread (ffmpeg children inherit it); again once the
  // inference thread and ONNX Runtime's pools exist (lowerNice below).
  const lowerNice = () => {
    try {
      lowerProcessPriority(config.WORKER_NICE);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not lower CPU priority');
    }
  };
  lowerNice();

  const registry = createMetricsRegistry('worker');
  const metrics = new WorkerMetrics(registry);
  if (config.HEALTH_PORT !== undefined) {
    // /healthz, /readyz (only once the model is loaded) and /metrics; the only port a worker opens.
    const ops = await startOpsServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT, registry, readiness: () => ({ ready, info }) });
    logger.info({ port: ops.port }, 'health and metrics server listening');
  }

  // ffmpeg parses untrusted uploads: refuse builds older than the configured minimum (the gateway
  // applies the same gate to the ffprobe it probes uploads with).
  const ffmpeg = await resolveCheckedFfmpeg({
    env: config,
    minMajor: config.FFMPEG_MIN_MAJOR,
    allowOld: config.FFMPEG_ALLOW_OLD,
    warn: (message, fields) => logger.warn(fields ?? {}, message),
  });
  await warmUpFfmpeg(ffmpeg.ffmpeg).catch((err: Error) => {
    throw new Error(`ffmpeg (${ffmpeg.ffmpeg}) could not list its formats and encoders: ${err.message}`);
  });
  const onnxruntime = onnxRuntimeVersion();
  logger.info(
    { ffmpeg: ffmpeg.version, ffmpeg_path: ffmpeg.ffmpeg, source: ffmpeg.source, onnxruntime },
    `ffmpeg found; runtime versions: ffmpeg ${ffmpeg.version}, onnxruntime ${onnxruntime}`,
  );
  Object.assign(info, { ffmpeg: ffmpeg.version, onnxruntime });

  let modelDir = config.MODEL_DIR;
  if (!modelDir) {
    modelDir = config.DEMO_MODEL_DIR;
    await ensureDemoModel(modelDir);
    logger.warn(
      { model_dir: modelDir },
      'MODEL_DIR is unset: running the DEMO MODEL. It reads only the synthetic videos made by `npm run fixture`, not real lips. ' +
        'Set MODEL_DIR to a real model package for lip reading.',
    );
  }
  // The model lives in a thread of its own (inference/inference-thread.ts), so inference and CTC
  // decoding never hold up this event loop and BullMQ's lock renewal with it.
  const reader = await ThreadedLipReader.start({
    modelDir,
    executionProviders: parseExecutionProviders(config.EXECUTION_PROVIDERS),
    deviceId: config.EXECUTION_DEVICE_ID,
    intraOpThreads: config.INTRA_OP_THREADS || undefined,
    interOpThreads: config.INTER_OP_THREADS || undefined,
    maxBatch: config.MAX_BATCH,
    batchWindowMs: config.BATCH_WINDOW_MS,
    decoding: { method: config.CTC_DECODER, beamWidth: config.BEAM_WIDTH, ctcWeight: config.CTC_WEIGHT },
  });
  const { manifest, providers, batching } = reader.model;
  if (manifest.demo) logger.warn({ model: manifest.name }, 'DEMO MODEL loaded: transcripts are only meaningful for Talkie fixture videos');
  if (providers.fallbacks.length) {
    logger.warn(
      { requested: providers.requested, active: providers.active, fallbacks: providers.fallbacks },
      `execution provider fallback: asked for ${providers.requested.join(',')}, running on ${providers.active[0]} (` +
        providers.fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ') +
        ')',
    );
  }
  logger.info(
    {
      model: manifest.name,
      version: manifest.version,
      fps: manifest.frame_rate,
      providers: providers.active,
      device_id: config.EXECUTION_DEVICE_ID,
      batching,
      load_ms: Math.round(reader.model.loadMs),
    },
    'model loaded',
  );
  if (config.MAX_BATCH > 1 && batching.mode === 'off') logger.warn({ max_batch: config.MAX_BATCH }, 'this model cannot be batched exactly: MAX_BATCH ignored, one clip per inference call');
  Object.assign(info, {
    model: { name: manifest.name, version: manifest.version, demo: manifest.demo },
    execution_providers: { requested: providers.requested, active: providers.active[0], session: providers.active, fallbacks: providers.fallbacks },
    batching: { max_batch: batching.maxBatch, window_ms: batching.windowMs, padding: batching.mode },
    chunking: config.CHUNK_SECONDS > 0 ? { chunk_seconds: config.CHUNK_SECONDS, overlap_s: config.CHUNK_OVERLAP_S } : false,
  });
  metrics.modelLoad.set(reader.model.loadMs / 1000);
  for (const provider of providers.active) metrics.provider.set({ provider }, 1);
  metrics.executionProvider.set({ requested: providers.requested.join(','), active: providers.active[0] }, 1);
  for (const fallback of providers.fallbacks) metrics.providerFallbacks.set({ provider: fallback.provider }, 1);
  reader.on('batch', (size: number) => metrics.batchSize.observe(size));
  reader.on('exit', (code: number) => {
    logger.fatal({ code }, 'the inference thread ended unexpectedly: exiting so that the worker is restarted');
    process.exit(1);
  });

  // Issues 5 and 10: a model whose ROI is `landmarks` reads aligned mouth crops from the mouth
  // tracker, loaded here (sessions created and warmed up) before the worker reports ready.
  let tracker: MouthTracker | undefined;
  if (manifest.roi.mode === 'landmarks') {
    // on the providers the lip model came up on (the GPU where there is one), not CPU by default
    const loaded = await loadMouthTracker({ lipPackageDir: modelDir, roi: manifest.roi, faceModelDir: config.FACE_MODEL_DIR, sessions: { executionProviders: providers.active } });
    tracker = loaded.tracker;
    const faces = tracker.models.manifest;
    if (faces.demo) logger.warn({ face_model: faces.name }, 'SYNTHETIC FACE MODELS loaded: they find only the lips ring of Talkie fixture videos');
    logger.info(
      {
        face_model: faces.name,
        version: faces.version,
        dir: loaded.choice.dir,
        source: loaded.choice.source,
        built: loaded.choice.built,
        // the crops' geometry: the package's roi.alignment, else Talkie's reference face
        alignment: manifest.roi.alignment?.method ?? 'reference',
        load_ms: Math.round(tracker.models.loadMs),
      },
      'mouth tracker loaded',
    );
    Object.assign(info, { face_model: { name: faces.name, version: faces.version, source: loaded.choice.source } });
  }

  lowerNice();

  const redis = createRedis(config.REDIS_URL, 'worker');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const storage = createStorage(config.STORAGE_URL, config);
  // Every queue this worker produces to or serves, from the job catalogue (issue 19).
  const host = new QueueHost({ redisUrl: config.REDIS_URL, logger });
  // Completed and failed jobs become terminal here: queue their webhook (the dispatcher delivers it,
  // so this worker never waits on a customer's server). Delivery ids are per job and event, so a
  // job finished twice by two workers still yields one delivery.
  const store = new JobStore(redis, config.RESULT_TTL_S * 1000).onTerminal(publishTerminalEvents(host.queue(QUEUES.webhooks), toJobResource, config.WEBHOOK_RETRY_SCHEDULE_MS));
  // Jobs that asked for LLM correction go on to the postprocess service (issue 8), never corrected here.
  const decoding = reader.decodingDefaults();
  const probeMemo = config.REUSE_GATEWAY_PROBE ? new ProbeMemo(redis) : undefined;
  // For uploads without a recorded probe (REUSE_GATEWAY_PROBE=false, another producer, an expired record).
  const prober = await createVideoProber({ binaries: ffmpeg, mode: config.PROBER, residentPath: residentProberPath(config), timeoutMs: config.PROBE_TIMEOUT_MS, log: (level, message) => logger[level](message) });
  const processor = new TranscriptionProcessor({
    tracker,
    store,
    storage,
    reader,
    ffmpeg,
    logger,
    decoding,
    limits: { maxDurationS: config.MAX_DURATION_S, probeTimeoutMs: config.PROBE_TIMEOUT_MS, decodeTimeoutMs: config.DECODE_TIMEOUT_MS, decodeThreads: config.DECODE_THREADS || undefined },
    metrics,
    probeMemo,
    prober,
    enqueueCorrection: (payload) => enqueuePostprocess(host.queue(QUEUES.postprocess), payload),
  });

  // Long videos (CHUNK_SECONDS): windows as child jobs on the chunk queue, which every worker
  // serves whatever its own CHUNK_SECONDS, then merged by the parent (chunking/).
  const chunkQueue = host.queue(QUEUES.chunks);
  const progress = new ChunkProgress(redis, config.RESULT_TTL_S * 2000);
  const chunks = new ChunkProcessor({ store, storage, reader, ffmpeg, logger, decoding, progress, limits: { decodeTimeoutMs: config.DECODE_TIMEOUT_MS, decodeThreads: config.DECODE_THREADS || undefined }, metrics, tracker });
  const coordinator = new LongVideoCoordinator({
    store,
    storage,
    logger,
    chunkQueue,
    progress,
    model: { fps: manifest.frame_rate, name: manifest.name, version: manifest.version, demo: manifest.demo },
    chunkSeconds: config.CHUNK_SECONDS,
    overlapS: config.CHUNK_OVERLAP_S,
    limits: { maxDurationS: config.MAX_DURATION_S, probeTimeoutMs: config.PROBE_TIMEOUT_MS },
    probeMemo,
    prober,
    whole: (job, opened) => processor.process(job, opened),
    complete: (payload, result) => processor.complete(payload, result),
    metrics,
  });
  const transcribe = config.CHUNK_SECONDS > 0 ? (job: Job, token?: string) => coordinator.process(job, token) : (job: Job) => processor.process(job);

  // a dead worker's jobs go back to the queue once their lock expires (stalled-job detection)
  const lock = { lockDurationMs: config.QUEUE_LOCK_DURATION_MS, stalledIntervalMs: config.QUEUE_STALLED_INTERVAL_MS };
  host.consume(QUEUES.transcribe, transcribe, {
    ...lock,
    concurrency: config.WORKER_CONCURRENCY,
    onGiveUp: failGivenUp((jobId, uploadKey, code, message) => processor.failJob(jobId, uploadKey, code, message)),
  });
  host.consume(QUEUES.chunks, (job) => chunks.process(job), {
    ...lock,
    concurrency: config.CHUNK_CONCURRENCY ?? Math.max(config.MAX_BATCH, config.WORKER_CONCURRENCY),
    // a chunk given up on fails its whole job
    onGiveUp: failGivenUp((jobId, uploadKey, code, message) => chunks.failParent(jobId, uploadKey, code, message)),
  });

  warnIfEvicting(redis, logger);

  onShutdown(
    logger,
    async () => {
      ready = false;
      // Finishes the job in hand (within the grace period); BullMQ hands unfinished ones back.
      await host.close();
      await prober.close();
      await reader.close();
      await tracker?.models.release();
      await redis.quit();
    },
    shutdownGraceMs(config),
  );

  host.start();
  ready = true;
  logger.info({ concurrency: config.WORKER_CONCURRENCY, storage: storage.description }, 'worker ready');
}

main().catch((err: Error) => {
  console.error(`worker: ${err.message}`);
  process.exit(1);
});
