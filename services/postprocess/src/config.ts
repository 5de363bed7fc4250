import { z } from 'zod';
import { envInt, LogLevel, parseEnv } from '@talkie/runtime';
import { WebhookRetryEnv } from '@talkie/webhooks';

/** Every setting of the postprocess service, with its env name, default and unit in one place. */
export const PostprocessEnv = z
  .object({
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    /**
     * an OpenAI-compatible API's base URL, e.g. http://127.0.0.1:11434/v1 (Ollama),
     * http://127.0.0.1:1234/v1 (LM Studio), https://api.openai.com/v1. Unset: jobs that ask for
     * correction complete with the raw text and `correction.status = "skipped"` (not_configured).
     */
    LLM_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** sent as `Authorization: Bearer …`; optional (local servers need none). Never logged or stored. */
    LLM_API_KEY: z.string().optional(),
    /** the model name the endpoint knows, e.g. llama3.1:8b; required with LLM_BASE_URL */
    LLM_MODEL: z.string().min(1).optional(),
    /** limit on one LLM request, in ms (each retry gets it again) */
    LLM_TIMEOUT_MS: envInt(30_000, { min: 100, max: 600_000 }),
    /** retries of an LLM request after a timeout, a connection error, 408, 409, 429 or 5xx (the openai client's backoff) */
    LLM_MAX_RETRIES: envInt(2, { min: 0, max: 10 }),
    /** corrections in flight at once in this process */
    POSTPROCESS_CONCURRENCY: envInt(4, { min: 1, max: 100 }),
    /** how long finished jobs are kept, in seconds (default 24 h, as the gateway and the workers) */
    RESULT_TTL_S: envInt(24 * 3600, { min: 60 }),
    /** optional /healthz, /readyz and /metrics server for orchestrators; off when unset */
    HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    HEALTH_HOST: z.string().default('127.0.0.1'),
    LOG_LEVEL: LogLevel,
    /** the webhook retry schedule, @talkie/webhooks' setting: sets the attempts of the deliveries queued here */
    ...WebhookRetryEnv,
  })
  .superRefine((c, ctx) => {
    if (c.LLM_BASE_URL && !c.LLM_MODEL) ctx.addIssue({ code: 'custom', path: ['LLM_MODEL'], message: 'set the model name to use with LLM_BASE_URL' });
    if (c.LLM_BASE_URL && new URL(c.LLM_BASE_URL).username) {
      // a key in the URL would be logged and shown wherever the URL is: it belongs in LLM_API_KEY
      ctx.addIssue({ code: 'custom', path: ['LLM_BASE_URL'], message: 'must not carry credentials; use LLM_API_KEY' });
    }
  });
export type PostprocessConfig = z.infer<typeof PostprocessEnv>;

export const loadPostprocessConfig = (env: NodeJS.ProcessEnv = process.env): PostprocessConfig => parseEnv(PostprocessEnv, env);
