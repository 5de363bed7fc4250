import { randomUUID } from 'node:crypto';
import { Router, type NextFunction, type Request, type Response } from 'express';
import multer, { MulterError } from 'multer';
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { isTerminal, JobStatus, MAX_ALTERNATIVES, MAX_FACE_TRACKS, TalkieError, type TranscribePayload, type VideoProbe } from '@talkie/contracts';
import { checkProbe, type MediaLimits, type VideoProber } from '@talkie/media';
import { enqueueTranscription, toJobResource, type JobStore, type ProbeMemo } from '@talkie/queue';
import type { BlobStorage } from '@talkie/storage';
import { requireScope } from '../auth/authenticate';
import { IdempotencyStore } from '../idempotency/idempotency-store';
import { findOwnJob } from './own-job';
import { sendError } from '../http/errors';
import { UploadStorageEngine, type StoredUpload } from '../upload/upload-storage';

export interface JobRoutesDeps {
  storage: BlobStorage;
  store: JobStore;
  queue: Queue<TranscribePayload>;
  prober: Pick<VideoProber, 'probe'>;
  maxUploadBytes: number;
  mediaLimits: MediaLimits;
  probeTimeoutMs: number;
  maxJobsInFlight: number;
  maxQueueDepth: number;
  /** rate limit applied to job creation only (tighter than the general one) */
  creationLimiter: (req: Request, res: Response, next: NextFunction) => void;
  idempotency: IdempotencyStore;
  /** checks a client's webhook URL (https, public addresses only, unless private ones are allowed) */
  validateWebhookUrl: (url: string) => Promise<URL>;
  hasWebhookSecret: (tenant: string) => Promise<boolean>;
  deleteDeliveries: (jobId: string) => Promise<void>;
  onJobCreated?: (bytes: number) => void;
  /** records each accepted upload's probe by content, so the worker need not run ffprobe again */
  probeMemo?: ProbeMemo;
  /** whether a tenant's jobs get LLM correction when the submit does not say (CORRECTION_DEFAULT_TENANTS) */
  correctByDefault?: (tenant: string) => boolean;
}

/** The `correct` form field: an explicit choice, or undefined for the tenant's default. */
const CorrectField = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((value) => (value === undefined ? undefined : value === 'true' || value === '1'));

/** Issue 17, the `alternatives` form field: a plain integer 1…10 (no sign, exponent, fraction or padding), or absent. */
const AlternativesField = z
  .string()
  .regex(/^[1-9][0-9]?$/)
  .transform(Number)
  .pipe(z.number().int().min(1).max(MAX_ALTERNATIVES))
  .optional();

/**
 * Issue 17, the `face` form field: `active` (the default: the face whose mouth moves most), `all`
 * (one transcript per face track) or a track index, a plain integer below MAX_FACE_TRACKS. Absent
 * and `active` give the same job (undefined: the payload and the idempotency fingerprint stay as
 * before the field).
 */
const FaceField = z
  .union([z.enum(['active', 'all']), z.string().regex(/^[0-9]$/).transform(Number).pipe(z.number().int().min(0).max(MAX_FACE_TRACKS - 1))])
  .optional()
  .transform((value) => (value === 'active' ? undefined : value));

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

