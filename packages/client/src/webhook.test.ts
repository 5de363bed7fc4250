import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook, WebhookVerificationError } from './webhook';

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;

const EVENT = {
  type: 'job.completed',
  timestamp: '2026-03-01T12:00:00.000Z',
  data: {
    id: '0b6f2a4e-8d7c-4f5e-9a3b-2c1d0e9f8a7b',
    status: 'completed',
    progress: 100,
    created_at: '2026-03-01T11:59:50.000Z',
    updated_at: '2026-03-01T12:00:00.000Z',
    result: { text: 'HELLO', segments: [{ start: 0, end: 0.4, text: 'HELLO' }], duration_s: 0.4, frames: 10, model: { name: 'demo', version: '1' } },
  },
};
const BODY = JSON.stringify(EVENT);
const NOW = new Date('2026-03-01T12:00:05Z');
const MSG_ID = 'msg_0b6f2a4e8d7c4f5e9a3b2c1d0e9f8a7b_completed';

/** Headers as Talkie sends them: one `v1,` signature per active secret, space-separated. */
function signed(secrets: string[], options: { at?: Date; body?: string } = {}): Record<string, string> {
  const at = options.at ?? NOW;
  return {
    'webhook-id': MSG_ID,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((s) => new Webhook(s).sign(MSG_ID, at, options.body ?? BODY)).join(' '),
  };
}

const reason = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookVerificationError);
    return (err as WebhookVerificationError).reason;
  }
  throw new Error('did not throw');
};

