import { TranscriptResult, type FaceTrackQuality } from '@talkie/contracts';
import type { FaceTrackFrames, FaceTrackSummary } from '@talkie/faces';
import { describeResult, mergeWindowFaces, resultWarnings, withFaceBoxes, type FaceReading } from './face-results';

/** Issue 17: what a result says about its face tracks, and the warnings, from the tracker's findings. */

const quality = (detected: number, frames = 100) => ({ frames, detected_frames: detected, interpolated_frames: frames - detected, longest_gap_frames: frames - detected, mean_detector_score: 0.9 });
const box = (x: number, width = 150) => ({ x, y: 50, width, height: width });
const read = (index: number, detected = 100, frames = 100): FaceTrackFrames => ({
  index,
  frames: { pixels: new Uint8Array(0), count: frames, width: 88, height: 88, fps: 25 },
  quality: quality(detected, frames),
  // the face moves right one pixel a frame
  boxes: Array.from({ length: frames }, (_, i) => box(index * 200 + i)),
});
const summary = (index: number, width = 150, activity = 0.05): FaceTrackSummary => ({ index, box: box(index * 200, width), quality: quality(100), activity, chosen: false });
const RESULT: TranscriptResult = {
  text: 'HI THERE',
  segments: [
    { start: 0.4, end: 0.8, text: 'HI' },
    { start: 1, end: 2, text: 'THERE' },
  ],
  duration_s: 4,
  frames: 100,
  model: { name: 'm', version: '1' },
};
const context = { modelFps: 25, demo: false, sourceFps: 25 };

describe('resultWarnings', () => {
  it('says nothing for a real model on a well-tracked face at its own rate', () => {
    expect(resultWarnings(context, { read: read(0), tracks: [summary(0)] })).toEqual([]);
  });

  it('gives each stable code where it applies, in a fixed order', () => {
    const codes = resultWarnings({ modelFps: 25, demo: true, sourceFps: 30 }, { read: read(1, 70), tracks: [summary(0), summary(1, 80)] }).map((w) => w.code);
    expect(codes).toEqual(['demo_model', 'frame_rate_resampled', 'low_face_coverage', 'face_too_small', 'several_faces']);
  });

  it('treats 29.97 against 30 as the same rate, and an unknown rate as no resampling', () => {
    expect(resultWarnings({ modelFps: 30, demo: false, sourceFps: 29.97 })).toEqual([]);
    expect(resultWarnings({ modelFps: 25, demo: false, sourceFps: 0 })).toEqual([]);
    expect(resultWarnings({ modelFps: 25, demo: false, sourceFps: 24 })[0]).toEqual({ code: 'frame_rate_resampled', message: "The video's 24 frames per second were resampled to the model's 25." });
  });

  it('puts the coverage boundary at 80% of the frames', () => {
    expect(resultWarnings(context, { read: read(0, 80), tracks: [summary(0)] })).toEqual([]);
    expect(resultWarnings(context, { read: read(0, 79), tracks: [summary(0)] }).map((w) => w.code)).toEqual(['low_face_coverage']);
  });
});

describe('withFaceBoxes', () => {
  it("gives each word the mean box of the frames it spans, in source pixels", () => {
    const [hi, there] = withFaceBoxes(RESULT.segments, read(0).boxes, 25);
    // frames 10–19 (x 10…19) and 25–49 (x 25…49)
    expect(hi.face).toEqual({ x: 14.5, y: 50, width: 150, height: 150 });
    expect(there.face).toEqual({ x: 37, y: 50, width: 150, height: 150 });
    expect(hi).toMatchObject({ start: 0.4, end: 0.8, text: 'HI' });
  });

  it('gives a word shorter than a frame, or past the end, the nearest frame', () => {
    expect(withFaceBoxes([{ start: 0.4, end: 0.4, text: 'A' }], read(0).boxes, 25)[0].face!.x).toBe(10);
    expect(withFaceBoxes([{ start: 9, end: 9.5, text: 'A' }], read(0).boxes, 25)[0].face!.x).toBe(99);
  });
});

