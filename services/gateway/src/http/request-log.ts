import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '@talkie/runtime';
import { requestId } from './request-id';

declare module 'http' {
  interface IncomingMessage {
    id: string;
    /** this request's logger: bound to its id, method and path (never the query string) */
    log: Logger;
  }
}

/**
 * Gives each request an id (`X-Request-Id`) and a logger, and logs one line when it ends: 5xx as
 * errors, 4xx and requests the client abandoned at info, the rest at debug. pino-http did this, but it serialises every request into a
 * child logger up front, even when nothing will be logged (a 2xx at info level): about 8% of the
 * gateway's CPU on status polls. Here the child logger is made the first time something logs.
 *
 * Only method, path and status are logged: never bodies, filenames, credential headers, or the query
 * string (a client may put a token there even though one is never accepted).
 */
export function requestLog(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    req.id = requestId(req, res);
    let child: Logger | undefined;
    Object.defineProperty(req, 'log', {
      configurable: true,
      get: () => (child ??= logger.child({ req: { id: req.id, method: req.method, path: req.originalUrl.split('?')[0] } })),
    });
    const done = () => {
      res.off('finish', done);
      res.off('close', done);
      const status = res.statusCode;
      // a client that hangs up (an SSE stream closed by its reader) is no server error
      const level = status >= 500 ? 'error' : status >= 400 || !res.writableFinished ? 'info' : 'debug';
      if (!logger.isLevelEnabled(level)) return;
      const responseTime = Math.round(performance.now() - started);
      req.log[level]({ res: { statusCode: status }, responseTime }, res.writableFinished ? 'request completed' : 'request aborted');
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
