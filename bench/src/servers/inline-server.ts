import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import jwt from 'jsonwebtoken';
import multer from 'multer';
import { Redis } from 'ioredis';
import { LipReader, ModelSession, roiFilterFor } from '@talkie/inference';
import { decodeFrames, probeVideo, resolveFfmpeg } from '@talkie/media';
import { JobStore, toJobResource } from '@talkie/queue';

/**
 * Baseline of the isolation row: the architecture of the open-source lip-reading servers, one
 * process that runs the whole pipeline (probe, ffmpeg decode, model, CTC) inside the request handler
 * of its upload route. Its status route does exactly what Talkie's does (verify an HS256 JWT, one
 * Redis HGETALL, the same JSON), so the two can be polled side by side.
 */
async function main() {
  const secret = Buffer.from(process.env.JWT_SECRET!, 'utf8');
  const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
  const store = new JobStore(redis, 3_600_000);
  const ffmpeg = await resolveFfmpeg();
  const session = await ModelSession.load(process.env.MODEL_DIR!);
  const reader = new LipReader(session);
  const manifest = reader.manifest;
  const upload = multer({ dest: process.env.UPLOAD_DIR! }).single('video');

  const auth = (req: Request, res: Response, next: NextFunction) => {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    try {
      const claims = jwt.verify(match?.[1] ?? '', secret, { algorithms: ['HS256'], clockTolerance: 30 }) as jwt.JwtPayload;
      res.locals.tenant = claims.sub;
      next();
    } catch {
      res.status(401).json({ error: { code: 'unauthorized' } });
    }
  };

  const app = express();
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/v1/jobs/:id', auth, async (req: Request<{ id: string }>, res: Response) => {
    const record = await store.get(req.params.id);
    if (!record || record.tenant !== res.locals.tenant) {
      res.status(404).json({ error: { code: 'not_found' } });
      return;
    }
    res.json(toJobResource(record));
  });
  app.post('/v1/transcribe', auth, upload, async (req: Request, res: Response) => {
    const file = req.file?.path;
    if (!file) {
      res.status(400).json({ error: { code: 'missing_file' } });
      return;
    }
    try {
      const probe = await probeVideo(file, { ffprobe: ffmpeg.ffprobe, timeoutMs: 15_000 });
      const frames = await decodeFrames(file, {
        ffmpeg: ffmpeg.ffmpeg,
        fps: manifest.frame_rate,
        roi: roiFilterFor(manifest),
        maxFrames: Math.ceil((probe.duration_s + 2) * manifest.frame_rate),
        timeoutMs: 120_000,
      });
      res.json(await reader.transcribe(frames));
    } catch (err) {
      res.status(500).json({ error: { code: 'processing_failed', message: (err as Error).message } });
    } finally {
      await rm(file, { force: true });
    }
  });

  const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    console.log(`inline server listening on ${(server.address() as AddressInfo).port}`);
  });
  process.on('SIGTERM', () => {
    server.close();
    redis.disconnect();
    void session.release().finally(() => process.exit(0));
  });
}

main().catch((err: Error) => {
  console.error(`inline server: ${err.message}`);
  process.exit(1);
});
