export { TalkieClient, ALLOWED_EXTENSIONS, VERSION } from './client';
export type { JobList, ListOptions, ResultFormat, ResultOptions, SubmitInput, SubmitOptions, TalkieClientOptions, WaitOptions, WebhookSecret } from './client';
export { TalkieApiError, TalkieConnectionError, TalkieTimeoutError } from './errors';
export { verifyWebhook, WebhookVerificationError } from './webhook';
export type { VerifyWebhookOptions, WebhookHeaders, WebhookVerificationReason } from './webhook';
export { SseParser, readSse } from './sse';
export type { SseEvent } from './sse';
export { backoffDelay, parseRetryAfter } from './backoff';
export type { Alternative, DeliveryAttempt, FaceChoice, FaceRegion, FaceTrackInfo, FaceTrackQuality, JobResource, JobStatus, ResultWarning, Segment, TrackTranscript, TranscriptResult, WarningCode, WebhookEvent } from '@talkie/contracts';
