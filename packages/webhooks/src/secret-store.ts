import type { Redis } from 'ioredis';
import { generateWebhookSecret } from './sign';

/** How long a rotated-out secret keeps signing beside the new one, unless configured otherwise. */
export const DEFAULT_SECRET_OVERLAP_MS = 24 * 3600_000;
/** Secrets kept per tenant at most (rotating in a loop must not grow the signature header forever). */
export const MAX_SECRETS_PER_TENANT = 10;

export const secretsKey = (tenant: string) => `talkie:webhook:secrets:${tenant}`;

/**
 * A sorted set per tenant: member `<created ms>:<secret>`, score = when it stops signing (`+inf` for
 * the current one). KEYS[1]; ARGV: now ms, overlap ms, new member, cap.
 * Prunes expired secrets, ends the current one at now + overlap, adds the new one as current.
 */
const ROTATE_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local current = redis.call('ZRANGEBYSCORE', KEYS[1], '+inf', '+inf')
local ends = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(current) do
  redis.call('ZADD', KEYS[1], ends, member)
end
redis.call('ZADD', KEYS[1], '+inf', ARGV[3])
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1) end
return 1
`;

/**
 * Webhook signing secrets per tenant, in Redis. `rotate` creates a new secret and returns it (the
 * only time it leaves Talkie); the previous one keeps signing until now + overlapMs so receivers can
 * switch without a gap. Secrets are key material: they are stored as HMAC keys must be (the
 * dispatcher signs with them), never logged, and never returned again.
 */
export class WebhookSecretStore {
  private readonly overlapMs: number;
  private readonly now: () => Date;

  constructor(
    private readonly redis: Redis,
    options: { overlapMs: number; now?: () => Date },
  ) {
    if (!Number.isFinite(options.overlapMs) || options.overlapMs < 0) throw new Error('overlapMs must be a non-negative number');
    this.overlapMs = options.overlapMs;
    this.now = options.now ?? (() => new Date());
  }

  /** Creates the tenant's new current secret and returns it, once. */
  async rotate(tenant: string): Promise<string> {
    const secret = generateWebhookSecret();
    const now = this.now().getTime();
    await this.redis.eval(ROTATE_SCRIPT, 1, secretsKey(tenant), String(now), String(this.overlapMs), `${now}:${secret}`, String(MAX_SECRETS_PER_TENANT));
    return secret;
  }

  /** The secrets that sign now, newest first; expired ones are pruned. Empty: the tenant has none. */
  async active(tenant: string): Promise<string[]> {
    const now = this.now().getTime();
    const key = secretsKey(tenant);
    const replies = await this.redis.multi().zremrangebyscore(key, '-inf', now).zrange(key, 0, -1, 'WITHSCORES').exec();
    const flat = (replies?.[1]?.[1] ?? []) as string[];
    const entries: Array<{ created: number; ends: number; secret: string }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const member = flat[i];
      const sep = member.indexOf(':');
      if (sep <= 0) continue;
      const ends = flat[i + 1] === 'inf' || flat[i + 1] === '+inf' ? Infinity : Number(flat[i + 1]);
      if (ends <= now) continue;
      entries.push({ created: Number(member.slice(0, sep)), ends, secret: member.slice(sep + 1) });
    }
    entries.sort((a, b) => b.created - a.created || b.ends - a.ends);
    return entries.map((e) => e.secret);
  }

  /** Ends the overlap now: only the current secret signs (e.g. after an old one leaked). */
  async endOverlap(tenant: string): Promise<void> {
    await this.redis.zremrangebyscore(secretsKey(tenant), '-inf', '(+inf');
  }

  /** Removes every secret of the tenant: its webhooks are refused until it rotates again. */
  async revoke(tenant: string): Promise<void> {
    await this.redis.del(secretsKey(tenant));
  }
}