describe('describeResult', () => {
  const faces = (reads: FaceTrackFrames[], active = 0): FaceReading => ({
    tracks: [summary(0, 150, 0.07), summary(1, 150, 0.01)].map((t) => ({ ...t, chosen: reads.some((r) => r.index === t.index) })),
    active,
    read: reads,
  });

  it('adds the track quality, the faces found and the words’ boxes, and still parses as a result', () => {
    const described = describeResult(RESULT, context, faces([read(0)]));
    expect(TranscriptResult.parse(described)).toEqual(described);
    expect(described.face_track).toEqual({ index: 0, ...quality(100), source_fps: 25, model_fps: 25 });
    expect(described.faces).toEqual([
      { index: 0, box: box(0), frames: 100, activity: 0.07, chosen: true },
      { index: 1, box: box(200), frames: 100, activity: 0.01, chosen: false },
    ]);
    expect(described.warnings!.map((w) => w.code)).toEqual(['several_faces']);
    // the console shows the message as it is: it names the face read and the choices, not API fields
    expect(described.warnings![0].message).toBe('2 faces were tracked and face 0 was read; face=all reads each of them, face=<index> one.');
    expect(described.segments.every((s) => s.face)).toBe(true);
    expect(described.tracks).toBeUndefined();
  });

  it('with several tracks read, gives one reading per track and keeps the active speaker’s as the text', () => {
    const other: TranscriptResult = { ...RESULT, text: '', segments: [] };
    const described = describeResult(RESULT, context, faces([read(0), read(1)], 0), new Map([[1, other]]));
    expect(described.text).toBe('HI THERE');
    expect(described.tracks!.map((t) => [t.face, t.text, t.face_track.index])).toEqual([
      [0, 'HI THERE', 0],
      [1, '', 1],
    ]);
    expect(() => describeResult(RESULT, context, faces([read(0), read(1)], 0))).toThrow('face track 1 was not transcribed');
  });

  it('for a model without tracking, adds only the warnings', () => {
    expect(describeResult(RESULT, { modelFps: 25, demo: true, sourceFps: 25 })).toEqual({ ...RESULT, warnings: [{ code: 'demo_model', message: expect.any(String) }] });
    expect(describeResult(RESULT, context)).toEqual(RESULT);
  });
});

describe('mergeWindowFaces (long videos)', () => {
  const window = (detected: number, frames: number, score: number, gap: number): FaceTrackQuality => ({
    index: 0,
    frames,
    detected_frames: detected,
    interpolated_frames: frames - detected,
    longest_gap_frames: gap,
    mean_detector_score: score,
    source_fps: 30,
    model_fps: 25,
  });

  it('sums the frames, keeps the longest gap, weighs the score by frames, and gives each warning once', () => {
    const merged = mergeWindowFaces([
      { face_track: window(25, 25, 0.9, 0), warnings: [{ code: 'frame_rate_resampled', message: 'a' }] },
      { face_track: window(15, 25, 0.5, 10), warnings: [{ code: 'low_face_coverage', message: 'b' }, { code: 'frame_rate_resampled', message: 'c' }] },
    ]);
    expect(merged.face_track).toEqual({ ...window(40, 50, 0.75, 10) });
    // 40 of 50 frames is 80%: no low coverage over the whole video, though one window had it
    expect(merged.warnings).toEqual([{ code: 'frame_rate_resampled', message: 'a' }]);
  });

  it('counts the frames two windows share once, scaled to the frames each window owns', () => {
    // windows of 25 frames overlapping by 5: the first owns 20, the second all 25 of its own
    const merged = mergeWindowFaces([
      { face_track: window(25, 25, 0.9, 0), owned_frames: 20 },
      { face_track: window(15, 25, 0.5, 10), owned_frames: 25 },
    ]);
    expect(merged.face_track).toEqual({ ...window(35, 45, 0.729, 10) });
    // a window that owns nothing of what it read (the estimate ran past the end) adds nothing
    expect(mergeWindowFaces([{ face_track: window(25, 25, 0.9, 0) }, { face_track: window(5, 10, 0.5, 2), owned_frames: 0 }]).face_track).toEqual(window(25, 25, 0.9, 2));
  });

  it('recomputes low coverage over the whole video, and gives nothing for windows without tracking', () => {
    expect(mergeWindowFaces([{ face_track: window(10, 25, 1, 15) }, { face_track: window(20, 25, 1, 5) }]).warnings!.map((w) => w.code)).toEqual(['low_face_coverage']);
    expect(mergeWindowFaces([{}, {}])).toEqual({});
  });
});
