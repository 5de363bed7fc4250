import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { z } from 'zod';
import { MAX_ALTERNATIVES, MAX_FACE_TRACKS, TalkieError, type ErrorCode, type JobResource, type TranscribePayload, type VideoProbe } from '@talkie/contracts';
import { checkProbe, type MediaLimits, type VideoProber } from '@talkie/media';
import { enqueueTranscription, toJobResource, type JobStore, type ProbeMemo } from '@talkie/queue';
import type { BlobStorage } from '@talkie/storage';
import type { IdempotencyStore } from '../idempotency/idempotency-store';
import type { StoredUpload } from '../upload/upload-storage';

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

export interface JobSubmissionDeps {
  storage: BlobStorage;
  store: JobStore;
  queue: Queue<TranscribePayload>;
  prober: Pick<VideoProber, 'probe'>;
  mediaLimits: MediaLimits;
  probeTimeoutMs: number;
  idempotency: IdempotencyStore;
  /** checks a client's webhook URL (https, public addresses only, unless private ones are allowed) */
  validateWebhookUrl: (url: string) => Promise<URL>;
  hasWebhookSecret: (tenant: string) => Promise<boolean>;
  onJobCreated?: (bytes: number) => void;
  /** records each accepted upload's probe by content, so the worker need not run ffprobe again */
  probeMemo?: ProbeMemo;
  /** whether a tenant's jobs get LLM correction when the submit does not say (CORRECTION_DEFAULT_TENANTS) */
  correctByDefault?: (tenant: string) => boolean;
}

/** One submit, as the route hands it over: the stored upload and the other form fields. */
export interface Submission {
  /** the new job's id (it also names the upload in storage) */
  id: string;
  tenant: string;
  file: StoredUpload;
  /** the multipart form's text fields, unparsed */
  fields: Record<string, unknown>;
  /** the Idempotency-Key header, already checked by `IdempotencyStore.parseKey` */
  idempotencyKey?: string;
  log: Logger;
}

/**
 * What a submit came to. `refused` is a client error answered with a catalogue code; anything
 * else that goes wrong is thrown as a TalkieError (the route's error handler answers it).
 */
export type SubmissionOutcome =
  | { kind: 'created'; job: JobResource }
  | { kind: 'replayed'; job: JobResource }
  | { kind: 'refused'; code: ErrorCode; message?: string };

/** The parsed form: what the job is asked to do. */
interface JobOptions {
  correct: boolean;
  alternatives?: number;
  face?: number | 'all';
  webhookUrl?: string;
}

/**
 * Turns an upload into a queued job: parse the fields → probe the container (bounded) → claim the
 * idempotency key → create the record and enqueue it. Whatever refuses the job deletes its upload,
 * and a failure after the record was made leaves nothing half-made behind. HTTP stays in the route.
 */
export class JobSubmission {
  constructor(private readonly deps: JobSubmissionDeps) {}

  async submit(submission: Submission): Promise<SubmissionOutcome> {
    const { file } = submission;
    const discard = () => this.deps.storage.delete(file.key);
    let options: JobOptions;
    try {
      const parsed = this.parseFields(submission.fields, submission.tenant);
      if ('code' in parsed) {
        await discard();
        return { kind: 'refused', ...parsed };
      }
      options = { ...parsed, webhookUrl: await this.webhookUrl(submission) };
      await this.probe(submission);
    } catch (err) {
      await discard();
      throw err;
    } finally {
      await file.local.release();
    }

    if (submission.idempotencyKey) {
      const replay = await this.claim(submission, submission.idempotencyKey, options);
      if (replay) {
        await discard();
        return replay;
      }
    }
    return this.createAndEnqueue(submission, options, discard);
  }

  private parseFields(fields: Record<string, unknown>, tenant: string): Omit<JobOptions, 'webhookUrl'> | { code: ErrorCode; message: string } {
    const correct = CorrectField.safeParse(fields.correct);
    if (!correct.success) return { code: 'invalid_request', message: 'correct must be true or false.' };
    const alternatives = AlternativesField.safeParse(fields.alternatives);
    if (!alternatives.success) return { code: 'invalid_request', message: `alternatives must be an integer from 1 to ${MAX_ALTERNATIVES}.` };
    const face = FaceField.safeParse(fields.face);
    if (!face.success) return { code: 'invalid_request', message: `face must be active, all, or a face track index from 0 to ${MAX_FACE_TRACKS - 1}.` };
    return { correct: correct.data ?? this.deps.correctByDefault?.(tenant) ?? false, alternatives: alternatives.data, face: face.data };
  }

