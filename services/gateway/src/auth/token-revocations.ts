import type { Redis } from 'ioredis';
import { JWT_MAX_TTL_LIMIT_S, TenantId } from '@talkie/contracts';

/**
 * Revocation of bearer tokens by time: "every token of this subject (or tenant) issued before T".
 * A JWT cannot be recalled once handed out, and listing every token is impossible (the identity
 * provider issues them), but each one carries `iat`, which the gateway requires: so one timestamp
 * per subject or tenant is enough. They live in one Redis hash, like the API keys, so every
 * gateway replica sees them; `npm run tokens` writes them.
 *
 *   talkie:jwt:revoked-before   field `sub:<sub>` or `tenant:<tenant>` → Unix seconds
 *
 * A token is revoked when its `iat` is earlier than its subject's or its tenant's timestamp. Each
 * gateway remembers what it read for `cacheTtlMs` (5 s by default), so a revocation takes effect
 * everywhere within that, at the cost of one HMGET per principal every few seconds.
 */
export const REVOCATIONS_KEY = 'talkie:jwt:revoked-before';
export type RevocationKind = 'sub' | 'tenant';

export interface Revocation {
  kind: RevocationKind;
  id: string;
  /** tokens issued (iat) before this, in Unix seconds, are refused */
  revoked_before: number;
}

/** Raises a field to `ARGV[2]` unless it is already later (a revocation is never undone by another). */
const RAISE = `
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local wanted = tonumber(ARGV[2])
if wanted > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return wanted end
return current`;

/**
 * Past this age an entry covers no token that could still be accepted whatever the settings
 * (lifetime at most JWT_MAX_TTL_LIMIT_S, clock tolerance at most 300 s), so it can go.
 */
const OBSOLETE_AFTER_S = JWT_MAX_TTL_LIMIT_S + 300;

export class TokenRevocations {
  private readonly cache = new Map<string, { before: number; until: number }>();
  private readonly now: () => number;
  private readonly cacheTtlMs: number;
  private readonly cacheSize: number;

  constructor(private readonly redis: Redis, options: { cacheTtlMs?: number; cacheSize?: number; now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    this.cacheTtlMs = options.cacheTtlMs ?? 5_000;
    this.cacheSize = options.cacheSize ?? 10_000;
  }

  /**
   * Refuses every token of `kind:id` issued before `beforeS` (Unix seconds); returns the timestamp
   * now in force (a later one already stored stays). Drops entries too old to matter.
   */
  async revoke(kind: RevocationKind, id: string, beforeS: number): Promise<number> {
    if (!TenantId.safeParse(id).success) throw new Error(`a ${kind} of 1–256 characters is required`);
    if (!Number.isSafeInteger(beforeS) || beforeS <= 0) throw new Error('the time must be whole Unix seconds');
    const inForce = Number(await this.redis.eval(RAISE, 1, REVOCATIONS_KEY, `${kind}:${id}`, String(beforeS)));
    const obsolete = (await this.list()).filter((r) => r.revoked_before < Math.floor(this.now() / 1000) - OBSOLETE_AFTER_S);
    if (obsolete.length) await this.redis.hdel(REVOCATIONS_KEY, ...obsolete.map((r) => `${r.kind}:${r.id}`));
    this.cache.delete(`${kind}:${id}`);
    return inForce;
  }

  /** Lifts a revocation (tokens issued before it work again, until they expire). */
  async clear(kind: RevocationKind, id: string): Promise<boolean> {
    this.cache.delete(`${kind}:${id}`);
    return (await this.redis.hdel(REVOCATIONS_KEY, `${kind}:${id}`)) > 0;
  }

  async list(): Promise<Revocation[]> {
    const all = await this.redis.hgetall(REVOCATIONS_KEY);
    return Object.entries(all)
      .map(([field, value]) => {
        const at = field.indexOf(':');
        return { kind: field.slice(0, at) as RevocationKind, id: field.slice(at + 1), revoked_before: Number(value) };
      })
      .filter((r) => (r.kind === 'sub' || r.kind === 'tenant') && Number.isFinite(r.revoked_before))
      .sort((a, b) => a.revoked_before - b.revoked_before || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
  }

  /** Whether a token of `sub` for `tenant`, issued at `iat` (Unix seconds), is revoked. */
  async isRevoked(sub: string, tenant: string, iat: number): Promise<boolean> {
    const fields = [`sub:${sub}`, `tenant:${tenant}`];
    const now = this.now();
    const known = fields.map((f) => {
      const entry = this.cache.get(f);
      return entry && entry.until > now ? entry.before : undefined;
    });
    const missing = fields.filter((_f, i) => known[i] === undefined);
    if (missing.length) {
      const values = await this.redis.hmget(REVOCATIONS_KEY, ...missing);
      missing.forEach((field, i) => {
        const before = Number(values[i] ?? 0) || 0;
        known[fields.indexOf(field)] = before;
        if (this.cacheTtlMs > 0) {
          if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
          this.cache.set(field, { before, until: now + this.cacheTtlMs });
        }
      });
    }
    return known.some((before) => iat < (before ?? 0));
  }
}

/**
 * "Issued before `at`" as the timestamp stored: tokens carry whole seconds, so a token issued
 * during the second of `at` (or earlier) is covered. Used for `--before now`.
 */
export const revokedBeforeS = (atMs: number): number => Math.floor(atMs / 1000) + 1;
