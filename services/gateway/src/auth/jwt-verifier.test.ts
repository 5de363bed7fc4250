import { createHmac } from 'node:crypto';
import { Redis } from 'ioredis';
import { TalkieError } from '@talkie/contracts';
import { leaseRedisDb, type RedisDbLease } from '../../../../test/support/redis-db';
import { InvalidTokenError, JwtVerifier, TokenRefusedError } from './jwt-verifier';
import { REVOCATIONS_KEY, revokedBeforeS, TokenRevocations } from './token-revocations';

/** HS256 tokens against the real verifier, and revocations in the real Redis (one leased DB). */

// jwks-rsa loads jose, an ES module jest's CommonJS runtime cannot require; these tests use no
// JWKS (test/authorization-matrix.e2e.test.ts does, in a real gateway process).
jest.mock('jwks-rsa', () => ({ JwksClient: class {} }));

const SECRET = 'jwt-verifier-test-secret-0123456789abcdef';
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const S0 = T0 / 1000;
const HOUR = 3600;
const DAY = 24 * HOUR;

let clock = T0;
const now = () => clock;

/**
 * An HS256 token with exactly these claims (an undefined one left out), signed by hand: jsonwebtoken's
 * sign would refuse the malformed claims a prober sends.
 */
const hs256 = (claims: Record<string, unknown>, secret = SECRET) => {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
};
const sign = (claims: Record<string, unknown>) => hs256({ sub: 'alice', iat: S0, exp: S0 + HOUR, ...claims });
const verifier = (options: Partial<ConstructorParameters<typeof JwtVerifier>[0]> = {}) => new JwtVerifier({ secret: SECRET, clockToleranceS: 30, now, ...options });

const refusal = async (promise: Promise<unknown>) => {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!err) throw new Error('expected a refusal');
  return err;
};
const codeOf = async (promise: Promise<unknown>) => {
  const err = await refusal(promise);
  if (err instanceof TokenRefusedError) return err.code;
  if (err instanceof InvalidTokenError) return 'unauthorized';
  throw err;
};

beforeEach(() => {
  clock = T0;
});

describe('JwtVerifier: token lifetime (JWT_MAX_TTL_S)', () => {
  it('refuses the 100-year token of the probe as token_lifetime_exceeded, with the 24 h default', async () => {
    await expect(codeOf(verifier().verify(sign({ exp: S0 + 100 * 365 * DAY })))).resolves.toBe('token_lifetime_exceeded');
  });

  it('accepts a lifetime of exactly the maximum and refuses one second more (default 24 h, and a set one)', async () => {
    await expect(verifier().verify(sign({ exp: S0 + DAY }))).resolves.toMatchObject({ subject: 'alice', tenant: 'alice' });
    await expect(codeOf(verifier().verify(sign({ exp: S0 + DAY + 1 })))).resolves.toBe('token_lifetime_exceeded');
    await expect(verifier({ maxTtlS: 600 }).verify(sign({ exp: S0 + 600 }))).resolves.toMatchObject({ subject: 'alice' });
    await expect(codeOf(verifier({ maxTtlS: 600 }).verify(sign({ exp: S0 + 601 })))).resolves.toBe('token_lifetime_exceeded');
  });

  it('requires iat: a token without one, or with a non-number, has no bounded lifetime', async () => {
    await expect(codeOf(verifier().verify(sign({ iat: undefined })))).resolves.toBe('token_lifetime_exceeded');
    await expect(codeOf(verifier().verify(sign({ iat: String(S0) })))).resolves.toBe('token_lifetime_exceeded');
  });

  it('refuses an iat in the future beyond the clock tolerance (it would stretch the lifetime and dodge revocations)', async () => {
    await expect(verifier().verify(sign({ iat: S0 + 30, exp: S0 + 30 + HOUR }))).resolves.toMatchObject({ subject: 'alice' });
    await expect(codeOf(verifier().verify(sign({ iat: S0 + 10 * DAY, exp: S0 + 10 * DAY + HOUR })))).resolves.toBe('unauthorized');
  });

  it('checks the lifetime only after the signature: a forged long token is a plain unauthorized', async () => {
    const forged = hs256({ sub: 'alice', iat: S0, exp: S0 + 100 * 365 * DAY }, 'another-secret-another-secret-0123456789');
    await expect(codeOf(verifier().verify(forged))).resolves.toBe('unauthorized');
  });
});

describe('JwtVerifier: the tenant claim', () => {
  it.each([
    ['an array', ['acme', 'globex']],
    ['an object', { id: 'acme' }],
    ['a number', 42],
    ['a boolean', true],
    ['null', null],
    ['an empty string', ''],
    ['257 characters', 'a'.repeat(257)],
  ])('refuses a tenant claim that is %s, instead of falling back to sub', async (_name, tenant) => {
    await expect(codeOf(verifier().verify(sign({ tenant })))).resolves.toBe('unauthorized');
  });

  it('takes a string tenant claim, and sub only when the token has no tenant claim at all', async () => {
    await expect(verifier().verify(sign({ tenant: 'acme' }))).resolves.toMatchObject({ tenant: 'acme', subject: 'alice' });
    await expect(verifier().verify(sign({}))).resolves.toMatchObject({ tenant: 'alice', subject: 'alice' });
  });

  it('with JWT_TENANT_CLAIM, takes the tenant from that claim only: no sub fallback, the tenant claim ignored', async () => {
    const v = verifier({ tenantClaim: 'org_id' });
    await expect(v.verify(sign({ org_id: 'acme', tenant: 'globex' }))).resolves.toMatchObject({ tenant: 'acme', subject: 'alice' });
    await expect(codeOf(v.verify(sign({})))).resolves.toBe('unauthorized');
    await expect(codeOf(v.verify(sign({ tenant: 'acme' })))).resolves.toBe('unauthorized');
    await expect(codeOf(v.verify(sign({ org_id: ['acme'] })))).resolves.toBe('unauthorized');
    await expect(verifier({ tenantClaim: 'sub' }).verify(sign({ tenant: 'globex' }))).resolves.toMatchObject({ tenant: 'alice' });
  });
});

