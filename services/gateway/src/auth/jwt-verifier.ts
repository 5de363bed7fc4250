import { createPublicKey } from 'node:crypto';
import jwt, { type Algorithm, type GetPublicKeyOrSecret, type JwtPayload } from 'jsonwebtoken';
import { JwksClient } from 'jwks-rsa';
import { JWT_MAX_TTL_DEFAULT_S, parseScopes, TalkieError, TenantId, type Principal } from '@talkie/contracts';
import { InvalidTokenError, TokenRefusedError } from './errors';
import type { TokenRevocations } from './token-revocations';

export interface JwtVerifierOptions {
  secret?: string;
  publicKey?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  clockToleranceS: number;
  /** longest accepted lifetime, `exp − iat`, in seconds (JWT_MAX_TTL_S); `iat` is required */
  maxTtlS?: number;
  /**
   * the one claim that sets the tenant (JWT_TENANT_CLAIM); unset: `tenant`, else `sub` when the
   * token has no `tenant` claim at all
   */
  tenantClaim?: string;
  /** revoked-before timestamps per subject and tenant, checked on every verification (cached or not) */
  revocations?: Pick<TokenRevocations, 'isRevoked'>;
  /** verified tokens remembered, so a client polling every second costs one verification a minute */
  cacheSize?: number;
  cacheTtlMs?: number;
  now?: () => number;
}

export { InvalidTokenError, TokenRefusedError };

interface Verified {
  principal: Principal;
  iat: number;
  until: number;
}

/**
 * Verifies bearer JWTs with exactly one kind of key, and the algorithms that key allows: HS256 for
 * a shared secret, RS256 or ES256 for a public key or a JWKS (picked by `kid`, cached, refetches
 * throttled, so a rotation that publishes the new key beside the old one just works). `alg: none`
 * and HMAC signed with a public key are refused because the algorithm list is pinned per key.
 */
export class JwtVerifier {
  private readonly key: string | Buffer | GetPublicKeyOrSecret;
  private readonly algorithms: Algorithm[];
  private readonly cache = new Map<string, Verified>();
  private readonly now: () => number;

  constructor(private readonly options: JwtVerifierOptions) {
    this.now = options.now ?? Date.now;
    if (options.secret) {
      this.key = Buffer.from(options.secret, 'utf8');
      this.algorithms = ['HS256'];
    } else if (options.publicKey) {
      const pem = options.publicKey.replace(/\\n/g, '\n');
      const type = createPublicKey(pem).asymmetricKeyType;
      if (type !== 'rsa' && type !== 'ec') throw new Error(`JWT_PUBLIC_KEY must be an RSA or EC key, not ${type}`);
      this.key = pem;
      this.algorithms = [type === 'rsa' ? 'RS256' : 'ES256'];
    } else if (options.jwksUrl) {
      const client = new JwksClient({
        jwksUri: options.jwksUrl,
        cache: true,
        cacheMaxEntries: 20,
        cacheMaxAge: 10 * 60_000,
        rateLimit: true,
        jwksRequestsPerMinute: 10,
        timeout: 5_000,
      });
      this.key = (header, callback) => {
        if (!header.kid) return callback(new InvalidTokenError('token has no kid'));
        client.getSigningKey(header.kid).then(
          (key) => callback(null, key.getPublicKey()),
          (err: Error) => callback(err),
        );
      };
      this.algorithms = ['RS256', 'ES256'];
    } else {
      throw new Error('JwtVerifier needs a secret, a public key or a JWKS URL');
    }
  }

  /**
   * Whether `token` was verified recently and is still valid: a cheap, synchronous look at the
   * cache, so the per-address guard against credential guessing can skip tokens that are not guesses.
   */
  knows(token: string): boolean {
    return this.cached(token, this.now()) !== undefined;
  }

  /** A token verified recently and still valid; forgets one that expired. */
  private cached(token: string, now: number): Verified | undefined {
    const entry = this.cache.get(token);
    if (entry && entry.until > now) return entry;
    if (entry) this.cache.delete(token);
    return undefined;
  }

