import { randomUUID } from 'node:crypto';
import { Router, type NextFunction, type Request, type Response } from 'express';
import multer, { MulterError } from 'multer';
import { z } from 'zod';
import { isTerminal, JobStatus, TalkieError } from '@talkie/contracts';
import { toJobResource } from '@talkie/queue';
import { requireScope } from '../auth/authenticate';
import { IdempotencyStore } from '../idempotency/idempotency-store';
import { JobSubmission, type JobSubmissionDeps } from '../jobs/job-submission';
import { findOwnJob } from './own-job';
import { sendError } from '../http/errors';
import { UploadStorageEngine, type StoredUpload } from '../upload/upload-storage';

/** What the routes need: the submission's parts, and the HTTP side's own (limits, backpressure, deletion). */
export interface JobRoutesDeps extends JobSubmissionDeps {
  maxUploadBytes: number;
  maxJobsInFlight: number;
  maxQueueDepth: number;
  /** rate limit applied to job creation only (tighter than the general one) */
  creationLimiter: (req: Request, res: Response, next: NextFunction) => void;
  deleteDeliveries: (jobId: string) => Promise<void>;
}

const MAX_LIST_LIMIT = 100;

const ListQuery = z.object({
  status: JobStatus.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(20),
  cursor: z
    .string()
    .max(200)
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const match = /^(\d{1,15})\.([0-9a-f-]{36})$/.exec(Buffer.from(value, 'base64url').toString('utf8'));
      if (!match) {
        ctx.addIssue({ code: 'custom', message: 'invalid cursor' });
        return z.NEVER;
      }
      return { ms: Number(match[1]), id: match[2] };
    }),
});
const encodeCursor = (c: { ms: number; id: string }) => Buffer.from(`${c.ms}.${c.id}`).toString('base64url');

/**
 * Errors from reading the multipart body. The parser's own (a body cut short, a bad boundary) are
 * the client's fault; a failing disk (errors with a syscall) is ours.
 */
function uploadError(err: unknown): unknown {
  if (err instanceof TalkieError || err instanceof MulterError) return err;
  const errno = err as NodeJS.ErrnoException;
  if (errno.code === 'ENOSPC' || errno.code === 'EDQUOT') return new TalkieError('insufficient_storage', { cause: err });
  if (errno.syscall) return new TalkieError('service_unavailable', { cause: err });
  return new TalkieError('invalid_request', { message: 'The multipart body is malformed.', cause: err });
}

/**
 * `/v1/jobs`: create a job from an upload (`JobSubmission` does the work; this adapts HTTP), read
 * it, cancel it. Callers are authenticated before this.
 */
export function jobRoutes(deps: JobRoutesDeps): Router {
  const router = Router();
  const submission = new JobSubmission(deps);
  const upload = multer({
    storage: new UploadStorageEngine(deps.storage),
    limits: { fileSize: deps.maxUploadBytes, files: 1, fields: 8, parts: 9, fieldSize: 2048, fieldNameSize: 64, headerPairs: 50 },
  }).single('video');

  /** Backpressure, checked before a byte of the body is read: a flood cannot fill Redis or the disk. */
  const admit = async (req: Request, res: Response, next: NextFunction) => {
    if (!req.is('multipart/form-data')) {
      return next(new TalkieError('unsupported_media_type', { message: 'Send multipart/form-data with a "video" file.' }));
    }
    if ((await deps.store.countActive(req.principal!.tenant)) >= deps.maxJobsInFlight) {
      res.setHeader('Retry-After', '10');
      return sendError(req, res, 'too_many_jobs');
    }
    const counts = await deps.queue.getJobCounts('wait', 'prioritized', 'delayed', 'paused');
    if (Object.values(counts).reduce((a, b) => a + b, 0) >= deps.maxQueueDepth) {
      res.setHeader('Retry-After', '30');
      return sendError(req, res, 'queue_full');
    }
    IdempotencyStore.parseKey(req.header('idempotency-key'));
    req.newJobId = randomUUID();
    next();
  };

  router.post(
    '/',
    requireScope('jobs:write'),
    deps.creationLimiter,
    admit,
    (req, res, next) => upload(req, res, (err?: unknown) => next(err === undefined ? undefined : uploadError(err))),
    async (req: Request, res: Response) => {
      const file = req.file as (Express.Multer.File & StoredUpload) | undefined;
      if (!file) return sendError(req, res, 'missing_file');
      // the local copy goes once the probe has read it, and in any case with the response
      res.once('close', () => void file.local.release().catch(() => undefined));
      const outcome = await submission.submit({
        id: req.newJobId!,
        tenant: req.principal!.tenant,
        file,
        fields: (req.body ?? {}) as Record<string, unknown>,
        idempotencyKey: IdempotencyStore.parseKey(req.header('idempotency-key')),
        log: req.log,
      });
      switch (outcome.kind) {
        case 'created':
          return void res.status(202).location(`/v1/jobs/${outcome.job.id}`).json(outcome.job);
        case 'replayed':
          res.setHeader('Idempotent-Replayed', 'true');
          return void res.status(200).location(`/v1/jobs/${outcome.job.id}`).json(outcome.job);
        case 'refused':
          return sendError(req, res, outcome.code, outcome.message);
        default: {
          const unknown: never = outcome;
          throw new Error(`unknown submission outcome ${JSON.stringify(unknown)}`);
        }
      }
    },
  );

  router.get('/', requireScope('jobs:read'), async (req: Request, res: Response) => {
    const query = ListQuery.safeParse(req.query);
    if (!query.success) return sendError(req, res, 'invalid_request', `Invalid query: ${query.error.issues.map((i) => i.path.join('.') || i.message).join(', ')}.`);
    const { records, next } = await deps.store.listByTenant(req.principal!.tenant, query.data);
    res.json({ data: records.map(toJobResource), next_cursor: next ? encodeCursor(next) : null });
  });

  router.get('/:id', requireScope('jobs:read'), async (req: Request<{ id: string }>, res: Response) => {
    const record = await findOwnJob(deps.store, req);
    if (!record) return sendError(req, res, 'not_found');
    res.json(toJobResource(record));
  });

  /**
   * Cancels a job that is still queued or processing (it becomes `canceled`, its upload is deleted);
   * for a finished job, deletes the record and its result for good (`204`).
   */
  router.delete('/:id', requireScope('jobs:write'), async (req: Request<{ id: string }>, res: Response) => {
    const record = await findOwnJob(deps.store, req);
    if (!record) return sendError(req, res, 'not_found');
    if (isTerminal(record.status)) {
      await deps.storage.delete(record.upload_key);
      await deps.store.delete(record.id);
      await deps.deleteDeliveries(record.id);
      req.log.info({ job_id: record.id }, 'job deleted');
      return void res.status(204).end();
    }
    await deps.store.cancel(record.id);
    // A queued job leaves the queue; an active one is locked by its worker, which sees the
    // canceled record when it finishes and drops the result.
    await deps.queue.remove(record.id).catch(() => 0);
    await deps.storage.delete(record.upload_key);
    await deps.store.dropData(record.id);
    req.log.info({ job_id: record.id }, 'job canceled');
    const updated = await deps.store.get(record.id);
    res.json(toJobResource(updated ?? { ...record, status: 'canceled' }));
  });

  return router;
}
