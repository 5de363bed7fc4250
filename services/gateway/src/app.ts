import cors from 'cors';
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { DeliveryAttempt, TranscribePayload } from '@talkie/contracts';
import type { MediaLimits, VideoProber } from '@talkie/media';
import { CorrectionCapability, type JobStore, type ProbeMemo } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import type { BlobStorage } from '@talkie/storage';
import type { ApiKeyStore } from './auth/api-keys';
import { authenticate, knownCredential } from './auth/authenticate';
import type { JwtVerifier } from './auth/jwt-verifier';
import { consoleRoutes } from './console/console-routes';
import { errorHandler, sendError } from './http/errors';
import { requestLog } from './http/request-log';
import { createRateLimiters } from './limits/rate-limits';
import type { GatewayMetrics } from './observability/gateway-metrics';
import { buildOpenApiDocument } from './openapi/document';
import { healthRoutes } from './routes/health';
import type { IdempotencyStore } from './idempotency/idempotency-store';
import { jobOutputRoutes } from './routes/job-outputs';
import { jobRoutes } from './routes/jobs';
import { limitsRoutes } from './routes/limits';
import { webhookSecretRoutes } from './routes/webhook-secret';

export interface AppDeps {
  logger: Logger;
  /** the API version shown in /openapi.json */
  version?: string;
  /** versions of what parses untrusted input here (ffprobe), shown in /readyz */
  versions?: Record<string, string>;
  redis: Redis;
  storage: BlobStorage;
  store: JobStore;
  /** records accepted uploads' probes by content for the workers (see ProbeMemo) */
  probeMemo?: ProbeMemo;
  queue: Queue<TranscribePayload>;
  jwt?: JwtVerifier;
  apiKeys?: ApiKeyStore;
  /** looks inside each upload before it is queued (talkie-probe or ffprobe: never in this process) */
  prober: Pick<VideoProber, 'probe'>;
  corsOrigins: string[];
  /** hop count or proxy addresses/CIDRs (never `true`) */
  trustProxy: number | string[];
  rateLimit: { windowMs: number; max: number; jobsMax: number };
  maxUploadBytes: number;
  mediaLimits: MediaLimits;
  probeTimeoutMs: number;
  maxJobsInFlight: number;
  maxQueueDepth: number;
  idempotency: IdempotencyStore;
  webhooks: {
    validateUrl: (url: string) => Promise<URL>;
    secrets: { rotate(tenant: string): Promise<string>; active(tenant: string): Promise<string[]> };
    deliveries: { list(jobId: string): Promise<DeliveryAttempt[]>; delete(jobId: string): Promise<void> };
    overlapS: number;
  };
  /** Prometheus metrics; served by main.ts on METRICS_PORT, never on this app */
  metrics?: GatewayMetrics;
  /** whether a tenant's jobs get LLM correction when a submit does not say (issue 8; jobs.ts) */
  correctByDefault?: (tenant: string) => boolean;
  /** serve the web console at `/` (CONSOLE_ENABLED); on unless false */
  console?: boolean;
}

/**
 * The HTTP surface. It authenticates, limits, validates, stores and enqueues; it never decodes video
 * or runs a model, so its event loop stays free whatever the workers are doing.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.trustProxy);
  const metrics = deps.metrics;
  if (metrics) app.use(metrics.timer());

  app.use(requestLog(deps.logger));
  app.use(helmet());
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  // Browsers may call the API only from the origins listed in CORS_ORIGINS (none by default).
  // Credentials travel in headers, never cookies, so `credentials` stays off.
  const allowed = new Set(deps.corsOrigins);
  app.use(
    cors({
      origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'],
      exposedHeaders: ['Location', 'Retry-After', 'RateLimit', 'RateLimit-Policy', 'X-Request-Id'],
      credentials: false,
      maxAge: 600,
    }),
  );

  app.use(healthRoutes({ redis: deps.redis, storage: deps.storage, versions: deps.versions }));
  const openApi = JSON.stringify(buildOpenApiDocument(deps.version ?? '0.0.0'));
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openApi);
  });
  // The web console: static files under their own, stricter CSP (console/console-routes.ts).
  if (deps.console !== false) app.use(consoleRoutes());

  const limiters = createRateLimiters(deps.redis, {
    ...deps.rateLimit,
    onLimited: (limiter) => metrics?.rateLimited.inc({ limiter }),
    isKnownCredential: knownCredential(deps.jwt),
  });
  app.use('/v1', limiters.perClient, authenticate({ jwt: deps.jwt, apiKeys: deps.apiKeys, onFailure: (reason) => metrics?.authFailures.inc({ reason }) }), limiters.perTenant);
  app.use(
    '/v1/jobs',
    jobRoutes({
      ...deps,
      creationLimiter: limiters.jobCreation,
      validateWebhookUrl: deps.webhooks.validateUrl,
      hasWebhookSecret: async (tenant) => (await deps.webhooks.secrets.active(tenant)).length > 0,
      deleteDeliveries: (jobId) => deps.webhooks.deliveries.delete(jobId),
      onJobCreated: (bytes) => {
        metrics?.jobsCreated.inc();
        metrics?.uploadBytes.inc(bytes);
      },
    }),
    jobOutputRoutes({ store: deps.store, deliveries: deps.webhooks.deliveries }),
  );
  app.use('/v1/limits', limitsRoutes({ maxUploadBytes: deps.maxUploadBytes, mediaLimits: deps.mediaLimits, correction: new CorrectionCapability(deps.redis), correctByDefault: deps.correctByDefault }));
  app.use('/v1/webhooks', webhookSecretRoutes({ secrets: deps.webhooks.secrets, overlapS: deps.webhooks.overlapS }));

  app.use((req, res) => sendError(req, res, 'route_not_found'));
  app.use(errorHandler(() => deps.redis.status === 'ready'));
  return app;
}
