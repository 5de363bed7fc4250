import os from 'node:os';
import { Worker } from 'bullmq';
import { QUEUE_PREFIX, QUEUES } from '@talkie/contracts';
import { ensureDemoModel } from '@talkie/demo-model';
import { LipReader, ModelSession, onnxRuntimeVersion } from '@talkie/inference';
import { checkFfmpegVersion, resolveFfmpeg } from '@talkie/media';
import { createRedis, evictionPolicy, JobStore, toJobResource } from '@talkie/queue';
import { createLogger, createMetricsRegistry, onShutdown, startOpsServer } from '@talkie/runtime';
import { createStorage } from '@talkie/storage';
import { createWebhookQueue, publishTerminalEvents } from '@talkie/webhooks';
import { loadWorkerConfig } from './config';
import { WorkerMetrics } from './observability/worker-metrics';
import { TranscriptionProcessor } from './transcription-processor';

/**
 * How long the job in hand may take to finish after SIGTERM before the worker exits anyway (BullMQ
 * then hands it back): its probe and decode limits plus time for inference. With the defaults,
 * 145 s: under the 150 s that docker-compose.yml and k8s give a worker to stop.
 */
const shutdownGraceMs = (config: { PROBE_TIMEOUT_MS: number; DECODE_TIMEOUT_MS: number }): number =>
  config.PROBE_TIMEOUT_MS + config.DECODE_TIMEOUT_MS + 10_000;

async function main() {
  const config = loadWorkerConfig();
  const logger = createLogger({ service: 'worker', level: config.LOG_LEVEL });
  let ready = false;
  const info: Record<string, unknown> = {};

  try {
    // Lower priority than the gateway; ffmpeg children inherit it.
    os.setPriority(0, Math.max(os.getPriority(0), config.WORKER_NICE));
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'could not lower CPU priority');
  }

  const registry = createMetricsRegistry('worker');
  const metrics = new WorkerMetrics(registry);
  if (config.HEALTH_PORT !== undefined) {
    // /healthz, /readyz (only once the model is loaded) and /metrics; the only port a worker opens.
    const ops = await startOpsServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT, registry, readiness: () => ({ ready, info }) });
    logger.info({ port: ops.port }, 'health and metrics server listening');
  }

  const ffmpeg = await resolveFfmpeg(process.env, { minMajor: config.FFMPEG_MIN_MAJOR });
  if (ffmpeg.warning) logger.warn(ffmpeg.warning);
  // ffmpeg parses untrusted uploads: refuse builds older than the configured minimum.
  const gate = checkFfmpegVersion(ffmpeg, config.FFMPEG_MIN_MAJOR, config.FFMPEG_ALLOW_OLD);
  if (gate.level === 'error') throw new Error(gate.message);
  if (gate.level === 'warning') logger.warn({ ffmpeg: ffmpeg.version, min_major: config.FFMPEG_MIN_MAJOR }, gate.message);
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
  const session = await ModelSession.load(modelDir, {
    executionProviders: config.EXECUTION_PROVIDERS.split(',').map((p) => p.trim()).filter(Boolean),
    intraOpThreads: config.INTRA_OP_THREADS || undefined,
  });
  const manifest = session.pkg.manifest;
  if (manifest.demo) logger.warn({ model: manifest.name }, 'DEMO MODEL loaded: transcripts are only meaningful for Talkie fixture videos');
  logger.info(
    { model: manifest.name, version: manifest.version, fps: manifest.frame_rate, providers: session.executionProviders, load_ms: Math.round(session.loadMs) },
    'model loaded',
  );
  Object.assign(info, { model: { name: manifest.name, version: manifest.version, demo: manifest.demo }, execution_providers: session.executionProviders });
  metrics.modelLoad.set(session.loadMs / 1000);
  for (const provider of session.executionProviders) metrics.provider.set({ provider }, 1);

  const redis = createRedis(config.REDIS_URL, 'worker');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const storage = createStorage(config.STORAGE_URL);
  const webhookQueue = createWebhookQueue(createRedis(config.REDIS_URL, 'producer'));
  webhookQueue.on('error', (err) => logger.warn({ err: err.message }, 'webhook queue connection error'));
  // Completed and failed jobs become terminal here: queue their webhook (the dispatcher delivers it,
  // so this worker never waits on a customer's server). Delivery ids are per job and event, so a
  // job finished twice by two workers still yields one delivery.
  const store = new JobStore(redis, config.RESULT_TTL_S * 1000).onTerminal(publishTerminalEvents(webhookQueue, toJobResource));
  const reader = new LipReader(session);
  const defaults = reader.decodingDefaults();
  const processor = new TranscriptionProcessor({
    store,
    storage,
    reader,
    ffmpeg,
    logger,
    decoding: { method: config.CTC_DECODER ?? defaults.method, beamWidth: config.BEAM_WIDTH ?? defaults.beamWidth },
    limits: { maxDurationS: config.MAX_DURATION_S, probeTimeoutMs: config.PROBE_TIMEOUT_MS, decodeTimeoutMs: config.DECODE_TIMEOUT_MS },
    metrics,
  });

  const worker = new Worker(QUEUES.transcribe, (job) => processor.process(job), {
    connection: createRedis(config.REDIS_URL, 'worker'),
    prefix: QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    // a dead worker's jobs go back to the queue once their lock expires (stalled-job detection)
    lockDuration: config.QUEUE_LOCK_DURATION_MS,
    stalledInterval: config.QUEUE_STALLED_INTERVAL_MS,
    autorun: false,
  });
  worker.on('error', (err) => logger.warn({ err: err.message }, 'worker error'));
  worker.on('failed', (job, err) => {
    // A job whose worker died too often is failed by BullMQ without reaching the processor's
    // catch; its record must still end as failed.
    if (job && /stalled/i.test(err.message)) {
      const data = job.data as { job_id?: string; upload_key?: string };
      if (data.job_id) {
        processor.failJob(data.job_id, data.upload_key, 'processing_failed', 'Processing stopped repeatedly; giving up.').catch((e: Error) =>
          logger.error({ err: e.message, job_id: data.job_id }, 'could not record stalled failure'),
        );
      }
    }
  });

  evictionPolicy(redis).then((policy) => {
    if (policy && policy !== 'noeviction') logger.warn({ policy }, `Redis maxmemory-policy is "${policy}": set it to noeviction`);
  }, () => undefined);

  onShutdown(
    logger,
    async () => {
      ready = false;
      // Finishes the job in hand (within the grace period); BullMQ hands unfinished ones back.
      await worker.close();
      await webhookQueue.close();
      await session.release();
      await redis.quit();
    },
    shutdownGraceMs(config),
  );

  void worker.run();
  ready = true;
  logger.info({ concurrency: config.WORKER_CONCURRENCY, storage: storage.description }, 'worker ready');
}

main().catch((err: Error) => {
  console.error(`worker: ${err.message}`);
  process.exit(1);
});
