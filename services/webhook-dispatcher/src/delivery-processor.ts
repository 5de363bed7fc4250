import { UnrecoverableError, type Job } from 'bullmq';
import { WebhookDeliveryPayload, type DeliveryAttempt } from '@talkie/contracts';
import type { GiveUpReason } from '@talkie/queue';
import type { Logger } from '@talkie/runtime';
import {
  parseWebhookUrl,
  postWebhook,
  signatureHeaders,
  webhookAttempts,
  type DeliveryError,
  type DeliveryLog,
  type DeliveryResult,
  type DisabledEndpoints,
  type PostWebhookOptions,
  type WebhookSecretStore,
  WebhookUrlRefusal,
} from '@talkie/webhooks';

/** Thrown on the last allowed attempt of a retryable failure: no retry left, count a dead letter. */
export class DeadLetterError extends UnrecoverableError {
  constructor(message: string) {
    super(message);
    this.name = 'DeadLetterError';
  }
}

export interface DeliveryDeps {
  secrets: Pick<WebhookSecretStore, 'active'>;
  log: DeliveryLog;
  disabled: DisabledEndpoints;
  logger: Logger;
  /** the dispatcher's retry schedule: it never makes more attempts than this allows */
  schedule: readonly number[];
  http: Pick<PostWebhookOptions, 'allowPrivate' | 'timeoutMs' | 'maxResponseBytes'>;
  post?: typeof postWebhook;
  now?: () => Date;
}

/** Talkie's words for a failed attempt, as GET /v1/jobs/{id}/deliveries shows them. */
const ERROR_WORDS: Record<DeliveryError, string> = {
  timeout: 'timeout',
  connection_refused: 'connection refused',
  address_not_allowed: 'address not allowed',
  tls_error: 'tls error',
  network_error: 'network error',
};

type Verdict = 'delivered' | 'retry' | 'stop' | 'gone' | 'refused';

/**
 * What an answer means. 2xx: delivered. Timeouts, network and TLS errors, 5xx, 408 and 429: retry
 * later. 410: the receiver retired the endpoint. Any other status (other 4xx; also 3xx, as
 * redirects are never followed, and a retry would get the same redirect): stop.
 */
export function verdictOf(result: DeliveryResult): Verdict {
  if (result.error === 'address_not_allowed') return 'refused';
  if (result.error) return 'retry';
  const status = result.status ?? 0;
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 410) return 'gone';
  if (status >= 500 || status === 408 || status === 429) return 'retry';
  return 'stop';
}

/** Only scheme, host and port: paths and queries may carry the integrator's tokens. */
const origin = (url: string) => {
  try {
    return new URL(url).origin;
  } catch {
    return 'unparseable';
  }
};

/**
 * One delivery attempt of a `webhooks` queue job. Every attempt, whatever its end, is recorded in
 * the DeliveryLog; the payload (it holds the transcript) and the secrets are never logged.
 *
 * A tenant without any secret gets no delivery: Talkie never sends unsigned webhooks (receivers
 * could not tell them from forgeries), and the attempt is recorded as `refused`, "no webhook
 * secret", without retries. The gateway should require a secret before accepting a webhook_url.
 */
export class DeliveryProcessor {
  private readonly post: typeof postWebhook;
  private readonly now: () => Date;

  constructor(private readonly deps: DeliveryDeps) {
    this.post = deps.post ?? postWebhook;
    this.now = deps.now ?? (() => new Date());
  }

  /** Attempts this job may make: its own setting, capped by the dispatcher's schedule. */
  maxAttempts(job: Job): number {
    return Math.max(1, Math.min(job.opts.attempts ?? 1, webhookAttempts(this.deps.schedule)));
  }

