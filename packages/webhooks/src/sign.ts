import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export interface SignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** Prefix of Standard Webhooks secrets; the rest is base64 of the key bytes. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** A new signing secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks: 24 to 64 bytes). */
export const generateWebhookSecret = (): string => `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64')}`;

/**
 * Standard Webhooks headers for one delivery attempt, signed with the reference `standardwebhooks`
 * library. `webhook-signature` carries one `v1,<base64 HMAC-SHA256>` per active secret, separated by
 * spaces, so during a rotation receivers holding either the old or the new secret can verify.
 * `body` must be the exact bytes sent. Throws when `secrets` is empty: Talkie never sends unsigned.
 */
export function signatureHeaders(deliveryId: string, timestamp: Date, body: string, secrets: string[]): SignatureHeaders {
  if (secrets.length === 0) throw new Error('no webhook secret to sign with');
  const signatures = secrets.map((secret) => new Webhook(secret).sign(deliveryId, timestamp, body));
  return {
    'webhook-id': deliveryId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
