import type { Redis } from 'ioredis';
import type { BlobStorage } from '@talkie/storage';
import type { JobStore } from './job-store';

export interface SweepReport {
  records: number;
  files: number;
}

/**
 * Deletes what retention says must go: job records (and results) whose time is over, uploads whose
 * job no longer exists, and half-written uploads left by a crash. Redis key expiry and BullMQ's
 * `removeOnComplete` are lazy, so this runs on a schedule, and takes a clock so tests can move time.
 */
export const RETENTION_LOCK_KEY = 'talkie:retention:lock';

export class RetentionSweeper {
  constructor(
    private readonly deps: {
      redis: Redis;
      store: JobStore;
      storage: BlobStorage;
      /** an upload with no job record is left alone this long (the record is written just after it) */
      orphanGraceMs?: number;
      /** a half-written upload older than this is abandoned */
      partialGraceMs?: number;
    },
  ) {}

  async sweep(now: Date = new Date()): Promise<SweepReport> {
    const { store, storage } = this.deps;
    let records = 0;
    for (;;) {
      const ids = await store.expiredIds(now);
      if (!ids.length) break;
      for (const id of ids) {
        const record = await store.get(id);
        if (record?.upload_key) await storage.delete(record.upload_key);
        await store.delete(id);
        records++;
      }
    }
    let files = 0;
    const orphanGrace = this.deps.orphanGraceMs ?? 10 * 60_000;
    const partialGrace = this.deps.partialGraceMs ?? 2 * 3600_000;
    for await (const blob of storage.list('uploads')) {
      const age = now.getTime() - blob.modifiedAt.getTime();
      const name = blob.key.slice('uploads/'.length);
      const partial = name.includes('.partial-');
      if (partial ? age < partialGrace : age < orphanGrace) continue;
      if (!partial && (await store.get(name))) continue;
      await storage.delete(blob.key);
      files++;
    }
    return { records, files };
  }

  /**
   * One interval's sweep, run by whichever replica takes the lock first so that many gateways do
   * not all sweep at once: the report where this one swept, undefined where another holds the lock.
   */
  async sweepIfFirst(intervalMs: number): Promise<SweepReport | undefined> {
    const token = `${process.pid}-${Date.now()}`;
    const locked = await this.deps.redis.set(RETENTION_LOCK_KEY, token, 'PX', Math.max(1_000, intervalMs - 500), 'NX');
    return locked ? this.sweep() : undefined;
  }

  /** Runs `sweepIfFirst` every `intervalMs`. Returns a stop function. */
  schedule(intervalMs: number, onError: (err: unknown) => void, onSwept?: (report: SweepReport) => void): () => void {
    const tick = async () => {
      const report = await this.sweepIfFirst(intervalMs);
      if (report && (report.records || report.files)) onSwept?.(report);
    };
    const timer = setInterval(() => tick().catch(onError), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
