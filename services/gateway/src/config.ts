import { z } from 'zod';
import { envInt, LogLevel, parseEnv } from '@talkie/runtime';

/** Every setting of the gateway, with its env name, default and unit in one place. */
export const GatewayEnv = z.object({
  /** interface to bind; anything but loopback is an explicit choice, logged at start */
  HOST: z.string().default('127.0.0.1'),
  PORT: envInt(8080, { min: 0, max: 65535 }),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** where uploads are stored; workers read the same place */
  STORAGE_URL: z.string().default(`file://${process.cwd()}/.talkie/storage`),
  /** HS256 secret for bearer tokens; at least 32 bytes so it cannot be brute-forced offline */
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  /** largest accepted upload, in bytes (default 50 MiB) */
  MAX_UPLOAD_BYTES: envInt(50 * 1024 * 1024, { min: 1024 }),
  /** how long finished jobs and their results are kept, in seconds (default 24 h) */
  RESULT_TTL_S: envInt(24 * 3600, { min: 60 }),
  /** longest time one request may take, in ms (uploads included) */
  REQUEST_TIMEOUT_MS: envInt(120_000, { min: 1_000 }),
  LOG_LEVEL: LogLevel,
});
export type GatewayConfig = z.infer<typeof GatewayEnv>;

export const loadGatewayConfig = (env: NodeJS.ProcessEnv = process.env): GatewayConfig => parseEnv(GatewayEnv, env);