describe('JwtVerifier + TokenRevocations (Redis): revoked-before per subject and tenant', () => {
  let lease: RedisDbLease;
  let redis: Redis;
  beforeAll(async () => {
    lease = await leaseRedisDb();
    redis = new Redis(lease.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await redis?.flushdb();
    redis?.disconnect();
    await lease?.release();
  });
  beforeEach(() => redis.flushdb());

  it('refuses tokens issued before the revocation of their sub or their tenant, also when cached; later ones pass', async () => {
    const revocations = new TokenRevocations(redis, { cacheTtlMs: 0, now });
    const v = verifier({ revocations });
    const old = sign({ tenant: 'acme' });
    await expect(v.verify(old)).resolves.toMatchObject({ tenant: 'acme' });
    expect(v.knows(old)).toBe(true);

    clock = T0 + 10_000;
    await new TokenRevocations(redis, { now }).revoke('sub', 'alice', revokedBeforeS(clock));
    // the verified-token cache still holds it: revocation is checked anyway, and the cache forgets it
    await expect(codeOf(v.verify(old))).resolves.toBe('token_revoked');
    expect(v.knows(old)).toBe(false);
    // issued in the second of the revocation: covered; in the next second: accepted
    await expect(codeOf(v.verify(sign({ tenant: 'acme', iat: S0 + 10 })))).resolves.toBe('token_revoked');
    await expect(v.verify(sign({ tenant: 'acme', iat: S0 + 11 }))).resolves.toMatchObject({ tenant: 'acme' });
    // another subject of the same tenant is untouched, until the tenant is revoked
    const bob = sign({ sub: 'bob', tenant: 'acme' });
    await expect(v.verify(bob)).resolves.toMatchObject({ subject: 'bob' });
    await revocations.revoke('tenant', 'acme', revokedBeforeS(clock));
    await expect(codeOf(v.verify(bob))).resolves.toBe('token_revoked');
    // a sub-fallback tenant is the same namespace: revoking tenant "carol" covers carol's tenant-less tokens
    await revocations.revoke('tenant', 'carol', revokedBeforeS(clock));
    await expect(codeOf(v.verify(sign({ sub: 'carol' })))).resolves.toBe('token_revoked');
  });

  it('remembers what it read for cacheTtlMs: one HMGET per principal, and a revocation shows within that', async () => {
    const revocations = new TokenRevocations(redis, { cacheTtlMs: 5_000, now });
    const v = verifier({ revocations });
    const token = sign({ tenant: 'acme' });
    await v.verify(token);
    clock = T0 + 1_000;
    await new TokenRevocations(redis, { now }).revoke('tenant', 'acme', revokedBeforeS(clock));
    await expect(v.verify(token)).resolves.toMatchObject({ tenant: 'acme' }); // within the 5 s cache
    clock = T0 + 5_001;
    await expect(codeOf(v.verify(token))).resolves.toBe('token_revoked');
  });

  it('never lowers a revocation, lists and clears them, and drops entries too old to matter', async () => {
    const revocations = new TokenRevocations(redis, { cacheTtlMs: 0, now });
    expect(await revocations.revoke('sub', 'alice', S0)).toBe(S0);
    expect(await revocations.revoke('sub', 'alice', S0 - 100)).toBe(S0);
    await revocations.revoke('tenant', 'acme', S0 - 60);
    expect(await revocations.list()).toEqual([
      { kind: 'tenant', id: 'acme', revoked_before: S0 - 60 },
      { kind: 'sub', id: 'alice', revoked_before: S0 },
    ]);
    expect(await revocations.clear('sub', 'alice')).toBe(true);
    expect(await revocations.clear('sub', 'alice')).toBe(false);
    await expect(revocations.isRevoked('alice', 'x', S0 - 1)).resolves.toBe(false);
    clock = T0 + 31 * DAY * 1000;
    await revocations.revoke('sub', 'bob', revokedBeforeS(clock));
    expect((await revocations.list()).map((r) => r.id)).toEqual(['bob']);
    expect(await redis.hkeys(REVOCATIONS_KEY)).toEqual(['sub:bob']);
    await expect(revocations.revoke('sub', '', S0)).rejects.toThrow(/1–256/);
  });

  it('fails closed when Redis cannot answer: service_unavailable, never "not revoked"', async () => {
    const broken = { isRevoked: () => Promise.reject(new Error('Connection is closed.')) };
    const err = await refusal(verifier({ revocations: broken }).verify(sign({})));
    expect(err).toBeInstanceOf(TalkieError);
    expect((err as TalkieError).code).toBe('service_unavailable');
  });
});
