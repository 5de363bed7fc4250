import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TalkieError } from '@talkie/contracts';
import { writeDemoModel } from '@talkie/demo-model';
import { LipReader, ModelSession } from '@talkie/inference';
import { decodeFrames, resolveFfmpeg, type FfmpegBinaries } from '@talkie/media';
import { FaceModels } from '../runtime/face-models';
import { syntheticMeanFace } from '../synthetic/mean-face-fixture';
import { renderMovingMouth, type MovingMouthFixture } from '../synthetic/moving-mouth-fixture';
import { writeSyntheticFaceModels } from '../synthetic/ring-face-model';
import { autoAvsrAlignment } from './mean-face-alignment';
import { MouthTracker } from './mouth-tracker';

/**
 * The tracker on real parts: fixtures rendered and encoded by the real ffmpeg, the synthetic face
 * package's real ONNX graphs and the demo lip model on onnxruntime-node. The mouth travels across
 * the frame; the demo model reads the sentence only from crops that follow it.
 */
jest.setTimeout(240_000);

let tmp: string;
let bins: FfmpegBinaries;
let faces: FaceModels;
let reader: LipReader;
let session: ModelSession;
let moving: MovingMouthFixture;

const TEXT = 'HELLO WORLD';

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-tracker-'));
  bins = await resolveFfmpeg();
  await writeSyntheticFaceModels(path.join(tmp, 'faces'));
  await writeDemoModel(path.join(tmp, 'demo'));
  faces = await FaceModels.load(path.join(tmp, 'faces'));
  session = await ModelSession.load(path.join(tmp, 'demo'));
  reader = new LipReader(session);
  moving = await renderMovingMouth({ text: TEXT, out: path.join(tmp, 'moving.mp4'), ffmpeg: bins.ffmpeg });
});

