import { z } from 'zod';
import { parseRetrySchedule } from './retry';

/**
 * The webhook retry schedule, owned here and merged into the config schema of every service: the
 * dispatcher retries with it, and the gateway, the worker and postprocess queue deliveries with
 * its attempts (`publishTerminalEvents`), so all four validate it at start (issue 19).
 */
export const WebhookRetryEnv = {
  /** delays before each retry, in ms, comma-separated; unset: the Standard Webhooks schedule (5 s … 10 h) */
  WEBHOOK_RETRY_SCHEDULE_MS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      try {
        return parseRetrySchedule(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
};