  /**
   * The principal of a valid token. Revocation is checked every time, for cached tokens too: a
   * revoked token stops working within the revocation cache's few seconds, not at its `exp`.
   */
  async verify(token: string): Promise<Principal> {
    const verified = this.cached(token, this.now()) ?? (await this.verifyAfresh(token));
    const { principal, iat } = verified;
    if (this.options.revocations) {
      let revoked: boolean;
      try {
        revoked = await this.options.revocations.isRevoked(principal.subject, principal.tenant, iat);
      } catch (err) {
        // Unknown is not "not revoked": refuse to decide, and say come back later.
        throw new TalkieError('service_unavailable', { cause: err });
      }
      if (revoked) {
        // forgotten, so the per-address limiter no longer waves it through as a known credential
        this.cache.delete(token);
        throw new TokenRefusedError('token_revoked', 'issued before its subject or tenant was revoked');
      }
    }
    return principal;
  }

  private async verifyAfresh(token: string): Promise<Verified> {
    const now = this.now();

    const claims = await new Promise<JwtPayload>((resolve, reject) => {
      jwt.verify(
        token,
        this.key as GetPublicKeyOrSecret,
        {
          algorithms: this.algorithms,
          clockTolerance: this.options.clockToleranceS,
          clockTimestamp: Math.floor(now / 1000),
          ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
          ...(this.options.audience ? { audience: this.options.audience } : {}),
        },
        (err, decoded) => {
          if (err || !decoded || typeof decoded === 'string') reject(new InvalidTokenError(err?.message ?? 'bad payload'));
          else resolve(decoded);
        },
      );
    });
    if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw new InvalidTokenError('exp is required');
    if (typeof claims.sub !== 'string' || !claims.sub) throw new InvalidTokenError('sub is required');
    // A lifetime needs a start: without iat a token could be good for a century, and could not be
    // revoked by time either.
    const maxTtlS = this.options.maxTtlS ?? JWT_MAX_TTL_DEFAULT_S;
    if (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat)) throw new TokenRefusedError('token_lifetime_exceeded', 'iat is required');
    if (claims.exp - claims.iat > maxTtlS) throw new TokenRefusedError('token_lifetime_exceeded', `lifetime exceeds ${maxTtlS} s`);
    // An iat in the future would stretch the lifetime from now, and dodge a revocation made before it.
    if (claims.iat > now / 1000 + this.options.clockToleranceS) throw new InvalidTokenError('iat is in the future');
    const tenant = this.tenantOf(claims);
    const principal: Principal = { tenant, subject: claims.sub, scopes: parseScopes(claims.scope), via: 'jwt' };

    const until = Math.min(claims.exp * 1000, now + (this.options.cacheTtlMs ?? 60_000));
    const verified: Verified = { principal, iat: claims.iat, until };
    const maxSize = this.options.cacheSize ?? 10_000;
    if (maxSize > 0) {
      if (this.cache.size >= maxSize) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(token, verified);
    }
    return verified;
  }

  /**
   * The tenant, from the one claim JWT_TENANT_CLAIM names, or else from `tenant` when the token has
   * one and `sub` when it has none. A claim that is present but no tenant (an array, an object, a
   * number, null, an empty or over-long string) is a bad token, never a reason to fall back to
   * `sub`. A tenant no job payload could carry is refused here, not later as a failed upload.
   */
  private tenantOf(claims: JwtPayload): string {
    const name = this.options.tenantClaim;
    if (name) {
      const value: unknown = claims[name];
      if (typeof value !== 'string' || !TenantId.safeParse(value).success) throw new InvalidTokenError(`the ${name} claim must be a string of 1–256 characters`);
      return value;
    }
    if (claims.tenant === undefined) {
      if (!TenantId.safeParse(claims.sub).success) throw new InvalidTokenError('without a tenant claim, sub must be 1–256 characters');
      return claims.sub as string;
    }
    const tenant: unknown = claims.tenant;
    if (typeof tenant !== 'string' || !TenantId.safeParse(tenant).success) throw new InvalidTokenError('the tenant claim must be a string of 1–256 characters');
    return tenant;
  }
}
