import { ConfigError } from '@talkie/runtime';
import { tokenSpec, ttlSeconds } from './token-claims';

const request = { sub: 'alice', scope: 'jobs:read jobs:write', ttl: '24h' };

describe('npm run token: what it signs', () => {
  it('issues 24 h by default, within the gateway default JWT_MAX_TTL_S, and never more than JWT_MAX_TTL_S', () => {
    expect(tokenSpec(request, {})).toEqual({ claims: { scope: 'jobs:read jobs:write' }, expiresInS: 86_400 });
    expect(() => tokenSpec({ ...request, ttl: '7d' }, {})).toThrow(/exceeds JWT_MAX_TTL_S \(86400 s\)/);
    expect(() => tokenSpec(request, { JWT_MAX_TTL_S: '3600' })).toThrow(/exceeds JWT_MAX_TTL_S \(3600 s\)/);
    expect(tokenSpec({ ...request, ttl: '7d' }, { JWT_MAX_TTL_S: String(7 * 86_400) }).expiresInS).toBe(7 * 86_400);
    expect(() => tokenSpec(request, { JWT_MAX_TTL_S: 'forever' })).toThrow(ConfigError);
  });

  it('reads --ttl as seconds or s/m/h/d spans, and nothing vaguer', () => {
    expect([ttlSeconds('90'), ttlSeconds('90s'), ttlSeconds('30m'), ttlSeconds('2h'), ttlSeconds('1d')]).toEqual([90, 90, 1800, 7200, 86_400]);
    for (const bad of ['1.5h', '2 days', '-1', '0', 'soon']) expect(() => ttlSeconds(bad)).toThrow(/--ttl/);
  });

  it('puts --tenant in the claim JWT_TENANT_CLAIM names, and requires it then', () => {
    expect(tokenSpec({ ...request, tenant: 'acme' }, {}).claims).toEqual({ scope: 'jobs:read jobs:write', tenant: 'acme' });
    expect(tokenSpec({ ...request, tenant: 'acme' }, { JWT_TENANT_CLAIM: 'org_id' }).claims).toEqual({ scope: 'jobs:read jobs:write', org_id: 'acme' });
    expect(() => tokenSpec(request, { JWT_TENANT_CLAIM: 'org_id' })).toThrow(/--tenant is required/);
    expect(tokenSpec(request, { JWT_TENANT_CLAIM: 'sub' }).claims).toEqual({ scope: 'jobs:read jobs:write' });
    expect(() => tokenSpec({ ...request, tenant: 'acme' }, { JWT_TENANT_CLAIM: 'sub' })).toThrow(/leave out --tenant/);
  });
});
