import { ConfigError } from '@talkie/runtime';
import { loadGatewayConfig } from './config';

const SECRET = 'x'.repeat(32);

describe('gateway configuration', () => {
  it('is safe by default: loopback, no CORS origins, no proxy trusted, API keys on', () => {
    const config = loadGatewayConfig({ JWT_SECRET: SECRET });
    expect(config.HOST).toBe('127.0.0.1');
    expect(config.CORS_ORIGINS).toEqual([]);
    expect(config.TRUST_PROXY).toBe(0);
    expect(config.API_KEYS_ENABLED).toBe(true);
    expect(config.MAX_UPLOAD_BYTES).toBe(50 * 1024 * 1024);
    expect(config.MAX_DURATION_S).toBe(120);
  });

  it('bounds token lifetimes by default: JWT_MAX_TTL_S 24 h (what npm run token issues), at most 30 days; no tenant claim named', () => {
    const config = loadGatewayConfig({ JWT_SECRET: SECRET });
    expect(config.JWT_MAX_TTL_S).toBe(86_400);
    expect(config.JWT_TENANT_CLAIM).toBeUndefined();
    expect(loadGatewayConfig({ JWT_SECRET: SECRET, JWT_MAX_TTL_S: '900' }).JWT_MAX_TTL_S).toBe(900);
    expect(loadGatewayConfig({ JWT_SECRET: SECRET, JWT_MAX_TTL_S: String(30 * 86_400) }).JWT_MAX_TTL_S).toBe(30 * 86_400);
    expect(loadGatewayConfig({ JWT_SECRET: SECRET, JWT_TENANT_CLAIM: 'https://talkie.example/tenant' }).JWT_TENANT_CLAIM).toBe('https://talkie.example/tenant');
    expect(loadGatewayConfig({ JWT_SECRET: SECRET, JWT_TENANT_CLAIM: 'sub' }).JWT_TENANT_CLAIM).toBe('sub');
  });

  it.each([
    [{ CORS_ORIGINS: '*' }, 'CORS_ORIGINS'],
    [{ CORS_ORIGINS: 'https://ok.example,https://bad.example/path' }, 'CORS_ORIGINS'],
    [{ TRUST_PROXY: 'true' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.1,0.0.0.0/0' }, 'TRUST_PROXY'],
    [{ CORS_ORIGINS: 'https://*.example.com' }, 'CORS_ORIGINS'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ JWKS_URL: 'https://id.example/jwks.json' }, 'JWT_SECRET'], // two kinds of key at once
    [{ PORT: 'eighty' }, 'PORT'],
    [{ JWT_MAX_TTL_S: String(30 * 86_400 + 1) }, 'JWT_MAX_TTL_S'], // past 30 days: unbounded in practice
    [{ JWT_MAX_TTL_S: '0' }, 'JWT_MAX_TTL_S'], // no "off"
    [{ JWT_MAX_TTL_S: '24h' }, 'JWT_MAX_TTL_S'],
    [{ JWT_TENANT_CLAIM: 'org id' }, 'JWT_TENANT_CLAIM'],
    [{ JWT_TENANT_CLAIM: 'exp' }, 'JWT_TENANT_CLAIM'],
    [{ JWT_TENANT_CLAIM: 'scope' }, 'JWT_TENANT_CLAIM'],
  ])('refuses %j, naming %s', (env, key) => {
    expect(() => loadGatewayConfig({ JWT_SECRET: SECRET, ...env })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ JWT_SECRET: SECRET, ...env })).toThrow(key);
  });

  it('takes a hop count or a list of proxies for TRUST_PROXY', () => {
    expect(loadGatewayConfig({ JWT_SECRET: SECRET, TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadGatewayConfig({ JWT_SECRET: SECRET, TRUST_PROXY: '10.0.0.0/8, 192.168.1.1' }).TRUST_PROXY).toEqual(['10.0.0.0/8', '192.168.1.1']);
  });

  it('reports every bad key at once', () => {
    try {
      loadGatewayConfig({ JWT_SECRET: 'short', PORT: '-1', TRUST_PROXY: 'yes' });
      throw new Error('should have thrown');
    } catch (err) {
      expect((err as Error).message).toMatch(/JWT_SECRET[\s\S]*PORT|PORT[\s\S]*JWT_SECRET/);
      expect((err as Error).message).toContain('TRUST_PROXY');
    }
  });
});
