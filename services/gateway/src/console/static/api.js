// The Talkie API as the console uses it: same origin, the API key in the X-API-Key header (never
// in a URL), errors turned into ApiError with the API's stable code and message.

export const TERMINAL = new Set(['completed', 'failed', 'canceled']);

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0: the gateway could not be reached)
   * @param {string} code the API's error code
   * @param {string} message
   * @param {number | undefined} retryAfterS seconds from Retry-After, when a 429 or 503 had one
   */
  constructor(status, code, message, retryAfterS) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

/**
 * Only these answers say when to come back, and only with a `Retry-After` header; any other error
 * is not cured by waiting (a 415 stays a 415), so it gets no "try again in …".
 */
const SAYS_WHEN = new Set([429, 503]);

/** `Retry-After` in whole seconds (RFC 9110: a number, or an HTTP date), or undefined when absent. */
const retryAfter = (status, value) => {
  if (!SAYS_WHEN.has(status) || value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
};

/**
 * How long to wait before reconnect number `attempt` (0-based) when the gateway did not say:
 * doubling from 1 s up to 15 s, the upper half of each at random ("equal jitter"), so that many
 * tabs that lost the same gateway do not all come back at the same instant.
 */
export const reconnectDelayMs = (attempt, random = Math.random) => {
  const base = Math.min(1000 * 2 ** attempt, 15_000);
  return Math.round(base / 2 + (base / 2) * random());
};

/** Consecutive failed reconnects after which follow() gives up (about a minute of backing off). */
export const MAX_RECONNECTS = 6;

/** An error answer's `{ error: { code, message } }`, or a generic one for anything else. */
function errorFrom(status, bodyText, retryAfterHeader) {
  let code = `http_${status}`;
  let message = `The gateway answered ${status}.`;
  try {
    const body = JSON.parse(bodyText);
    if (body && body.error && typeof body.error.code === 'string') {
      code = body.error.code;
      message = String(body.error.message ?? message);
    }
  } catch {
    // not JSON (a proxy's error page): keep the generic message
  }
  return new ApiError(status, code, message, retryAfter(status, retryAfterHeader));
}

const unreachable = () => new ApiError(0, 'network_error', 'The gateway could not be reached. Check your connection and try again.');

export const delay = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

export class Api {
  #key;

  /** @param {string} key an API key (`tk_…`) */
  constructor(key) {
    this.#key = key;
  }

  /** fetch with the key; resolves to the Response when it is a success, throws ApiError otherwise */
  async request(path, { method = 'GET', signal, headers = {} } = {}) {
    let res;
    try {
      res = await fetch(path, { method, signal, headers: { ...headers, 'X-API-Key': this.#key }, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw unreachable();
    }
    if (!res.ok) throw errorFrom(res.status, await res.text().catch(() => ''), res.headers.get('retry-after'));
    return res;
  }

  async json(path, options) {
    const res = await this.request(path, options);
    return res.status === 204 ? null : res.json();
  }

  /** GET /v1/limits: also how signing in checks the key. */
  limits(signal) {
    return this.json('/v1/limits', { signal });
  }

  listJobs(cursor, signal) {
    const query = new URLSearchParams({ limit: '20' });
    if (cursor) query.set('cursor', cursor);
    return this.json(`/v1/jobs?${query}`, { signal });
  }

  getJob(id, signal) {
    return this.json(`/v1/jobs/${encodeURIComponent(id)}`, { signal });
  }

  /** DELETE: cancels a running job (the job comes back) or deletes a finished one (null). */
  deleteJob(id) {
    return this.json(`/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  /** The transcript as a file: txt, srt or vtt. */
  /** `face` (issue 17): that face track's reading of a face=all job; unset: the face the result read */
  async result(id, format, face) {
    const query = `format=${encodeURIComponent(format)}${face === undefined ? '' : `&face=${encodeURIComponent(face)}`}`;
    const res = await this.request(`/v1/jobs/${encodeURIComponent(id)}/result?${query}`);
    return res.blob();
  }

  /**
   * POST /v1/jobs with the file in `video`. XMLHttpRequest rather than fetch for one reason: it
   * reports upload progress.
   * @param {Blob} file
   * @param {string} name file name sent with it (its extension must match the container)
   * @param {(fraction: number) => void} onProgress
   * @param {AbortSignal} [signal]
   * @param {{ correct?: boolean, alternatives?: number, face?: 'active' | 'all' | number }} [options] correct: ask for LLM
   *   correction or not (unset: the tenant's default); alternatives: how many readings to list; face: which face to read
   */
  upload(file, name, onProgress, signal, options = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/v1/jobs');
      xhr.setRequestHeader('X-API-Key', this.#key);
      xhr.responseType = 'text';
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
      });
      xhr.addEventListener('load', () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          try {
            resolve(JSON.parse(xhr.responseText));
          } catch {
            reject(new ApiError(xhr.status, 'invalid_answer', 'The gateway answered with something that is not a job.'));
          }
        } else {
          reject(errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader('retry-after')));
        }
      });
      xhr.addEventListener('error', () => reject(unreachable()));
      xhr.addEventListener('abort', () => reject(signal?.reason ?? new DOMException('Aborted', 'AbortError')));
      signal?.addEventListener('abort', () => xhr.abort(), { once: true });
      const form = new FormData();
      form.append('video', file, name);
      if (options.correct !== undefined) form.append('correct', String(options.correct));
      // issue 17: sent only when chosen, so that a plain upload is the same job as before them
      if (options.alternatives) form.append('alternatives', String(options.alternatives));
      if (options.face !== undefined && options.face !== 'active') form.append('face', String(options.face));
      xhr.send(form);
    });
  }

  /**
   * Follows a job until it is terminal, calling `onUpdate` with each version of it. It listens to
   * GET /v1/jobs/{id}/events (Server-Sent Events) with fetch, because EventSource cannot send the
   * key in a header. If the stream ends early (a proxy's idle timeout, a gateway restart) or cannot
   * be opened (network, 5xx, 429), it listens again: after `Retry-After` where a 429 or 503 gives
   * one, else after reconnectDelayMs, calling `onRetry({ attempt, of, delayMs, error })` first; it
   * gives up with the last error after MAX_RECONNECTS failures in a row. Any other error, an abort
   * or a terminal job ends it at once.
   */
  async follow(id, onUpdate, signal, onRetry = () => undefined) {
    let failures = 0;
    for (;;) {
      let error;
      try {
        const res = await this.request(`/v1/jobs/${encodeURIComponent(id)}/events`, { signal, headers: { Accept: 'text/event-stream' } });
        for await (const event of readEvents(res.body, signal)) {
          if (event.event !== 'status') continue;
          const job = JSON.parse(event.data);
          failures = 0;
          onUpdate(job);
          if (TERMINAL.has(job.status)) return job;
        }
        const job = await this.getJob(id, signal);
        onUpdate(job);
        if (TERMINAL.has(job.status)) return job;
        error = new ApiError(0, 'stream_ended', 'The live view of the job ended early.');
      } catch (err) {
        if (signal?.aborted) throw err;
        const retryable = err instanceof ApiError && (err.status === 0 || err.status === 429 || err.status >= 500);
        if (!retryable) throw err;
        error = err;
      }
      if (failures >= MAX_RECONNECTS) throw error;
      const delayMs = error.retryAfterS !== undefined ? error.retryAfterS * 1000 : reconnectDelayMs(failures);
      failures++;
      onRetry({ attempt: failures, of: MAX_RECONNECTS, delayMs, error });
      await delay(delayMs, signal);
    }
  }
}

/**
 * Parses a Server-Sent Events body (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * yields `{ event, data }` per dispatched event; comments (keep-alives) and ids are skipped.
 * @param {ReadableStream<Uint8Array>} body
 */
export async function* readEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const cancel = () => reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', cancel, { once: true });
  let buffer = '';
  let event = '';
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // A lone \r at the end may be half of \r\n: keep it until the next chunk.
      const complete = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, complete).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(complete);
      for (const line of lines) {
        if (line === '') {
          // a blank line dispatches the event built so far
          if (data.length) yield { event: event || 'message', data: data.join('\n') };
          event = '';
          data = [];
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? '' : line.slice(colon + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
      }
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
    // stops the download too when the caller leaves early (harmless once the stream has ended)
    await cancel();
  }
}
