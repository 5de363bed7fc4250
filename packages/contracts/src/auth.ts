import { z } from 'zod';

/** Permissions a credential can carry (JWT `scope` claim, space-separated as in RFC 8693; API key scopes). */
export const SCOPES = ['jobs:read', 'jobs:write', 'admin'] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

/**
 * A tenant: the owner of jobs, taken from a token's `tenant` claim (else its `sub`; or only the claim
 * JWT_TENANT_CLAIM names) or an API key. Checked when a credential is accepted, so that nothing
 * later (a queue payload, a webhook) can refuse a tenant the gateway let in.
 */
export const TenantId = z.string().min(1).max(256);

/**
 * Bearer token lifetime (`exp − iat`), in seconds: the default of JWT_MAX_TTL_S (24 h, what
 * `npm run token` issues) and the most it may be set to (30 days). A stolen token is good for at
 * most this long even if nobody revokes it, and a revocation (`npm run tokens -- revoke`) matters
 * only that long, since every token it covers has expired by then.
 */
export const JWT_MAX_TTL_DEFAULT_S = 24 * 3600;
export const JWT_MAX_TTL_LIMIT_S = 30 * 24 * 3600;

/** Registered claims that cannot carry a tenant (times, issuer, audience, id, scopes). */
const NOT_TENANT_CLAIMS = ['exp', 'nbf', 'iat', 'iss', 'aud', 'jti', 'scope'];

/**
 * JWT_TENANT_CLAIM: the one top-level claim that sets a token's tenant (`tenant`, `org_id`,
 * `https://talkie.example/tenant`, or `sub`). When set, no other claim is looked at: a token
 * without it is refused rather than falling back to `sub`.
 */
export const JwtTenantClaimName = z
  .string()
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'must be one claim name: printable ASCII, no spaces')
  .refine((name) => !NOT_TENANT_CLAIMS.includes(name), { message: `cannot be one of ${NOT_TENANT_CLAIMS.join(', ')}` });

/** Who is calling: the tenant owns jobs; scopes say what it may do. */
export interface Principal {
  tenant: string;
  subject: string;
  scopes: ReadonlySet<Scope>;
  via: 'jwt' | 'api_key';
}

export const parseScopes = (value: unknown): Set<Scope> => {
  const raw = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
  return new Set(raw.filter((s): s is Scope => Scope.safeParse(s).success));
};
