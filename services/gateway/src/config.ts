import { z } from 'zod';
import { crossKeyCheck, envBoolean, envInt, LogLevel, parseEnv } from '@talkie/runtime';
import { checkMediaEnv, MediaEnv, PROBER_MODES } from '@talkie/media';
import { checkStorageEnv, StorageEnv } from '@talkie/storage';
import { WebhookRetryEnv } from '@talkie/webhooks';
import { JWT_MAX_TTL_DEFAULT_S, JWT_MAX_TTL_LIMIT_S, JwtTenantClaimName } from '@talkie/contracts';

const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/**
 * `TRUST_PROXY`: how many reverse proxies sit in front (a hop count), or the CIDRs/addresses they
 * use. Never a blanket `true`, which would let any client choose its own address for rate limiting.
 */
const TrustProxy = z
  .string()
  .optional()
  .transform((value, ctx): number | string[] => {
    if (value === undefined) return 0;
    if (/^\d+$/.test(value)) return Number(value);
    if (['true', 'false', 'yes', 'no'].includes(value.toLowerCase())) {
      ctx.addIssue({ code: 'custom', message: 'must be a hop count or a list of proxy addresses/CIDRs, not a boolean' });
      return z.NEVER;
    }
    const proxies = list(value);
    // "every address is a proxy" is `true` in disguise
    if (proxies.some((p) => /^(0\.0\.0\.0|::)\/0$/.test(p))) {
      ctx.addIssue({ code: 'custom', message: 'must name your proxies; 0.0.0.0/0 or ::/0 would trust every client' });
      return z.NEVER;
    }
    return proxies;
  });

const Origins = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const origins = list(value);
    for (const origin of origins) {
      let url: URL | undefined;
      try {
        url = new URL(origin);
      } catch {
        // reported below
      }
      if (origin.includes('*') || !url || url.origin !== origin) {
        ctx.addIssue({ code: 'custom', message: `"${origin}" is not an origin like https://app.example.com (wildcards are refused)` });
      }
    }
    return origins;
  });

/**
 * Every setting of the gateway, with its env name, default and unit in one place; the settings of
 * the packages it configures (storage, ffmpeg, webhook retries) are theirs, merged here.
 */
