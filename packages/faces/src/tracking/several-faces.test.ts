import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TalkieError } from '@talkie/contracts';
import { writeDemoModel } from '@talkie/demo-model';
import { LipReader, ModelSession } from '@talkie/inference';
import { resolveFfmpeg, type FfmpegBinaries } from '@talkie/media';
import { FaceModels } from '../runtime/face-models';
import { renderMovingMouth, renderTwoFaces, type TwoFacesFixture } from '../synthetic/moving-mouth-fixture';
import { writeSyntheticFaceModels } from '../synthetic/ring-face-model';
import { MouthTracker, mouthActivity, trackQuality, type FrameFace } from './mouth-tracker';

/**
 * Issue 17 on real parts: two synthetic faces rendered and encoded by the real ffmpeg, both moving,
 * one speaking the sentence (its mouth code, its ring opening with each letter), the other silent;
 * the synthetic face package's ONNX graphs find both, the demo lip model reads each track's crops.
 * The active speaker must be chosen from the landmarks alone, whichever side it is on.
 */
jest.setTimeout(240_000);

const TEXT = 'HELLO WORLD';

let tmp: string;
let bins: FfmpegBinaries;
let faces: FaceModels;
let session: ModelSession;
let reader: LipReader;
const fixtures: Partial<Record<'left' | 'right', TwoFacesFixture>> = {};

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-faces-'));
  bins = await resolveFfmpeg();
  await writeSyntheticFaceModels(path.join(tmp, 'faces'));
  await writeDemoModel(path.join(tmp, 'demo'));
  faces = await FaceModels.load(path.join(tmp, 'faces'));
  session = await ModelSession.load(path.join(tmp, 'demo'));
  reader = new LipReader(session);
  for (const speaker of ['left', 'right'] as const) {
    fixtures[speaker] = await renderTwoFaces({ text: TEXT, out: path.join(tmp, `two-${speaker}.mp4`), ffmpeg: bins.ffmpeg, speaker });
  }
});

