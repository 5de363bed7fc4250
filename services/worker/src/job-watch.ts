import type { JobRecord, JobStore } from '@talkie/queue';

/**
 * Looks at a job's record every `everyMs` while a worker processes it and aborts `signal` once
 * `ended` says the work is no longer wanted (a DELETE canceled it, a chunk failed the job), so that
 * ffmpeg and the rest stop early. Call `stop()` when the work ends.
 */
export function watchJob(store: JobStore, jobId: string, ended: (record: JobRecord | null) => boolean, everyMs = 500): { signal: AbortSignal; stop: () => void } {
  const controller = new AbortController();
  const timer = setInterval(() => {
    store.get(jobId).then(
      (record) => {
        if (ended(record)) controller.abort();
      },
      () => undefined, // Redis hiccup: look again next time
    );
  }, everyMs);
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}
