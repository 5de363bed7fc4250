import { z } from 'zod';
import { JWT_MAX_TTL_DEFAULT_S, JWT_MAX_TTL_LIMIT_S, JwtTenantClaimName } from '@talkie/contracts';
import { envInt, parseEnv } from '@talkie/runtime';

/**
 * What `npm run token` signs, checked against the gateway's own rules before it signs: the same
 * env names and bounds as the gateway's config (JWT_MAX_TTL_S, JWT_TENANT_CLAIM), so it never
 * prints a token the gateway it sits beside would refuse.
 */
export const TokenEnv = z.object({
  JWT_MAX_TTL_S: envInt(JWT_MAX_TTL_DEFAULT_S, { min: 60, max: JWT_MAX_TTL_LIMIT_S }),
  JWT_TENANT_CLAIM: JwtTenantClaimName.optional(),
});

const UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `3600`, `90s`, `30m`, `24h`, `1d` as seconds; anything else is refused. */
export function ttlSeconds(ttl: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(ttl.trim());
  if (!match) throw new Error(`--ttl: ${ttl} is not a number of seconds or a span like 30m, 24h, 1d`);
  const seconds = Number(match[1]) * UNIT_S[match[2] || 's'];
  if (seconds < 1) throw new Error('--ttl: must be at least 1 s');
  return seconds;
}

export interface TokenRequest {
  sub: string;
  tenant?: string;
  scope: string;
  ttl: string;
}

/** The claims and lifetime to sign (jsonwebtoken adds `iat`, and `exp` from `expiresInS`). */
export function tokenSpec(request: TokenRequest, env: NodeJS.ProcessEnv): { claims: Record<string, string>; expiresInS: number } {
  const config = parseEnv(TokenEnv, env);
  const expiresInS = ttlSeconds(request.ttl);
  if (expiresInS > config.JWT_MAX_TTL_S) {
    throw new Error(`--ttl ${request.ttl} exceeds JWT_MAX_TTL_S (${config.JWT_MAX_TTL_S} s): the gateway would refuse the token`);
  }
  const claims: Record<string, string> = { scope: request.scope };
  const claim = config.JWT_TENANT_CLAIM;
  if (claim === 'sub') {
    if (request.tenant !== undefined && request.tenant !== request.sub) throw new Error('JWT_TENANT_CLAIM=sub: the tenant is the sub; leave out --tenant');
  } else if (claim) {
    if (request.tenant === undefined) throw new Error(`JWT_TENANT_CLAIM=${claim}: --tenant is required (the gateway no longer falls back to sub)`);
    claims[claim] = request.tenant;
  } else if (request.tenant !== undefined) {
    claims.tenant = request.tenant;
  }
  return { claims, expiresInS };
}
