/**
 * One catalogue of error codes, shared by the gateway (HTTP answers) and the worker (failed jobs).
 * Codes are a stable API: never rename one, only add. Messages are safe to show to clients and
 * never carry paths, library messages or stack traces.
 */
export const ERROR_CATALOGUE = {
  // request errors (gateway)
  unauthorized: { status: 401, message: 'Missing or invalid credentials.' },
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
  service_unavailable: { status: 503, message: 'The service is temporarily unavailable; retry later.' },
  internal_error: { status: 500, message: 'Internal error.' },
  // job failures (worker): shown in a failed job's `error`
  invalid_media: { status: 422, message: 'The file could not be read as a video.' },
  no_video_stream: { status: 422, message: 'The file has no video stream.' },
  video_too_long: { status: 422, message: 'The video exceeds the duration limit.' },
  decode_failed: { status: 422, message: 'The video could not be decoded.' },
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
export interface ErrorBody {
  error: { code: ErrorCode; message: string; request_id?: string };
}
