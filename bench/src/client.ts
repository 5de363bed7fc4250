import { openAsBlob } from 'node:fs';
import path from 'node:path';

export interface JobView {
  id: string;
  status: string;
  progress: number;
  updated_at: string;
  result?: { text: string; frames: number };
  error?: { code: string; message: string };
}

/** POST /v1/jobs with the file in the multipart field `video`; throws unless the job was accepted. */
export async function submit(baseUrl: string, token: string, file: string): Promise<JobView> {
  const form = new FormData();
  form.append('video', await openAsBlob(file), path.basename(file));
  const res = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`POST /v1/jobs answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as JobView;
}

export async function getJob(baseUrl: string, token: string, id: string): Promise<JobView> {
  const res = await fetch(`${baseUrl}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /v1/jobs/${id} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as JobView;
}

export const TERMINAL = new Set(['completed', 'failed', 'canceled']);

/** Polls every `everyMs` until the job is terminal. */
export async function waitForJob(baseUrl: string, token: string, id: string, timeoutMs = 120_000, everyMs = 50): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(baseUrl, token, id);
    if (TERMINAL.has(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
