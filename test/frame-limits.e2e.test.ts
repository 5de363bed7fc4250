import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveFfmpeg } from '@talkie/media';
import { encodeTestVideo, withDeclaredDuration } from '../packages/media/src/media.testing';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { ARTIFACTS, startStack, type Stack } from './support/stack';

/**
 * The frame limit for containers that keep no frame count (Matroska, WebM), across gateway and
 * worker. It used to read such files as 0 frames, so a 2.3-MB .mkv of 110 s at 1000 fps passed
 * MAX_FRAMES and cost a worker ~22 s of CPU, while the same frames as .mp4 were refused.
 *
 * - the gateway estimates the count (duration × the higher frame rate) and refuses what is over
 *   MAX_FRAMES (1,000 here) with 422 too_many_frames, queueing and storing nothing;
 * - what no bounded probe can know (a header that lies about the duration, or gives none) reaches
 *   the worker, whose decoder stops once the source has given more frames than the worker's limit
 *   (14,400: 120 s × 120 fps) and fails the job with too_many_frames, leaving nothing behind.
 *
 * Black videos at 1000 fps: small, quick to make and to decode; those that reach the worker are
 * large enough for the demo model's centred crop.
 */
const FRAME = '160x120';
describe('frame limits where the container keeps no count (gateway MAX_FRAMES=1000, one worker)', () => {
  let stack: Stack;
  let ffmpeg: string;
  const dir = path.join(ARTIFACTS, 'frame-limits');
  const LEAK = /\/tmp|\/home|\/work|\.mkv|\.webm|ffmpeg|ffprobe|\n\s+at /;

  const uploadsLeft = async () => {
    const list = () => readdir(path.join(stack.storageDir, 'uploads')).catch(() => [] as string[]);
    for (let i = 0; i < 50 && (await list()).length; i++) await new Promise((r) => setTimeout(r, 100));
    return list();
  };
  const jobKeys = () => stack.redis.keys('talkie:job:*');

  beforeAll(async () => {
    await mkdir(dir, { recursive: true });
    ffmpeg = (await resolveFfmpeg()).ffmpeg;
    stack = await startStack({ name: 'frame-limits', workers: 1, gatewayEnv: { MAX_FRAMES: '1000' } });
  }, 90_000);
  afterAll(() => stack?.stop());

  it.each(['mkv', 'webm', 'mp4'])('refuses 1000 fps × 3 s as .%s at the gateway with 422 too_many_frames, queueing and storing nothing', async (ext) => {
    const file = path.join(dir, `1000fps-3s.${ext}`);
    encodeTestVideo(ffmpeg, file, { fps: 1000, seconds: 3 });
    const before = await jobKeys();
    const res = await submit(stack.baseUrl, stack.token('alice'), file);
    expect([res.status, res.body]).toEqual([422, { error: { code: 'too_many_frames', message: 'The video has more frames than allowed.', request_id: expect.any(String) } }]);
    expect(JSON.stringify(res.body)).not.toMatch(LEAK);
    expect(await jobKeys()).toEqual(before);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('fails the job of a .mkv whose header says 1 s of its 20 s at 1000 fps with too_many_frames, in the decoder, and removes its upload', async () => {
    const real = path.join(dir, '1000fps-20s.mkv');
    encodeTestVideo(ffmpeg, real, { fps: 1000, seconds: 20, size: FRAME });
    const lying = path.join(dir, '1000fps-20s-says-1s.mkv');
    await writeFile(lying, withDeclaredDuration(await readFile(real), 1));
    const token = stack.token('bob');
    // 1 s × 1000 fps: 1,000 frames as far as any prober can tell, within MAX_FRAMES
    const created = await submit(stack.baseUrl, token, lying);
    expect(created.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token, created.body.id, 60_000);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'too_many_frames', message: 'The video has more frames than allowed.' } });
    expect(JSON.stringify(job)).not.toMatch(LEAK);
    expect(await uploadsLeft()).toEqual([]);
  }, 90_000);

  it('fails the job of a .mkv with no duration at all (written through a pipe, as a live recording is) the same way', async () => {
    const piped = path.join(dir, '1000fps-20s-piped.mkv');
    encodeTestVideo(ffmpeg, piped, { fps: 1000, seconds: 20, size: FRAME, piped: true });
    const token = stack.token('carol');
    const created = await submit(stack.baseUrl, token, piped);
    expect(created.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token, created.body.id, 60_000);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'too_many_frames' } });
    expect(await uploadsLeft()).toEqual([]);
  }, 90_000);

  it('still reads an ordinary 25 fps .mkv and .webm (whose estimate is within the limit)', async () => {
    const token = stack.token('dave');
    for (const format of ['mkv', 'webm'] as const) {
      const video = await fixture('FRAME LIMITS', { format });
      const created = await submit(stack.baseUrl, token, video.file);
      expect([format, created.status]).toEqual([format, 202]);
      const job = await waitForJob(stack.baseUrl, token, created.body.id, 60_000);
      expect([format, job.status, job.result?.text]).toEqual([format, 'completed', video.text]);
    }
  }, 90_000);
});
