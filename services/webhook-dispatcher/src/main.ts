import { QUEUES } from '@talkie/contracts';
import { createRedis, QueueHost, warnIfEvicting } from '@talkie/queue';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { DeliveryAttempt } from '@talkie/contracts';
import { createLogger, createMetricsRegistry, onShutdown, startOpsServer } from '@talkie/runtime';
import { DEFAULT_SECRET_OVERLAP_MS, DeliveryLog, DisabledEndpoints, WebhookSecretStore, webhookBackoffStrategy } from '@talkie/webhooks';
import { loadDispatcherConfig } from './config';
import { DeliveryProcessor } from './delivery-processor';

async function main() {
  const config = loadDispatcherConfig();
  const logger = createLogger({ service: 'webhook-dispatcher', level: config.LOG_LEVEL });
  let ready = false;
  const info: Record<string, unknown> = {};

  if (config.WEBHOOK_ALLOW_PRIVATE) {
    logger.warn(
      'WEBHOOK_ALLOW_PRIVATE=true: webhooks are DELIVERED TO LOOPBACK AND PRIVATE ADDRESSES, over plain http too. ' +
        'For local development only: never in production.',
    );
  }

  const redis = createRedis(config.REDIS_URL, 'worker');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const deliveryLog = new DeliveryLog(redis, { ttlMs: config.RESULT_TTL_S * 1000 }); // read side, for the gauge

  const registry = createMetricsRegistry('webhook-dispatcher');
  const attempts = new Counter({ name: 'talkie_webhook_attempts_total', help: 'Webhook delivery attempts, by outcome', labelNames: ['outcome'], registers: [registry] });
  const attemptSeconds = new Histogram({ name: 'talkie_webhook_attempt_duration_seconds', help: 'Time per delivery attempt', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] });
  new Counter({ name: 'talkie_webhook_deliveries_total', help: 'Webhook events delivered (2xx)', registers: [registry] });
  new Gauge({
    name: 'talkie_webhook_dead_letters',
    help: 'Deliveries kept as dead letters after their attempts ran out (all dispatchers)',
    registers: [registry],
    async collect() {
      this.set(await deliveryLog.deadLetters());
    },
  });
  const delivered = registry.getSingleMetric('talkie_webhook_deliveries_total') as Counter;
  // Every attempt is recorded in the delivery log; counting there keeps the figures and the log in step.
  class CountingDeliveryLog extends DeliveryLog {
    override async record(jobId: string, attempt: DeliveryAttempt): Promise<void> {
      attempts.inc({ outcome: attempt.outcome });
      if (attempt.outcome === 'delivered') delivered.inc();
      attemptSeconds.observe(attempt.duration_ms / 1000);
      await super.record(jobId, attempt);
    }
  }
  const log = new CountingDeliveryLog(redis, { ttlMs: config.RESULT_TTL_S * 1000 });

  if (config.HEALTH_PORT !== undefined) {
    const ops = await startOpsServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT, registry, readiness: () => ({ ready, info }) });
    logger.info({ port: ops.port }, 'health and metrics server listening');
  }
  const processor = new DeliveryProcessor({
    // the dispatcher only reads secrets; the overlap is the gateway's (it rotates)
    secrets: new WebhookSecretStore(redis, { overlapMs: DEFAULT_SECRET_OVERLAP_MS }),
    log,
    disabled: new DisabledEndpoints(redis),
    logger,
    schedule: config.WEBHOOK_RETRY_SCHEDULE_MS,
    http: { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, timeoutMs: config.WEBHOOK_TIMEOUT_MS, maxResponseBytes: config.WEBHOOK_MAX_RESPONSE_BYTES },
  });

  const host = new QueueHost({ redisUrl: config.REDIS_URL, logger });
  host.consume(QUEUES.webhooks, (job) => processor.process(job), {
    concurrency: config.WEBHOOK_CONCURRENCY,
    // an attempt never holds its lock near the limit: the HTTP exchange is bounded by the timeout
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    backoffStrategy: webhookBackoffStrategy(config.WEBHOOK_RETRY_SCHEDULE_MS),
    onGiveUp: (job, err, reason) => processor.onGiveUp(job, err, reason),
  });

  warnIfEvicting(redis, logger);

  onShutdown(logger, async () => {
    ready = false;
    // Lets the attempts in flight finish (each is bounded by WEBHOOK_TIMEOUT_MS); BullMQ hands the rest back.
    await host.close();
    await redis.quit();
  });

  Object.assign(info, { allow_private: config.WEBHOOK_ALLOW_PRIVATE, attempts: config.WEBHOOK_RETRY_SCHEDULE_MS.length + 1 });
  host.start();
  ready = true;
  logger.info(
    {
      concurrency: config.WEBHOOK_CONCURRENCY,
      timeout_ms: config.WEBHOOK_TIMEOUT_MS,
      retry_schedule_ms: config.WEBHOOK_RETRY_SCHEDULE_MS,
      allow_private: config.WEBHOOK_ALLOW_PRIVATE,
    },
    'webhook dispatcher ready',
  );
}

main().catch((err: Error) => {
  console.error(`webhook-dispatcher: ${err.message}`);
  process.exit(1);
});
