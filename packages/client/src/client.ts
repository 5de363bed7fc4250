import { randomUUID } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isTerminal, UPLOAD_EXTENSIONS, type DeliveryAttempt, type FaceChoice, type JobResource, type JobStatus, type TranscriptResult } from '@talkie/contracts';
import { backoffDelay, parseRetryAfter, sleep } from './backoff';
import { TalkieApiError, TalkieConnectionError, TalkieTimeoutError } from './errors';
import { readSse } from './sse';

export const VERSION = '0.1.0';

/** The containers the API accepts, by file extension (the contract's list). */
export const ALLOWED_EXTENSIONS = UPLOAD_EXTENSIONS;

export type ResultFormat = 'json' | 'txt' | 'srt' | 'vtt';
export type SubmitInput = string | Buffer | Uint8Array | ReadableStream<Uint8Array> | NodeJS.ReadableStream;

export interface TalkieClientOptions {
  /** e.g. `https://talkie.example.com` (a path prefix is kept) */
  baseUrl: string;
  /** a JWT, sent as `Authorization: Bearer …` */
  token?: string;
  /** an API key, sent as `X-API-Key` */
  apiKey?: string;
  /** a fetch implementation (default: the global one) */
  fetch?: typeof fetch;
  userAgent?: string;
  /** retries of safe requests on network errors, 429 and 503 (default 3; 0 turns them off) */
  maxRetries?: number;
  /** a `Retry-After` longer than this is not waited for: the error is thrown (default 60 s) */
  maxRetryAfterS?: number;
  /** first and largest delay between retries that have no `Retry-After` (default 500 ms, 8 s) */
  retryDelayMs?: { initial: number; max: number };
}

export interface SubmitOptions {
  /** the upload's name; required for Buffers and streams. Its extension names the container. */
  filename?: string;
  /** https URL that receives the signed terminal event */
  webhookUrl?: string;
  /** default: a new random UUID per call, reused by its retries */
  idempotencyKey?: string;
  /**
   * ask for LLM correction of the transcript (`result.corrected_text`), or explicitly not; unset:
   * the tenant's default on the server
   */
  correct?: boolean;
  /** issue 17: also return up to this many (1–10) best readings as `result.alternatives` */
  alternatives?: number;
  /**
   * issue 17: which face to read (models with `roi.mode: landmarks`): `active` (the server's
   * default, the face whose mouth moves most), `all` (one reading per face in `result.tracks`), or
   * a track index as listed in `result.faces`
   */
  face?: FaceChoice;
  signal?: AbortSignal;
}

export interface ResultOptions {
  /** issue 17: a face track index (see `result`) */
  face?: number;
  signal?: AbortSignal;
}

export interface ListOptions {
  status?: JobStatus;
  /** page size, 1–100 (server default 20) */
  limit?: number;
  cursor?: string;
  signal?: AbortSignal;
}

export interface JobList {
  data: JobResource[];
  next_cursor: string | null;
}

export interface WebhookSecret {
  /** `whsec_…`: shown once; keep it with the receiver */
  secret: string;
  /** how long the previous secret still signs beside the new one */
  previous_secret_valid_for_s: number;
}

export interface WaitOptions {
  /** `poll` (default): GET with exponential backoff; `sse`: the job's event stream */
  mode?: 'poll' | 'sse';
  /** give up after this long with a TalkieTimeoutError (default: wait for ever) */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** called with each new state (status or progress changed) */
  onProgress?: (job: JobResource) => void;
}

interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  body?: () => Promise<RequestInit['body']> | RequestInit['body'];
  signal?: AbortSignal;
  /**
   * which failures are retried here: `safe` (network errors, 429, 502–504), `answers` (429 and
   * 502–504 only), `rejected` (429 only: the request was turned away before it did anything)
   */
  retry: 'safe' | 'answers' | 'rejected' | 'none';
}

const SAFE_RETRY_STATUSES = new Set([429, 502, 503, 504]);

