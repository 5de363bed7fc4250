import { WARNING_CODES, type FaceRegion, type FaceTrackQuality, type ResultWarning, type Segment, type TranscriptResult, type WarningCode } from '@talkie/contracts';
import type { FaceTrackFrames, FaceTrackSummary } from '@talkie/faces';

/**
 * Issue 17: what a result says about how it was read, beside the text: the face track's quality,
 * every face found, each word's face box, one reading per face with `face=all`, and warnings by
 * stable code. Shared by the whole-video path and each window of a long video (chunking/).
 */

/** What the tracker found, for a `landmarks` model (see MouthTracker.decodeFaceTracks). */
export interface FaceReading {
  tracks: FaceTrackSummary[];
  active: number;
  read: FaceTrackFrames[];
}

export interface ReadContext {
  /** the model's frame rate and whether it is a demo model */
  modelFps: number;
  demo: boolean;
  /** the video's frame rate as probed; unknown (0 or undefined): no resampling warning */
  sourceFps?: number;
}

/** A face seen in under this share of the frames read gets `low_face_coverage`. */
export const LOW_FACE_COVERAGE = 0.8;
/**
 * A face narrower than this (median, source pixels) gets `face_too_small`: the mouth is then
 * about 40 px wide or less, where the lip models' 96×96 crops expect about 44 px at full
 * resolution, so the crop is upscaled and blurred.
 */
export const MIN_FACE_WIDTH_PX = 96;
/** Source and model rates closer than this (relative) count as equal: 29.97 against 30 is no resampling. */
const SAME_RATE = 0.01;

const r1 = (v: number) => Math.round(v * 10) / 10;
const r3 = (v: number) => Math.round(v * 1000) / 1000;
const region = (b: { x: number; y: number; width: number; height: number }): FaceRegion => ({ x: r1(b.x), y: r1(b.y), width: r1(b.width), height: r1(b.height) });

const lowCoverage = (coverage: number) => `The face was found in ${Math.round(coverage * 100)}% of the frames; the others were bridged from their neighbours.`;

/** The track's quality as the result reports it. */
export function faceTrackQuality(read: FaceTrackFrames, context: ReadContext): FaceTrackQuality {
  return { index: read.index, ...read.quality, mean_detector_score: r3(read.quality.mean_detector_score), source_fps: r3(context.sourceFps ?? 0), model_fps: context.modelFps };
}

/** Each segment with its face: the mean box over the frames the word spans (the nearest frame for a word shorter than one). */
export function withFaceBoxes(segments: Segment[], boxes: FaceTrackFrames['boxes'], fps: number): Segment[] {
  if (boxes.length === 0) return segments;
  return segments.map((segment) => {
    const from = Math.min(boxes.length - 1, Math.max(0, Math.floor(segment.start * fps)));
    const to = Math.min(boxes.length, Math.max(from + 1, Math.ceil(segment.end * fps)));
    const mean = { x: 0, y: 0, width: 0, height: 0 };
    for (let i = from; i < to; i++) {
      mean.x += boxes[i].x / (to - from);
      mean.y += boxes[i].y / (to - from);
      mean.width += boxes[i].width / (to - from);
      mean.height += boxes[i].height / (to - from);
    }
    return { ...segment, face: region(mean) };
  });
}

/** The warnings every result gets, by code, in a fixed order (see `WarningCode` in contracts). */
export function resultWarnings(context: ReadContext, faces?: { read: FaceTrackFrames; tracks: FaceTrackSummary[] }): ResultWarning[] {
  const warnings: ResultWarning[] = [];
  const add = (code: WarningCode, message: string) => warnings.push({ code, message });
  if (context.demo) add('demo_model', 'This is the demo model: it reads only Talkie’s synthetic fixture videos, not lips. Set MODEL_DIR to a real model package.');
  const source = context.sourceFps ?? 0;
  if (source > 0 && Math.abs(source - context.modelFps) > SAME_RATE * context.modelFps) {
    add('frame_rate_resampled', `The video's ${r3(source)} frames per second were resampled to the model's ${context.modelFps}.`);
  }
  if (faces) {
    const { quality } = faces.read;
    const coverage = quality.frames ? quality.detected_frames / quality.frames : 0;
    if (coverage < LOW_FACE_COVERAGE) {
      add('low_face_coverage', lowCoverage(coverage));
    }
    const summary = faces.tracks.find((t) => t.index === faces.read.index);
    if (summary && summary.box.width < MIN_FACE_WIDTH_PX) {
      add('face_too_small', `The face is about ${Math.round(summary.box.width)} pixels wide; under ${MIN_FACE_WIDTH_PX} the mouth is upscaled and lip reading suffers.`);
    }
    // said without API field names: the console shows this message as it is
    if (faces.tracks.length > 1) add('several_faces', `${faces.tracks.length} faces were tracked and face ${faces.read.index} was read; face=all reads each of them, face=<index> one.`);
  }
  return warnings;
}

