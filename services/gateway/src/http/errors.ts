import type { ErrorRequestHandler, Request, Response } from 'express';
import { MulterError } from 'multer';
import { ERROR_CATALOGUE, TalkieError, type ErrorBody, type ErrorCode } from '@talkie/contracts';
import { isRedisConnectionError } from '@talkie/queue';

export function sendError(req: Request, res: Response, code: ErrorCode, message?: string): void {
  const body: ErrorBody = {
    error: { code, message: message ?? ERROR_CATALOGUE[code].message, request_id: String(req.id ?? '') },
  };
  res.status(ERROR_CATALOGUE[code].status).json(body);
}

const MULTER_CODES: Record<string, ErrorCode> = {
  LIMIT_FILE_SIZE: 'payload_too_large',
  LIMIT_FILE_COUNT: 'too_many_files',
  LIMIT_UNEXPECTED_FILE: 'unexpected_field',
  LIMIT_PART_COUNT: 'invalid_request',
  LIMIT_FIELD_KEY: 'invalid_request',
  LIMIT_FIELD_VALUE: 'invalid_request',
  LIMIT_FIELD_COUNT: 'invalid_request',
  MISSING_FIELD_NAME: 'invalid_request',
};

/** Maps whatever was thrown to a catalogue code; unknown errors are logged and become a bare 500. */
export function classify(err: unknown): ErrorCode {
  if (err instanceof TalkieError) return err.code;
  if (err instanceof MulterError) return MULTER_CODES[err.code] ?? 'invalid_request';
  const e = err as { type?: string; status?: number; statusCode?: number };
  // body parsers and busboy report malformed input with a 4xx status
  const status = e.status ?? e.statusCode;
  if (status === 413) return 'payload_too_large';
  if (status === 415) return 'unsupported_media_type';
  if (status && status >= 400 && status < 500) return 'invalid_request';
  return 'internal_error';
}

/**
 * The last middleware: every error becomes `{ error: { code, message, request_id } }`. Library
 * messages, stack traces and paths stay in the server log, never in the answer.
 */
export const errorHandler = (redisReady: () => boolean): ErrorRequestHandler => (err, req, res, _next) => {
  let code = classify(err);
  // An unexpected failure while Redis is away is Redis being away: tell clients to come back. A
  // command caught by a dying socket fails before the client's status leaves `ready`, so the
  // error itself is asked too.
  if (code === 'internal_error' && (!redisReady() || isRedisConnectionError(err))) code = 'service_unavailable';
  if (code === 'internal_error' || code === 'service_unavailable') req.log?.error({ err }, 'request failed');
  else req.log?.info({ code }, 'request rejected');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (code === 'service_unavailable' || code === 'queue_full' || code === 'insufficient_storage') res.setHeader('Retry-After', '5');
  // A TalkieError's own message is written by Talkie, never a library's (see errors.ts), and may say
  // more than the catalogue's, such as what to send instead; any other error gets the catalogue's.
  sendError(req, res, code, err instanceof TalkieError && err.code === code ? err.message : undefined);
};
