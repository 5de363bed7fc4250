import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { parseScopes, TenantId, type Principal, type Scope } from '@talkie/contracts';

/**
 * API keys: `tk_<id>_<secret>`. Only a SHA-256 of the whole key is stored (the secret has 256 bits
 * of entropy, so a slow hash adds nothing), looked up by id and compared in constant time. Each key
 * belongs to one tenant and carries its scopes.
 */
const PREFIX = 'talkie:apikey:';
const KEY_PATTERN = /^tk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface ApiKeyInfo {
  id: string;
  tenant: string;
  scopes: Scope[];
  name?: string;
  created_at: string;
  revoked_at?: string;
}

const digest = (key: string) => createHash('sha256').update(key).digest();

export class ApiKeyStore {
  constructor(private readonly redis: Redis, private readonly now: () => Date = () => new Date()) {}

  /** Creates a key; the returned `key` is shown once and never stored. */
  async create(input: { tenant: string; scopes: Scope[]; name?: string }): Promise<{ key: string; info: ApiKeyInfo }> {
    if (!TenantId.safeParse(input.tenant).success) throw new Error('a tenant of 1–256 characters is required');
    if (!input.scopes.length) throw new Error('at least one scope is required');
    const id = randomBytes(8).toString('hex');
    const key = `tk_${id}_${randomBytes(32).toString('base64url')}`;
    const info: ApiKeyInfo = { id, tenant: input.tenant, scopes: input.scopes, created_at: this.now().toISOString(), ...(input.name ? { name: input.name } : {}) };
    await this.redis.hset(`${PREFIX}${id}`, {
      tenant: info.tenant,
      scopes: info.scopes.join(' '),
      hash: digest(key).toString('hex'),
      created_at: info.created_at,
      ...(info.name ? { name: info.name } : {}),
    });
    return { key, info };
  }

  async list(): Promise<ApiKeyInfo[]> {
    const infos: ApiKeyInfo[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 200);
      cursor = next;
      for (const k of keys) {
        const h = await this.redis.hgetall(k);
        if (!h.tenant) continue;
        infos.push({
          id: k.slice(PREFIX.length),
          tenant: h.tenant,
          scopes: [...parseScopes(h.scopes)],
          created_at: h.created_at,
          ...(h.name ? { name: h.name } : {}),
          ...(h.revoked_at ? { revoked_at: h.revoked_at } : {}),
        });
      }
    } while (cursor !== '0');
    return infos.sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /** Revoked keys stay listed (for audit) but never authenticate again. */
  async revoke(id: string): Promise<boolean> {
    const exists = await this.redis.exists(`${PREFIX}${id}`);
    if (!exists) return false;
    await this.redis.hset(`${PREFIX}${id}`, 'revoked_at', this.now().toISOString());
    return true;
  }

  /** The principal for a presented key, or null. */
  async verify(presented: string): Promise<Principal | null> {
    const match = KEY_PATTERN.exec(presented);
    if (!match) return null;
    const h = await this.redis.hgetall(`${PREFIX}${match[1]}`);
    if (!h.hash || h.revoked_at) return null;
    const expected = Buffer.from(h.hash, 'hex');
    const actual = digest(presented);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
    return { tenant: h.tenant, subject: `apikey:${match[1]}`, scopes: parseScopes(h.scopes), via: 'api_key' };
  }
}
