import { createPublicKey } from 'node:crypto';
import jwt, { type Algorithm, type GetPublicKeyOrSecret, type JwtPayload } from 'jsonwebtoken';
import { JwksClient } from 'jwks-rsa';
import { parseScopes, TenantId, type Principal } from '@talkie/contracts';
import { InvalidTokenError } from './errors';

export interface JwtVerifierOptions {
  secret?: string;
  publicKey?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  clockToleranceS: number;
  /** verified tokens remembered, so a client polling every second costs one verification a minute */
  cacheSize?: number;
  cacheTtlMs?: number;
  now?: () => number;
}

export { InvalidTokenError };

/**
 * Verifies bearer JWTs with exactly one kind of key, and the algorithms that key allows: HS256 for
 * a shared secret, RS256 or ES256 for a public key or a JWKS (picked by `kid`, cached, refetches
 * throttled, so a rotation that publishes the new key beside the old one just works). `alg: none`
 * and HMAC signed with a public key are refused because the algorithm list is pinned per key.
 */
export class JwtVerifier {
  private readonly key: string | Buffer | GetPublicKeyOrSecret;
  private readonly algorithms: Algorithm[];
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
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

  /** The principal of a token verified recently and still valid; forgets one that expired. */
  private cached(token: string, now: number): Principal | undefined {
    const entry = this.cache.get(token);
    if (entry && entry.until > now) return entry.principal;
    if (entry) this.cache.delete(token);
    return undefined;
  }

  async verify(token: string): Promise<Principal> {
    const now = this.now();
    const cached = this.cached(token, now);
    if (cached) return cached;

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
    if (typeof claims.exp !== 'number') throw new InvalidTokenError('exp is required');
    if (typeof claims.sub !== 'string' || !claims.sub) throw new InvalidTokenError('sub is required');
    const tenant = typeof claims.tenant === 'string' && claims.tenant ? claims.tenant : claims.sub;
    // a tenant no job payload could carry is refused here, as a bad token, not later as a failed upload
    if (!TenantId.safeParse(tenant).success) throw new InvalidTokenError('the tenant (tenant claim, else sub) must be 1–256 characters');
    const principal: Principal = { tenant, subject: claims.sub, scopes: parseScopes(claims.scope), via: 'jwt' };

    const maxSize = this.options.cacheSize ?? 10_000;
    if (maxSize > 0) {
      if (this.cache.size >= maxSize) this.cache.delete(this.cache.keys().next().value as string);
      const until = Math.min(claims.exp * 1000, now + (this.options.cacheTtlMs ?? 60_000));
      this.cache.set(token, { principal, until });
    }
    return principal;
  }
}