/** The read track that `text` and `segments` come from: the active speaker when it was read, else the one read. */
export function primaryRead(faces: FaceReading): FaceTrackFrames {
  return faces.read.find((r) => r.index === faces.active) ?? faces.read[0];
}

/**
 * The result with what issue 17 adds. `result`: the primary track's reading (or the video's, for
 * a model without tracking); `others`: with `face=all`, the other tracks' readings, by track index.
 */
export function describeResult(result: TranscriptResult, context: ReadContext, faces?: FaceReading, others: Map<number, TranscriptResult> = new Map()): TranscriptResult {
  if (!faces) {
    const warnings = resultWarnings(context);
    return { ...result, ...(warnings.length ? { warnings } : {}) };
  }
  const primary = primaryRead(faces);
  const segments = withFaceBoxes(result.segments, primary.boxes, context.modelFps);
  const warnings = resultWarnings(context, { read: primary, tracks: faces.tracks });
  const described: TranscriptResult = {
    ...result,
    segments,
    ...(warnings.length ? { warnings } : {}),
    face_track: faceTrackQuality(primary, context),
    faces: faces.tracks.map((t) => ({ index: t.index, box: region(t.box), frames: t.quality.detected_frames, activity: r3(t.activity), chosen: t.chosen })),
  };
  if (faces.read.length > 1) {
    described.tracks = faces.read.map((read) => {
      const reading = read === primary ? result : others.get(read.index);
      if (!reading) throw new Error(`face track ${read.index} was not transcribed`);
      return { face: read.index, text: reading.text, segments: withFaceBoxes(reading.segments, read.boxes, context.modelFps), face_track: faceTrackQuality(read, context) };
    });
  }
  return described;
}

/**
 * Issue 17, long videos: the windows' warnings and track qualities as one. Warnings: each code
 * once, with the first window's message (`low_face_coverage` is then recomputed over the whole
 * video); quality: frames summed, the longest gap the longest of any window, the detector's score
 * the frame-weighted mean. Windows overlap, so where a window says how many of its frames it owns
 * (`owned_frames`), its counts are scaled to those, and the overlap is not counted twice (a
 * window's detections are taken as spread evenly over it: it keeps no per-frame record). The track
 * index is the first window's: each window numbers and chooses its own tracks.
 */
export function mergeWindowFaces(
  windows: Array<{ warnings?: ResultWarning[]; face_track?: FaceTrackQuality; owned_frames?: number }>,
): { warnings?: ResultWarning[]; face_track?: FaceTrackQuality } {
  const byCode = new Map<WarningCode, ResultWarning>();
  for (const w of windows) for (const warning of w.warnings ?? []) if (!byCode.has(warning.code)) byCode.set(warning.code, warning);
  const qualities = windows.flatMap(({ face_track: q, owned_frames: owned }) => {
    if (!q) return [];
    if (owned === undefined || owned >= q.frames || q.frames === 0) return [{ q, frames: q.frames, detected: q.detected_frames }];
    const frames = Math.max(0, owned);
    return [{ q, frames, detected: Math.min(frames, Math.round((q.detected_frames * frames) / q.frames)) }];
  });
  let face_track: FaceTrackQuality | undefined;
  if (qualities.length) {
    const detected = qualities.reduce((a, w) => a + w.detected, 0);
    const frames = qualities.reduce((a, w) => a + w.frames, 0);
    face_track = {
      ...qualities[0].q,
      frames,
      detected_frames: detected,
      interpolated_frames: frames - detected,
      longest_gap_frames: Math.max(...qualities.map((w) => w.q.longest_gap_frames)),
      mean_detector_score: detected ? r3(qualities.reduce((a, w) => a + w.q.mean_detector_score * w.detected, 0) / detected) : 0,
    };
    byCode.delete('low_face_coverage');
    const coverage = frames ? detected / frames : 0;
    if (coverage < LOW_FACE_COVERAGE) byCode.set('low_face_coverage', { code: 'low_face_coverage', message: lowCoverage(coverage) });
  }
  const warnings = WARNING_CODES.filter((c) => byCode.has(c)).map((c) => byCode.get(c)!);
  return { ...(warnings.length ? { warnings } : {}), ...(face_track ? { face_track } : {}) };
}
