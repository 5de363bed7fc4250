import { mkdirSync, openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { demoManifest, renderFixture, writeDemoModel } from '@talkie/demo-model';
import { renderTwoFaces, type TwoFacesFixture } from '@talkie/faces/testing';
import type { JobResource } from '@talkie/contracts';
import { resolveFfmpeg } from '@talkie/media';
import { submit, waitForJob } from './support/client';
import { writeLandmarksDemoModel } from './support/fixtures';
import { ARTIFACTS, startStack, type Stack } from './support/stack';

/**
 * Issue 17 end to end: gateway and worker as separate processes, real Redis, real ffmpeg,
 * onnxruntime-node. The lip package is the demo model with `roi.mode: landmarks` and Talkie's
 * synthetic face package; the video has two moving faces, the left one speaking the sentence, the
 * right one silent. The worker must read the speaker by default, each face with `face=all`, the
 * one asked for by index, and say how well it followed the face and what a client should warn of.
 */
jest.setTimeout(240_000);

const TEXT = 'READ MY LIPS';
/** many jobs polled by one tenant: the default request rate limit is not what is tested here */
const GATEWAY = { RATE_LIMIT_MAX: '100000', RATE_LIMIT_JOBS_MAX: '1000' };

let tmp: string;
let two: TwoFacesFixture;
/** the same two faces at 30 frames per second: the 25 fps model resamples them */
let two30: TwoFacesFixture;

async function transcribe(stack: Stack, file: string, fields: Record<string, string> = {}): Promise<JobResource> {
  const token = stack.token('alice');
  const created = await submit(stack.baseUrl, token, file, { fields });
  expect(created.status).toBe(202);
  return waitForJob(stack.baseUrl, token, created.body.id, 180_000);
}

const centreX = (box: { x: number; width: number }) => box.x + box.width / 2;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-faces-e2e-'));
  const bins = await resolveFfmpeg();
  const fixtures = path.join(ARTIFACTS, 'fixtures');
  mkdirSync(fixtures, { recursive: true });
  two = await renderTwoFaces({ text: TEXT, out: path.join(fixtures, 'two-faces-left-speaks-READ_MY_LIPS.mp4'), ffmpeg: bins.ffmpeg, speaker: 'left' });
  two30 = await renderTwoFaces({ text: 'HI', out: path.join(fixtures, 'two-faces-30fps-HI.mp4'), ffmpeg: bins.ffmpeg, speaker: 'right', fps: 30 });
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('several faces in the worker (roi.mode landmarks)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ name: 'several-faces', workers: 1, gatewayEnv: GATEWAY, workerEnv: { MODEL_DIR: await writeLandmarksDemoModel(path.join(tmp, 'several-faces')) } });
  }, 90_000);
  afterAll(() => stack?.stop());

  it('reads the active speaker by default, lists both faces, and boxes each word on the speaker', async () => {
    const job = await transcribe(stack, two.file);
    expect(job.error).toBeUndefined();
    const result = job.result!;
    expect(result.text).toBe(TEXT);
    expect(result.model).toMatchObject({ demo: true });
    expect(result.faces).toHaveLength(2);
    const [left, right] = result.faces!;
    expect(Math.abs(centreX(left.box) - 110)).toBeLessThan(15);
    expect(Math.abs(centreX(right.box) - 370)).toBeLessThan(15);
    expect([left.chosen, right.chosen]).toEqual([true, false]);
    expect(left.activity).toBeGreaterThan(3 * right.activity);
    expect(result.face_track).toEqual({
      index: 0,
      frames: two.frames,
      detected_frames: two.frames,
      interpolated_frames: 0,
      longest_gap_frames: 0,
      mean_detector_score: expect.any(Number),
      source_fps: 25,
      model_fps: 25,
    });
    expect(result.segments.map((s) => s.text)).toEqual(['READ', 'MY', 'LIPS']);
    for (const segment of result.segments) expect(Math.abs(centreX(segment.face!) - 110)).toBeLessThan(15);
    expect(result.warnings!.map((w) => w.code)).toEqual(['demo_model', 'several_faces']);
    expect(result.tracks).toBeUndefined();
  });

  it('with face=all, returns one transcript per face: the sentence from the speaker, nothing from the silent one', async () => {
    const job = await transcribe(stack, two.file, { face: 'all' });
    expect(job.error).toBeUndefined();
    const result = job.result!;
    expect(result.text).toBe(TEXT); // the active speaker's
    expect(result.tracks!.map((t) => [t.face, t.text])).toEqual([
      [0, TEXT],
      [1, ''],
    ]);
    expect(result.tracks!.map((t) => t.face_track.detected_frames)).toEqual([two.frames, two.frames]);
    expect(result.faces!.map((f) => f.chosen)).toEqual([true, true]);
  });

  it('with face=1, reads the silent face', async () => {
    const job = await transcribe(stack, two.file, { face: '1' });
    expect(job.status).toBe('completed');
    expect(job.result!.text).toBe('');
    expect(job.result!.face_track!.index).toBe(1);
    expect(job.result!.faces!.map((f) => f.chosen)).toEqual([false, true]);
  });

  it('fails a face index the video does not have with face_not_found', async () => {
    const job = await transcribe(stack, two.file, { face: '3' });
    expect(job.status).toBe('failed');
    expect(job.error).toEqual({ code: 'face_not_found', message: expect.stringContaining('2 face tracks') });
  });

  it.each(['speaker', '4', '-1', '01', ''])('refuses face=%p with 400 invalid_request', async (face) => {
    const created = await submit(stack.baseUrl, stack.token('alice'), two.file, { fields: { face } });
    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({ error: { code: 'invalid_request' } });
    expect(JSON.stringify(created.body)).not.toMatch(/\/tmp|at .*\.js/);
  });

  it('joins face to the Idempotency-Key fingerprint only when it is not the default', async () => {
    const post = async (key: string, fields: Record<string, string>) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      form.append('video', await openAsBlob(two.file), 'two.mp4');
      const res = await fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', body: form, headers: { authorization: `Bearer ${stack.token('alice')}`, 'idempotency-key': key } });
      return { status: res.status, body: (await res.json()) as { id?: string; error?: { code: string } } };
    };
    const first = await post('faces-all-1', { face: 'all' });
    expect(first.status).toBe(202);
    expect((await post('faces-all-1', { face: 'all' })).body.id).toBe(first.body.id);
    expect(await post('faces-all-1', {})).toMatchObject({ status: 409, body: { error: { code: 'idempotency_conflict' } } });
    expect(await post('faces-all-1', { face: '0' })).toMatchObject({ status: 409 });
    // face=active is the default: the same request as none (keys used before the field still replay)
    const plain = await post('faces-default-1', {});
    expect(plain.status).toBe(202);
    expect(await post('faces-default-1', { face: 'active' })).toMatchObject({ status: 200, body: { id: plain.body.id } });
    const token = stack.token('alice');
    for (const id of [first.body.id!, plain.body.id!]) expect((await waitForJob(stack.baseUrl, token, id, 180_000)).status).toBe('completed');
  });

  it('says frame_rate_resampled for a 30 fps video read at the model’s 25', async () => {
    const job = await transcribe(stack, two30.file);
    expect(job.status).toBe('completed');
    expect(job.result!.face_track).toMatchObject({ index: 1, source_fps: 30, model_fps: 25 });
    expect(job.result!.warnings!.map((w) => w.code)).toEqual(['demo_model', 'frame_rate_resampled', 'several_faces']);
  });
});

