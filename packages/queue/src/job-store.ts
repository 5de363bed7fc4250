import type { Redis } from 'ioredis';
import {
  isTerminal,
  JobResource,
  JobStatus,
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
  result?: TranscriptResult;
  error?: JobError;
}

const KEY_PREFIX = 'talkie:job:';
const jobKey = (id: string) => `${KEY_PREFIX}${id}`;

/**
 * Moves a job record to a new status, atomically, and refuses to leave a terminal state: a job
 * canceled while a worker finishes it stays canceled, and a retried job never overwrites a result.
 * KEYS[1] job hash; ARGV: status, progress, updated_at, result json|'', error json|'', ttl_ms
 * Returns 1 when applied, 0 when the job is terminal already, -1 when it does not exist.
 */
const TRANSITION_SCRIPT = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return -1 end
if current == 'completed' or current == 'failed' or current == 'canceled' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'progress', ARGV[2], 'updated_at', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[5]) end
if ARGV[1] == 'completed' or ARGV[1] == 'failed' or ARGV[1] == 'canceled' then
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
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

export type TransitionOutcome = 'applied' | 'terminal' | 'missing';

/**
 * The job records clients read. One Redis hash per job keeps a status poll to a single HGETALL,
 * independent of BullMQ's internal layout; terminal records expire after `resultTtlMs`.
 */
export class JobStore {
  constructor(
    private readonly redis: Redis,
    private readonly resultTtlMs: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(input: { id: string; tenant: string; upload_key: string }): Promise<JobRecord> {
    const at = this.now().toISOString();
    const record: JobRecord = { ...input, status: 'queued', progress: 0, created_at: at, updated_at: at };
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
      })
      // A job never picked up (queue lost, bug) must not live forever either.
      .pexpire(jobKey(input.id), this.resultTtlMs * 2)
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
      ...(hash.result ? { result: JSON.parse(hash.result) as TranscriptResult } : {}),
      ...(hash.error ? { error: JSON.parse(hash.error) as JobError } : {}),
    };
  }

  async delete(id: string): Promise<void> {
    await this.redis.del(jobKey(id));
  }

  markProcessing(id: string): Promise<TransitionOutcome> {
    return this.transition(id, 'processing', 0);
  }

  /** Back to the queue, e.g. before a retry. */
  requeue(id: string): Promise<TransitionOutcome> {
    return this.transition(id, 'queued', 0);
  }

  complete(id: string, result: TranscriptResult): Promise<TransitionOutcome> {
    return this.transition(id, 'completed', 100, { result });
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
    extra: { result?: TranscriptResult; error?: JobError } = {},
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
      String(this.resultTtlMs),
    )) as number;
    return reply === 1 ? 'applied' : reply === 0 ? 'terminal' : 'missing';
  }
}

/** The client-facing view of a record: no tenant, no storage key. */
export function toJobResource(record: JobRecord): JobResource {
  const resource: JobResource = {
    id: record.id,
    status: record.status,
    progress: isTerminal(record.status) && record.status === 'completed' ? 100 : record.progress,
    created_at: record.created_at,
    updated_at: record.updated_at,
  };
  if (record.status === 'completed' && record.result) resource.result = record.result;
  if (record.status === 'failed' && record.error) resource.error = record.error;
  return resource;
}