/** `/v1/jobs`: create a job from an upload, read it, cancel it. Callers are authenticated before this. */
export function jobRoutes(deps: JobRoutesDeps): Router {
  const router = Router();
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
      const id = req.newJobId!;
      const tenant = req.principal!.tenant;
      const fields = (req.body ?? {}) as Record<string, unknown>;
      const discard = () => deps.storage.delete(file.key);
      // the local copy goes once the probe has read it, and in any case with the response
      res.once('close', () => void file.local.release().catch(() => undefined));

      const correctField = CorrectField.safeParse(fields.correct);
      if (!correctField.success) {
        await discard();
        return sendError(req, res, 'invalid_request', 'correct must be true or false.');
      }
      const correct = correctField.data ?? deps.correctByDefault?.(tenant) ?? false;
      const alternativesField = AlternativesField.safeParse(fields.alternatives);
      if (!alternativesField.success) {
        await discard();
        return sendError(req, res, 'invalid_request', `alternatives must be an integer from 1 to ${MAX_ALTERNATIVES}.`);
      }
      const alternatives = alternativesField.data;
      const faceField = FaceField.safeParse(fields.face);
      if (!faceField.success) {
        await discard();
        return sendError(req, res, 'invalid_request', `face must be active, all, or a face track index from 0 to ${MAX_FACE_TRACKS - 1}.`);
      }
      const face = faceField.data;

      let webhookUrl: string | undefined;
      if (fields.webhook_url !== undefined) {
        try {
          webhookUrl = (await deps.validateWebhookUrl(String(fields.webhook_url))).toString();
          if (!(await deps.hasWebhookSecret(tenant))) throw new TalkieError('webhook_secret_missing');
        } catch (err) {
          await discard();
          throw err;
        }
      }

      // A bounded look at the container (in a child process: the gateway never decodes),
      // so files that could never be processed are refused now, with their reason, not queued.
      let probe: VideoProbe;
      try {
        probe = await deps.prober.probe(file.local.path, { timeoutMs: deps.probeTimeoutMs });
        checkProbe(probe, deps.mediaLimits);
      } catch (err) {
        await discard();
        throw err instanceof TalkieError && err.code === 'timeout' ? new TalkieError('invalid_media', { cause: err }) : err;
      } finally {
        await file.local.release();
      }
      // Best effort and not awaited: the record only spares the worker a probe (without it, the
      // worker probes the file itself), so failing to write it must never refuse a good upload.
      deps.probeMemo?.remember(file.sha256, probe).catch((err: Error) => req.log.warn({ err: err.message }, 'could not record the probe for the worker'));

      const idempotencyKey = IdempotencyStore.parseKey(req.header('idempotency-key'));
      if (idempotencyKey) {
        // (correction joins the fingerprint only when on, so keys used before issue 8 still replay)
        // (and alternatives only when asked for, and face only when not the active speaker, issue 17)
        const claim = await deps.idempotency.claim(
          tenant,
          idempotencyKey,
          `${file.sha256} ${webhookUrl ?? ''}${correct ? ' correct' : ''}${alternatives ? ` alternatives=${alternatives}` : ''}${face !== undefined ? ` face=${face}` : ''}`,
          id,
        );
        if (claim.outcome !== 'new') {
          await discard();
          if (claim.outcome === 'conflict') return sendError(req, res, 'idempotency_conflict');
          const original = await deps.store.get(claim.jobId);
          if (!original || original.tenant !== tenant) return sendError(req, res, 'idempotency_conflict');
          res.setHeader('Idempotent-Replayed', 'true');
          return void res.status(200).location(`/v1/jobs/${original.id}`).json(toJobResource(original));
        }
      }

      try {
        const record = await deps.store.create({ id, tenant, upload_key: file.key, ...(webhookUrl ? { webhook_url: webhookUrl } : {}), ...(correct ? { correct } : {}) });
        await enqueueTranscription(deps.queue, { v: 1, job_id: id, tenant, upload_key: file.key, upload_bytes: file.size, upload_sha256: file.sha256, ...(correct ? { correct } : {}), ...(alternatives ? { alternatives } : {}), ...(face !== undefined ? { face } : {}) });
        deps.onJobCreated?.(file.size);
        req.log.info({ job_id: id, bytes: file.size, container: file.container, webhook: Boolean(webhookUrl), correct }, 'job created');
        res.status(202).location(`/v1/jobs/${id}`).json(toJobResource(record));
      } catch (err) {
        // Nothing half-made stays behind: no record without a queue entry, no orphaned upload.
        await Promise.allSettled([deps.store.delete(id), discard(), idempotencyKey ? deps.idempotency.release(tenant, idempotencyKey, id) : undefined]);
        throw new TalkieError('service_unavailable', { cause: err });
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
