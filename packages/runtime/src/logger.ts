import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths never written to logs at any level: credentials and anything a client uploaded. Transcripts
 * are not in this list because they are never passed to the logger in the first place.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'authorization',
  'token',
  'secret',
  '*.token',
  '*.secret',
];

/** `destination`: where lines go (stdout unless given; tests pass a collector) */
export function createLogger(options: { service: string; level?: string }, destination?: pino.DestinationStream): Logger {
  const settings: pino.LoggerOptions = {
    name: options.service,
    level: options.level ?? 'info',
    base: { service: options.service, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(settings, destination) : pino(settings);
}
