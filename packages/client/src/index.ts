export { TalkieClient, ALLOWED_EXTENSIONS, VERSION } from './client';
export type { JobList, ListOptions, ResultFormat, SubmitInput, SubmitOptions, TalkieClientOptions, WaitOptions, WebhookSecret } from './client';
export { TalkieApiError, TalkieConnectionError, TalkieTimeoutError } from './errors';
export { verifyWebhook, WebhookVerificationError } from './webhook';
export type { VerifyWebhookOptions, WebhookHeaders, WebhookVerificationReason } from './webhook';
export { SseParser, readSse } from './sse';
export type { SseEvent } from './sse';
export { backoffDelay, parseRetryAfter } from './backoff';
export type { DeliveryAttempt, JobResource, JobStatus, TranscriptResult, WebhookEvent } from '@talkie/contracts';
