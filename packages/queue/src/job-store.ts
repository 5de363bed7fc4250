import type { Redis } from 'ioredis';
import {
  isTerminal,
  JobResource,
  JobStatus,
  type Correction,
  type JobError,
  type TranscriptResult,
} from '@talkie/contracts';

/** What Talkie keeps about a job: the client-facing state plus ownership and the upload's key. */
export interface JobRecord {
  id: string;
  tenant: string;
  status: JobStatus;
  progress: number;
  created_at: string;
  updated_at: string;
  upload_key: string;
  /** where the terminal event is POSTed, when the client gave one */
  webhook_url?: string;
  result?: TranscriptResult;
  error?: JobError;
  /** set when the job asked for LLM correction: `pending` from creation until the postprocess step ends */
  correction?: Correction;
}

/** Called once, by whichever process moves a job into a terminal state. */
export type TerminalListener = (record: JobRecord) => Promise<void>;

const KEY_PREFIX = 'talkie:job:';
const jobKey = (id: string) => `${KEY_PREFIX}${id}`;
/** ids of a tenant's jobs that are queued or processing: the per-tenant in-flight cap counts these */
const activeKey = (tenant: string) => `talkie:tenant:${tenant}:active`;
/** all of a tenant's jobs by creation time (ms): the listing index */
const tenantJobsKey = (tenant: string) => `talkie:tenant:${tenant}:jobs`;
/** job id → time (ms) after which the retention sweep deletes the record and any file left */
export const EXPIRY_KEY = 'talkie:jobs:expiry';
/** Redis deletes a record on its own this long after the sweep should have (a backstop only). */
const BACKSTOP_MS = 3600_000;

/**
 * Moves a job record to a new status, atomically, and refuses to leave a terminal state: a job
 * canceled while a worker finishes it stays canceled, and a retried job never overwrites a result.
 * KEYS[1] job hash; ARGV: status, progress, updated_at, result json|'', error json|'', ttl_ms,
 * correction json|'' (optional)
 * Returns 1 when applied (2 when the new state is terminal), 0 when the job is terminal already,
 * -1 when it does not exist.
 */
const TRANSITION_SCRIPT = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return -1 end
if current == 'completed' or current == 'failed' or current == 'canceled' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'progress', ARGV[2], 'updated_at', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[5]) end
if ARGV[7] and ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'correction', ARGV[7]) end
if ARGV[1] == 'completed' or ARGV[1] == 'failed' or ARGV[1] == 'canceled' then
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return 2
end
return 1
`;

/** Progress only moves forward and only while processing. KEYS[1]; ARGV: progress, updated_at */
const PROGRESS_SCRIPT = `
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return 0 end
local p = tonumber(redis.call('HGET', KEYS[1], 'progress') or '0')
if tonumber(ARGV[1]) <= p then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[1], 'updated_at', ARGV[2])
return 1
`;

/**
 * Keeps the raw transcript of a job that asked for correction while it waits for the postprocess
 * step: the status stays `processing` (so `completed` always means final) and no terminal event
 * fires. Refused once the job is terminal (canceled meanwhile). KEYS[1]; ARGV: result json,
 * progress, updated_at. Returns 1 when applied, 0 when terminal or not processing, -1 when missing.
 */
const HOLD_SCRIPT = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return -1 end
if current ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], 'result', ARGV[1], 'progress', ARGV[2], 'updated_at', ARGV[3])
return 1
`;

/** A held job's progress: transcribed, the correction still to come. */
const HELD_PROGRESS = 95;

export type TransitionOutcome = 'applied' | 'terminal' | 'missing';

/**
 * The job records clients read. One Redis hash per job keeps a status poll to a single HGETALL,
 * independent of BullMQ's internal layout; terminal records expire after `resultTtlMs`.
 */
