import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { VideoProbe } from '@talkie/contracts';
import { leaseRedisDb, type RedisDbLease } from '../../../test/support/redis-db';
import { hashFile, ProbeMemo } from './probe-memo';

const probe: VideoProbe = { format: 'mov,mp4,m4a,3gp,3g2,mj2', duration_s: 2, width: 176, height: 144, fps: 25, codec: 'h264', video_streams: 1, streams: 1, frames: 50 };

let lease: RedisDbLease;
let redis: Redis;
let dir: string;
let file: string;
let sha: string;

beforeAll(async () => {
  lease = await leaseRedisDb();
  redis = new Redis(lease.url);
  await redis.flushdb();
  dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-probe-memo-'));
  file = path.join(dir, 'upload.mp4');
  const bytes = Buffer.from('pretend these are the bytes of a video, probed by the gateway');
  await writeFile(file, bytes);
  sha = createHash('sha256').update(bytes).digest('hex');
});
afterAll(async () => {
  await redis.flushdb();
  redis.disconnect();
  await lease.release();
  await rm(dir, { recursive: true, force: true });
});

describe('ProbeMemo', () => {
  it('hashes files as sha256 hex', async () => {
    expect(await hashFile(file)).toBe(sha);
  });

  it('gives back the probe recorded for exactly these bytes, with the TTL set', async () => {
    const memo = new ProbeMemo(redis, 60_000);
    await memo.remember(sha, probe);
    expect(await memo.recall(file, sha)).toEqual(probe);
    const ttl = await redis.pttl(`talkie:probe:${sha}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('gives nothing when the bytes changed after probing, when no probe was recorded, or without a digest', async () => {
    const memo = new ProbeMemo(redis);
    await memo.remember(sha, probe);
    const other = path.join(dir, 'other.mp4');
    await writeFile(other, 'different bytes under the same claimed digest');
    expect(await memo.recall(other, sha)).toBeNull();
    expect(await memo.recall(file, 'f'.repeat(64))).toBeNull();
    expect(await memo.recall(file, undefined)).toBeNull();
    expect(await memo.recall(file, 'not-a-digest')).toBeNull();
  });

  it('ignores a malformed record instead of trusting it', async () => {
    const memo = new ProbeMemo(redis);
    await redis.set(`talkie:probe:${sha}`, JSON.stringify({ ...probe, width: -1 }));
    expect(await memo.recall(file, sha)).toBeNull();
    await redis.set(`talkie:probe:${sha}`, '{not json');
    expect(await memo.recall(file, sha)).toBeNull();
  });

  it('refuses to record a probe under something that is not a digest', async () => {
    await expect(new ProbeMemo(redis).remember('../../etc', probe)).rejects.toThrow();
  });
});
