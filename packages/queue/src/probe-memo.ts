import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Redis } from 'ioredis';
import { Sha256Hex, VideoProbe } from '@talkie/contracts';

const key = (sha256: string) => `talkie:probe:${sha256}`;

/**
 * ffprobe results by content: the gateway probes each upload before queueing it; the worker that
 * takes the job hashes the bytes it was handed and, when they are the bytes the gateway probed,
 * re-checks that probe against its own limits instead of starting ffprobe again (a process start of
 * ~60 ms on a Debian build, most of a short clip's overhead). Bytes nobody probed, or changed ones,
 * are probed as before, so a job from another producer is never taken on trust.
 */
export class ProbeMemo {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs = 24 * 3600_000,
  ) {}

  async remember(sha256: string, probe: VideoProbe): Promise<void> {
    await this.redis.set(key(Sha256Hex.parse(sha256)), JSON.stringify(VideoProbe.parse(probe)), 'PX', this.ttlMs);
  }

  /**
   * The recorded probe of `file` when its content hashes to `sha256` and a probe of that content
   * was recorded; null otherwise (no record, an unreadable or malformed one, or different bytes).
   */
  async recall(file: string, sha256: string | undefined): Promise<VideoProbe | null> {
    if (!sha256 || !Sha256Hex.safeParse(sha256).success) return null;
    const stored = await this.redis.get(key(sha256)).catch(() => null);
    if (!stored) return null;
    if ((await hashFile(file)) !== sha256) return null;
    try {
      const parsed = VideoProbe.safeParse(JSON.parse(stored));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }
}

export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
