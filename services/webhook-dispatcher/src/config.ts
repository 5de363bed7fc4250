import { z } from 'zod';
import { envBoolean, envInt, LogLevel, parseEnv } from '@talkie/runtime';
import { WebhookRetryEnv } from '@talkie/webhooks';

/** Every setting of the webhook dispatcher, with its env name, default and unit in one place. */
export const DispatcherEnv = z.object({
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /**
   * explicit opt-in for local development: deliveries to loopback and private addresses, and over
   * plain http. Logged as a warning at start. Link-local (cloud metadata) stays refused.
   */
  WEBHOOK_ALLOW_PRIVATE: envBoolean(false),
  /** limit on one delivery attempt (resolution, connection, TLS, answer), in ms */
  WEBHOOK_TIMEOUT_MS: envInt(10_000, { min: 100, max: 120_000 }),
  /** most bytes of a receiver's answer read (then discarded) */
  WEBHOOK_MAX_RESPONSE_BYTES: envInt(65_536, { min: 0, max: 16 * 1024 * 1024 }),
  /** the retry schedule, @talkie/webhooks' setting (shared with the services that queue deliveries) */
  ...WebhookRetryEnv,
  /** deliveries in flight at once in this process */
  WEBHOOK_CONCURRENCY: envInt(20, { min: 1, max: 500 }),
  /** how long jobs (and so their delivery log) are kept, in seconds (default 24 h, as the gateway) */
  RESULT_TTL_S: envInt(24 * 3600, { min: 60 }),
  /** optional /healthz and /readyz server for orchestrators; off when unset */
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HEALTH_HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: LogLevel,
});
export type DispatcherConfig = z.infer<typeof DispatcherEnv>;

export const loadDispatcherConfig = (env: NodeJS.ProcessEnv = process.env): DispatcherConfig => parseEnv(DispatcherEnv, env);
