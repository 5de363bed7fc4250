import { Queue, type ConnectionOptions } from 'bullmq';
import {
  deliveryIdFor,
  QUEUE_PREFIX,
  QUEUES,
  WebhookDeliveryPayload,
  type JobResource,
  type WebhookEventType,
} from '@talkie/contracts';
import { addJob, type AddOptions } from '@talkie/queue';
import { WEBHOOK_RETRY_SCHEDULE, webhookAttempts } from './retry';

/** How long a delivery id is remembered after it was enqueued, so a repeated event is dropped. */
export const DEFAULT_DEDUP_TTL_MS = 48 * 3600_000;

export function createWebhookQueue(connection: ConnectionOptions): Queue<WebhookDeliveryPayload> {
  return new Queue<WebhookDeliveryPayload>(QUEUES.webhooks, { connection, prefix: QUEUE_PREFIX });
}

/**
 * What a delivery adds to the webhook queue's catalogue options (backoff type, retention: see
 * JOB_CATALOGUE): its id, attempts from the retry schedule, and a deduplication key (id only) that
 * outlives the job and keeps duplicates out.
 */
export function webhookJobOptions(deliveryId: string, schedule: readonly number[] = WEBHOOK_RETRY_SCHEDULE, dedupTtlMs = DEFAULT_DEDUP_TTL_MS): AddOptions {
  return {
    jobId: deliveryId,
    attempts: webhookAttempts(schedule),
    deduplication: { id: deliveryId, ttl: dedupTtlMs },
  };
}

export interface JobEvent {
  record: { id: string; tenant: string; webhook_url?: string | null };
  resource: JobResource;
  type: WebhookEventType;
  /** when the job reached the terminal state */
  at: Date;
}

/**
 * Enqueues the delivery of a job's terminal event to its webhook URL. The BullMQ job id is the
 * delivery id (`deliveryIdFor(job, type)`), and a deduplication key outlives the job, so a terminal
 * event reported twice never produces two deliveries. Returns the delivery id, or null when the
 * job has no webhook URL (nothing to do).
 *
 * `schedule` must be the one the dispatcher runs with (WEBHOOK_RETRY_SCHEDULE_MS): it sets the
 * attempts. The dispatcher also never exceeds its own schedule's attempts.
 */
export async function enqueueJobEvent(
  queue: Queue<WebhookDeliveryPayload>,
  event: JobEvent,
  options: { schedule?: readonly number[]; dedupTtlMs?: number } = {},
): Promise<string | null> {
  if (!event.record.webhook_url) return null;
  const payload: WebhookDeliveryPayload = {
    v: 1,
    delivery_id: deliveryIdFor(event.record.id, event.type),
    job_id: event.record.id,
    tenant: event.record.tenant,
    url: event.record.webhook_url,
    event: { type: event.type, timestamp: event.at.toISOString(), data: event.resource },
  };
  // addJob checks the payload against the catalogue's schema; the job's name is the event type
  await addJob(queue, QUEUES.webhooks, payload, { ...webhookJobOptions(payload.delivery_id, options.schedule, options.dedupTtlMs), jobName: event.type });
  return payload.delivery_id;
}

/**
 * The listener a job store runs when a job becomes terminal: queues its webhook event (nothing when
 * the job has no webhook_url). Shared by the worker (completed, failed) and the gateway (canceled).
 * `schedule` is the service's parsed WEBHOOK_RETRY_SCHEDULE_MS (`WebhookRetryEnv`), the dispatcher's.
 */
export function publishTerminalEvents<R extends { id: string; tenant: string; status: string; webhook_url?: string }>(
  queue: Queue<WebhookDeliveryPayload>,
  toResource: (record: R) => JobResource,
  schedule: readonly number[],
): (record: R) => Promise<void> {
  return async (record) => {
    await enqueueJobEvent(
      queue,
      { record: { id: record.id, tenant: record.tenant, webhook_url: record.webhook_url }, resource: toResource(record), type: `job.${record.status}` as WebhookEventType, at: new Date() },
      { schedule },
    );
  };
}
