import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import multer, { MulterError } from 'multer';
import { JobId, TalkieError } from '@talkie/contracts';
import { enqueueTranscription, toJobResource, type JobStore } from '@talkie/queue';
import type { BlobStorage } from '@talkie/storage';
import type { Queue } from 'bullmq';
import type { TranscribePayload } from '@talkie/contracts';
import { sendError } from '../http/errors';
import { UploadStorageEngine, type StoredUpload } from '../upload/upload-storage';

export interface JobRoutesDeps {
  storage: BlobStorage;
  store: JobStore;
  queue: Queue<TranscribePayload>;
  maxUploadBytes: number;
}

/**
 * Errors from reading the multipart body. The parser's own (a body cut short, a bad boundary) are
 * the client's fault; a failing disk (errors with a syscall) is ours.
 */
function uploadError(err: unknown): unknown {
  if (err instanceof TalkieError || err instanceof MulterError) return err;
  if ((err as NodeJS.ErrnoException).syscall) return new TalkieError('service_unavailable', { cause: err });
  return new TalkieError('invalid_request', { message: 'The multipart body is malformed.', cause: err });
}

/** `/v1/jobs`: create a job from an upload, read a job. Callers are authenticated before this. */
export function jobRoutes(deps: JobRoutesDeps): Router {
  const router = Router();
  const upload = multer({
    storage: new UploadStorageEngine(deps.storage),
    limits: { fileSize: deps.maxUploadBytes, files: 1, fields: 8, parts: 9, fieldSize: 2048, fieldNameSize: 64, headerPairs: 50 },
  }).single('video');

  router.post(
    '/',
    (req, _res, next) => {
      if (!req.is('multipart/form-data')) return next(new TalkieError('unsupported_media_type', { message: 'Send multipart/form-data with a "video" file.' }));
      req.newJobId = randomUUID();
      next();
    },
    (req, res, next) => upload(req, res, (err?: unknown) => next(err === undefined ? undefined : uploadError(err))),
    async (req: Request, res: Response) => {
      const file = req.file as (Express.Multer.File & StoredUpload) | undefined;
      if (!file) return sendError(req, res, 'missing_file');
      const id = req.newJobId!;
      const tenant = req.principal!.tenant;
      try {
        const record = await deps.store.create({ id, tenant, upload_key: file.key });
        await enqueueTranscription(deps.queue, { v: 1, job_id: id, tenant, upload_key: file.key, upload_bytes: file.size });
        req.log.info({ job_id: id, bytes: file.size, container: file.container }, 'job created');
        res.status(202).location(`/v1/jobs/${id}`).json(toJobResource(record));
      } catch (err) {
        // Nothing half-made stays behind: no record without a queue entry, no orphaned upload.
        await Promise.allSettled([deps.store.delete(id), deps.storage.delete(file.key)]);
        throw new TalkieError('service_unavailable', { cause: err });
      }
    },
  );

  router.get('/:id', async (req: Request<{ id: string }>, res: Response) => {
    if (!JobId.safeParse(req.params.id).success) return sendError(req, res, 'not_found');
    const record = await deps.store.get(req.params.id);
    // Another tenant's job is indistinguishable from a missing one.
    if (!record || record.tenant !== req.principal!.tenant) return sendError(req, res, 'not_found');
    res.json(toJobResource(record));
  });

  return router;
}
