import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { deliveryIdFor } from '@talkie/contracts';
import { generateWebhookSecret, signatureHeaders } from './sign';
import { secretsKey, WebhookSecretStore } from './secret-store';

const body = JSON.stringify({ type: 'job.completed', timestamp: '2025-01-01T00:00:00.000Z', data: { id: 'x', text: 'HELLO WORLD' } });
const deliveryId = deliveryIdFor(randomUUID(), 'job.completed');

describe('signatureHeaders (Standard Webhooks)', () => {
  it('produces headers that the reference Webhook.verify accepts, for every active secret', () => {
    const secrets = [generateWebhookSecret(), generateWebhookSecret()];
    const now = new Date();
    const headers = signatureHeaders(deliveryId, now, body, secrets);
    expect(headers['webhook-id']).toBe(deliveryId);
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)));
    const parts = headers['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    for (const part of parts) expect(part).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    for (const secret of secrets) expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('fails verification for a tampered body, a wrong secret, another id, and an old timestamp', () => {
    const secret = generateWebhookSecret();
    const headers = signatureHeaders(deliveryId, new Date(), body, [secret]);
    const wh = new Webhook(secret);
    expect(() => wh.verify(body.replace('HELLO', 'HELLS'), { ...headers })).toThrow(WebhookVerificationError);
    expect(() => new Webhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow(WebhookVerificationError);
    expect(() => wh.verify(body, { ...headers, 'webhook-id': deliveryIdFor(randomUUID(), 'job.failed') })).toThrow(WebhookVerificationError);

    const old = signatureHeaders(deliveryId, new Date(Date.now() - 6 * 60_000), body, [secret]);
    expect(() => wh.verify(body, { ...old })).toThrow(/too old/);
    // the signature covers the timestamp: moving it forward breaks the signature
    expect(() => wh.verify(body, { ...old, 'webhook-timestamp': headers['webhook-timestamp'] })).toThrow(/No matching signature/);
  });

  it('refuses to sign without a secret', () => {
    expect(() => signatureHeaders(deliveryId, new Date(), body, [])).toThrow(/no webhook secret/);
  });

  it('makes whsec_ secrets of 32 random bytes', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });
});

describe('WebhookSecretStore', () => {
  const redis = new Redis('redis://127.0.0.1:6379/0', { maxRetriesPerRequest: 1 });
  const tenants: string[] = [];
  const tenant = () => {
    const t = `webhook-test-${randomUUID()}`;
    tenants.push(t);
    return t;
  };
  afterAll(async () => {
    if (tenants.length) await redis.del(...tenants.map(secretsKey));
    redis.disconnect();
  });

  it('rotates with an overlap: old and new both sign until the overlap ends', async () => {
    let clock = Date.parse('2025-06-01T12:00:00Z');
    const store = new WebhookSecretStore(redis, { overlapMs: 60_000, now: () => new Date(clock) });
    const t = tenant();
    expect(await store.active(t)).toEqual([]);

    const first = await store.rotate(t);
    expect(first).toMatch(/^whsec_/);
    expect(await store.active(t)).toEqual([first]);

    clock += 10_000;
    const second = await store.rotate(t);
    expect(await store.active(t)).toEqual([second, first]);

    // both verify one delivery signed with the active set
    const headers = signatureHeaders(deliveryId, new Date(), body, await store.active(t));
    expect(new Webhook(first).verify(body, { ...headers })).toBeTruthy();
    expect(new Webhook(second).verify(body, { ...headers })).toBeTruthy();

    clock += 59_999;
    expect(await store.active(t)).toEqual([second, first]);
    clock += 1;
    expect(await store.active(t)).toEqual([second]);
    expect(await redis.zcard(secretsKey(t))).toBe(1); // pruned, not just hidden

    // the current secret never expires on its own
    clock += 365 * 24 * 3600_000;
    expect(await store.active(t)).toEqual([second]);
  });

  it('keeps newest first across several rotations within the overlap, and caps the set', async () => {
    let clock = 1_000_000;
    const store = new WebhookSecretStore(redis, { overlapMs: 3600_000, now: () => new Date(clock) });
    const t = tenant();
    const made: string[] = [];
    for (let i = 0; i < 12; i++) {
      made.push(await store.rotate(t));
      clock += 1_000;
    }
    const active = await store.active(t);
    expect(active).toHaveLength(10);
    expect(active).toEqual(made.slice(-10).reverse());
  });

  it('endOverlap leaves only the current secret; revoke leaves none', async () => {
    const store = new WebhookSecretStore(redis, { overlapMs: 3600_000 });
    const t = tenant();
    await store.rotate(t);
    const current = await store.rotate(t);
    expect(await store.active(t)).toHaveLength(2);
    await store.endOverlap(t);
    expect(await store.active(t)).toEqual([current]);
    await store.revoke(t);
    expect(await store.active(t)).toEqual([]);
  });

  it('with no overlap, the previous secret stops at once', async () => {
    const store = new WebhookSecretStore(redis, { overlapMs: 0 });
    const t = tenant();
    await store.rotate(t);
    const current = await store.rotate(t);
    expect(await store.active(t)).toEqual([current]);
  });
});
