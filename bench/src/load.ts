import autocannon from 'autocannon';
import { summarize, type Summary } from './report';

export interface LoadOptions {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  durationS: number;
  /** requests per second from all connections together; unset: as fast as the server answers */
  overallRate?: number;
  /** seconds of the same load first, not recorded (JIT, connection set-up) */
  warmupS?: number;
}

export interface LoadResult {
  /** 2xx answers per second over the run */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationS: number;
  /** latency of the 2xx answers, in ms, from autocannon's own per-request timer */
  latency: Summary;
  samples: number[];
}

/**
 * One autocannon run. Latencies are taken from its per-request `response` events (sub-millisecond
 * floats) rather than its histogram, which rounds to whole milliseconds, too coarse for loopback
 * p50s; and no coordinated-omission correction is applied, so the figures are the service times
 * that requests really saw.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const base = {
    url: options.url,
    headers: options.headers,
    connections: options.connections,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
  };
  if (options.warmupS) await autocannon({ ...base, duration: options.warmupS });
  const samples: number[] = [];
  let non2xx = 0;
  // The returned tracker is both an EventEmitter and a promise of the result (its typings say only the latter).
  const instance = autocannon({ ...base, duration: options.durationS }) as unknown as autocannon.Instance & Promise<autocannon.Result>;
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
    else non2xx++;
  });
  const result = await instance;
  const durationS = result.duration || options.durationS;
  return {
    rps: samples.length / durationS,
    ok: samples.length,
    non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS,
    latency: summarize(samples),
    samples,
  };
}