export const GatewayEnv = z
  .object({
    /** interface to bind; anything but loopback is an explicit choice, logged at start */
    HOST: z.string().default('127.0.0.1'),
    PORT: envInt(8080, { min: 0, max: 65535 }),
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    /** /metrics, /healthz and /readyz for operators, on their own port (never the public one) */
    METRICS_PORT: envInt(9464, { min: 0, max: 65535 }),
    METRICS_HOST: z.string().default('127.0.0.1'),
    ...StorageEnv,
    ...MediaEnv,
    ...WebhookRetryEnv,
    /** HS256 secret for bearer tokens; at least 32 bytes so it cannot be brute-forced offline */
    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    /** PEM public key (RS256 or ES256) for bearer tokens */
    JWT_PUBLIC_KEY: z.string().optional(),
    /** JWKS endpoint for bearer tokens (keys chosen by `kid`, cached) */
    JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** expected `iss` and `aud` claims, when set */
    JWT_ISSUER: z.string().optional(),
    JWT_AUDIENCE: z.string().optional(),
    /** clock skew tolerated on exp/nbf, in seconds */
    JWT_CLOCK_TOLERANCE_S: envInt(30, { min: 0, max: 300 }),
    /**
     * longest accepted token lifetime, `exp − iat`, in seconds; `iat` is required (default 24 h,
     * what `npm run token` issues; at most 30 days). Bounds what a stolen, unrevoked token is worth.
     */
    JWT_MAX_TTL_S: envInt(JWT_MAX_TTL_DEFAULT_S, { min: 60, max: JWT_MAX_TTL_LIMIT_S }),
    /**
     * the only claim that sets a token's tenant (e.g. `tenant`, `org_id`); unset: the `tenant`
     * claim, else `sub` for tokens without one (so subjects and tenants share one namespace)
     */
    JWT_TENANT_CLAIM: JwtTenantClaimName.optional(),
    /** browser origins allowed to call the API (comma-separated); none by default */
    CORS_ORIGINS: Origins,
    TRUST_PROXY: TrustProxy,
    /** requests per window per tenant; also failed authentications per window per client address */
    RATE_LIMIT_WINDOW_S: envInt(60, { min: 1 }),
    RATE_LIMIT_MAX: envInt(600, { min: 1 }),
    /** job creations per window per tenant */
    RATE_LIMIT_JOBS_MAX: envInt(30, { min: 1 }),
    /** jobs queued or processing at once per tenant */
    MAX_JOBS_IN_FLIGHT: envInt(20, { min: 1 }),
    /** jobs waiting in the queue, all tenants together */
    MAX_QUEUE_DEPTH: envInt(1000, { min: 1 }),
    /** largest accepted upload, in bytes (default 50 MiB) */
    MAX_UPLOAD_BYTES: envInt(50 * 1024 * 1024, { min: 1024 }),
    /** limits checked with ffprobe before a job is queued */
    MAX_DURATION_S: envInt(120, { min: 1 }),
    MAX_STREAMS: envInt(8, { min: 1 }),
    MAX_FRAME_PIXELS: envInt(3840 * 2160, { min: 1 }),
    MAX_FRAMES: envInt(120 * 120, { min: 1 }),
    PROBE_TIMEOUT_MS: envInt(10_000, { min: 100 }),
    /**
     * how uploads are probed: `auto` (talkie-probe, a resident libavformat helper that forks per
     * file, when it is built for this ffmpeg; else ffprobe), `resident` (insist), `ffprobe`
     */
    PROBER: z.enum(PROBER_MODES).default('auto'),
    /**
     * oldest ffmpeg major version the gateway starts with, as the worker: ffprobe (or talkie-probe,
     * its libavformat) parses every untrusted upload. Git snapshot builds count as older.
     */
    FFMPEG_MIN_MAJOR: envInt(5, { min: 1, max: 99 }),
    /** explicit override: start with an ffmpeg older than FFMPEG_MIN_MAJOR anyway (logged as a warning) */
    FFMPEG_ALLOW_OLD: envBoolean(false),
    /** how long finished jobs and their results are kept, in seconds (default 24 h) */
    RESULT_TTL_S: envInt(24 * 3600, { min: 60 }),
    /** longest time one request may take, in ms (uploads included) */
    REQUEST_TIMEOUT_MS: envInt(120_000, { min: 1_000 }),
    /** time given to requests in flight on SIGTERM, in ms */
    SHUTDOWN_GRACE_MS: envInt(25_000, { min: 0 }),
    /** explicit opt-in for local development: webhooks to loopback/private addresses and plain http */
    WEBHOOK_ALLOW_PRIVATE: envBoolean(false),
    /** how long a rotated-out webhook secret keeps signing beside the new one, in seconds */
    WEBHOOK_SECRET_OVERLAP_S: envInt(24 * 3600, { min: 0 }),
    LOG_LEVEL: LogLevel,
    /** keep API keys usable (they are stored in Redis); off only for tests of JWT-only setups */
    API_KEYS_ENABLED: envBoolean(true),
    /**
     * tenants whose jobs get LLM correction unless a submit says `correct=false` (comma-separated;
     * `*`: every tenant). None by default: correction sends transcripts to the configured LLM.
     */
    CORRECTION_DEFAULT_TENANTS: z
      .string()
      .optional()
      .transform((value) => list(value)),
    /** serve the web console (static files, its own strict CSP) at `/` */
    CONSOLE_ENABLED: envBoolean(true),
  })
  .check(crossKeyCheck(checkStorageEnv), crossKeyCheck(checkMediaEnv))
  .superRefine((c, ctx) => {
    if (!c.JWT_SECRET && !c.JWT_PUBLIC_KEY && !c.JWKS_URL && !c.API_KEYS_ENABLED) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'set JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL (or enable API keys)' });
    }
    if ([c.JWT_SECRET, c.JWT_PUBLIC_KEY, c.JWKS_URL].filter(Boolean).length > 1) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWKS_URL' });
    }
  });
export type GatewayConfig = z.infer<typeof GatewayEnv>;

export const loadGatewayConfig = (env: NodeJS.ProcessEnv = process.env): GatewayConfig => parseEnv(GatewayEnv, env);
