import type { Redis } from 'ioredis';

const KEY = 'talkie:capabilities:correction';

/**
 * Whether LLM correction can happen here is known only to the postprocess service (it holds
 * `LLM_BASE_URL`); the gateway, which clients ask (`GET /v1/limits`), never sees that setting. So a
 * postprocess service with an LLM says so in Redis, again every third of `ttlMs`, and the claim
 * lapses by itself when no such service is left running: no one has to clear it.
 */
export class CorrectionCapability {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs = 30_000,
  ) {}

  /** The postprocess service's side: announces until the returned function is called. */
  announce(onError: (err: Error) => void = () => undefined): () => void {
    const say = () => this.redis.set(KEY, '1', 'PX', this.ttlMs).then(() => undefined, onError);
    void say();
    const timer = setInterval(say, Math.max(1000, Math.floor(this.ttlMs / 3)));
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The gateway's side: whether a postprocess service with an LLM announced itself lately. */
  async available(): Promise<boolean> {
    return (await this.redis.exists(KEY)) === 1;
  }
}
