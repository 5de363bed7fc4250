import { WEBHOOK_BACKOFF_TYPE } from '@talkie/contracts';

/**
 * Retry delays in ms after each failed attempt: the Standard Webhooks recommendation (immediately,
 * then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). The first attempt is immediate, so there are
 * `schedule.length + 1` attempts in all (8 with this one, spanning about 27.6 hours).
 */
export const WEBHOOK_RETRY_SCHEDULE: readonly number[] = Object.freeze([
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3600_000,
  5 * 3600_000,
  10 * 3600_000,
  10 * 3600_000,
]);

/** Name of the BullMQ custom backoff type that follows the schedule (Worker `settings.backoffStrategy`); the job catalogue's. */
export { WEBHOOK_BACKOFF_TYPE };

/** Each delay is moved by up to ±20 % at random, so retries after an outage do not arrive in lockstep. */
export const WEBHOOK_RETRY_JITTER = 0.2;

const MAX_DELAY_MS = 7 * 24 * 3600_000;
const MAX_STEPS = 30;

/**
 * Parses `WEBHOOK_RETRY_SCHEDULE_MS`: comma-separated delays in ms (e.g. `100,200,300` in tests).
 * Unset or blank: the standard schedule. Throws on anything else than whole numbers from 0 to 7 days.
 */
export function parseRetrySchedule(value: string | undefined): number[] {
  if (value === undefined || value.trim() === '') return [...WEBHOOK_RETRY_SCHEDULE];
  const parts = value.split(',').map((p) => p.trim());
  if (parts.length > MAX_STEPS) throw new Error(`a retry schedule has at most ${MAX_STEPS} delays`);
  return parts.map((part) => {
    if (!/^\d+$/.test(part)) throw new Error(`retry delay "${part}" is not a whole number of ms`);
    const ms = Number(part);
    if (ms > MAX_DELAY_MS) throw new Error(`retry delay ${ms} ms exceeds 7 days`);
    return ms;
  });
}

/** Attempts in all for a schedule: the immediate one plus one per delay. */
export const webhookAttempts = (schedule: readonly number[]): number => schedule.length + 1;

/**
 * Delay before the next attempt once `attemptsMade` attempts have failed (1 after the first), with
 * jitter. Past the end of the schedule the last delay repeats.
 */
export function retryDelay(schedule: readonly number[], attemptsMade: number, random: () => number = Math.random, jitter = WEBHOOK_RETRY_JITTER): number {
  if (schedule.length === 0) return 0;
  const base = schedule[Math.min(Math.max(attemptsMade, 1), schedule.length) - 1];
  const factor = 1 + jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base * factor));
}

/**
 * The BullMQ backoff strategy for `settings.backoffStrategy` on the webhook Worker. BullMQ calls it
 * with the attempts made so far (the failed one included) and the job's backoff type.
 */
export function webhookBackoffStrategy(schedule: readonly number[], random: () => number = Math.random) {
  return (attemptsMade: number, type?: string): number => {
    if (type !== undefined && type !== WEBHOOK_BACKOFF_TYPE) throw new Error(`unknown backoff type ${type}`);
    return retryDelay(schedule, attemptsMade, random);
  };
}
