/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3): a number of seconds, or an HTTP date. Returns
 * whole seconds from `now` (never negative), or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // HTTP dates start with the day's name (IMF-fixdate, RFC 850 and asctime forms alike)
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

export interface BackoffOptions {
  /** first delay, ms */
  initialMs: number;
  /** ceiling, ms */
  maxMs: number;
  /** growth per attempt (default 2) */
  factor?: number;
  /** 0..1: the share of each delay that is randomised (default 0.5: "equal jitter") */
  jitter?: number;
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (0-based): exponential growth capped at `maxMs`, of
 * which a `jitter` share is random so that many clients do not retry in step.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0.5;
  const random = options.random ?? Math.random;
  const base = Math.min(options.maxMs, options.initialMs * factor ** attempt);
  return Math.round(base * (1 - jitter) + base * jitter * random());
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