const isAbort = (err: unknown, signal?: AbortSignal) => Boolean(signal?.aborted) || (err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError';

/** A client for the Talkie HTTP API (see `/openapi.json`). */
export class TalkieClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly auth: Record<string, string>;
  private readonly userAgent: string;
  private readonly maxRetries: number;
  private readonly maxRetryAfterS: number;
  private readonly retryDelay: { initial: number; max: number };

  constructor(options: TalkieClientOptions) {
    if (!options?.baseUrl) throw new TypeError('TalkieClient needs a baseUrl');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.auth = options.token ? { authorization: `Bearer ${options.token}` } : options.apiKey ? { 'x-api-key': options.apiKey } : {};
    this.userAgent = options.userAgent ?? `talkie-client/${VERSION} node/${process.versions.node}`;
    this.maxRetries = options.maxRetries ?? 3;
    this.maxRetryAfterS = options.maxRetryAfterS ?? 60;
    this.retryDelay = options.retryDelayMs ?? { initial: 500, max: 8_000 };
  }

  /**
   * Uploads a video and queues it (`POST /v1/jobs`). A file path is streamed from disk. Network
   * errors, 429 and 503 are retried with the same `Idempotency-Key`, so a retry never makes a second job.
   */
  async submit(input: SubmitInput, options: SubmitOptions = {}): Promise<JobResource> {
    const { blob, filename } = await toUpload(input, options.filename);
    const idempotencyKey = options.idempotencyKey ?? randomUUID();
    const res = await this.request('POST', '/v1/jobs', {
      headers: { 'idempotency-key': idempotencyKey },
      body: () => {
        const form = new FormData();
        form.append('video', blob, filename);
        if (options.webhookUrl !== undefined) form.append('webhook_url', options.webhookUrl);
        if (options.correct !== undefined) form.append('correct', String(options.correct));
        if (options.alternatives !== undefined) form.append('alternatives', String(options.alternatives));
        if (options.face !== undefined) form.append('face', String(options.face));
        return form;
      },
      signal: options.signal,
      retry: 'safe',
    });
    return (await res.json()) as JobResource;
  }

  /** `GET /v1/jobs/{id}` */
  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<JobResource> {
    const res = await this.request('GET', `/v1/jobs/${encodeURIComponent(id)}`, { signal: options.signal, retry: 'safe' });
    return (await res.json()) as JobResource;
  }

  /** One page of the tenant's jobs, newest first (`GET /v1/jobs`). */
  async list(options: ListOptions = {}): Promise<JobList> {
    const res = await this.request('GET', '/v1/jobs', {
      query: { status: options.status, limit: options.limit, cursor: options.cursor },
      signal: options.signal,
      retry: 'safe',
    });
    return (await res.json()) as JobList;
  }

  /** Every job, page after page (`limit` is the page size). */
  async *listAll(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<JobResource> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ ...options, cursor });
      yield* page.data;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /**
   * `DELETE /v1/jobs/{id}`: cancels a queued or processing job and returns it (`canceled`), or
   * deletes a finished job and its result and returns null. Not retried on network errors: a retry
   * after a lost answer would delete the job that the first call canceled.
   */
  async cancel(id: string, options: { signal?: AbortSignal } = {}): Promise<JobResource | null> {
    const res = await this.request('DELETE', `/v1/jobs/${encodeURIComponent(id)}`, { signal: options.signal, retry: 'rejected' });
    if (res.status === 204) return null;
    return (await res.json()) as JobResource;
  }

  /**
   * The transcript of a completed job: data for `json` (the default), text for the other formats.
   * `face` (issue 17): for txt, srt and vtt, face track `face`'s reading of a job submitted with
   * `face: 'all'` (json always has every track, in `tracks`).
   */
  result(id: string, format?: 'json', options?: ResultOptions): Promise<TranscriptResult>;
  result(id: string, format: 'txt' | 'srt' | 'vtt', options?: ResultOptions): Promise<string>;
  result(id: string, format: ResultFormat, options?: ResultOptions): Promise<TranscriptResult | string>;
  async result(id: string, format: ResultFormat = 'json', options: ResultOptions = {}): Promise<TranscriptResult | string> {
    const accept = { json: 'application/json', txt: 'text/plain', srt: 'application/x-subrip', vtt: 'text/vtt' }[format] ?? '*/*';
    const res = await this.request('GET', `/v1/jobs/${encodeURIComponent(id)}/result`, { query: { format, face: options.face }, headers: { accept }, signal: options.signal, retry: 'safe' });
    return format === 'json' ? ((await res.json()) as TranscriptResult) : res.text();
  }

  /** Webhook delivery attempts for a job, oldest first. */
  async deliveries(id: string, options: { signal?: AbortSignal } = {}): Promise<DeliveryAttempt[]> {
    const res = await this.request('GET', `/v1/jobs/${encodeURIComponent(id)}/deliveries`, { signal: options.signal, retry: 'safe' });
    return ((await res.json()) as { data: DeliveryAttempt[] }).data;
  }

  /** Creates or rotates the tenant's webhook signing secret; the answer is the only time it is shown. */
  async rotateWebhookSecret(options: { signal?: AbortSignal } = {}): Promise<WebhookSecret> {
    const res = await this.request('POST', '/v1/webhooks/secret', { signal: options.signal, retry: 'rejected' });
    return (await res.json()) as WebhookSecret;
  }

  /** Waits until the job is completed, failed or canceled, and returns it. */
  async wait(id: string, options: WaitOptions = {}): Promise<JobResource> {
    const signals = [options.signal, options.timeoutMs !== undefined ? AbortSignal.timeout(options.timeoutMs) : undefined].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    let last = '';
    const seen = (job: JobResource) => {
      const key = `${job.status}:${job.progress}`;
      if (key !== last) {
        last = key;
        options.onProgress?.(job);
      }
    };
    try {
      return options.mode === 'sse' ? await this.waitSse(id, seen, signal) : await this.waitPoll(id, seen, signal);
    } catch (err) {
      if (options.timeoutMs !== undefined && !options.signal?.aborted && signal?.aborted) {
        throw new TalkieTimeoutError(`job ${id} is not finished after ${options.timeoutMs} ms`);
      }
      throw err;
    }
  }

  private async waitPoll(id: string, seen: (job: JobResource) => void, signal?: AbortSignal): Promise<JobResource> {
    for (let attempt = 0; ; attempt++) {
      const job = await this.get(id, { signal });
      seen(job);
      if (isTerminal(job.status)) return job;
      await sleep(backoffDelay(attempt, { initialMs: 250, maxMs: 5_000 }), signal);
    }
  }

  /**
   * Follows `GET /v1/jobs/{id}/events`. The server closes the stream after the terminal event; if it
   * closes earlier (a proxy timeout, a restart), the job is read once and the stream reopened.
   */
  private async waitSse(id: string, seen: (job: JobResource) => void, signal?: AbortSignal): Promise<JobResource> {
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      try {
        // a connection that fails is not retried here: the job is read first (below), then reopened
        res = await this.request('GET', `/v1/jobs/${encodeURIComponent(id)}/events`, { headers: { accept: 'text/event-stream' }, signal, retry: 'answers' });
        if (!res.body) throw new TalkieConnectionError('the event stream has no body');
        for await (const event of readSse(res.body, signal)) {
          if (event.event !== 'status') continue;
          const job = JSON.parse(event.data) as JobResource;
          seen(job);
          if (isTerminal(job.status)) return job;
          attempt = 0;
        }
      } catch (err) {
        // API errors (404, 401…) and aborts end the wait; a dropped stream is reopened
        if (err instanceof TalkieApiError || isAbort(err, signal) || attempt >= this.maxRetries) throw err;
      }
      const job = await this.get(id, { signal });
      seen(job);
      if (isTerminal(job.status)) return job;
      await sleep(backoffDelay(attempt, { initialMs: 250, maxMs: 5_000 }), signal);
    }
  }

  private url(pathname: string, query?: RequestOptions['query']): string {
    const url = new URL(this.baseUrl + pathname);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    return url.toString();
  }

  /** One API call, retried as its `retry` policy allows; resolves with a 2xx answer or throws. */
  private async request(method: string, pathname: string, options: RequestOptions): Promise<Response> {
    const url = this.url(pathname, options.query);
    const headers = { 'user-agent': this.userAgent, accept: 'application/json', ...this.auth, ...options.headers };
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      const canRetry = options.retry !== 'none' && attempt < this.maxRetries;
      let res: Response;
      try {
        res = await this.fetchImpl(url, { method, headers, body: options.body ? await options.body() : undefined, signal: options.signal, redirect: 'manual' });
      } catch (err) {
        if (isAbort(err, options.signal)) throw options.signal?.aborted ? options.signal.reason : err;
        if (canRetry && options.retry === 'safe') {
          await sleep(backoffDelay(attempt, { initialMs: this.retryDelay.initial, maxMs: this.retryDelay.max }), options.signal);
          continue;
        }
        const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
        const why = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
        throw new TalkieConnectionError(`${method} ${url} failed: ${why}`, { cause: err });
      }
      if (res.ok) return res;

      const error = await toApiError(res);
      const retryable = options.retry === 'safe' || options.retry === 'answers' ? SAFE_RETRY_STATUSES.has(res.status) : options.retry === 'rejected' && res.status === 429;
      const waitS = error.retryAfterS;
      if (!canRetry || !retryable || (waitS !== undefined && waitS > this.maxRetryAfterS)) throw error;
      await sleep(waitS !== undefined ? waitS * 1000 : backoffDelay(attempt, { initialMs: this.retryDelay.initial, maxMs: this.retryDelay.max }), options.signal);
    }
  }
}

