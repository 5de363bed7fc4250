import { Counter, Histogram } from 'prom-client';
import { QUEUES } from '@talkie/contracts';
import { CorrectionCapability, createRedis, QueueHost, warnIfEvicting, JobStore, toJobResource } from '@talkie/queue';
import { createLogger, createMetricsRegistry, onShutdown, startOpsServer } from '@talkie/runtime';
import { publishTerminalEvents } from '@talkie/webhooks';
import { loadPostprocessConfig } from './config';
import { CorrectionProcessor } from './correction-processor';
import { LlmCorrector } from './llm-corrector';

async function main() {
  const config = loadPostprocessConfig();
  const logger = createLogger({ service: 'postprocess', level: config.LOG_LEVEL });
  let ready = false;
  const info: Record<string, unknown> = {};

  const registry = createMetricsRegistry('postprocess');
  const corrections = new Counter({
    name: 'talkie_postprocess_corrections_total',
    help: 'Jobs through the LLM correction step, by correction status and reason',
    labelNames: ['status', 'reason'],
    registers: [registry],
  });
  const llmSeconds = new Histogram({
    name: 'talkie_postprocess_llm_request_duration_seconds',
    help: 'Time per LLM chat completions call (retries included), by mode and outcome',
    labelNames: ['mode', 'outcome'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  if (config.HEALTH_PORT !== undefined) {
    const ops = await startOpsServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT, registry, readiness: () => ({ ready, info }) });
    logger.info({ port: ops.port }, 'health and metrics server listening');
  }

  const corrector =
    config.LLM_BASE_URL && config.LLM_MODEL
      ? new LlmCorrector(
          { baseURL: config.LLM_BASE_URL, model: config.LLM_MODEL, apiKey: config.LLM_API_KEY, timeoutMs: config.LLM_TIMEOUT_MS, maxRetries: config.LLM_MAX_RETRIES },
          { onCall: (mode, outcome, seconds) => llmSeconds.observe({ mode, outcome }, seconds) },
        )
      : undefined;
  if (!corrector) {
    logger.warn('LLM_BASE_URL is unset: jobs that ask for correction complete with the raw text and correction "skipped" (not_configured)');
  }

  const redis = createRedis(config.REDIS_URL, 'worker');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const host = new QueueHost({ redisUrl: config.REDIS_URL, logger });
  // Jobs that asked for correction become terminal here, not in the worker: their webhook is queued now.
  const store = new JobStore(redis, config.RESULT_TTL_S * 1000).onTerminal(publishTerminalEvents(host.queue(QUEUES.webhooks), toJobResource, config.WEBHOOK_RETRY_SCHEDULE_MS));
  const processor = new CorrectionProcessor({
    store,
    corrector,
    logger,
    onOutcome: (c) => corrections.inc({ status: c.status, reason: c.reason ?? '' }),
  });

  // One job's LLM work is bounded by the timeout on each attempt plus the client's backoff (≤ 8 s
  // each): 114 s with the defaults, under the 120 s that docker-compose.yml and k8s give it to stop.
  const jobBoundMs = (config.LLM_TIMEOUT_MS + 8_000) * (config.LLM_MAX_RETRIES + 1);
  host.consume(QUEUES.postprocess, (job) => processor.process(job), {
    concurrency: config.POSTPROCESS_CONCURRENCY,
    // the lock outlives the LLM exchange, which is bounded (above), so a slow LLM is never "stalled"
    timeoutMs: jobBoundMs,
    onGiveUp: (job, err, reason) => processor.onGiveUp(job, err, reason),
  });

  warnIfEvicting(redis, logger);
  // Tells gateways (GET /v1/limits) that correction is available, for as long as this runs.
  const stopAnnouncing = corrector ? new CorrectionCapability(redis).announce((err) => logger.warn({ err: err.message }, 'could not announce LLM correction')) : () => undefined;

  onShutdown(
    logger,
    async () => {
      ready = false;
      stopAnnouncing();
      // Lets the corrections in flight finish (bounded, above); BullMQ hands the rest back.
      await host.close();
      await redis.quit();
    },
    jobBoundMs + 3_000,
  );

  // Where and what, never the key (only whether one is set) nor a URL's path or query.
  const llm = config.LLM_BASE_URL ? { origin: new URL(config.LLM_BASE_URL).origin, model: config.LLM_MODEL, api_key_set: Boolean(config.LLM_API_KEY) } : null;
  Object.assign(info, { llm });
  host.start();
  ready = true;
  logger.info(
    { concurrency: config.POSTPROCESS_CONCURRENCY, llm, timeout_ms: config.LLM_TIMEOUT_MS, max_retries: config.LLM_MAX_RETRIES },
    'postprocess service ready',
  );
}

main().catch((err: Error) => {
  console.error(`postprocess: ${err.message}`);
  process.exit(1);
});