  async process(job: Job): Promise<'delivered'> {
    const parsed = WebhookDeliveryPayload.safeParse(job.data);
    if (!parsed.success) {
      this.deps.logger.error({ bullmq_id: job.id }, 'malformed webhook delivery dropped');
      throw new UnrecoverableError('malformed delivery payload');
    }
    const payload = parsed.data;
    const attempt = job.attemptsMade + 1;
    const last = attempt >= this.maxAttempts(job);
    const at = this.now();
    const record = (fields: Pick<DeliveryAttempt, 'outcome'> & Partial<Pick<DeliveryAttempt, 'status_code' | 'error' | 'duration_ms'>>) => {
      const entry: DeliveryAttempt = {
        delivery_id: payload.delivery_id,
        event_type: payload.event.type,
        attempt,
        at: at.toISOString(),
        duration_ms: 0,
        ...fields,
      };
      this.deps.logger.info(
        {
          delivery_id: payload.delivery_id,
          job_id: payload.job_id,
          event_type: payload.event.type,
          attempt,
          outcome: entry.outcome,
          status_code: entry.status_code,
          error: entry.error,
          duration_ms: entry.duration_ms,
          endpoint: origin(payload.url),
        },
        'webhook attempt',
      );
      return this.deps.log.record(payload.job_id, entry);
    };

    if (await this.deps.disabled.isDisabled(payload.tenant, payload.url)) {
      await record({ outcome: 'endpoint_disabled', error: 'endpoint disabled (410 Gone)' });
      throw new UnrecoverableError('endpoint disabled');
    }
    // The URL was checked when the job was submitted; rules or settings may have changed since.
    // The address check itself runs inside postWebhook, on the very addresses it connects to.
    try {
      parseWebhookUrl(payload.url, { allowPrivate: this.deps.http.allowPrivate });
    } catch (err) {
      // a literal address is judged right here; a name is resolved and judged by postWebhook
      const error = err instanceof WebhookUrlRefusal && err.reason.startsWith('address:') ? 'address not allowed' : 'url not allowed';
      await record({ outcome: 'refused', error });
      throw new UnrecoverableError(error);
    }
    const secrets = await this.deps.secrets.active(payload.tenant);
    if (secrets.length === 0) {
      await record({ outcome: 'refused', error: 'no webhook secret' });
      throw new UnrecoverableError('no webhook secret');
    }

    const body = JSON.stringify(payload.event);
    const headers = {
      ...signatureHeaders(payload.delivery_id, at, body, secrets),
      'content-type': 'application/json',
      'user-agent': 'Talkie-Webhooks/1',
    };
    const result = await this.post(payload.url, body, headers, { ...this.deps.http });
    const common = { duration_ms: result.durationMs, ...(result.status !== undefined ? { status_code: result.status } : {}) };
    const words = result.error ? ERROR_WORDS[result.error] : undefined;

    switch (verdictOf(result)) {
      case 'delivered':
        await record({ outcome: 'delivered', ...common });
        return 'delivered';
      case 'gone':
        await this.deps.disabled.disable(payload.tenant, payload.url);
        await record({ outcome: 'endpoint_disabled', ...common, error: 'receiver answered 410 Gone; endpoint disabled' });
        throw new UnrecoverableError('endpoint gone');
      case 'refused':
        await record({ outcome: 'refused', ...common, error: words });
        throw new UnrecoverableError('address not allowed');
      case 'stop':
        await record({ outcome: 'failed', ...common, error: `receiver answered ${result.status}` });
        throw new UnrecoverableError(`receiver answered ${result.status}`);
      case 'retry': {
        const why = words ?? `receiver answered ${result.status}`;
        if (last) {
          await record({ outcome: 'dead_letter', ...common, error: why });
          throw new DeadLetterError(`${why}; no attempt left`);
        }
        await record({ outcome: 'retrying', ...common, error: why });
        throw new Error(why);
      }
    }
  }

  /**
   * BullMQ gave up on a delivery (the QueueHost's `onGiveUp`, with the reason from BullMQ's state).
   * A delivery whose attempts ran out is a dead letter: counted once. The processor records the
   * last attempt as `dead_letter` itself (DeadLetterError); a job that BullMQ fails without the
   * processor's say (stalled too often, or an internal error on its last attempt) gets that record
   * here. Any other UnrecoverableError (a 4xx, a refused address) was recorded as it happened.
   */
  async onGiveUp(job: Job<unknown>, err: Error, reason: GiveUpReason): Promise<void> {
    if (err instanceof DeadLetterError || err.name === 'DeadLetterError') {
      await this.deps.log.countDeadLetter();
      this.deps.logger.warn({ delivery_id: job.id, attempts: job.attemptsMade }, 'webhook delivery dead-lettered');
      return;
    }
    if (reason === 'unrecoverable') return;
    const parsed = WebhookDeliveryPayload.safeParse(job.data);
    if (parsed.success) {
      await this.deps.log.record(parsed.data.job_id, {
        delivery_id: parsed.data.delivery_id,
        event_type: parsed.data.event.type,
        attempt: Math.max(1, job.attemptsMade),
        at: this.now().toISOString(),
        outcome: 'dead_letter',
        error: reason === 'stalled' ? 'dispatcher stopped during delivery' : 'internal error',
        duration_ms: 0,
      });
    }
    await this.deps.log.countDeadLetter();
    this.deps.logger.warn({ delivery_id: job.id, attempts: job.attemptsMade, reason }, 'webhook delivery dead-lettered');
  }
}