describe('several faces on a long video, in windows (CHUNK_SECONDS)', () => {
  let stack: Stack;
  beforeAll(async () => {
    const modelDir = await writeLandmarksDemoModel(path.join(tmp, 'several-faces-chunked'));
    stack = await startStack({ name: 'several-faces-chunked', workers: 1, gatewayEnv: GATEWAY, workerEnv: { MODEL_DIR: modelDir, CHUNK_SECONDS: '1', CHUNK_OVERLAP_S: '0' } });
  }, 90_000);
  afterAll(() => stack?.stop());

  it('reads the speaker in every window and merges the windows’ track quality and warnings', async () => {
    expect(two.frames / two.fps).toBeGreaterThan(2); // several windows
    const job = await transcribe(stack, two.file);
    expect(job.error).toBeUndefined();
    const result = job.result!;
    expect(result.frames).toBe(two.frames);
    expect(result.face_track).toMatchObject({ frames: two.frames, detected_frames: two.frames, interpolated_frames: 0, source_fps: 25, model_fps: 25 });
    expect(result.warnings!.map((w) => w.code)).toEqual(['demo_model', 'several_faces']);
    expect(result.model).toMatchObject({ demo: true });
    for (const segment of result.segments) expect(Math.abs(centreX(segment.face!) - 110)).toBeLessThan(15);
  });
});

describe('warnings for a model without tracking (roi.mode center)', () => {
  let stack: Stack;
  beforeAll(async () => {
    const dir = path.join(tmp, 'demo-center');
    await writeDemoModel(dir);
    stack = await startStack({ name: 'several-faces-center', workers: 1, gatewayEnv: GATEWAY, workerEnv: { MODEL_DIR: dir } });
  }, 90_000);
  afterAll(() => stack?.stop());

  it('marks a demo model’s result as such, with no face fields', async () => {
    const bins = await resolveFfmpeg();
    const fixture = await renderFixture({ text: 'HI', out: path.join(tmp, 'hi.mp4'), ffmpeg: bins.ffmpeg });
    const job = await transcribe(stack, fixture.file);
    expect(job.status).toBe('completed');
    expect(job.result!.text).toBe('HI');
    expect(job.result!.model).toMatchObject({ name: demoManifest().name, demo: true });
    expect(job.result!.warnings).toEqual([{ code: 'demo_model', message: expect.stringContaining('demo model') }]);
    expect(job.result).not.toHaveProperty('face_track');
    expect(job.result).not.toHaveProperty('faces');
  });
});
