import { z } from 'zod';
import { TenantId } from './auth';
import { JobId, JobResource } from './job';

export const WEBHOOK_EVENT_TYPES = ['job.completed', 'job.failed', 'job.canceled'] as const;
export const WebhookEventType = z.enum(WEBHOOK_EVENT_TYPES);
export type WebhookEventType = z.infer<typeof WebhookEventType>;

/** The body POSTed to a job's `webhook_url` when it reaches a terminal state. */
export const WebhookEvent = z.object({
  type: WebhookEventType,
  /** when the event happened, ISO 8601 */
  timestamp: z.iso.datetime(),
  data: JobResource,
});
export type WebhookEvent = z.infer<typeof WebhookEvent>;

/**
 * Payload of a `webhooks` queue job. `delivery_id` is the Standard Webhooks `webhook-id`: one per
 * job and event type, the same across retries, so receivers can deduplicate.
 */
export const WebhookDeliveryPayload = z.object({
  v: z.literal(1),
  delivery_id: z.string().regex(/^msg_[A-Za-z0-9_-]+$/),
  job_id: JobId,
  tenant: TenantId,
  url: z.url(),
  event: WebhookEvent,
});
export type WebhookDeliveryPayload = z.infer<typeof WebhookDeliveryPayload>;

export const deliveryIdFor = (jobId: string, type: WebhookEventType): string => `msg_${jobId.replace(/-/g, '')}_${type.split('.')[1]}`;

/** One delivery attempt, as shown by `GET /v1/jobs/{id}/deliveries`. The receiver's answer body is never kept. */
export const DeliveryAttempt = z.object({
  delivery_id: z.string(),
  event_type: WebhookEventType,
  attempt: z.number().int().positive(),
  at: z.iso.datetime(),
  outcome: z.enum(['delivered', 'retrying', 'failed', 'dead_letter', 'endpoint_disabled', 'refused']),
  /** HTTP status of the receiver's answer, when there was one */
  status_code: z.number().int().optional(),
  /** why the attempt failed, in Talkie's words (e.g. "timeout", "connection refused", "address not allowed") */
  error: z.string().optional(),
  duration_ms: z.number().nonnegative(),
});
export type DeliveryAttempt = z.infer<typeof DeliveryAttempt>;


