import { timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { WebhookEvent } from '@talkie/contracts';

export type WebhookVerificationReason = 'missing_header' | 'invalid_timestamp' | 'timestamp_out_of_tolerance' | 'no_matching_signature' | 'invalid_payload';

/** The request is not a genuine, fresh Talkie webhook: answer it with 400 and do not act on it. */
export class WebhookVerificationError extends Error {
  readonly reason: WebhookVerificationReason;

  constructor(reason: WebhookVerificationReason, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

export interface VerifyWebhookOptions {
  /** how far the `webhook-timestamp` may be from `now`, either way (default 300 s) */
  toleranceS?: number;
  /** the clock to check the timestamp against (default: the current time) */
  now?: Date;
}

/** Node's `req.headers`, a fetch `Headers`, or any object holding the three Standard Webhooks headers. */
export type WebhookHeaders =
  | Record<string, string | string[] | undefined>
  | Headers
  | Partial<Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string>>;

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).forEach === 'function') {
    return (headers as Headers).get(name) ?? undefined;
  }
  // Node's IncomingMessage.headers are lower-case already; a plain object from elsewhere may not be
  const values: string[] = [];
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    values.push(...(Array.isArray(value) ? value : [value]));
  }
  // a header sent twice is one list; for the signature header, a space-separated one
  return values.length ? values.join(name === 'webhook-signature' ? ' ' : ', ') : undefined;
}

/**
 * Verifies a webhook request from Talkie, as the Standard Webhooks specification describes it, and
 * returns its event. Pass the body exactly as received (the raw bytes or their text, before any JSON
 * parsing) and every secret that is currently valid: while a secret is being rotated Talkie signs with
 * both, and any one of them may match. Throws {@link WebhookVerificationError} on a missing header, a
 * timestamp outside the tolerance (replays), or no matching signature.
 */
export function verifyWebhook(headers: WebhookHeaders, body: string | Buffer | Uint8Array, secrets: string | string[], options: VerifyWebhookOptions = {}): WebhookEvent {
  const list = (Array.isArray(secrets) ? secrets : [secrets]).filter((s) => typeof s === 'string' && s.length > 0);
  if (list.length === 0) throw new TypeError('verifyWebhook needs at least one secret');
  const signers = list.map((secret) => new Webhook(secret));

  const id = header(headers, 'webhook-id');
  const timestampHeader = header(headers, 'webhook-timestamp');
  const signatureHeader = header(headers, 'webhook-signature');
  if (!id || !timestampHeader || !signatureHeader) {
    const missing = [!id && 'webhook-id', !timestampHeader && 'webhook-timestamp', !signatureHeader && 'webhook-signature'].filter(Boolean);
    throw new WebhookVerificationError('missing_header', `Missing header: ${missing.join(', ')}`);
  }

  if (!/^\d{1,12}$/.test(timestampHeader.trim())) throw new WebhookVerificationError('invalid_timestamp', 'Invalid webhook-timestamp');
  const timestampS = Number(timestampHeader.trim());
  const nowS = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const toleranceS = options.toleranceS ?? 300;
  if (Math.abs(nowS - timestampS) > toleranceS) {
    throw new WebhookVerificationError('timestamp_out_of_tolerance', nowS > timestampS ? 'Message timestamp too old' : 'Message timestamp too new');
  }

  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const given = signatureHeader
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3)));
  // `Webhook.verify` checks the timestamp against the real clock with a fixed 5 minute window, so it
  // could not honour `now` and `toleranceS`: the timestamp is checked above, and each secret's
  // expected signature comes from the same library's `sign`, compared in constant time.
  const timestamp = new Date(timestampS * 1000);
  const matched = signers.some((signer) => {
    const expected = Buffer.from(signer.sign(id, timestamp, text).slice(3));
    return given.some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected));
  });
  if (!matched) throw new WebhookVerificationError('no_matching_signature', 'No matching signature found');

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebhookVerificationError('invalid_payload', 'The signed body is not JSON');
  }
  const event = WebhookEvent.safeParse(json);
  if (!event.success) throw new WebhookVerificationError('invalid_payload', 'The signed body is not a Talkie webhook event');
  return event.data;
}
