import { mkdirSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { JobResource } from '@talkie/contracts';
import { getJob } from '../support/client';
import { fixture } from '../support/fixtures';
import { ARTIFACTS, startStack, type Stack } from '../support/stack';
import { inFlight, say, sleep } from './support/faults';

/**
 * Case 8: 100 uploads at once from 10 tenants, valid and invalid mixed, against a gateway and two
 * workers. Every valid upload is accepted and completes with its own transcript; every invalid one
 * gets its 4xx with its code; each tenant's job list holds exactly its own jobs, and no tenant can
 * read another's job.
 */
const TENANTS = 10;
const PER_TENANT = 10;

const VALID = [
  { text: 'ONE TWO', format: 'mp4', fps: 25 },
  { text: 'THREE', format: 'webm', fps: 25 },
  { text: 'FOUR FIVE', format: 'mov', fps: 16 },
  { text: 'SIX', format: 'mkv', fps: 30 },
  { text: 'SEVEN EIGHT NINE', format: 'mp4', fps: 30 },
  { text: "DON'T LEAK", format: 'avi', fps: 25 },
] as const;

type Upload =
  | { kind: 'valid'; file: string; name: string; text: string }
  | { kind: 'invalid'; file: string; name: string; field?: string; status: number; code: string; what: string };

describe('fault: 100 concurrent uploads from 10 tenants, valid and invalid mixed', () => {
  let stack: Stack;
  const invalid: Array<Extract<Upload, { kind: 'invalid' }>> = [];
  const valid: Array<Extract<Upload, { kind: 'valid' }>> = [];

  beforeAll(async () => {
    const rendered = await Promise.all(VALID.map((v) => fixture(v.text, { format: v.format, fps: v.fps })));
    rendered.forEach((r, i) => valid.push({ kind: 'valid', file: r.file, name: `clip.${VALID[i].format}`, text: r.text }));
    const dir = path.join(ARTIFACTS, 'fault-inputs');
    mkdirSync(dir, { recursive: true });
    const mp4 = await readFile(rendered[0].file);
    const files = { text: path.join(dir, 'notes.mp4'), empty: path.join(dir, 'empty.mp4'), truncated: path.join(dir, 'truncated.mp4') };
    await writeFile(files.text, 'not a video at all\n'.repeat(50));
    await writeFile(files.empty, '');
    await writeFile(files.truncated, mp4.subarray(0, 48)); // MP4 magic bytes, no video: ffprobe refuses it
    invalid.push(
      { kind: 'invalid', what: 'text named .mp4', file: files.text, name: 'notes.mp4', status: 415, code: 'unsupported_media_type' },
      { kind: 'invalid', what: 'empty file', file: files.empty, name: 'empty.mp4', status: 415, code: 'unsupported_media_type' },
      { kind: 'invalid', what: 'truncated MP4', file: files.truncated, name: 'cut.mp4', status: 422, code: 'invalid_media' },
      { kind: 'invalid', what: 'WebM bytes named .mp4', file: rendered[1].file, name: 'liar.mp4', status: 415, code: 'unsupported_media_type' },
      { kind: 'invalid', what: '.txt extension', file: rendered[0].file, name: 'clip.txt', status: 415, code: 'unsupported_media_type' },
      { kind: 'invalid', what: 'file in the wrong field', file: rendered[0].file, name: 'clip.mp4', field: 'file', status: 400, code: 'unexpected_field' },
    );
    stack = await startStack({
      name: 'fault-tenants',
      workers: 2,
      gatewayEnv: { RATE_LIMIT_MAX: '100000', RATE_LIMIT_JOBS_MAX: '1000', MAX_JOBS_IN_FLIGHT: '100' },
    });
  }, 120_000);
  afterAll(() => stack?.stop());

  it('completes every valid job with its transcript, refuses every invalid one with its 4xx, and keeps tenants apart', async () => {
    // 6 valid and 4 invalid uploads per tenant, interleaved differently per tenant
    const ordered: Array<{ tenant: string; upload: Upload }> = [];
    for (let t = 0; t < TENANTS; t++) {
      for (let i = 0; i < PER_TENANT; i++) {
        ordered.push({ tenant: `tenant-${t}`, upload: i % 5 < 3 ? valid[(t + i) % valid.length] : invalid[(t + i) % invalid.length] });
      }
    }
    // a fixed shuffle, so tenants' uploads arrive interleaved
    const plan = ordered.map((p, i) => ({ p, key: (i * 37) % 101 })).sort((a, b) => a.key - b.key).map((x) => x.p);

    const started = Date.now();
    const answers = await Promise.all(
      plan.map(async ({ tenant, upload }) => {
        const token = stack.token(tenant);
        const blob = new Blob([await readFile(upload.file)]);
        const form = new FormData();
        form.append(upload.kind === 'invalid' && upload.field ? upload.field : 'video', blob, upload.name);
        const res = await fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } });
        return { tenant, upload, status: res.status, body: (await res.json()) as { id?: string; error?: { code: string } } };
      }),
    );
    const answeredMs = Date.now() - started;
    say(`case 8: injected ${plan.length} concurrent uploads from ${TENANTS} tenants (${plan.filter((p) => p.upload.kind === 'valid').length} valid, ${plan.filter((p) => p.upload.kind === 'invalid').length} invalid) at 2 workers`);

    const wrongAnswers = answers.filter((a) =>
      a.upload.kind === 'valid' ? a.status !== 202 : a.status !== a.upload.status || a.body.error?.code !== a.upload.code,
    );
    const accepted = answers.filter((a) => a.status === 202);

    // wait for every accepted job through each tenant's own list
    const lists = new Map<string, JobResource[]>();
    const deadline = Date.now() + 120_000;
    for (;;) {
      await Promise.all(
        Array.from({ length: TENANTS }, async (_, t) => {
          const tenant = `tenant-${t}`;
          const res = await fetch(`${stack.baseUrl}/v1/jobs?limit=100`, { headers: { authorization: `Bearer ${stack.token(tenant)}` } });
          lists.set(tenant, ((await res.json()) as { data: JobResource[] }).data);
        }),
      );
      const all = [...lists.values()].flat();
      if (all.length >= accepted.length && all.every((j) => ['completed', 'failed', 'canceled'].includes(j.status))) break;
      if (Date.now() > deadline) break;
      await sleep(500);
    }
    const doneMs = Date.now() - started;

    const byId = new Map([...lists.entries()].flatMap(([tenant, jobs]) => jobs.map((j) => [j.id, { tenant, job: j }] as const)));
    const wrongResults = accepted.filter((a) => {
      const seen = byId.get(a.body.id!);
      return !seen || seen.tenant !== a.tenant || seen.job.status !== 'completed' || seen.job.result?.text !== (a.upload as { text: string }).text;
    });
    const listMismatch = Array.from({ length: TENANTS }, (_, t) => `tenant-${t}`).filter((tenant) => {
      const own = accepted.filter((a) => a.tenant === tenant).map((a) => a.body.id!).sort();
      return JSON.stringify((lists.get(tenant) ?? []).map((j) => j.id).sort()) !== JSON.stringify(own);
    });
    // every tenant tries to read the next tenant's jobs
    const crossReads = await Promise.all(
      accepted.map(async (a) => {
        const other = `tenant-${(Number(a.tenant.split('-')[1]) + 1) % TENANTS}`;
        return (await getJob(stack.baseUrl, stack.token(other), a.body.id!)).status;
      }),
    );
    const uploadsLeft = await readdir(path.join(stack.storageDir, 'uploads')).catch(() => []);
    const inFlightLeft = await Promise.all(Array.from({ length: TENANTS }, (_, t) => inFlight(stack, `tenant-${t}`)));
    const statusCounts = answers.reduce<Record<string, number>>((acc, a) => {
      const key = `${a.status}${a.body.error ? ` ${a.body.error.code}` : ''}`;
      acc[key] = (acc[key] ?? 0) + 1;
      return acc;
    }, {});

    say('case 8: observed', {
      answers: statusCounts,
      all_answered_ms: answeredMs,
      all_done_ms: doneMs,
      wrong_answers: wrongAnswers.map((a) => `${a.tenant} ${a.upload.kind === 'invalid' ? a.upload.what : a.upload.text}: ${a.status} ${a.body.error?.code ?? ''}`),
      jobs_completed_right: accepted.length - wrongResults.length,
      jobs_wrong: wrongResults.length,
      per_tenant_list_sizes: [...lists.values()].map((l) => l.length),
      lists_not_exactly_own: listMismatch,
      cross_tenant_reads: crossReads.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {}),
      uploads_left_in_storage: uploadsLeft.length,
      in_flight_left: inFlightLeft.reduce((a, b) => a + b, 0),
    });
    expect(plan).toHaveLength(TENANTS * PER_TENANT);
    expect(wrongAnswers).toEqual([]);
    expect(accepted).toHaveLength(60);
    expect(wrongResults).toEqual([]);
    expect(listMismatch).toEqual([]);
    expect(crossReads.every((s) => s === 404)).toBe(true);
    expect(uploadsLeft).toEqual([]);
    expect(inFlightLeft.every((n) => n === 0)).toBe(true);
  }, 180_000);
});
