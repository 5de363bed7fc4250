import { z } from 'zod';

/** Permissions a credential can carry (JWT `scope` claim, space-separated as in RFC 8693; API key scopes). */
export const SCOPES = ['jobs:read', 'jobs:write', 'admin'] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

/**
 * A tenant: the owner of jobs, taken from a token's `tenant` claim (else its `sub`) or an API key.
 * Checked when a credential is accepted, so that nothing later (a queue payload, a webhook) can
 * refuse a tenant the gateway let in.
 */
export const TenantId = z.string().min(1).max(256);

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
