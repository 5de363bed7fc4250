import { Router } from 'express';
import type { Redis } from 'ioredis';
import type { BlobStorage } from '@talkie/storage';

/** `/healthz`: the process answers. `/readyz`: it can take jobs (Redis and storage reachable). */
export function healthRoutes(deps: { redis: Redis; storage: BlobStorage; versions?: Record<string, string> }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (req, res) => {
    const checks = await Promise.allSettled([deps.redis.ping(), deps.storage.ping()]);
    const [redis, storage] = checks.map((c) => (c.status === 'fulfilled' ? 'ok' : 'unavailable'));
    const ready = redis === 'ok' && storage === 'ok';
    if (!ready) req.log.warn({ redis, storage }, 'not ready');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks: { redis, storage }, ...(deps.versions ? { versions: deps.versions } : {}) });
  });
  return router;
}
