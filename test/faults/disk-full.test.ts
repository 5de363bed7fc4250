import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { waitForJob } from '../support/client';
import { fixture } from '../support/fixtures';
import { startStack, waitUntil, type Stack } from '../support/stack';
import { POLLING_GATEWAY_ENV, say, submitForm } from './support/faults';

/**
 * Case 7: the upload disk fills. STORAGE_URL points at a 2 MiB tmpfs (or, where tmpfs cannot be
 * mounted, a loop-mounted 4 MiB ext4 image; where neither can be, the case is skipped with its
 * reason). A full disk, and an upload larger than the disk, are answered with a clean 507
 * (insufficient_storage) with Retry-After, leave no partial file and no job behind, and the service
 * takes uploads again as soon as space returns.
 */
const SIZE = '2m';

/** Mounts a small filesystem at a new folder: tmpfs first, then a loop-mounted ext4 image. */
function mountSmallDisk(): { dir: string; kind: string; unmount(): void } | { skip: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'talkie-fault-disk-'));
  const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
  const tmpfs = run('mount', ['-t', 'tmpfs', '-o', `size=${SIZE},mode=0700`, 'tmpfs', dir]);
  if (tmpfs.status === 0) return { dir, kind: `tmpfs size=${SIZE}`, unmount: () => (run('umount', [dir]), rmdirSync(dir)) };
  const image = `${dir}.img`;
  const mk = run('sh', ['-c', `truncate -s 4M '${image}' && mkfs.ext4 -q -F '${image}'`]);
  const loop = mk.status === 0 ? run('mount', ['-o', 'loop', image, dir]) : mk;
  if (loop.status === 0) {
    return { dir, kind: 'loop-mounted ext4 image of 4 MiB', unmount: () => (run('umount', [dir]), rmdirSync(dir), rmSync(image, { force: true })) };
  }
  rmdirSync(dir);
  rmSync(image, { force: true });
  return { skip: `cannot mount a small filesystem here: tmpfs: ${tmpfs.stderr.trim() || tmpfs.error?.message}; loop ext4: ${loop.stderr?.trim() || loop.error?.message}` };
}

const disk = mountSmallDisk();
if ('skip' in disk) say(`case 7: SKIPPED: ${disk.skip}`);
const describeIfDisk = 'skip' in disk ? describe.skip : describe;

describeIfDisk('fault: the upload disk fills', () => {
  const mount = disk as Exclude<typeof disk, { skip: string }>;
  let stack: Stack;
  const tenant = 'fault-disk';
  const uploads = path.join(mount.dir, 'uploads');
  const ballast = path.join(mount.dir, 'ballast');

  beforeAll(async () => {
    mkdirSync(uploads, { recursive: true });
    stack = await startStack({ name: 'fault-disk', storageDir: mount.dir, gatewayEnv: POLLING_GATEWAY_ENV });
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
    mount.unmount();
  });

  const free = async () => {
    const s = await statfs(mount.dir);
    return s.bavail * s.bsize;
  };
  const leftovers = async () => readdir(uploads);
  const fill = async () => {
    // write until the disk refuses: ENOSPC is the fault
    const chunk = Buffer.alloc(64 * 1024, 1);
    const handle = await open(ballast, 'w');
    try {
      for (;;) await handle.write(chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      await handle.close();
    }
    return (await stat(ballast)).size;
  };
  const expectClean507 = async (res: Awaited<ReturnType<typeof submitForm>>) => {
    expect([507, 503]).toContain(res.status);
    expect(res.body.error?.code).toBe(res.status === 507 ? 'insufficient_storage' : 'service_unavailable');
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(JSON.stringify(res.body)).not.toMatch(/\/tmp|ENOSPC|at .*\.js/);
    expect(await leftovers()).toEqual([]);
    expect(await stack.redis.keys('talkie:job:*')).toEqual([]);
  };

  it('a full disk: 507 with Retry-After, nothing left behind; uploads work again once space returns', async () => {
    const token = stack.token(tenant);
    const video = await fixture('ROOM TO SPARE');
    const ballastBytes = await fill();
    say(`case 7: injected a full upload disk (${mount.kind}, ballast ${ballastBytes} bytes, ${await free()} bytes free)`);
    const refused = await submitForm(stack, token, video.file);
    const readyz = await fetch(`${stack.baseUrl}/readyz`).then((r) => r.status);
    const list = (await (await fetch(`${stack.baseUrl}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } })).json()) as { data: unknown[] };
    say('case 7: observed with the disk full', {
      answer: refused.status,
      code: refused.body.error?.code,
      retry_after: refused.headers.get('retry-after'),
      files_in_uploads: await leftovers(),
      jobs_listed: list.data.length,
      readyz,
    });
    await expectClean507(refused);
    expect(list.data).toEqual([]);

    await rm(ballast);
    const accepted = await submitForm(stack, token, video.file);
    expect(accepted.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token, accepted.body.id, 30_000);
    // the worker removes the upload right after recording the job completed (in that order, so a
    // crash in between never loses an upload a retry would need): give it a moment
    await waitUntil(async () => (await leftovers()).length === 0, 'the upload to be removed after completion', 5_000, 20).catch(() => undefined);
    say('case 7: observed once space returned', { answer: accepted.status, job: job.status, text: job.result?.text, files_in_uploads: await leftovers(), free_bytes: await free() });
    expect(job).toMatchObject({ status: 'completed', result: { text: 'ROOM TO SPARE' } });
    expect(await leftovers()).toEqual([]);
    await stack.redis.flushdb();
  }, 60_000);

  it('an upload larger than the disk: 507 mid-stream, the partial file removed, space back, next upload fine', async () => {
    const token = stack.token(tenant);
    const video = await fixture('STILL ROOM');
    const freeBefore = await free();
    // real MP4 magic bytes (so the upload is streamed to the disk), then more bytes than the disk holds
    const big = path.join(mount.dir, '..', `talkie-fault-big-${process.pid}.mp4`);
    await writeFile(big, Buffer.concat([await readFile(video.file), Buffer.alloc(freeBefore + 1024 * 1024, 9)]));
    try {
      say(`case 7: injected an upload of ${(await stat(big)).size} bytes onto a disk with ${freeBefore} bytes free`);
      const refused = await submitForm(stack, token, big);
      const freeAfter = await free();
      say('case 7: observed', { answer: refused.status, code: refused.body.error?.code, retry_after: refused.headers.get('retry-after'), files_in_uploads: await leftovers(), free_before: freeBefore, free_after: freeAfter });
      await expectClean507(refused);
      expect(freeAfter).toBe(freeBefore);
    } finally {
      await rm(big, { force: true });
    }
    const accepted = await submitForm(stack, token, video.file);
    expect(accepted.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token, accepted.body.id, 30_000);
    expect(job).toMatchObject({ status: 'completed', result: { text: 'STILL ROOM' } });
    await mkdir(uploads, { recursive: true });
  }, 60_000);
});
