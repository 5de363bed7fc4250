import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { demoManifest, writeDemoModel } from '@talkie/demo-model';
import { autoAvsrAlignment } from '@talkie/faces';
import { renderMovingMouth, syntheticMeanFace, writeSyntheticFaceModels, type MovingMouthFixture } from '@talkie/faces/testing';
import type { JobResource } from '@talkie/contracts';
import { resolveFfmpeg } from '@talkie/media';
import { submit, waitForJob } from './support/client';
import { gridDir } from './support/shared-data';
import { ARTIFACTS, startStack, type Stack } from './support/stack';

/**
 * Issues 5 and 10 end to end: gateway and worker as separate processes, real Redis, real ffmpeg,
 * onnxruntime-node. The lip package is the demo model with `roi.mode: landmarks` and Talkie's
 * synthetic face package inside it; the video's "mouth" travels across the frame, so the demo model
 * reads the sentence only if the worker's tracker follows it. The same video through a `center`
 * package must not read right, or this test could not fail.
 */
jest.setTimeout(180_000);

const TEXT = 'READ MY LIPS';

let tmp: string;
let moving: MovingMouthFixture;
let testsrc: string;
let grid: string;

/** GRID's real speaker (Cooke et al. 2006, CC BY 4.0), read in place from ../shared/data/grid */
const GRID_CLIP = path.join(gridDir(), 'bbaf2n.mpg');

/** A lip package: the demo graph with the given ROI (and the synthetic face package in `faces/`, and `extra` files). */
async function lipPackage(name: string, roi: object, extra: Record<string, string> = {}): Promise<string> {
  const dir = path.join(tmp, name);
  await writeDemoModel(dir);
  await writeFile(path.join(dir, 'model.json'), JSON.stringify({ ...demoManifest(), roi }, null, 2));
  await writeSyntheticFaceModels(path.join(dir, 'faces'));
  for (const [file, text] of Object.entries(extra)) await writeFile(path.join(dir, file), text);
  return dir;
}

/** A gateway and one worker that runs a lip package with `roi`. */
async function lipStack(name: string, roi: object, extra?: Record<string, string>): Promise<Stack> {
  return startStack({ name, workers: 1, workerEnv: { MODEL_DIR: await lipPackage(name, roi, extra) } });
}

/** Submits `file` (accepted: 202) and waits for its job to end. */
async function transcribe(stack: Stack, file: string): Promise<JobResource> {
  const token = stack.token('alice');
  const created = await submit(stack.baseUrl, token, file);
  expect(created.status).toBe(202);
  return waitForJob(stack.baseUrl, token, created.body.id, 120_000);
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-mouth-e2e-'));
  const bins = await resolveFfmpeg();
  const fixtures = path.join(ARTIFACTS, 'fixtures');
  mkdirSync(fixtures, { recursive: true });
  moving = await renderMovingMouth({ text: TEXT, out: path.join(fixtures, 'moving-mouth-READ_MY_LIPS.mp4'), ffmpeg: bins.ffmpeg });
  testsrc = path.join(fixtures, 'testsrc-no-face.mp4');
  execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=2', '-pix_fmt', 'yuv420p', testsrc]);
  // uploads are MP4/MOV/WebM/MKV/AVI, GRID is MPEG-PS: re-encoded into the temporary folder
  grid = path.join(tmp, 'bbaf2n.mp4');
  execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-i', GRID_CLIP, '-an', '-c:v', 'libx264', '-crf', '16', '-pix_fmt', 'yuv420p', grid]);
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('mouth tracking (roi.mode landmarks) in the worker', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await lipStack('mouth-tracking', { mode: 'landmarks', face_package: 'faces', crop: { width: 96, height: 96 } });
  }, 90_000);
  afterAll(() => stack?.stop());

  it('follows a mouth moving across the frame and reads the exact sentence, with word timings', async () => {
    const job = await transcribe(stack, moving.file);
    expect(job.error).toBeUndefined();
    expect(job.status).toBe('completed');
    expect(job.result!.text).toBe(TEXT);
    expect(job.result!.frames).toBe(moving.frames);
    const segments = job.result!.segments;
    expect(segments.map((s) => s.text)).toEqual(moving.words.map((w) => w.text));
    segments.forEach((segment, i) => {
      expect(Math.abs(segment.start - moving.words[i].start)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(segment.end - moving.words[i].end)).toBeLessThanOrEqual(0.1);
    });
  });

  it('fails a video without a face (ffmpeg testsrc) with no_face_detected', async () => {
    const job = await transcribe(stack, testsrc);
    expect(job.status).toBe('failed');
    expect(job.error).toEqual({ code: 'no_face_detected', message: expect.any(String) });
  });
});