  private async webhookUrl({ fields, tenant }: Submission): Promise<string | undefined> {
    if (fields.webhook_url === undefined) return undefined;
    const url = (await this.deps.validateWebhookUrl(String(fields.webhook_url))).toString();
    if (!(await this.deps.hasWebhookSecret(tenant))) throw new TalkieError('webhook_secret_missing');
    return url;
  }

  /**
   * A bounded look at the container (in a child process: the gateway never decodes), so files
   * that could never be processed are refused now, with their reason, not queued.
   */
  private async probe({ file, log }: Submission): Promise<void> {
    let probe: VideoProbe;
    try {
      probe = await this.deps.prober.probe(file.local.path, { timeoutMs: this.deps.probeTimeoutMs });
      checkProbe(probe, this.deps.mediaLimits);
    } catch (err) {
      throw err instanceof TalkieError && err.code === 'timeout' ? new TalkieError('invalid_media', { cause: err }) : err;
    }
    // Best effort and not awaited: the record only spares the worker a probe (without it, the
    // worker probes the file itself), so failing to write it must never refuse a good upload.
    this.deps.probeMemo?.remember(file.sha256, probe).catch((err: Error) => log.warn({ err: err.message }, 'could not record the probe for the worker'));
  }

  /** Claims the key for this job; an outcome when the key was used before (replay or conflict), else undefined. */
  private async claim({ id, tenant, file }: Submission, key: string, options: JobOptions): Promise<SubmissionOutcome | undefined> {
    const { correct, alternatives, face, webhookUrl } = options;
    // (correction joins the fingerprint only when on, so keys used before issue 8 still replay)
    // (and alternatives only when asked for, and face only when not the active speaker, issue 17)
    const fingerprint = `${file.sha256} ${webhookUrl ?? ''}${correct ? ' correct' : ''}${alternatives ? ` alternatives=${alternatives}` : ''}${face !== undefined ? ` face=${face}` : ''}`;
    const claim = await this.deps.idempotency.claim(tenant, key, fingerprint, id);
    if (claim.outcome === 'new') return undefined;
    if (claim.outcome === 'conflict') return { kind: 'refused', code: 'idempotency_conflict' };
    const original = await this.deps.store.get(claim.jobId);
    if (!original || original.tenant !== tenant) return { kind: 'refused', code: 'idempotency_conflict' };
    return { kind: 'replayed', job: toJobResource(original) };
  }

  private async createAndEnqueue(submission: Submission, options: JobOptions, discard: () => Promise<void>): Promise<SubmissionOutcome> {
    const { id, tenant, file, idempotencyKey, log } = submission;
    const { correct, alternatives, face, webhookUrl } = options;
    try {
      const record = await this.deps.store.create({ id, tenant, upload_key: file.key, ...(webhookUrl ? { webhook_url: webhookUrl } : {}), ...(correct ? { correct } : {}) });
      await enqueueTranscription(this.deps.queue, { v: 1, job_id: id, tenant, upload_key: file.key, upload_bytes: file.size, upload_sha256: file.sha256, ...(correct ? { correct } : {}), ...(alternatives ? { alternatives } : {}), ...(face !== undefined ? { face } : {}) });
      this.deps.onJobCreated?.(file.size);
      log.info({ job_id: id, bytes: file.size, container: file.container, webhook: Boolean(webhookUrl), correct }, 'job created');
      return { kind: 'created', job: toJobResource(record) };
    } catch (err) {
      // Nothing half-made stays behind: no record without a queue entry, no orphaned upload.
      await Promise.allSettled([this.deps.store.delete(id), discard(), idempotencyKey ? this.deps.idempotency.release(tenant, idempotencyKey, id) : undefined]);
      throw new TalkieError('service_unavailable', { cause: err });
    }
  }
}