afterAll(async () => {
  await faces?.release();
  await session?.release();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const trackInput = <T extends object>(extra: T = {} as T) => ({ ffmpeg: bins.ffmpeg, ffprobe: bins.ffprobe, fps: 25, maxFrames: 2000, timeoutMs: 60_000, ...extra });

const mouthCentre = (points: Float32Array) => {
  let x = 0;
  let y = 0;
  for (let i = 48; i < 68; i++) {
    x += points[2 * i];
    y += points[2 * i + 1];
  }
  return [x / 20, y / 20];
};

describe('MouthTracker on a moving mouth', () => {
  it('finds the mouth in every frame, within 1.5 px of where it was drawn', async () => {
    const track = await new MouthTracker(faces).track(moving.file, trackInput());
    expect(track.count).toBe(moving.frames);
    expect(track.faces.every((f) => f !== null)).toBe(true);
    const errors = track.faces.map((f, i) => Math.hypot(mouthCentre(f!.points)[0] - moving.centres[i][0], mouthCentre(f!.points)[1] - moving.centres[i][1]));
    // the path spans 184 px across and 80 px down: a tracker that stood still, or lagged a frame
    // (≈ 2 px of motion), would be off by more
    expect(Math.max(...errors)).toBeLessThan(1.5);
    expect(errors.reduce((a, b) => a + b, 0) / errors.length).toBeLessThan(0.6);
  });

  it('gives crops the demo model reads exactly, where the centre crop of the same video reads something else', async () => {
    const frames = await new MouthTracker(faces).decodeMouthFrames(moving.file, trackInput({ size: { width: 88, height: 88 } }));
    expect(frames).toMatchObject({ width: 88, height: 88, fps: 25, count: moving.frames });
    expect((await reader.transcribe(frames)).text).toBe(TEXT);

    const centred = await decodeFrames(moving.file, { ffmpeg: bins.ffmpeg, fps: 25, roi: { mode: 'center', width: 88, height: 88 }, maxFrames: 2000, timeoutMs: 60_000 });
    expect((await reader.transcribe(centred)).text).not.toBe(TEXT);
  });

  it("with Auto-AVSR's mean_face alignment, gives crops the demo model reads exactly, centred on the mouth's pixel", async () => {
    const tracker = new MouthTracker(faces, { alignment: { spec: autoAvsrAlignment(), meanFace: syntheticMeanFace() } });
    const track = await tracker.track(moving.file, trackInput());
    expect(track).toMatchObject({ alignment: 'mean_face', clamped: [], count: moving.frames });
    // the fixture's mouth at scale 1 on the crop's pixel 48 (its centre 48.5 in Talkie's pixels):
    // off by the landmarks' error (under 1.5 px, above) and the corner's rounding (½ px) at most
    track.transforms.forEach((t, i) => {
      const [x, y] = moving.centres[i];
      expect(Math.hypot(t.a, t.b)).toBeCloseTo(1, 1);
      expect(Math.hypot(t.a * x - t.b * y + t.tx - 48.5, t.b * x + t.a * y + t.ty - 48.5)).toBeLessThan(2);
    });
    const frames = await tracker.decodeMouthFrames(moving.file, trackInput({ size: { width: 88, height: 88 } }));
    expect((await reader.transcribe(frames)).text).toBe(TEXT);

    // the mean face decides the crops: one twice as large (about the mouth) shows the pattern too large to read
    const larger = syntheticMeanFace().map(([x, y]): [number, number] => [128 + 2 * (x - 128), 170 + 2 * (y - 170)]);
    const scaled = await new MouthTracker(faces, { alignment: { spec: autoAvsrAlignment(), meanFace: larger } }).decodeMouthFrames(moving.file, trackInput({ size: { width: 88, height: 88 } }));
    expect((await reader.transcribe(scaled)).text).not.toBe(TEXT);
  });

  it('refuses an alignment that uses landmarks the face package does not have', () => {
    const spec = { ...autoAvsrAlignment(), mouth_points: { start: 48, stop: 68 } };
    const few = { ...faces, manifest: { ...faces.manifest, name: 'few', landmarks: { ...faces.manifest.landmarks, output: { ...faces.manifest.landmarks.output, points: 60 } } } } as FaceModels;
    expect(() => new MouthTracker(few, { alignment: { spec, meanFace: syntheticMeanFace() } })).toThrow('the mean_face alignment uses landmark 67: face package few has 60 points');
  });

  it("tracks a window of the video (a long video's chunk), in the window's frames", async () => {
    const track = await new MouthTracker(faces).track(moving.file, trackInput({ window: { startS: 1, durationS: 1 } }));
    expect(track.count).toBe(25);
    track.faces.forEach((f, i) => {
      const [x, y] = mouthCentre(f!.points);
      expect(Math.hypot(x - moving.centres[25 + i][0], y - moving.centres[25 + i][1])).toBeLessThan(1.5);
    });
  });

  it('bridges frames where the face is lost, and reports them as null', async () => {
    const occluded = await renderMovingMouth({ text: 'AB', out: path.join(tmp, 'occluded.mp4'), ffmpeg: bins.ffmpeg, occlude: { from: 12, to: 17 } });
    const tracker = new MouthTracker(faces);
    const track = await tracker.track(occluded.file, trackInput());
    const missing = track.faces.map((f, i) => (f ? -1 : i)).filter((i) => i >= 0);
    expect(missing).toEqual([12, 13, 14, 15, 16]);
    const frames = await tracker.decodeMouthFrames(occluded.file, trackInput({ size: { width: 88, height: 88 } }));
    expect((await reader.transcribe(frames)).text).toBe('AB');
  });

  it('fails with no_face_detected when no frame has a face', async () => {
    const empty = await renderMovingMouth({ text: 'A', out: path.join(tmp, 'empty.mp4'), ffmpeg: bins.ffmpeg, noFace: true });
    await expect(new MouthTracker(faces).track(empty.file, trackInput())).rejects.toMatchObject({ code: 'no_face_detected' });
  });

  it("fails with no_face_detected on ffmpeg's testsrc (colour bars are not lips)", async () => {
    const file = path.join(tmp, 'testsrc.mp4');
    execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=2', '-pix_fmt', 'yuv420p', file]);
    const error = await new MouthTracker(faces).track(file, trackInput()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TalkieError);
    expect((error as TalkieError).code).toBe('no_face_detected');
  });
});