describe("mouth tracking with Auto-AVSR's crop geometry (roi.alignment mean_face) in the worker", () => {
  let stack: Stack;
  beforeAll(async () => {
    // the package's mean face: the synthetic face's template (Talkie's, not upstream's), so the
    // registered crops show the fixture at scale 1, as the demo model reads it
    const roi = { mode: 'landmarks', face_package: 'faces', crop: { width: 96, height: 96 }, alignment: autoAvsrAlignment('mean-face.json') };
    stack = await lipStack('mouth-tracking-mean-face', roi, { 'mean-face.json': JSON.stringify({ points: syntheticMeanFace() }) });
  }, 90_000);
  afterAll(() => stack?.stop());

  it('reads the moving mouth from crops registered to the package’s mean face', async () => {
    const job = await transcribe(stack, moving.file);
    expect(job.error).toBeUndefined();
    expect(job.status).toBe('completed');
    expect(job.result!.text).toBe(TEXT);
    expect(job.result!.frames).toBe(moving.frames);
  });
});

describe('mouth tracking on a long video, in windows (CHUNK_SECONDS)', () => {
  let stack: Stack;
  let probeLog: string;
  beforeAll(async () => {
    const bins = await resolveFfmpeg();
    // the worker's ffprobe logs each file it is given: a window must not probe the upload again
    probeLog = path.join(tmp, 'ffprobe.log');
    const ffprobe = path.join(tmp, 'ffprobe-logged');
    await writeFile(probeLog, '');
    await writeFile(ffprobe, `#!/bin/sh\necho "$*" >> '${probeLog}'\nexec '${bins.ffprobe}' "$@"\n`, { mode: 0o755 });
    const modelDir = await lipPackage('mouth-chunked', { mode: 'landmarks', face_package: 'faces', crop: { width: 96, height: 96 } });
    stack = await startStack({
      name: 'mouth-chunked',
      workers: 1,
      workerEnv: { MODEL_DIR: modelDir, CHUNK_SECONDS: '1', CHUNK_OVERLAP_S: '0', FFMPEG_PATH: bins.ffmpeg, FFPROBE_PATH: ffprobe },
    });
  }, 90_000);
  afterAll(() => stack?.stop());

  it('tracks every window with the size the planner probed, never probing the upload again', async () => {
    expect(moving.frames / moving.fps).toBeGreaterThan(2); // several windows
    const job = await transcribe(stack, moving.file);
    expect(job.status).toBe('completed');
    expect(job.result!.frames).toBe(moving.frames);
    const probed = (await readFile(probeLog, 'utf8')).split('\n').filter((line) => line.includes('uploads'));
    expect(probed).toEqual([]);
  });
});

describe('the same video through a center-crop package', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await lipStack('mouth-tracking-center', { mode: 'center' });
  }, 90_000);
  afterAll(() => stack?.stop());

  it('does not read the sentence: only a tracker finds the moving mouth', async () => {
    const job = await transcribe(stack, moving.file);
    expect(job.status).toBe('completed');
    expect(job.result!.text).not.toBe(TEXT);
    expect(job.result!.frames).toBe(moving.frames);
  });
});

describe("the worker's default face models (face-api, converted) on a real speaker", () => {
  let stack: Stack;
  beforeAll(async () => {
    // no face_package and no FACE_MODEL_DIR: the worker converts face-api into .talkie/models/faces
    stack = await lipStack('mouth-tracking-face-api', { mode: 'landmarks' });
  }, 120_000);
  afterAll(() => stack?.stop());

  it('tracks GRID bbaf2n through the whole pipeline (the demo model reads no lips, so only the job and its frames are checked)', async () => {
    const job = await transcribe(stack, grid);
    expect(job.error).toBeUndefined();
    expect(job.status).toBe('completed');
    expect(job.result!.frames).toBe(75);
  });

  it('fails testsrc with no_face_detected: colour bars fool the detector, not the face check', async () => {
    const job = await transcribe(stack, testsrc);
    expect(job.status).toBe('failed');
    expect(job.error).toEqual({ code: 'no_face_detected', message: expect.any(String) });
  });
});
