import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { ROOT, startStack, waitUntil, type Stack } from './support/stack';

/**
 * Who may do what: two tenants × every job route × every kind of bad credential, against the real
 * gateway configured for RS256 tokens from a JWKS endpoint (served here on loopback), with issuer
 * and audience checks, and API keys made with the real `npm run keys` CLI.
 */
const ISSUER = 'https://id.talkie.test/';
const AUDIENCE = 'talkie-api';
const ALL = 'jobs:read jobs:write';

describe('authorization matrix', () => {
  let stack: Stack;
  let jwks: Server;
  let rsa: { privateKey: KeyObject; publicKey: KeyObject };
  let ec: { privateKey: KeyObject; publicKey: KeyObject };
  let jwksHits = 0;
  const jobs: Record<string, string> = {};
  const keys: Record<string, string> = {};

  const sign = (claims: Record<string, unknown>, options: jwt.SignOptions & { key?: KeyObject | string } = {}) => {
    const { key = rsa.privateKey, ...rest } = options;
    return jwt.sign({ scope: ALL, ...claims }, key as jwt.Secret, { algorithm: 'RS256', keyid: 'rsa-1', issuer: ISSUER, audience: AUDIENCE, expiresIn: '10m', ...rest });
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  const runCli = (cli: string, ...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, `services/gateway/dist/cli/${cli}.js`), ...args], {
      env: { PATH: process.env.PATH ?? '', REDIS_URL: stack.redisUrl },
      encoding: 'utf8',
    });
  const runKeysCli = (...args: string[]) => runCli('keys', ...args);
  const runTokensCli = (...args: string[]) => runCli('tokens', ...args);

  beforeAll(async () => {
    rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    jwks = createServer((_req, res) => {
      jwksHits++;
      res.setHeader('content-type', 'application/json');
      // Two keys published side by side, as during a rotation.
      res.end(JSON.stringify({
        keys: [
          { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' },
          { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig', alg: 'ES256' },
        ],
      }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    stack = await startStack({
      name: 'authz',

      gatewayEnv: { JWT_SECRET: '', JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE },
    });

    const video = await fixture('MINE');
    for (const tenant of ['acme', 'globex']) {
      const created = await submit(stack.baseUrl, sign({ tenant }, { subject: `user-of-${tenant}` }), video.file);
      expect(created.status).toBe(202);
      jobs[tenant] = created.body.id;
      await waitForJob(stack.baseUrl, sign({ tenant }, { subject: `user-of-${tenant}` }), created.body.id);

      const made = runKeysCli('create', '--tenant', tenant, '--scopes', 'jobs:read,jobs:write', '--name', `${tenant} ci`);
      expect(made.status).toBe(0);
      keys[tenant] = made.stdout.trim();
      const revoked = runKeysCli('create', '--tenant', tenant, '--scopes', 'jobs:read,jobs:write');
      keys[`${tenant}-revoked`] = revoked.stdout.trim();
      const id = /^tk_([0-9a-f]{16})_/.exec(keys[`${tenant}-revoked`])![1];
      expect(runKeysCli('revoke', id).status).toBe(0);
      keys[`${tenant}-readonly`] = runKeysCli('create', '--tenant', tenant, '--scopes', 'jobs:read').stdout.trim();
    }
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  type Route = { name: string; call: (headers: Record<string, string>, tenant: string) => Promise<Response>; ok: number; scope: 'jobs:read' | 'jobs:write' };
  const otherJob = (tenant: string) => jobs[tenant === 'acme' ? 'globex' : 'acme'];
  // Reads and "create" are safe to repeat; DELETE is checked against another tenant's job and for
  // its own success separately below, so the matrix never deletes the jobs it reads.
  const ROUTES: Route[] = [
    { name: 'GET /v1/jobs/{id}', ok: 200, scope: 'jobs:read', call: (h, t) => fetch(`${stack.baseUrl}/v1/jobs/${jobs[t]}`, { headers: h }) },
    {
      name: 'POST /v1/jobs',
      ok: 202,
      scope: 'jobs:write',
      call: async (h) => {
        const form = new FormData();
        form.append('video', new Blob([await import('node:fs/promises').then((fs) => fs.readFile(path.join(ROOT, 'test/.artifacts/fixtures/MINE-25fps-0s.mp4')))]), 'mine.mp4');
        return fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', headers: h, body: form });
      },
    },
    { name: 'DELETE /v1/jobs/{id} (unknown id)', ok: 404, scope: 'jobs:write', call: (h) => fetch(`${stack.baseUrl}/v1/jobs/00000000-0000-4000-8000-000000000000`, { method: 'DELETE', headers: h }) },
  ];

  const now = () => Math.floor(Date.now() / 1000);
  const DAY = 24 * 3600;
  /** an RS256 token with exactly these times (iat left out when undefined: noTimestamp drops a given one too) */
  const timed = (t: string, times: { iat?: number; exp: number }) =>
    jwt.sign({ tenant: t, scope: ALL, sub: 'x', iss: ISSUER, aud: AUDIENCE, ...times }, rsa.privateKey, { algorithm: 'RS256', keyid: 'rsa-1', noTimestamp: times.iat === undefined });
  // `code`: the 401's code when it is not `unauthorized`
  const CREDENTIALS: Array<{ name: string; headers: (tenant: string, route: Route) => Record<string, string>; expect: (route: Route) => number; code?: string }> = [
    { name: 'no credentials', headers: () => ({}), expect: () => 401 },
    { name: 'a malformed token', headers: () => bearer('not.a.jwt'), expect: () => 401 },
    { name: 'alg none', headers: (t) => bearer(jwt.sign({ tenant: t, scope: ALL, iss: ISSUER, aud: AUDIENCE, sub: 'x', exp: now() + 600 }, '', { algorithm: 'none' })), expect: () => 401 },
    {
      name: 'HS256 signed with the RS public key',
      headers: (t) => bearer(jwt.sign({ tenant: t, scope: ALL }, rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string, { algorithm: 'HS256', keyid: 'rsa-1', subject: 'x', issuer: ISSUER, audience: AUDIENCE, expiresIn: '10m', allowInsecureKeySizes: true } as jwt.SignOptions)),
      expect: () => 401,
    },
    { name: 'an expired token', headers: (t) => bearer(jwt.sign({ tenant: t, scope: ALL, sub: 'x', iss: ISSUER, aud: AUDIENCE, exp: now() - 120 }, rsa.privateKey, { algorithm: 'RS256', keyid: 'rsa-1' })), expect: () => 401 },
    { name: 'a token not yet valid', headers: (t) => bearer(sign({ tenant: t, nbf: now() + 600 }, { subject: 'x' })), expect: () => 401 },
    { name: 'a wrong issuer', headers: (t) => bearer(sign({ tenant: t }, { subject: 'x', issuer: 'https://evil.test/' })), expect: () => 401 },
    { name: 'a wrong audience', headers: (t) => bearer(sign({ tenant: t }, { subject: 'x', audience: 'another-api' })), expect: () => 401 },
    { name: 'an unknown kid', headers: (t) => bearer(sign({ tenant: t }, { subject: 'x', keyid: 'rsa-unknown' })), expect: () => 401 },
    { name: 'a token signed by a key not in the JWKS', headers: (t) => bearer(sign({ tenant: t }, { subject: 'x', key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey })), expect: () => 401 },
    { name: 'a revoked API key', headers: (t) => ({ 'x-api-key': keys[`${t}-revoked`] }), expect: () => 401 },
    { name: 'an API key with a typo', headers: (t) => ({ 'x-api-key': keys[t].slice(0, -1) + (keys[t].endsWith('A') ? 'B' : 'A') }), expect: () => 401 },
    // a tenant no queue payload could carry: refused as a bad token (it once got a 503 on upload)
    { name: 'a tenant claim of 257 characters', headers: (t) => bearer(sign({ tenant: t.padEnd(257, '-') }, { subject: 'x' })), expect: () => 401 },
    { name: 'no tenant claim and a sub of 257 characters', headers: () => bearer(sign({}, { subject: 's'.repeat(257) })), expect: () => 401 },
    // a malformed tenant claim is refused, never replaced by sub (which would be a tenant of its own)
    { name: 'a tenant claim that is an array', headers: (t) => bearer(sign({ tenant: [t] }, { subject: t })), expect: () => 401 },
    { name: 'a tenant claim that is an object', headers: (t) => bearer(sign({ tenant: { id: t } }, { subject: t })), expect: () => 401 },
    { name: 'a tenant claim that is null', headers: (t) => bearer(sign({ tenant: null }, { subject: t })), expect: () => 401 },
    // JWT_MAX_TTL_S (default 24 h): a lifetime past it, or none known, cannot be accepted
    { name: 'a token whose exp is 100 years ahead', headers: (t) => bearer(timed(t, { iat: now(), exp: now() + 100 * 365 * DAY })), expect: () => 401, code: 'token_lifetime_exceeded' },
    { name: 'a token living 24 h and 1 s', headers: (t) => bearer(timed(t, { iat: now(), exp: now() + DAY + 1 })), expect: () => 401, code: 'token_lifetime_exceeded' },
    { name: 'a token without iat', headers: (t) => bearer(timed(t, { exp: now() + 600 })), expect: () => 401, code: 'token_lifetime_exceeded' },
    { name: 'a token issued in the future', headers: (t) => bearer(timed(t, { iat: now() + 600, exp: now() + 1200 })), expect: () => 401 },
    { name: 'a token living exactly 24 h', headers: (t) => bearer(timed(t, { iat: now(), exp: now() + DAY })), expect: (r) => r.ok },
    { name: 'a token without the scope', headers: (t, r) => bearer(sign({ tenant: t, scope: r.scope === 'jobs:read' ? 'jobs:write' : 'jobs:read' }, { subject: 'x' })), expect: () => 403 },
    { name: 'an API key without the scope', headers: (t, r) => (r.scope === 'jobs:read' ? bearer(sign({ tenant: t, scope: 'jobs:write' }, { subject: 'x' })) : { 'x-api-key': keys[`${t}-readonly`] }), expect: () => 403 },
    { name: 'a valid RS256 token', headers: (t) => bearer(sign({ tenant: t }, { subject: 'x' })), expect: (r) => r.ok },
    { name: 'a valid ES256 token (second JWKS key)', headers: (t) => bearer(sign({ tenant: t }, { subject: 'x', key: ec.privateKey, algorithm: 'ES256', keyid: 'ec-1' })), expect: (r) => r.ok },
    { name: 'a valid API key', headers: (t) => ({ 'x-api-key': keys[t] }), expect: (r) => r.ok },
    { name: 'the admin scope', headers: (t) => bearer(sign({ tenant: t, scope: 'admin' }, { subject: 'x' })), expect: (r) => r.ok },
  ];

  for (const tenant of ['acme', 'globex']) {
    for (const route of ROUTES) {
      it.each(CREDENTIALS.map((c) => [c.name, c] as const))(`${tenant} · ${route.name} · %s`, async (_name, credential) => {
        const res = await route.call(credential.headers(tenant, route), tenant);
        const body = (await res.json().catch(() => ({}))) as { error?: { code: string } };
        expect(res.status).toBe(credential.expect(route));
        if (res.status === 401) expect(body.error?.code).toBe(credential.code ?? 'unauthorized');
        if (res.status === 403) expect(body.error?.code).toBe('forbidden');
      });
    }

    it(`${tenant}: another tenant's job is a 404 on every job route, and stays untouched`, async () => {
      const headers = bearer(sign({ tenant }, { subject: 'x' }));
      const target = otherJob(tenant);
      const read = await fetch(`${stack.baseUrl}/v1/jobs/${target}`, { headers });
      expect(read.status).toBe(404);
      const del = await fetch(`${stack.baseUrl}/v1/jobs/${target}`, { method: 'DELETE', headers });
      expect(del.status).toBe(404);
      const viaKey = await fetch(`${stack.baseUrl}/v1/jobs/${target}`, { headers: { 'x-api-key': keys[tenant] } });
      expect(viaKey.status).toBe(404);
      const owner = tenant === 'acme' ? 'globex' : 'acme';
      const still = await fetch(`${stack.baseUrl}/v1/jobs/${target}`, { headers: bearer(sign({ tenant: owner }, { subject: 'x' })) });
      expect(((await still.json()) as { status: string }).status).toBe('completed');
    });
  }

  it('refuses two credentials at once and credentials in the query string', async () => {
    const both = await fetch(`${stack.baseUrl}/v1/jobs/${jobs.acme}`, { headers: { ...bearer(sign({ tenant: 'acme' }, { subject: 'x' })), 'x-api-key': keys.acme } });
    expect(both.status).toBe(401);
    const query = await fetch(`${stack.baseUrl}/v1/jobs/${jobs.acme}?api_key=${keys.acme}&access_token=${sign({ tenant: 'acme' }, { subject: 'x' })}`);
    expect(query.status).toBe(401);
  });

  it('caches the JWKS: over a hundred verifications, and only unknown kids cause (throttled) refetches', async () => {
    expect(jwksHits).toBeGreaterThan(0);
    // at most 10 fetches a minute, whatever clients send (jwksRequestsPerMinute)
    expect(jwksHits).toBeLessThanOrEqual(10);
    const before = jwksHits;
    for (let i = 0; i < 20; i++) {
      // fresh tokens (not in the verified-token cache) with known kids: served from the key cache
      const res = await fetch(`${stack.baseUrl}/v1/jobs/${jobs.globex}`, { headers: bearer(sign({ tenant: 'globex', jti: `n${i}` }, { subject: 'x' })) });
      expect(res.status).toBe(200);
    }
    expect(jwksHits).toBe(before);
  });

  it('lists keys with the CLI without showing them, and never stores them in clear', async () => {
    const list = runKeysCli('list');
    expect(list.status).toBe(0);
    expect(list.stdout).toContain('acme');
    expect(list.stdout).toContain('revoked');
    for (const key of Object.values(keys)) expect(list.stdout).not.toContain(key);
    const stored = JSON.stringify(await Promise.all((await stack.redis.keys('talkie:apikey:*')).map((k) => stack.redis.hgetall(k))));
    // the secret is everything after `tk_<id>_`; base64url may itself contain `_`
    for (const key of Object.values(keys)) expect(stored).not.toContain(key.split('_').slice(2).join('_'));
  });

  it('revokes tokens issued before now with npm run tokens, per sub or tenant: 401 token_revoked even for a cached token; later tokens work', async () => {
    const get = async (token: string) => {
      const res = await fetch(`${stack.baseUrl}/v1/jobs`, { headers: bearer(token) });
      return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
    };
    // a tenant of its own, so the revocations touch no other test
    const peter = sign({ tenant: 'initech' }, { subject: 'peter' });
    const milton = sign({ tenant: 'initech' }, { subject: 'milton' });
    expect(await get(peter)).toEqual({ status: 200, code: undefined }); // now in the verified-token cache
    expect(runTokensCli('revoke').status).toBe(2); // neither --sub nor --tenant
    expect(runTokensCli('revoke', '--sub', 'peter', '--before', '2999-01-01T00:00:00Z').status).toBe(2); // no future times

    const revoked = runTokensCli('revoke', '--sub', 'peter');
    expect([revoked.status, revoked.stderr]).toEqual([0, expect.stringContaining('sub peter: tokens issued before')]);
    // every gateway sees it within its revocation cache (5 s)
    await waitUntil(async () => (await get(peter)).status === 401, 'the revocation to reach the gateway', 15_000);
    expect(await get(peter)).toEqual({ status: 401, code: 'token_revoked' });
    expect(await get(milton)).toEqual({ status: 200, code: undefined });
    // a token issued after the revocation (from the next second) works
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await get(sign({ tenant: 'initech' }, { subject: 'peter' }))).toEqual({ status: 200, code: undefined });

    expect(runTokensCli('revoke', '--tenant', 'initech').status).toBe(0);
    await waitUntil(async () => (await get(milton)).status === 401, 'the tenant revocation', 15_000);
    expect(await get(milton)).toEqual({ status: 401, code: 'token_revoked' });
    // other tenants are untouched, and API keys are revoked their own way
    expect((await fetch(`${stack.baseUrl}/v1/jobs`, { headers: bearer(sign({ tenant: 'globex' }, { subject: 'milton' })) })).status).toBe(200);

    const list = runTokensCli('list');
    expect(list.stdout).toMatch(/^sub\tpeter\t\d{4}-.*Z$/m);
    expect(list.stdout).toMatch(/^tenant\tinitech\t\d{4}-.*Z$/m);
    expect(runTokensCli('clear', '--tenant', 'initech').status).toBe(0);
    expect(runTokensCli('clear', '--tenant', 'initech').status).toBe(1);
    await waitUntil(async () => (await get(milton)).status === 200, 'the lifted revocation', 15_000);
  }, 60_000);

  it('DELETE cancels a queued job or deletes a finished one, for its owner only', async () => {
    const owner = bearer(sign({ tenant: 'acme' }, { subject: 'x' }));
    const del = await fetch(`${stack.baseUrl}/v1/jobs/${jobs.acme}`, { method: 'DELETE', headers: owner });
    expect(del.status).toBe(204);
    expect((await fetch(`${stack.baseUrl}/v1/jobs/${jobs.acme}`, { headers: owner })).status).toBe(404);
  });

});
