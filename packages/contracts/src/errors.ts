import { z } from 'zod';

/**
 * One catalogue of error codes, shared by the gateway (HTTP answers) and the worker (failed jobs).
 * Codes are a stable API: never rename one, only add. Messages are safe to show to clients and
 * never carry paths, library messages or stack traces.
 */
export const ERROR_CATALOGUE = {
  // request errors (gateway)
  unauthorized: { status: 401, message: 'Missing or invalid credentials.' },
  // Both only for a token whose signature, issuer and audience checked out: they tell its holder to
  // get a new one, and tell someone without the key nothing.
  token_lifetime_exceeded: { status: 401, message: 'The token lifetime exceeds the maximum (exp minus iat; iat is required).' },
  token_revoked: { status: 401, message: 'The token has been revoked; get a new one.' },
  forbidden: { status: 403, message: 'The credentials lack the permission for this action.' },
  not_found: { status: 404, message: 'No such resource.' },
  route_not_found: { status: 404, message: 'No such route.' },
  method_not_allowed: { status: 405, message: 'Method not allowed on this route.' },
  invalid_request: { status: 400, message: 'The request is malformed.' },
  missing_file: { status: 400, message: 'Send exactly one file in the multipart field "video".' },
  too_many_files: { status: 400, message: 'Send exactly one file in the multipart field "video".' },
  unexpected_field: { status: 400, message: 'Unexpected multipart field.' },
  unsupported_media_type: { status: 415, message: 'The upload is not a supported video container.' },
  payload_too_large: { status: 413, message: 'The upload exceeds the size limit.' },
  rate_limited: { status: 429, message: 'Too many requests; retry later.' },
  too_many_jobs: { status: 429, message: 'Too many jobs in progress for this tenant; retry when some finish.' },
  queue_full: { status: 503, message: 'The service is at capacity; retry later.' },
  insufficient_storage: { status: 507, message: 'The service cannot store uploads right now; retry later.' },
  invalid_webhook_url: { status: 400, message: 'The webhook URL is not allowed: it must be https and resolve only to public addresses.' },
  result_not_ready: { status: 409, message: 'The job has no result: it is not completed.' },
  webhook_secret_missing: { status: 400, message: 'Create a webhook signing secret first (POST /v1/webhooks/secret): Talkie never sends unsigned webhooks.' },
  idempotency_conflict: { status: 409, message: 'This Idempotency-Key was used with a different request.' },
  cors_origin_denied: { status: 403, message: 'This origin is not allowed.' },
  service_unavailable: { status: 503, message: 'The service is temporarily unavailable; retry later.' },
  internal_error: { status: 500, message: 'Internal error.' },
  // job failures (worker): shown in a failed job's `error`
  invalid_media: { status: 422, message: 'The file could not be read as a video.' },
  no_video_stream: { status: 422, message: 'The file has no video stream.' },
  video_too_long: { status: 422, message: 'The video exceeds the duration limit.' },
  too_many_streams: { status: 422, message: 'The file has more streams than allowed.' },
  frame_too_large: { status: 422, message: 'The video frames exceed the size limit.' },
  too_many_frames: { status: 422, message: 'The video has more frames than allowed.' },
  decode_failed: { status: 422, message: 'The video could not be decoded.' },
  no_face_detected: { status: 422, message: 'No face was found in the video, so there are no lips to read.' },
  // issue 17: `face=<index>` asked for a face track the video does not have (see the result's `faces` of a `face=active` run)
  face_not_found: { status: 422, message: 'The video has no face track with the requested index.' },
  timeout: { status: 504, message: 'Processing took longer than allowed.' },
  inference_failed: { status: 500, message: 'The model could not process this video.' },
  upload_missing: { status: 410, message: 'The uploaded file is no longer available.' },
  processing_failed: { status: 500, message: 'Processing failed.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, value);

/**
 * An error that carries a catalogue code. Thrown anywhere in Talkie; the gateway turns it into the
 * JSON error shape, the worker into a failed job. `retryable` tells the worker whether another
 * attempt could succeed (a timeout may; a file that is not a video never will).
 */
export class TalkieError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;

  constructor(code: ErrorCode, options: { message?: string; cause?: unknown; retryable?: boolean } = {}) {
    super(options.message ?? ERROR_CATALOGUE[code].message, { cause: options.cause });
    this.name = 'TalkieError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.retryable = options.retryable ?? false;
  }
}

/** The single JSON shape of every error answer. */
export const ErrorResponse = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CATALOGUE) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    request_id: z.string().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorResponse>;