describe('verifyWebhook', () => {
  const current = secret();

  it('returns the validated event for a good signature (string or Buffer body, record or Headers)', () => {
    expect(verifyWebhook(signed([current]), BODY, current, { now: NOW })).toEqual(EVENT);
    expect(verifyWebhook(signed([current]), Buffer.from(BODY), [current], { now: NOW })).toEqual(EVENT);
    expect(verifyWebhook(new Headers(signed([current])), BODY, current, { now: NOW })).toEqual(EVENT);
  });

  it('reads header names in any case, as some frameworks pass them', () => {
    const h = signed([current]);
    const upper = { 'Webhook-Id': h['webhook-id'], 'WEBHOOK-TIMESTAMP': h['webhook-timestamp'], 'Webhook-Signature': h['webhook-signature'] };
    expect(verifyWebhook(upper, BODY, current, { now: NOW }).type).toBe('job.completed');
  });

  it('uses the real clock by default', () => {
    const at = new Date();
    expect(verifyWebhook(signed([current], { at }), BODY, current).data.id).toBe(EVENT.data.id);
  });

  it('refuses a tampered body', () => {
    const tampered = BODY.replace('HELLO', 'HELLX');
    expect(reason(() => verifyWebhook(signed([current]), tampered, current, { now: NOW }))).toBe('no_matching_signature');
  });

  it('refuses a signature made with an unknown secret', () => {
    expect(reason(() => verifyWebhook(signed([secret()]), BODY, current, { now: NOW }))).toBe('no_matching_signature');
  });

  it('refuses a changed webhook-id or timestamp (both are signed)', () => {
    const h = signed([current]);
    expect(reason(() => verifyWebhook({ ...h, 'webhook-id': 'msg_other' }, BODY, current, { now: NOW }))).toBe('no_matching_signature');
    expect(reason(() => verifyWebhook({ ...h, 'webhook-timestamp': String(Number(h['webhook-timestamp']) - 1) }, BODY, current, { now: NOW }))).toBe(
      'no_matching_signature',
    );
  });

  it('refuses an old timestamp (a replay) and one from the future, with the default 5 minute tolerance', () => {
    const old = signed([current], { at: new Date(NOW.getTime() - 301_000) });
    expect(reason(() => verifyWebhook(old, BODY, current, { now: NOW }))).toBe('timestamp_out_of_tolerance');
    const future = signed([current], { at: new Date(NOW.getTime() + 301_000) });
    expect(reason(() => verifyWebhook(future, BODY, current, { now: NOW }))).toBe('timestamp_out_of_tolerance');
    const edge = signed([current], { at: new Date(NOW.getTime() - 300_000) });
    expect(verifyWebhook(edge, BODY, current, { now: NOW }).type).toBe('job.completed');
  });

  it('honours toleranceS', () => {
    const h = signed([current], { at: new Date(NOW.getTime() - 60_000) });
    expect(reason(() => verifyWebhook(h, BODY, current, { now: NOW, toleranceS: 30 }))).toBe('timestamp_out_of_tolerance');
    expect(verifyWebhook(h, BODY, current, { now: NOW, toleranceS: 90 }).type).toBe('job.completed');
  });

  describe('secret rotation', () => {
    const previous = secret();
    const next = secret();

    it('accepts a message signed with both secrets, whichever one the receiver knows', () => {
      const both = signed([next, previous]);
      expect(both['webhook-signature'].split(' ')).toHaveLength(2);
      expect(verifyWebhook(both, BODY, previous, { now: NOW }).type).toBe('job.completed');
      expect(verifyWebhook(both, BODY, next, { now: NOW }).type).toBe('job.completed');
    });

    it('accepts a message signed with the second of the receiver\'s secrets', () => {
      expect(verifyWebhook(signed([next]), BODY, [previous, next], { now: NOW }).type).toBe('job.completed');
      expect(verifyWebhook(signed([previous]), BODY, [next, previous], { now: NOW }).type).toBe('job.completed');
    });

    it('refuses when none of the receiver\'s secrets signed it', () => {
      expect(reason(() => verifyWebhook(signed([secret()]), BODY, [previous, next], { now: NOW }))).toBe('no_matching_signature');
    });

    it('reads the signature header when it arrives as several values', () => {
      const h = signed([next]);
      const split = { ...h, 'webhook-signature': [new Webhook(previous).sign(MSG_ID, NOW, BODY), h['webhook-signature']] };
      expect(verifyWebhook(split, BODY, next, { now: NOW }).type).toBe('job.completed');
    });

    it('skips signatures of other versions', () => {
      const h = signed([current]);
      const mixed = { ...h, 'webhook-signature': `v1a,${randomBytes(32).toString('base64')} ${h['webhook-signature']}` };
      expect(verifyWebhook(mixed, BODY, current, { now: NOW }).type).toBe('job.completed');
      const onlyOther = { ...h, 'webhook-signature': h['webhook-signature'].replace('v1,', 'v2,') };
      expect(reason(() => verifyWebhook(onlyOther, BODY, current, { now: NOW }))).toBe('no_matching_signature');
    });
  });

  it('refuses a request missing any of the three headers', () => {
    const h = signed([current]);
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const { [name]: _dropped, ...rest } = h;
      expect(reason(() => verifyWebhook(rest, BODY, current, { now: NOW }))).toBe('missing_header');
    }
    expect(reason(() => verifyWebhook({ ...h, 'webhook-signature': undefined }, BODY, current, { now: NOW }))).toBe('missing_header');
  });

  it('refuses a timestamp that is not a number', () => {
    expect(reason(() => verifyWebhook({ ...signed([current]), 'webhook-timestamp': '2026-03-01T12:00:00Z' }, BODY, current, { now: NOW }))).toBe('invalid_timestamp');
  });

  it('refuses a correctly signed body that is not a Talkie event', () => {
    const body = JSON.stringify({ type: 'job.exploded', data: {} });
    expect(reason(() => verifyWebhook(signed([current], { body }), body, current, { now: NOW }))).toBe('invalid_payload');
    expect(reason(() => verifyWebhook(signed([current], { body: 'not json' }), 'not json', current, { now: NOW }))).toBe('invalid_payload');
  });

  it('needs at least one secret', () => {
    expect(() => verifyWebhook(signed([current]), BODY, [], { now: NOW })).toThrow(TypeError);
  });
});
