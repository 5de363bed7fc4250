import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export const disabledKey = (tenant: string) => `talkie:webhook:disabled:${tenant}`;

/** SHA-256 of the URL in WHATWG-normalized form, so `HTTPS://Example.com:443/a` and `https://example.com/a` match. */
export function endpointHash(url: string): string {
  let normalized = url;
  try {
    normalized = new URL(url).href;
  } catch {
    // an unparseable URL is hashed as given
  }
  return createHash('sha256').update(normalized).digest('hex');
}

/**
 * Endpoints a receiver retired with `410 Gone`, per tenant: no more deliveries go there until the
 * tenant re-enables it. Only a hash of each URL is stored (URLs may carry tokens).
 */
export class DisabledEndpoints {
  constructor(private readonly redis: Redis) {}

  async disable(tenant: string, url: string): Promise<void> {
    await this.redis.sadd(disabledKey(tenant), endpointHash(url));
  }

  async isDisabled(tenant: string, url: string): Promise<boolean> {
    return (await this.redis.sismember(disabledKey(tenant), endpointHash(url))) === 1;
  }

  async enable(tenant: string, url: string): Promise<void> {
    await this.redis.srem(disabledKey(tenant), endpointHash(url));
  }
}
