import type { ChunkResult } from '@talkie/queue';
import { mergeChunks, ownedSegments, planWindows } from './windows';

describe('planWindows', () => {
  it('covers every frame, overlaps neighbours by the overlap, and hands each frame to exactly one owner', () => {
    for (const total of [1, 749, 750, 751, 1400, 7505, 90_000]) {
      const windows = planWindows(total, 25, 30, 4);
      expect(windows[0]).toMatchObject({ index: 0, start_frame: 0, own_from: 0 });
      const last = windows[windows.length - 1];
      expect(last.start_frame + last.frames).toBe(Math.max(total, last.start_frame + 1));
      windows.forEach((w, i) => {
        expect(w.index).toBe(i);
        expect(w.frames).toBeLessThanOrEqual(750);
        if (i > 0) {
          expect(w.start_frame).toBe(windows[i - 1].start_frame + 650); // 30 s − 4 s
          expect(w.own_from).toBe(windows[i - 1].own_to); // ownership is a partition
          expect(w.own_from).toBe(w.start_frame + 50); // the middle of the overlap
        }
        if (i < windows.length - 1) expect(w.frames).toBe(750);
      });
      expect(last.own_to).toBeGreaterThan(total);
    }
  });

  it('needs the overlap to be under half a window', () => {
    expect(() => planWindows(1000, 25, 8, 4)).toThrow(/half a window/);
  });

  it('gives one window to a video no longer than a window', () => {
    expect(planWindows(750, 25, 30, 4)).toEqual([{ index: 0, start_frame: 0, frames: 750, own_from: 0, own_to: 1501 }]);
  });
});

describe('ownedSegments', () => {
  const [, second] = planWindows(2000, 25, 30, 4); // starts at frame 650 (26 s), owns centres in [28 s, 54 s)
  it('shifts timings by the window start and keeps only the words whose centre the window owns', () => {
    const local = [
      { start: 0, end: 0.5, text: 'CUT' }, // centre 26.25 s: the previous window's
      { start: 1.6, end: 2.6, text: 'EDGE' }, // centre 28.1 s: this window's
      { start: 10, end: 11, text: 'MIDDLE' },
      { start: 27.9, end: 28.3, text: 'NEXT' }, // centre 54.1 s: the next window's
    ];
    expect(ownedSegments(local, second, 25)).toEqual([
      { start: 27.6, end: 28.6, text: 'EDGE' },
      { start: 36, end: 37, text: 'MIDDLE' },
    ]);
  });

  it("keeps each word's confidence (issue 17), as the whole-video path gives it", () => {
    expect(ownedSegments([{ start: 10, end: 11, text: 'MIDDLE', confidence: 0.42 }], second, 25)).toEqual([{ start: 36, end: 37, text: 'MIDDLE', confidence: 0.42 }]);
  });
});

describe('mergeChunks', () => {
  const windows = planWindows(1500, 25, 30, 4);
  const model = { name: 'm', version: '1' };
  const results: ChunkResult[] = [
    { index: 1, frames: 750, segments: [{ start: 30, end: 31, text: 'TWO' }] },
    { index: 0, frames: 750, segments: [{ start: 1, end: 2, text: 'ONE' }] },
    { index: 2, frames: 200, segments: [{ start: 55, end: 56, text: 'THREE' }] },
  ];
  it('joins the windows in order; frames and duration come from the last window', () => {
    expect(windows).toHaveLength(3);
    expect(mergeChunks(results, windows, 25, model)).toEqual({
      text: 'ONE TWO THREE',
      segments: [
        { start: 1, end: 2, text: 'ONE' },
        { start: 30, end: 31, text: 'TWO' },
        { start: 55, end: 56, text: 'THREE' },
      ],
      frames: 1300 + 200,
      duration_s: 60,
      model,
    });
  });
  it("counts the face track's frames once where windows overlap (issue 17): as many as the video has", () => {
    const quality = (frames: number) => ({ index: 0, frames, detected_frames: frames, interpolated_frames: 0, longest_gap_frames: 0, mean_detector_score: 0.9, source_fps: 25, model_fps: 25 });
    const tracked = results.map((r) => ({ ...r, face_track: quality(r.frames) }));
    const merged = mergeChunks(tracked, windows, 25, model);
    expect(merged.face_track).toMatchObject({ frames: merged.frames, detected_frames: merged.frames, interpolated_frames: 0 });
  });
  it('refuses to merge with a window missing', () => {
    expect(() => mergeChunks(results.slice(1), windows, 25, model)).toThrow(/chunks 1 have no result/);
  });
});
