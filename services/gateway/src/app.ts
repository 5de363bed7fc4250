import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import { pinoHttp } from 'pino-http';
import type { Logger } from '@talkie/runtime';
import type { BlobStorage } from '@talkie/storage';
import type { JobStore } from '@talkie/queue';
import type { Queue } from 'bullmq';
import type { TranscribePayload } from '@talkie/contracts';
import { requireJwt } from './auth/jwt';
import { errorHandler, sendError } from './http/errors';
import { requestId } from './http/request-id';
import { healthRoutes } from './routes/health';
import { jobRoutes } from './routes/jobs';

export interface AppDeps {
  logger: Logger;
  redis: Redis;
  storage: BlobStorage;
  store: JobStore;
  queue: Queue<TranscribePayload>;
  jwtSecret: string;
  maxUploadBytes: number;
}

/**
 * The HTTP surface. It authenticates, validates, stores and enqueues; it never decodes video or
 * runs a model, so its event loop stays free whatever the workers are doing.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: requestId,
      // Only method, path and status: never bodies, filenames, headers with credentials, or the
      // query string (a client may put a token there even though it is never accepted).
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, path: req.url.split('?')[0] }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug'),
    }),
  );
  app.use(helmet());
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  app.use(healthRoutes({ redis: deps.redis, storage: deps.storage }));
  app.use('/v1', requireJwt(deps.jwtSecret));
  app.use('/v1/jobs', jobRoutes(deps));

  app.use((req, res) => sendError(req, res, 'route_not_found'));
  app.use(errorHandler);
  return app;
}
