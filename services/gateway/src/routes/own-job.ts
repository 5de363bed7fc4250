import type { Request } from 'express';
import { JobId } from '@talkie/contracts';
import type { JobRecord, JobStore } from '@talkie/queue';

/**
 * The job named in the path, if it exists and belongs to the caller's tenant. Every job route goes
 * through this: another tenant's job is indistinguishable from a missing one (404).
 */
export async function findOwnJob(store: JobStore, req: Request<{ id: string }>): Promise<JobRecord | null> {
  if (!JobId.safeParse(req.params.id).success) return null;
  const record = await store.get(req.params.id);
  return record && record.tenant === req.principal!.tenant ? record : null;
}