afterAll(async () => {
  await faces?.release();
  await session?.release();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const input = <T extends object>(extra: T) => ({ ffmpeg: bins.ffmpeg, ffprobe: bins.ffprobe, fps: 25, maxFrames: 2000, timeoutMs: 60_000, size: { width: 88, height: 88 }, ...extra });

describe.each(['left', 'right'] as const)('two faces, the %s one speaking', (speaker) => {
  it('follows both faces in every frame, numbered left to right, and reads the speaker by default', async () => {
    const fixture = fixtures[speaker]!;
    const result = await new MouthTracker(faces).decodeFaceTracks(fixture.file, input({}));
    expect(result.tracks).toHaveLength(2);
    const [left, right] = result.tracks;
    // boxes in source pixels, about each face's mouth centre
    const centreX = (t: (typeof result.tracks)[number]) => t.box.x + t.box.width / 2;
    expect(Math.abs(centreX(left) - 110)).toBeLessThan(15);
    expect(Math.abs(centreX(right) - 370)).toBeLessThan(15);
    for (const t of result.tracks) expect(t.quality).toMatchObject({ frames: fixture.frames, detected_frames: fixture.frames, interpolated_frames: 0, longest_gap_frames: 0 });
    const speakerIndex = speaker === 'left' ? 0 : 1;
    expect(result.active).toBe(speakerIndex);
    // the speaker's mouth moves several times more than the silent one's (measured: 0.07 and 0.01)
    expect(result.tracks[speakerIndex].activity).toBeGreaterThan(3 * result.tracks[1 - speakerIndex].activity);
    expect(result.tracks.map((t) => t.chosen)).toEqual([speakerIndex === 0, speakerIndex === 1]);
    expect(result.read.map((r) => r.index)).toEqual([speakerIndex]);
    expect((await reader.transcribe(result.read[0].frames)).text).toBe(TEXT);
    // each frame's box follows the speaker's face (the other is 260 px away); a box held between
    // detector runs lags the face by up to 4 frames of its motion (under 2 px a frame)
    result.read[0].boxes.forEach((box, i) => {
      const [cx, cy] = fixture.centres[i][speakerIndex];
      expect(Math.hypot(box.x + box.width / 2 - cx, box.y + box.height / 2 - cy)).toBeLessThan(10);
    });
  });

  it('reads every track with face=all: the sentence from the speaker, nothing from the silent face', async () => {
    const fixture = fixtures[speaker]!;
    const result = await new MouthTracker(faces).decodeFaceTracks(fixture.file, input({ face: 'all' as const }));
    expect(result.read.map((r) => r.index)).toEqual([0, 1]);
    expect(result.tracks.every((t) => t.chosen)).toBe(true);
    const texts = await Promise.all(result.read.map(async (r) => (await reader.transcribe(r.frames)).text));
    expect(texts).toEqual(speaker === 'left' ? [TEXT, ''] : ['', TEXT]);
  });
});

describe('choosing a face track', () => {
  it('reads the track asked for by index, even the silent one', async () => {
    const result = await new MouthTracker(faces).decodeFaceTracks(fixtures.left!.file, input({ face: 1 }));
    expect(result.read.map((r) => r.index)).toEqual([1]);
    expect(result.tracks.map((t) => t.chosen)).toEqual([false, true]);
    expect((await reader.transcribe(result.read[0].frames)).text).toBe('');
  });

  it('fails with face_not_found for an index with no track', async () => {
    const error = await new MouthTracker(faces).decodeFaceTracks(fixtures.left!.file, input({ face: 2 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TalkieError);
    expect(error).toMatchObject({ code: 'face_not_found' });
    expect((error as Error).message).toContain('2 face tracks');
  });

  it('keeps a single face that is lost for some frames as one track', async () => {
    const occluded = await renderMovingMouth({ text: 'AB', out: path.join(tmp, 'occluded.mp4'), ffmpeg: bins.ffmpeg, occlude: { from: 12, to: 17 } });
    const track = await new MouthTracker(faces).track(occluded.file, input({}));
    expect(track.tracks).toHaveLength(1);
    expect(track.tracks[0].quality).toMatchObject({ frames: occluded.frames, detected_frames: occluded.frames - 5, interpolated_frames: 5, longest_gap_frames: 5 });
    expect(track.tracks[0].quality.mean_detector_score).toBeGreaterThan(0.5);
  });
});

describe('trackQuality and mouthActivity', () => {
  const face = (score: number, open: number): FrameFace => {
    // a 4-point "mouth": two corners 10 apart, top and bottom `open` apart
    const points = Float32Array.from([0, 0, 10, 0, 5, -open / 2, 5, open / 2]);
    return { box: { x: 0, y: 0, width: 20, height: 20 }, score, points };
  };

  it('counts detected and bridged frames and the longest gap', () => {
    const q = trackQuality([null, face(0.8, 2), face(0.6, 2), null, null, null, face(1, 2), null]);
    expect(q).toMatchObject({ frames: 8, detected_frames: 3, interpolated_frames: 5, longest_gap_frames: 3 });
    expect(q.mean_detector_score).toBeCloseTo(0.8, 9);
    expect(trackQuality([null, null])).toMatchObject({ detected_frames: 0, longest_gap_frames: 2, mean_detector_score: 0 });
  });

  it('measures how much the mouth opening varies, not its size', () => {
    const mouth = [0, 1, 2, 3];
    const still = Array.from({ length: 10 }, () => face(1, 4));
    const speaking = Array.from({ length: 10 }, (_, i) => face(1, i % 2 ? 1 : 5));
    expect(mouthActivity(still, mouth)).toBeCloseTo(0, 9);
    expect(mouthActivity(speaking, mouth)).toBeCloseTo(0.2, 5);
    // too few frames to say: 0
    expect(mouthActivity(speaking.slice(0, 4), mouth)).toBe(0);
  });
});
