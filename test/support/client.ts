import { openAsBlob } from 'node:fs';
import path from 'node:path';
import type { JobResource } from '@talkie/contracts';

export interface HttpAnswer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

async function answer<T>(res: Response): Promise<HttpAnswer<T>> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

export interface SubmitOptions {
  /** the multipart field that carries the file: `video` unless a test checks another */
  field?: string;
  /** other form fields (correct, webhook_url…), sent before the file */
  fields?: Record<string, string>;
}

/** POST /v1/jobs with `file` in the multipart field `video` (or `options.field`), after `options.fields`. */
export async function submit(
  baseUrl: string,
  token: string | undefined,
  file: string,
  { field = 'video', fields = {} }: SubmitOptions = {},
): Promise<HttpAnswer<JobResource & { error?: { code: string; message: string } }>> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append(field, await openAsBlob(file), path.basename(file));
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return answer(await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form, headers }));
}

export async function getJob(baseUrl: string, token: string | undefined, id: string): Promise<HttpAnswer<JobResource & { error?: { code: string; message: string } }>> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return answer(await fetch(`${baseUrl}/v1/jobs/${id}`, { headers }));
}

/** Polls until the job is terminal; returns the final resource. */
export async function waitForJob(baseUrl: string, token: string, id: string, timeoutMs = 60_000): Promise<JobResource> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await getJob(baseUrl, token, id);
    if (status !== 200) throw new Error(`GET job answered ${status}: ${JSON.stringify(body)}`);
    if (['completed', 'failed', 'canceled'].includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
