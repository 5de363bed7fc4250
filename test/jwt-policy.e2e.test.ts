import { spawnSync } from 'node:child_process';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { ROOT, startStack, type Stack } from './support/stack';

/**
 * The token policy settings, end to end through a real gateway process (HS256, no workers needed):
 * JWT_MAX_TTL_S bounds `exp − iat` (the probe's 100-year token is refused), JWT_TENANT_CLAIM names
 * the only claim that sets the tenant (no `sub` fallback), and `npm run token` issues what that
 * gateway accepts and refuses to issue what it would not.
 */
const MAX_TTL_S = 3600;

describe('JWT policy: JWT_MAX_TTL_S and JWT_TENANT_CLAIM in a running gateway', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ name: 'jwt-policy', workers: 0, gatewayEnv: { JWT_MAX_TTL_S: String(MAX_TTL_S), JWT_TENANT_CLAIM: 'org' } });
  }, 60_000);
  afterAll(() => stack?.stop());

  const now = () => Math.floor(Date.now() / 1000);
  const call = async (token: string) => {
    const res = await fetch(`${stack.baseUrl}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, code: ((await res.json()) as { error?: { code: string; message: string } }).error?.code };
  };
  // the claims as given: jsonwebtoken keeps a given iat, and adds none when noTimestamp (which also drops a given one)
  const hs256 = (claims: Record<string, unknown>) =>
    jwt.sign({ scope: 'jobs:read jobs:write', sub: 'alice', ...claims }, stack.secret, { algorithm: 'HS256', noTimestamp: claims.iat === undefined });
  const runToken = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [path.join(ROOT, 'tools/local/dist/token.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: stack.secret, JWT_MAX_TTL_S: String(MAX_TTL_S), JWT_TENANT_CLAIM: 'org', ...env },
      encoding: 'utf8',
    });

  it("refuses the probe's HS256 token whose exp is 100 years ahead: 401 token_lifetime_exceeded, a stable message", async () => {
    const res = await fetch(`${stack.baseUrl}/v1/jobs`, { headers: { authorization: `Bearer ${hs256({ org: 'acme', iat: now(), exp: now() + 100 * 365 * 24 * 3600 })}` } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: unknown }).error).toEqual({
      code: 'token_lifetime_exceeded',
      message: 'The token lifetime exceeds the maximum (exp minus iat; iat is required).',
      request_id: expect.any(String),
    });
  });

  it('applies JWT_MAX_TTL_S as set: exactly the maximum passes, one second more does not, nor no iat', async () => {
    expect(await call(hs256({ org: 'acme', iat: now(), exp: now() + MAX_TTL_S }))).toEqual({ status: 200, code: undefined });
    expect(await call(hs256({ org: 'acme', iat: now(), exp: now() + MAX_TTL_S + 1 }))).toEqual({ status: 401, code: 'token_lifetime_exceeded' });
    expect(await call(hs256({ org: 'acme', exp: now() + 60 }))).toEqual({ status: 401, code: 'token_lifetime_exceeded' });
  });

  it('takes the tenant from JWT_TENANT_CLAIM only: without it (a tenant claim, or sub alone) the token is refused', async () => {
    const times = () => ({ iat: now(), exp: now() + 600 });
    expect(await call(hs256({ org: 'acme', ...times() }))).toEqual({ status: 200, code: undefined });
    expect(await call(hs256({ ...times() }))).toEqual({ status: 401, code: 'unauthorized' });
    expect(await call(hs256({ tenant: 'acme', ...times() }))).toEqual({ status: 401, code: 'unauthorized' });
    expect(await call(hs256({ org: ['acme'], ...times() }))).toEqual({ status: 401, code: 'unauthorized' });
    expect(await call(hs256({ org: { id: 'acme' }, ...times() }))).toEqual({ status: 401, code: 'unauthorized' });
  });

  it('npm run token issues tokens this gateway accepts (iat, exp within JWT_MAX_TTL_S, tenant in JWT_TENANT_CLAIM), and refuses longer ones', async () => {
    const issued = runToken(['--sub', 'alice', '--tenant', 'acme', '--ttl', '1h']);
    expect(issued.status).toBe(0);
    const token = issued.stdout.trim();
    const claims = jwt.decode(token) as Record<string, number | string>;
    expect(claims).toMatchObject({ sub: 'alice', org: 'acme', iat: expect.any(Number) });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(MAX_TTL_S);
    expect(await call(token)).toEqual({ status: 200, code: undefined });

    const tooLong = runToken(['--sub', 'alice', '--tenant', 'acme']); // the 24 h default is over this gateway's 1 h
    expect(tooLong.status).toBe(1);
    expect(tooLong.stderr).toContain('exceeds JWT_MAX_TTL_S (3600 s)');
    expect(tooLong.stdout).toBe('');
    const noTenant = runToken(['--sub', 'alice', '--ttl', '10m']);
    expect([noTenant.status, noTenant.stderr]).toEqual([1, expect.stringContaining('--tenant is required')]);
    // with the gateway defaults, the default token (24 h) is within the default maximum
    const defaults = jwt.decode(runToken(['--sub', 'alice'], { JWT_MAX_TTL_S: '', JWT_TENANT_CLAIM: '' }).stdout.trim()) as { iat: number; exp: number };
    expect(defaults.exp - defaults.iat).toBe(24 * 3600);
  });
});