async function toApiError(res: Response): Promise<TalkieApiError> {
  const retryAfterS = parseRetryAfter(res.headers.get('retry-after'));
  const text = await res.text().catch(() => '');
  let body: { error?: { code?: unknown; message?: unknown; request_id?: unknown } } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // not Talkie's JSON error shape
  }
  const e = body?.error;
  const requestId = typeof e?.request_id === 'string' && e.request_id ? e.request_id : (res.headers.get('x-request-id') ?? undefined);
  return new TalkieApiError({
    status: res.status,
    code: typeof e?.code === 'string' ? e.code : `http_${res.status}`,
    message: typeof e?.message === 'string' ? e.message : `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`,
    ...(requestId ? { requestId } : {}),
    ...(retryAfterS !== undefined ? { retryAfterS } : {}),
  });
}

const isWebStream = (value: unknown): value is ReadableStream<Uint8Array> => typeof (value as ReadableStream)?.getReader === 'function';
const isNodeStream = (value: unknown): value is NodeJS.ReadableStream => typeof (value as NodeJS.ReadableStream)?.pipe === 'function' && typeof (value as NodeJS.ReadableStream)?.on === 'function';

function checkFilename(filename: string): void {
  const ext = path.extname(filename).toLowerCase();
  if (!(ALLOWED_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new TypeError(`"${filename}": the file name must end with one of ${ALLOWED_EXTENSIONS.join(' ')}`);
  }
}

/**
 * The upload as a Blob, which FormData needs and which can be sent again on a retry: a file is
 * opened as a disk-backed Blob (streamed, never read into memory); bytes are wrapped; a stream is
 * read to its end first (it could not be replayed otherwise).
 */
async function toUpload(input: SubmitInput, filename?: string): Promise<{ blob: Blob; filename: string }> {
  if (typeof input === 'string') {
    const name = filename ?? path.basename(input);
    checkFilename(name);
    // openAsBlob reports a missing file without its errno (Node 20): stat first for a clear ENOENT
    const info = await stat(input);
    if (!info.isFile()) throw Object.assign(new Error(`${input} is not a file`), { code: 'EISDIR', path: input });
    return { blob: await openAsBlob(input), filename: name };
  }
  if (!filename) throw new TypeError('submit: a Buffer or stream needs options.filename (e.g. "clip.mp4")');
  checkFilename(filename);
  if (input instanceof Uint8Array || Buffer.isBuffer(input)) return { blob: new Blob([input as Uint8Array]), filename };
  const chunks: Uint8Array[] = [];
  if (isWebStream(input)) {
    const reader = input.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
    }
  } else if (isNodeStream(input)) {
    const iterable: AsyncIterable<unknown> = Symbol.asyncIterator in input ? (input as unknown as AsyncIterable<unknown>) : new Readable().wrap(input);
    for await (const chunk of iterable) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array));
  } else {
    throw new TypeError('submit: input must be a file path, a Buffer, a Uint8Array or a readable stream');
  }
  return { blob: new Blob(chunks), filename };
}
