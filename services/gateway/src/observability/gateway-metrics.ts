import type { Queue } from 'bullmq';
import type { NextFunction, Request, Response } from 'express';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { QUEUES } from '@talkie/contracts';

/** Queue states reported as gauges: all the states a job waits or runs in. */
const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed', 'paused'] as const;

/** The gateway's Prometheus metrics (base units, `talkie_` prefix). */
export class GatewayMetrics {
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly uploadBytes: Counter;
  readonly authFailures: Counter<'reason'>;
  readonly rateLimited: Counter<'limiter'>;
  readonly jobsCreated: Counter;

  constructor(registry: Registry, queues: Array<{ name: string; queue: Pick<Queue, 'getJobCounts'> }>) {
    this.requestDuration = new Histogram({
      name: 'talkie_http_request_duration_seconds',
      help: 'HTTP request duration, by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
      registers: [registry],
    });
    this.uploadBytes = new Counter({ name: 'talkie_upload_bytes_total', help: 'Bytes of accepted uploads', registers: [registry] });
    this.authFailures = new Counter({ name: 'talkie_auth_failures_total', help: 'Authentication failures, by reason', labelNames: ['reason'], registers: [registry] });
    this.rateLimited = new Counter({ name: 'talkie_rate_limited_requests_total', help: 'Requests refused by a rate limit, by limiter', labelNames: ['limiter'], registers: [registry] });
    this.jobsCreated = new Counter({ name: 'talkie_jobs_created_total', help: 'Jobs accepted and queued', registers: [registry] });
    // Read from Redis when scraped, so the figure is the queue's, not this replica's.
    new Gauge({
      name: 'talkie_queue_jobs',
      help: 'Jobs in each queue, by state',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        for (const { name, queue } of queues) {
          const counts = await queue.getJobCounts(...QUEUE_STATES);
          for (const state of QUEUE_STATES) this.set({ queue: name, state }, counts[state] ?? 0);
        }
      },
    });
  }

  /** Express middleware timing each request; the route label is the matched template, never the raw path. */
  timer() {
    return (req: Request, res: Response, next: NextFunction): void => {
      const end = this.requestDuration.startTimer();
      res.on('finish', () => {
        const template = req.route?.path ? `${req.baseUrl}${req.route.path}` : res.statusCode === 404 ? 'unmatched' : req.baseUrl || 'unmatched';
        end({ method: req.method, route: template, status: String(res.statusCode) });
      });
      next();
    };
  }
}

export const queueNames = QUEUES;
