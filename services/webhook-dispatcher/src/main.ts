import { Worker } from 'bullmq';
import { QUEUE_PREFIX, QUEUES } from '@talkie/contracts';
import { createRedis, evictionPolicy } from '@talkie/queue';
import { createLogger, onShutdown } from '@talkie/runtime';
import { DEFAULT_SECRET_OVERLAP_MS, DeliveryLog, DisabledEndpoints, WebhookSecretStore, webhookBackoffStrategy } from '@talkie/webhooks';
import { loadDispatcherConfig } from './config';
import { DeliveryProcessor } from './delivery-processor';
import { startHealthServer } from './health-server';

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

  if (config.HEALTH_PORT !== undefined) {
    const server = await startHealthServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT, isReady: () => ready, info: () => info });
    const address = server.address();
    logger.info({ port: typeof address === 'object' && address ? address.port : config.HEALTH_PORT }, 'health server listening');
  }

  const redis = createRedis(config.REDIS_URL, 'worker');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const log = new DeliveryLog(redis, { ttlMs: config.RESULT_TTL_S * 1000 });
  const processor = new DeliveryProcessor({
    // the dispatcher only reads secrets; the overlap is the gateway's (it rotates)
    secrets: new WebhookSecretStore(redis, { overlapMs: DEFAULT_SECRET_OVERLAP_MS }),
    log,
    disabled: new DisabledEndpoints(redis),
    logger,
    schedule: config.WEBHOOK_RETRY_SCHEDULE_MS,
    http: { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, timeoutMs: config.WEBHOOK_TIMEOUT_MS, maxResponseBytes: config.WEBHOOK_MAX_RESPONSE_BYTES },
  });

  const worker = new Worker(QUEUES.webhooks, (job) => processor.process(job), {
    connection: createRedis(config.REDIS_URL, 'worker'),
    prefix: QUEUE_PREFIX,
    concurrency: config.WEBHOOK_CONCURRENCY,
    // an attempt never holds its lock near the limit: the HTTP exchange is bounded by the timeout
    lockDuration: Math.max(30_000, config.WEBHOOK_TIMEOUT_MS * 2),
    settings: { backoffStrategy: webhookBackoffStrategy(config.WEBHOOK_RETRY_SCHEDULE_MS) },
    autorun: false,
  });
  worker.on('error', (err) => logger.warn({ err: err.message }, 'worker error'));
  worker.on('failed', (job, err) => {
    processor.onFailed(job, err).catch((e: Error) => logger.error({ err: e.message, delivery_id: job?.id }, 'could not record a dead letter'));
  });

  evictionPolicy(redis).then((policy) => {
    if (policy && policy !== 'noeviction') logger.warn({ policy }, `Redis maxmemory-policy is "${policy}": set it to noeviction`);
  }, () => undefined);

  onShutdown(logger, async () => {
    ready = false;
    // Lets the attempts in flight finish (each is bounded by WEBHOOK_TIMEOUT_MS); BullMQ hands the rest back.
    await worker.close();
    await redis.quit();
  });

  Object.assign(info, { allow_private: config.WEBHOOK_ALLOW_PRIVATE, attempts: config.WEBHOOK_RETRY_SCHEDULE_MS.length + 1 });
  void worker.run();
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
