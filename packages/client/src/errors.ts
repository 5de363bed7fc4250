import type { ErrorCode } from '@talkie/contracts';

/**
 * An error answer from the Talkie API. `code` is the stable code from the body
 * (`{ error: { code, message, request_id } }`); when the answer was not Talkie's JSON error shape
 * (a proxy's 502 page, say) it is `http_<status>`.
 */
export class TalkieApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode | (string & {});
  readonly requestId?: string;
  /** seconds from a `Retry-After` header, when the answer carried one */
  readonly retryAfterS?: number;

  constructor(init: { status: number; code: string; message: string; requestId?: string; retryAfterS?: number }) {
    super(init.message);
    this.name = 'TalkieApiError';
    this.status = init.status;
    this.code = init.code;
    if (init.requestId !== undefined) this.requestId = init.requestId;
    if (init.retryAfterS !== undefined) this.retryAfterS = init.retryAfterS;
  }
}

/** The API could not be reached (DNS, refused or reset connection, …) even after the allowed retries. */
export class TalkieConnectionError extends Error {
  readonly code = 'connection_error';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'TalkieConnectionError';
  }
}

/** `wait()` gave up: the job was not terminal within `timeoutMs`. */
export class TalkieTimeoutError extends Error {
  readonly code = 'wait_timeout';

  constructor(message: string) {
    super(message);
    this.name = 'TalkieTimeoutError';
  }
}
