import type { Redis } from 'ioredis';
import { DeliveryAttempt, JobId } from '@talkie/contracts';

/** Attempts kept per job at most (3 event types × the attempts of a schedule fit well within). */
export const MAX_ATTEMPTS_LOGGED = 200;
export const deliveriesKey = (jobId: string) => `talkie:webhook:deliveries:${jobId}`;
export const DEAD_LETTER_KEY = 'talkie:webhook:dead_letters';

/**
 * Every delivery attempt of a job, as `GET /v1/jobs/{id}/deliveries` shows it: one Redis list per job,
 * oldest first, expiring with the job's retention (each record pushes the expiry to now + ttlMs).
 * Never holds the payload or the receiver's answer. Also counts dead letters (deliveries that
 * used up every attempt).
 */
export class DeliveryLog {
  private readonly ttlMs: number;

  constructor(
    private readonly redis: Redis,
    options: { ttlMs: number },
  ) {
    if (!Number.isInteger(options.ttlMs) || options.ttlMs <= 0) throw new Error('ttlMs must be a positive whole number');
    this.ttlMs = options.ttlMs;
  }

  async record(jobId: string, attempt: DeliveryAttempt): Promise<void> {
    const id = JobId.parse(jobId);
    const entry = DeliveryAttempt.parse(attempt);
    const key = deliveriesKey(id);
    await this.redis.multi().rpush(key, JSON.stringify(entry)).ltrim(key, -MAX_ATTEMPTS_LOGGED, -1).pexpire(key, this.ttlMs).exec();
  }

  /** Attempts of a job, oldest first; none for an unknown (or malformed) id. */
  async list(jobId: string): Promise<DeliveryAttempt[]> {
    if (!JobId.safeParse(jobId).success) return [];
    const raw = await this.redis.lrange(deliveriesKey(jobId), 0, -1);
    const attempts: DeliveryAttempt[] = [];
    for (const line of raw) {
      try {
        const parsed = DeliveryAttempt.safeParse(JSON.parse(line));
        if (parsed.success) attempts.push(parsed.data);
      } catch {
        // a corrupt entry is skipped, not shown
      }
    }
    return attempts;
  }

  /** Deletes a job's attempts (data deletion with the job). */
  async delete(jobId: string): Promise<void> {
    if (JobId.safeParse(jobId).success) await this.redis.del(deliveriesKey(jobId));
  }

  async countDeadLetter(): Promise<void> {
    await this.redis.incr(DEAD_LETTER_KEY);
  }

  /** Dead letters counted since the counter was created. */
  async deadLetters(): Promise<number> {
    return Number((await this.redis.get(DEAD_LETTER_KEY)) ?? 0);
  }
}
