import type { Segment, TranscriptResult } from '@talkie/contracts';
import type { ChunkResult, ChunkWindow } from '@talkie/queue';
import { mergeWindowFaces } from '../face-results';

/**
 * Splits `totalFrames` frames into windows of `chunkSeconds` that overlap by `overlapS`, counted in
 * frames at the model's rate so every boundary falls on a frame. Each window owns the words whose
 * centre falls between the middles of its overlaps with its neighbours: a word no longer than the
 * overlap that is owned by a window lies wholly inside it, so no word is cut or counted twice.
 */
export function planWindows(totalFrames: number, fps: number, chunkSeconds: number, overlapS: number): ChunkWindow[] {
  const size = Math.max(1, Math.round(chunkSeconds * fps));
  const overlap = Math.round(overlapS * fps);
  if (overlap * 2 >= size) throw new Error('the overlap must be less than half a window');
  const step = size - overlap;
  const starts = [0];
  while (starts[starts.length - 1] + size < totalFrames) starts.push(starts[starts.length - 1] + step);
  const half = Math.floor(overlap / 2);
  return starts.map((start, index) => {
    const last = index === starts.length - 1;
    return {
      index,
      start_frame: start,
      frames: last ? Math.max(1, totalFrames - start) : size,
      own_from: index === 0 ? 0 : start + half,
      // the last window owns everything after its start, however long the file really is
      own_to: last ? Math.max(totalFrames, start + size) * 2 + 1 : starts[index + 1] + half,
    };
  });
}

/** A window's transcript in video time: timings shifted by the window's start, only the words it owns. */
export function ownedSegments(local: Segment[], window: ChunkWindow, fps: number): Segment[] {
  const offset = window.start_frame / fps;
  return local
    .filter((s) => {
      const centre = ((s.start + s.end) / 2) * fps + window.start_frame;
      return centre >= window.own_from && centre < window.own_to;
    })
    // everything else a word carries (its confidence) stays as the window's reading gave it
    .map((s) => ({ ...s, start: round(s.start + offset), end: round(s.end + offset) }));
}

/** One transcript from every window's, in order. Throws when a window is missing. */
export function mergeChunks(results: ChunkResult[], windows: ChunkWindow[], fps: number, model: TranscriptResult['model']): TranscriptResult {
  const byIndex = new Map(results.map((r) => [r.index, r]));
  const missing = windows.filter((w) => !byIndex.has(w.index)).map((w) => w.index);
  if (missing.length) throw new Error(`chunks ${missing.join(', ')} have no result`);
  const segments = windows.flatMap((w) => byIndex.get(w.index)!.segments);
  const last = windows[windows.length - 1];
  const frames = last.start_frame + byIndex.get(last.index)!.frames;
  return {
    text: segments.map((s) => s.text).join(' '),
    segments,
    duration_s: round(frames / fps),
    frames,
    model,
    // issue 17: warnings once each, the track quality summed over the frames each window owns (no
    // `faces`: each window numbers its own tracks)
    ...mergeWindowFaces(
      windows.map((w) => {
        const result = byIndex.get(w.index)!;
        return { ...result, owned_frames: ownedFrames(w, result.frames) };
      }),
    ),
  };
}

/** Frames of a window's reading that it owns: [own_from, own_to) within what it read. */
function ownedFrames(window: ChunkWindow, framesRead: number): number {
  const end = Math.min(window.own_to, window.start_frame + framesRead);
  return Math.max(0, end - Math.max(window.own_from, window.start_frame));
}

const round = (seconds: number) => Math.round(seconds * 1000) / 1000;
