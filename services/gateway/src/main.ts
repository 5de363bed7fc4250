import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVideoProber, residentProberPath, resolveCheckedFfmpeg } from '@talkie/media';
import { QUEUES } from '@talkie/contracts';
import { createRedis, QueueHost, warnIfEvicting, JobStore, ProbeMemo, RetentionSweeper, toJobResource, waitForRedis } from '@talkie/queue';
import { DeliveryLog, publishTerminalEvents, validateWebhookUrl, WebhookSecretStore } from '@talkie/webhooks';
import { createLogger, createMetricsRegistry, onShutdown, startOpsServer } from '@talkie/runtime';
import { createStorage } from '@talkie/storage';
import { createApp } from './app';
import { ApiKeyStore } from './auth/api-keys';
import { JwtVerifier } from './auth/jwt-verifier';
import { TokenRevocations } from './auth/token-revocations';
import { loadGatewayConfig } from './config';
import { IdempotencyStore } from './idempotency/idempotency-store';
import { GatewayMetrics } from './observability/gateway-metrics';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

async function main() {
  const config = loadGatewayConfig();
  const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  // Each upload's container is checked before it is queued (headers only, in a child process): with
  // the worker's version gate, applied first, before anything is connected or served.
  const ffmpeg = await resolveCheckedFfmpeg({
    env: config,
    minMajor: config.FFMPEG_MIN_MAJOR,
    allowOld: config.FFMPEG_ALLOW_OLD,
    warn: (message, fields) => logger.warn(fields ?? {}, message),
  });
  logger.info({ ffprobe: ffmpeg.ffprobe, ffmpeg: ffmpeg.version, source: ffmpeg.source }, `ffprobe found: ffmpeg ${ffmpeg.version}`);
  // Auto-pipelining sends the commands of concurrent requests (rate-limit counters, job reads) in
  // one write: fewer syscalls and round trips under load, no change for a lone request.
  const redis = createRedis(config.REDIS_URL, 'producer', { enableAutoPipelining: true });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  // Every queue this process produces to or counts, from the job catalogue (issue 19).
  const host = new QueueHost({ redisUrl: config.REDIS_URL, logger });
  const queue = host.queue(QUEUES.transcribe);
  // The rate limiter's Redis store loads its scripts when created, and producer connections do not
  // queue commands: start serving only once Redis answers.
  await waitForRedis(redis, 30_000);
  const storage = createStorage(config.STORAGE_URL, config);
  await storage.ping();
  // A job canceled here becomes terminal here, so this process queues its webhook.
  const store = new JobStore(redis, config.RESULT_TTL_S * 1000).onTerminal(publishTerminalEvents(host.queue(QUEUES.webhooks), toJobResource, config.WEBHOOK_RETRY_SCHEDULE_MS));
  const deliveryLog = new DeliveryLog(redis, { ttlMs: config.RESULT_TTL_S * 1000 });
  const prober = await createVideoProber({ binaries: ffmpeg, mode: config.PROBER, residentPath: residentProberPath(config), timeoutMs: config.PROBE_TIMEOUT_MS, log: (level, message) => logger[level](message) });

  const jwt =
    config.JWT_SECRET || config.JWT_PUBLIC_KEY || config.JWKS_URL
      ? new JwtVerifier({
          secret: config.JWT_SECRET,
          publicKey: config.JWT_PUBLIC_KEY,
          jwksUrl: config.JWKS_URL,
          issuer: config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
          clockToleranceS: config.JWT_CLOCK_TOLERANCE_S,
          maxTtlS: config.JWT_MAX_TTL_S,
          tenantClaim: config.JWT_TENANT_CLAIM,
          // `npm run tokens -- revoke`: read on every request, remembered for 5 s
          revocations: new TokenRevocations(redis),
        })
      : undefined;

  const registry = createMetricsRegistry('gateway');
  // Every catalogue queue's depth on /metrics, for dashboards and autoscaling (the webhook queue too).
  const metrics = new GatewayMetrics(registry, host.depthSources());
  const app = createApp({
    metrics,
    console: config.CONSOLE_ENABLED,
    version: process.env.npm_package_version ?? '0.1.0',
    versions: { ffmpeg: ffmpeg.version, prober: prober.kind, node: process.versions.node },
    logger,
    redis,
    storage,
    store,
    probeMemo: new ProbeMemo(redis),
    queue,
    jwt,
    apiKeys: config.API_KEYS_ENABLED ? new ApiKeyStore(redis) : undefined,
    prober,
    corsOrigins: config.CORS_ORIGINS,
    trustProxy: config.TRUST_PROXY,
    rateLimit: { windowMs: config.RATE_LIMIT_WINDOW_S * 1000, max: config.RATE_LIMIT_MAX, jobsMax: config.RATE_LIMIT_JOBS_MAX },
    maxUploadBytes: config.MAX_UPLOAD_BYTES,
    mediaLimits: {
      maxDurationS: config.MAX_DURATION_S,
      maxStreams: config.MAX_STREAMS,
      maxFramePixels: config.MAX_FRAME_PIXELS,
      maxFrames: config.MAX_FRAMES,
    },
    probeTimeoutMs: config.PROBE_TIMEOUT_MS,
    maxJobsInFlight: config.MAX_JOBS_IN_FLIGHT,
    maxQueueDepth: config.MAX_QUEUE_DEPTH,
    idempotency: new IdempotencyStore(redis),
    correctByDefault: (tenant) => config.CORRECTION_DEFAULT_TENANTS.includes('*') || config.CORRECTION_DEFAULT_TENANTS.includes(tenant),
    webhooks: {
      validateUrl: (url) => validateWebhookUrl(url, { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE }),
      secrets: new WebhookSecretStore(redis, { overlapMs: config.WEBHOOK_SECRET_OVERLAP_S * 1000 }),
      deliveries: deliveryLog,
      overlapS: config.WEBHOOK_SECRET_OVERLAP_S,
    },
  });
  const server = createServer(app);
  server.requestTimeout = config.REQUEST_TIMEOUT_MS;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const ops = await startOpsServer({
    host: config.METRICS_HOST,
    port: config.METRICS_PORT,
    registry,
    readiness: async () => {
      const checks = await Promise.allSettled([redis.ping(), storage.ping()]);
      return { ready: checks.every((c) => c.status === 'fulfilled'), info: { versions: { ffmpeg: ffmpeg.version, prober: prober.kind, node: process.versions.node } } };
    },
  });
  if (config.WEBHOOK_ALLOW_PRIVATE) {
    logger.warn('WEBHOOK_ALLOW_PRIVATE=true: webhooks may target loopback and private addresses over plain http. For local development only.');
  }
  if (!LOOPBACK.has(config.HOST)) {
    logger.warn({ host: config.HOST }, 'listening beyond loopback: put TLS and a reverse proxy in front (docs/security.md)');
  }
  logger.info(
    {
      host: config.HOST,
      port,
      storage: storage.description,
      auth: {
        jwt: config.JWT_SECRET ? 'HS256' : config.JWT_PUBLIC_KEY ? 'public key' : config.JWKS_URL ? 'JWKS' : 'off',
        jwt_max_ttl_s: config.JWT_MAX_TTL_S,
        jwt_tenant_claim: config.JWT_TENANT_CLAIM ?? 'tenant, else sub',
        api_keys: config.API_KEYS_ENABLED,
      },
      cors_origins: config.CORS_ORIGINS.length,
      trust_proxy: config.TRUST_PROXY,
    },
    `gateway listening; metrics on ${config.METRICS_HOST}:${ops.port}`,
  );

  warnIfEvicting(redis, logger);

  const sweeper = new RetentionSweeper({ redis, store, storage, partialGraceMs: config.REQUEST_TIMEOUT_MS * 2 });
  const stopSweeping = sweeper.schedule(
    60_000,
    (err) => logger.warn({ err: (err as Error).message }, 'retention sweep failed'),
    (report) => logger.info(report, 'retention sweep'),
  );

  onShutdown(
    logger,
    async () => {
      stopSweeping();
      // Stop accepting; requests in flight (uploads included) finish within the grace period.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      ops.server.close();
      await host.close();
      await prober.close();
      await redis.quit();
    },
    config.SHUTDOWN_GRACE_MS,
  );
}

main().catch((err: Error) => {
  // Configuration problems are the operator's to fix: say what, without a stack trace.
  console.error(`gateway: ${err.message}`);
  process.exit(1);
});
