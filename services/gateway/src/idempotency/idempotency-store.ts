import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { TalkieError } from '@talkie/contracts';

/** Keys are opaque client strings: printable ASCII, up to 255 characters (as Stripe's). */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const WINDOW_S = 24 * 3600;

export type Claim = { outcome: 'new' } | { outcome: 'replay'; jobId: string } | { outcome: 'conflict' };

/**
 * `Idempotency-Key` on job creation: the same key from the same tenant within 24 h returns the
 * original job; the same key with a different request (file or webhook) is a conflict. Claimed
 * atomically (SET NX), so two concurrent retries cannot both create a job.
 */
export class IdempotencyStore {
  constructor(private readonly redis: Redis) {}

  static parseKey(header: string | undefined): string | undefined {
    if (header === undefined) return undefined;
    if (!KEY_PATTERN.test(header)) throw new TalkieError('invalid_request', { message: 'Idempotency-Key must be 1–255 printable ASCII characters.' });
    return header;
  }

  private redisKey(tenant: string, key: string): string {
    return `talkie:idem:${createHash('sha256').update(tenant).update('\0').update(key).digest('hex')}`;
  }

  async claim(tenant: string, key: string, fingerprint: string, jobId: string): Promise<Claim> {
    const redisKey = this.redisKey(tenant, key);
    const value = JSON.stringify({ job_id: jobId, fingerprint });
    if (await this.redis.set(redisKey, value, 'EX', WINDOW_S, 'NX')) return { outcome: 'new' };
    const existing = await this.redis.get(redisKey);
    if (!existing) return this.claim(tenant, key, fingerprint, jobId); // expired in between
    const parsed = JSON.parse(existing) as { job_id: string; fingerprint: string };
    return parsed.fingerprint === fingerprint ? { outcome: 'replay', jobId: parsed.job_id } : { outcome: 'conflict' };
  }

  /** Gives the key back when the job it was claimed for could not be created. */
  async release(tenant: string, key: string, jobId: string): Promise<void> {
    const redisKey = this.redisKey(tenant, key);
    const existing = await this.redis.get(redisKey);
    if (existing && (JSON.parse(existing) as { job_id: string }).job_id === jobId) await this.redis.del(redisKey);
  }
}
