import type { Request, Response } from 'express';
import { rateLimit, type Options, type RateLimitRequestHandler } from 'express-rate-limit';
import type { Redis } from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { sendError } from '../http/errors';
import { clientAddressKey } from './client-address';

export interface RateLimitSettings {
  windowMs: number;
  max: number;
  jobsMax: number;
  onLimited?: (limiter: string) => void;
  /** requests whose credentials were verified recently: not counted or checked per address */
  isKnownCredential?: (req: Request) => boolean;
}

/**
 * Limits live in Redis so they hold across gateway replicas. Before authentication, failed
 * authentications are counted per client address (this is what slows down credential guessing);
 * after it, every request counts per tenant, with a tighter budget for creating jobs. Answers carry the standard `RateLimit` headers and
 * `Retry-After` when refused.
 */
export function createRateLimiters(redis: Redis, settings: RateLimitSettings) {
  const make = (name: string, max: number, key: (req: Request) => string, extra: Partial<Options> = {}): RateLimitRequestHandler => {
    const options: Partial<Options> = {
      windowMs: settings.windowMs,
      limit: max,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      identifier: name,
      store: new RedisStore({
        prefix: `talkie:rl:${name}:`,
        sendCommand: (command: string, ...args: string[]) => redis.call(command, ...args) as Promise<RedisReply>,
      }),
      keyGenerator: key,
      handler: (req: Request, res: Response) => {
        settings.onLimited?.(name);
        const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
        const seconds = reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : Math.ceil(settings.windowMs / 1000);
        res.setHeader('Retry-After', String(seconds));
        sendError(req, res, 'rate_limited');
      },
      // the key generators below normalise addresses themselves
      validate: { keyGeneratorIpFallback: false },
      ...extra,
    };
    return rateLimit(options);
  };
  return {
    // Per address, only failed authentications count: tenants behind one NAT or backend never
    // share (or exhaust) each other's budget, while credential guessing is slowed per address.
    // A recently verified token skips it: it cannot be a guess, and status polls (most of the
    // traffic) then cost no Redis round trip here.
    perClient: make('client', settings.max, (req) => clientAddressKey(req.ip), {
      skip: (req) => settings.isKnownCredential?.(req) ?? false,
      skipSuccessfulRequests: true,
      requestWasSuccessful: (_req, res) => res.statusCode !== 401,
    }),
    perTenant: make('tenant', settings.max, (req) => req.principal?.tenant ?? clientAddressKey(req.ip)),
    jobCreation: make('jobs', settings.jobsMax, (req) => req.principal?.tenant ?? clientAddressKey(req.ip)),
  };
}