export class JobStore {
  private readonly terminalListeners: TerminalListener[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly resultTtlMs: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Runs `listener` after each transition into a terminal state made through this store. */
  onTerminal(listener: TerminalListener): this {
    this.terminalListeners.push(listener);
    return this;
  }

  async create(input: { id: string; tenant: string; upload_key: string; webhook_url?: string; correct?: boolean }): Promise<JobRecord> {
    const created = this.now();
    const at = created.toISOString();
    const { correct, ...fields } = input;
    const record: JobRecord = { ...fields, status: 'queued', progress: 0, created_at: at, updated_at: at, ...(correct ? { correction: { status: 'pending' } } : {}) };
    await this.redis
      .multi()
      .hset(jobKey(input.id), {
        id: record.id,
        tenant: record.tenant,
        status: record.status,
        progress: String(record.progress),
        created_at: record.created_at,
        updated_at: record.updated_at,
        upload_key: record.upload_key,
        ...(input.webhook_url ? { webhook_url: input.webhook_url } : {}),
        ...(record.correction ? { correction: JSON.stringify(record.correction) } : {}),
      })
      // A job never picked up (queue lost, bug) must not live forever either.
      .pexpire(jobKey(input.id), this.resultTtlMs * 2 + BACKSTOP_MS)
      .sadd(activeKey(input.tenant), input.id)
      .zadd(tenantJobsKey(input.tenant), created.getTime(), input.id)
      .zadd(EXPIRY_KEY, this.now().getTime() + this.resultTtlMs * 2, input.id)
      .exec();
    return record;
  }

  async get(id: string): Promise<JobRecord | null> {
    const hash = await this.redis.hgetall(jobKey(id));
    if (!hash.status) return null;
    return {
      id: hash.id,
      tenant: hash.tenant,
      status: JobStatus.parse(hash.status),
      progress: Number(hash.progress),
      created_at: hash.created_at,
      updated_at: hash.updated_at,
      upload_key: hash.upload_key,
      ...(hash.webhook_url ? { webhook_url: hash.webhook_url } : {}),
      ...(hash.result ? { result: JSON.parse(hash.result) as TranscriptResult } : {}),
      ...(hash.error ? { error: JSON.parse(hash.error) as JobError } : {}),
      ...(hash.correction ? { correction: JSON.parse(hash.correction) as Correction } : {}),
    };
  }

  /** Removes the record and its index entries. */
  async delete(id: string): Promise<void> {
    const tenant = await this.redis.hget(jobKey(id), 'tenant');
    const multi = this.redis.multi().del(jobKey(id)).zrem(EXPIRY_KEY, id);
    if (tenant) multi.srem(activeKey(tenant), id).zrem(tenantJobsKey(tenant), id);
    await multi.exec();
  }

  /**
   * A page of a tenant's jobs, newest first. The cursor is the position after the last job
   * returned (its creation time and id), so pages stay stable while jobs are added or deleted.
   */
  async listByTenant(
    tenant: string,
    options: { limit: number; cursor?: { ms: number; id: string }; status?: JobStatus },
  ): Promise<{ records: JobRecord[]; next?: { ms: number; id: string } }> {
    const records: JobRecord[] = [];
    let cursor = options.cursor;
    let last: { ms: number; id: string } | undefined;
    const batch = Math.max(options.limit * 2, 20);
    // Bounded work per request, even when a status filter matches little.
    for (let round = 0; round < 20; round++) {
      const page = await this.redis.zrange(tenantJobsKey(tenant), cursor ? String(cursor.ms) : '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, batch, 'WITHSCORES');
      let fresh = 0;
      for (let i = 0; i < page.length; i += 2) {
        const entry = { id: page[i], ms: Number(page[i + 1]) };
        // Newest first; within one millisecond Redis orders ids in reverse: what follows the
        // cursor is older, or as old with a smaller id.
        if (cursor && entry.ms === cursor.ms && entry.id >= cursor.id) continue;
        fresh++;
        cursor = entry;
        const record = await this.get(entry.id);
        if (!record) {
          await this.redis.zrem(tenantJobsKey(tenant), entry.id); // expired: drop it from the index
          continue;
        }
        if (options.status && record.status !== options.status) continue;
        // One past the page tells whether another page exists, so the last page has no cursor.
        if (records.length === options.limit) return { records, next: last! };
        records.push(record);
        last = entry;
      }
      if (fresh === 0 || page.length < batch * 2) return { records };
    }
    // work bound reached (a status filter that matches little): hand back where the scan stopped
    return { records, ...(cursor ? { next: cursor } : {}) };
  }

  /** Jobs of `tenant` queued or processing now. */
  async countActive(tenant: string): Promise<number> {
    return this.redis.scard(activeKey(tenant));
  }

  /** Ids whose retention time is over at `now` (oldest first), for the sweep. */
  async expiredIds(now: Date, limit = 500): Promise<string[]> {
    return this.redis.zrangebyscore(EXPIRY_KEY, '-inf', now.getTime(), 'LIMIT', 0, limit);
  }

  /** Clears a job's result and error but keeps its state (data deletion on request). */
  async dropData(id: string): Promise<void> {
    await this.redis.hdel(jobKey(id), 'result', 'error', 'correction');
  }

  cancel(id: string): Promise<TransitionOutcome> {
    return this.transition(id, 'canceled', 0);
  }

  markProcessing(id: string): Promise<TransitionOutcome> {
    return this.transition(id, 'processing', 0);
  }

  /** Back to the queue, e.g. before a retry. */
  requeue(id: string): Promise<TransitionOutcome> {
    return this.transition(id, 'queued', 0);
  }

  /** `correction`: how the LLM correction went, for a job that asked for one (postprocess service). */
  complete(id: string, result: TranscriptResult, correction?: Correction): Promise<TransitionOutcome> {
    return this.transition(id, 'completed', 100, { result, correction });
  }

  /**
   * Stores the raw result of a job that asked for correction, leaving it `processing` (at
   * HELD_PROGRESS) until the postprocess step completes it. 'terminal' when it was canceled meanwhile.
   */
  async holdForCorrection(id: string, result: TranscriptResult): Promise<TransitionOutcome> {
    const reply = (await this.redis.eval(HOLD_SCRIPT, 1, jobKey(id), JSON.stringify(result), String(HELD_PROGRESS), this.now().toISOString())) as number;
    return reply === 1 ? 'applied' : reply === 0 ? 'terminal' : 'missing';
  }

  fail(id: string, error: JobError): Promise<TransitionOutcome> {
    return this.transition(id, 'failed', 0, { error });
  }

  async setProgress(id: string, progress: number): Promise<void> {
    const clamped = Math.max(0, Math.min(99, Math.floor(progress)));
    await this.redis.eval(PROGRESS_SCRIPT, 1, jobKey(id), String(clamped), this.now().toISOString());
  }

  private async transition(
    id: string,
    status: JobStatus,
    progress: number,
    extra: { result?: TranscriptResult; error?: JobError; correction?: Correction } = {},
  ): Promise<TransitionOutcome> {
    const reply = (await this.redis.eval(
      TRANSITION_SCRIPT,
      1,
      jobKey(id),
      status,
      String(progress),
      this.now().toISOString(),
      extra.result ? JSON.stringify(extra.result) : '',
      extra.error ? JSON.stringify(extra.error) : '',
      String(this.resultTtlMs + BACKSTOP_MS),
      extra.correction ? JSON.stringify(extra.correction) : '',
    )) as number;
    if (reply === 2) await this.settleTerminal(id);
    return reply >= 1 ? 'applied' : reply === 0 ? 'terminal' : 'missing';
  }

  /**
   * What follows a move into a terminal state: the job leaves its tenant's in-flight set, is due for
   * deletion after the retention time, and the terminal listeners run (they queue the webhook).
   * `transition` does this right after the move; a process that dies in between (killed, out of
   * memory, its shutdown grace period over) leaves it undone, so whoever next finds the job terminal,
   * such as a worker given the job again after it stalled, calls this too. Safe to repeat: the set and
   * index updates are idempotent, and so must listeners be (webhook deliveries are deduplicated by id).
   */
  async settleTerminal(id: string): Promise<void> {
    const record = await this.get(id);
    if (!record || !isTerminal(record.status)) return;
    const finishedAt = Date.parse(record.updated_at);
    await this.redis
      .multi()
      .zadd(EXPIRY_KEY, (Number.isFinite(finishedAt) ? finishedAt : this.now().getTime()) + this.resultTtlMs, id)
      .srem(activeKey(record.tenant), id)
      .exec();
    for (const listener of this.terminalListeners) await listener(record);
  }
}

/** The client-facing view of a record: no tenant, no storage key. */
export function toJobResource(record: JobRecord): JobResource {
  const resource: JobResource = {
    id: record.id,
    status: record.status,
    progress: record.status === 'completed' ? 100 : record.progress,
    created_at: record.created_at,
    updated_at: record.updated_at,
  };
  if (record.status === 'completed' && record.result) resource.result = record.result;
  if (record.status === 'failed' && record.error) resource.error = record.error;
  // a failed or canceled job never got (and never will get) its correction: nothing to show
  if (record.correction && record.status !== 'failed' && record.status !== 'canceled') resource.correction = record.correction;
  return resource;
}
