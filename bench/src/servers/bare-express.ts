import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Redis } from 'ioredis';
import jwt from 'jsonwebtoken';

/**
 * Baseline of the throughput row: express 5 and one handler answering a small JSON, nothing else
 * (no auth, no Redis, no logging): what the machine and the framework can do at best.
 *
 * VARIANT adds the gateway's costs one at a time, to explain the gap rather than only measure it:
 * `jwt` verifies the bearer token as the gateway does (jsonwebtoken, HS256); `jwt-redis` also reads
 * the job record with one HGETALL.
 */
const variant = process.env.VARIANT ?? 'bare';
const app = express();
const body = { id: '6f1c2b8e-3a4d-4e5f-9a0b-1c2d3e4f5a6b', status: 'queued', progress: 0, created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:01.000Z' };
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
if (variant !== 'bare') {
  const key = Buffer.from(process.env.JWT_SECRET!, 'utf8');
  app.use('/v1', (req: Request, res: Response, next: NextFunction) => {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    try {
      jwt.verify(match?.[1] ?? '', key, { algorithms: ['HS256'], clockTolerance: 30 });
      next();
    } catch {
      res.status(401).json({ error: { code: 'unauthorized' } });
    }
  });
}
const redis = variant === 'jwt-redis' ? new Redis(process.env.REDIS_URL!) : undefined;
app.get('/v1/jobs/:id', async (req: Request<{ id: string }>, res: Response) => {
  if (redis) {
    const hash = await redis.hgetall(`talkie:job:${req.params.id}`);
    res.json({ id: hash.id, status: hash.status, progress: Number(hash.progress), created_at: hash.created_at, updated_at: hash.updated_at });
    return;
  }
  res.json(body);
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`bare express (${variant}) listening on ${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => {
  redis?.disconnect();
  server.close(() => process.exit(0));
});
