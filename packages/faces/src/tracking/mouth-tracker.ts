import { MAX_FACE_TRACKS, TalkieError, type FaceChoice } from '@talkie/contracts';
import { boundedFrameSize, probeVideo, streamRgbFrames, type DecodedFrames } from '@talkie/media';
import { iou } from '../detect/box';
import type { FaceBox, FaceModels } from '../runtime/face-models';
import { rgbToGrey, type Rect, type RgbFrame } from '../runtime/image';
import { alignToReference, centreCrop, warpGrey, type Similarity } from './alignment';
import { fillGaps, smoothSeries } from './landmark-series';
import { meanFaceTransforms, type MeanFaceAlignment, type MeanFaceTransforms } from './mean-face-alignment';
import { rgbToGreyOpenCv, warpAffineGrey } from './opencv-sampling';

export interface TrackerOptions {
  /** run the detector on every n-th frame (and on every frame while no face is tracked) */
  detectEvery: number;
  /** frames per landmark (and detector) run */
  batchSize: number;
  /** landmarks are averaged over 2·radius + 1 frames (Talkie's geometry; an `alignment` has its own window) */
  smoothingRadius: number;
  /** frames are decoded with their longer side at most this (bounds memory and detector cost) */
  maxSide: number;
  /** the aligned mouth crop, before the lip model's centre crop (96×96 for the Auto-AVSR family) */
  crop: { width: number; height: number };
  /** the model package's `roi.alignment`, its mean face read; unset: Talkie's reference face */
  alignment?: MeanFaceAlignment;
}

/** a detection overlapping the tracked face this much is the same face (no new check) */
const SAME_FACE_IOU = 0.3;
/** `isFace`: the crop is moved by this share of the box… */
const SHIFT = 0.1;
/** …and a face's landmarks may follow it by at most this share on average (GRID: < 0.1, testsrc: 0.78) */
const MAX_FOLLOW = 0.5;

export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = {
  detectEvery: 5,
  batchSize: 16,
  smoothingRadius: 2,
  maxSide: 480,
  crop: { width: 96, height: 96 },
};

export interface TrackInput {
  ffmpeg: string;
  /** frames per second to resample to (the lip model's) */
  fps: number;
  maxFrames: number;
  /** most frames the source may give the decoder (see `maxSourceFrames` in @talkie/media's decode) */
  maxSourceFrames?: number;
  timeoutMs: number;
  signal?: AbortSignal;
  onFrames?: (frames: number) => void;
  /** the source's size when already probed; probed with `ffprobe` otherwise */
  source?: { width: number; height: number };
  ffprobe?: string;
  /** demuxers beyond the upload allow-list (operator tools reading e.g. `.mpg`) */
  demuxers?: readonly string[];
  /** track only this part of the video, in seconds (a long video's window) */
  window?: { startS: number; durationS?: number };
  /** issue 17: which face track(s) to cut crops for: the active speaker (default), every track, or one by index */
  face?: FaceChoice;
}

/** One frame's tracking: the face box and all landmark points (x, y pairs in decoded-frame pixels), or null where no face was found. */
export interface FrameFace {
  box: Rect;
  score: number;
  points: Float32Array;
}

export interface MouthTrack {
  fps: number;
  /** the decoded frames' size (the source scaled to at most `maxSide`) */
  width: number;
  height: number;
  /** the source's size; multiply by source/decoded to get source pixels */
  sourceWidth: number;
  sourceHeight: number;
  faces: (FrameFace | null)[];
  /** per frame: the similarity from decoded-frame pixels to the aligned crop */
  transforms: Similarity[];
  /** the aligned mouth crops, `crop.width`×`crop.height` grey, frame after frame */
  crops: Uint8Array;
  crop: { width: number; height: number };
  count: number;
  /** which geometry made the crops: Talkie's reference face or the package's `roi.alignment` */
  alignment: 'reference' | MeanFaceAlignment['spec']['method'];
  /** frames whose crop centre was clamped where upstream's preparation would have refused the video */
  clamped: number[];
  /** seconds spent decoding (ffmpeg and waiting on it) and in the face models, for the bench */
  timings: { detect: number; verify: number; landmarks: number; total: number };
  /** issue 17: every face track found (at most MAX_FACE_TRACKS), by index; `faces`, `transforms`, `crops` and `clamped` above are `read[0]`'s */
  tracks: FaceTrackSummary[];
  /** the active speaker's track index (the one whose mouth moves most) */
  active: number;
  /** the tracks read (`TrackInput.face`), with their crops: the active speaker, one chosen, or all */
  read: TrackCrops[];
}

/** How well one track was followed, in frames at the lip model's rate. */
export interface TrackQuality {
  frames: number;
  /** frames where the face was found and its landmarks made a mouth */
  detected_frames: number;
  /** frames bridged by `fillGaps` (frames − detected_frames) */
  interpolated_frames: number;
  longest_gap_frames: number;
  /** the detector's mean score over the detected frames (0 when none) */
  mean_detector_score: number;
}

/** One face the tracker followed. */
export interface FaceTrackSummary {
  index: number;
  /** the median box over the frames it was found in, in source-video pixels */
  box: Rect;
  quality: TrackQuality;
  /** how much its mouth moves (`mouthActivity`) times the share of frames it was found in */
  activity: number;
  /** whether its crops were cut (it is in `read`) */
  chosen: boolean;
}

/** A track read: its per-frame faces (before gap filling), transforms to the crop and the crops. */
export interface TrackCrops {
  index: number;
  faces: (FrameFace | null)[];
  transforms: Similarity[];
  crops: Uint8Array;
  clamped: number[];
  quality: TrackQuality;
}

/** One read track's model input: the lip model's frames and each frame's face box (source pixels, gaps bridged). */
export interface FaceTrackFrames {
  index: number;
  frames: DecodedFrames;
  quality: TrackQuality;
  boxes: Rect[];
}

/** A track being followed in pass 1: its faces so far (one per frame), the box it holds, its last box seen. */
interface LiveTrack {
  faces: (FrameFace | null)[];
  held: FaceBox | null;
  last: FaceBox;
}

/**
 * Pairs a frame's detections with tracks: greedily by overlap (IoU ≥ SAME_FACE_IOU) with each
 * track's current box, best pairs first; a detection no track overlaps comes back with no track
 * (a new face). Each track takes at most one detection.
 */
function matchDetections(tracks: readonly LiveTrack[], found: readonly FaceBox[], boxOf: (t: LiveTrack) => FaceBox): Array<[LiveTrack | undefined, FaceBox]> {
  const pairs: Array<[number, number, number]> = [];
  found.forEach((box, d) => tracks.forEach((t, k) => {
    const overlap = iou(boxOf(t), box);
    if (overlap >= SAME_FACE_IOU) pairs.push([overlap, k, d]);
  }));
  pairs.sort((a, b) => b[0] - a[0]);
  const byDetection = new Map<number, LiveTrack>();
  const taken = new Set<number>();
  for (const [, k, d] of pairs) {
    if (taken.has(k) || byDetection.has(d)) continue;
    taken.add(k);
    byDetection.set(d, tracks[k]);
  }
  // a new face must not overlap a face already tracked (a second box on the same face)
  return found
    .map((box, d): [LiveTrack | undefined, FaceBox] => [byDetection.get(d), box])
    .filter(([track, box]) => track || !tracks.some((t) => iou(boxOf(t), box) >= SAME_FACE_IOU));
}

const centre = (b: Rect): [number, number] => [b.x + b.width / 2, b.y + b.height / 2];

/** The track whose last box is nearest `box` (centre to centre), if any. */
function nearest(tracks: readonly LiveTrack[], box: Rect): LiveTrack | undefined {
  const [x, y] = centre(box);
  let best: LiveTrack | undefined;
  let distance = Infinity;
  for (const t of tracks) {
    const [tx, ty] = centre(t.last);
    const d = Math.hypot(tx - x, ty - y);
    if (d < distance) [best, distance] = [t, d];
  }
  return best;
}

/** Successive tracks are one face when the later starts within this many of the earlier's widths of where it ended, at a size within `MERGE_SIZE` of it. */
const MERGE_DISTANCE = 1.5;
const MERGE_SIZE = 1.5;

/**
 * Joins tracks that follow one another: a face lost for some frames (turned away, occluded, out
 * of the frame) comes back where the tracker no longer overlaps it, or a face is found again in a
 * later detector run before the frames between were searched; either starts a new track. Two
 * tracks that never have a face in the same frame, the later starting near where the earlier
 * ended and at its size, are one. Drops tracks with no face in any frame.
 */
function mergeSuccessive(series: (FrameFace | null)[][]): (FrameFace | null)[][] {
  const span = (faces: (FrameFace | null)[]) => {
    const first = faces.findIndex(Boolean);
    let last = faces.length - 1;
    while (last >= 0 && !faces[last]) last--;
    return { first, last };
  };
  const ordered = series.filter((faces) => faces.some(Boolean)).sort((a, b) => span(a).first - span(b).first);
  const merged: (FrameFace | null)[][] = [];
  for (const faces of ordered) {
    const { first } = span(faces);
    const start = faces[first]!.box;
    const [x, y] = centre(start);
    let target: (FrameFace | null)[] | undefined;
    let distance = Infinity;
    for (const earlier of merged) {
      const { last } = span(earlier);
      if (last >= first) continue;
      const end = earlier[last]!.box;
      const [ex, ey] = centre(end);
      const d = Math.hypot(ex - x, ey - y);
      const ratio = Math.max(end.width, start.width) / Math.max(1e-6, Math.min(end.width, start.width));
      if (ratio <= MERGE_SIZE && d <= MERGE_DISTANCE * end.width && d < distance) [target, distance] = [earlier, d];
    }
    if (target) faces.forEach((f, i) => f && (target![i] = f));
    else merged.push(faces.slice());
  }
  return merged;
}

/** A track's quality from its per-frame faces (null: not found). */
export function trackQuality(faces: readonly (FrameFace | null)[]): TrackQuality {
  let detected = 0;
  let score = 0;
  let gap = 0;
  let longest = 0;
  for (const f of faces) {
    if (f) {
      detected++;
      score += f.score;
      gap = 0;
    } else {
      longest = Math.max(longest, ++gap);
    }
  }
  return {
    frames: faces.length,
    detected_frames: detected,
    interpolated_frames: faces.length - detected,
    longest_gap_frames: longest,
    mean_detector_score: detected ? Math.min(1, Math.max(0, score / detected)) : 0,
  };
}

const median = (values: number[]) => {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/** The median box (each side's median) of the frames with a face. */
function medianBox(faces: readonly (FrameFace | null)[]): Rect {
  const boxes = faces.filter((f): f is FrameFace => f !== null).map((f) => f.box);
  return { x: median(boxes.map((b) => b.x)), y: median(boxes.map((b) => b.y)), width: median(boxes.map((b) => b.width)), height: median(boxes.map((b) => b.height)) };
}

/** Fewest frames with landmarks a track's mouth activity is measured on; fewer: 0. */
const MIN_ACTIVITY_FRAMES = 5;

/**
 * How much a face's mouth moves: the standard deviation over its frames of the mouth's opening
 * (the mouth points' height over their width, so it does not change with the face's size or
 * distance). A speaking mouth opens and closes; a silent one keeps its shape. 0 under
 * MIN_ACTIVITY_FRAMES frames.
 */
export function mouthActivity(faces: readonly (FrameFace | null)[], mouth: readonly number[]): number {
  const ratios: number[] = [];
  for (const f of faces) {
    if (!f) continue;
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity; // prettier-ignore
    for (const i of mouth) {
      const x = f.points[2 * i];
      const y = f.points[2 * i + 1];
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
    if (maxX - minX > 0) ratios.push((maxY - minY) / (maxX - minX));
  }
  if (ratios.length < MIN_ACTIVITY_FRAMES) return 0;
  const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  return Math.sqrt(ratios.reduce((a, r) => a + (r - mean) ** 2, 0) / ratios.length);
}

/** Each frame's face box with gaps bridged as the landmarks are (`fillGaps`), scaled to source pixels. */
function filledBoxes(faces: readonly (FrameFace | null)[], sx: number, sy: number): Rect[] {
  const filled = fillGaps(faces.map((f) => (f ? Float32Array.of(f.box.x, f.box.y, f.box.width, f.box.height) : null))) ?? [];
  return filled.map((b) => ({ x: b[0] * sx, y: b[1] * sy, width: b[2] * sx, height: b[3] * sy }));
}

/**
 * The mouth-tracking stage (issues 5 and 10): decodes RGB frames at the lip model's frame rate,
 * finds the face with the detector on every `detectEvery`-th frame (every frame while none is
 * tracked) and holds that box in between, runs the landmark model on every frame with a face in
 * batches, bridges frames without a face by interpolation, smooths the landmarks over time, aligns
 * each frame by a similarity transform (to Talkie's reference face, or as the model package's
 * `roi.alignment` says: `mean-face-alignment.ts`) and cuts the mouth crop from a second
 * decode of the video (memory stays at a batch of frames). A video with no face in any frame fails
 * with `no_face_detected`.
 */
export class MouthTracker {
  readonly options: TrackerOptions;

  constructor(
    readonly models: FaceModels,
    options: Partial<TrackerOptions> = {},
  ) {
    this.options = { ...DEFAULT_TRACKER_OPTIONS, ...options };
    const o = this.options;
    if (!(o.detectEvery >= 1 && o.batchSize >= 1 && o.smoothingRadius >= 0 && o.maxSide >= 16 && o.crop.width >= 8 && o.crop.height >= 8)) {
      throw new Error('invalid tracker options');
    }
    if (o.alignment) {
      const { spec } = o.alignment;
      const points = models.manifest.landmarks.output.points;
      const highest = Math.max(...spec.stable_points, spec.mouth_points.stop - 1);
      if (highest >= points) {
        throw new Error(`the ${spec.method} alignment uses landmark ${highest}: face package ${models.manifest.name} has ${points} points`);
      }
    }
  }

  async track(file: string, input: TrackInput): Promise<MouthTrack> {
    const started = performance.now();
    let source = input.source;
    if (!source) {
      if (!input.ffprobe) throw new Error('track: give the source size or an ffprobe binary');
      source = await probeVideo(file, { ffprobe: input.ffprobe, timeoutMs: input.timeoutMs, demuxers: input.demuxers });
    }
    const size = boundedFrameSize(source.width, source.height, this.options.maxSide);
    const timings = { detect: 0, verify: 0, landmarks: 0, total: 0 };
    const tracks: LiveTrack[] = [];
    let seen = 0; // frames handled by pass 1 so far
    let batch: RgbFrame[] = [];

    const runBatch = async () => {
      if (batch.length === 0) return;
      const frames = batch;
      const first = seen;
      batch = [];
      // per track, per frame of the batch: its box (detected, kept or held), and which frames the detector ran on
      const boxes = new Map<LiveTrack, (FaceBox | null)[]>();
      const boxesOf = (track: LiveTrack) => {
        let b = boxes.get(track);
        if (!b) boxes.set(track, (b = new Array(frames.length).fill(null)));
        return b;
      };
      const detected: boolean[] = new Array(frames.length).fill(false);
      // tracks followed before this batch: their detections need no new check
      const trusted = new Set(tracks.filter((t) => t.held));
      const heldAtStart = new Map(tracks.map((t) => [t, t.held] as const));
      /** a track's box at frame i: its last detection before i in this batch, else what it held before the batch */
      const currentAt = (track: LiveTrack, i: number): FaceBox | null => {
        const b = boxes.get(track);
        for (let j = i - 1; j >= 0; j--) if (detected[j]) return b?.[j] ?? null;
        return heldAtStart.get(track) ?? null;
      };
      const detectOn = async (indices: number[]) => {
        if (indices.length === 0) return;
        const t0 = performance.now();
        const found = await this.models.detectAll(indices.map((i) => frames[i]));
        timings.detect += (performance.now() - t0) / 1000;
        const fresh: Array<[number, LiveTrack, FaceBox]> = [];
        indices.forEach((i, k) => {
          for (const track of tracks) boxesOf(track)[i] = null;
          const before = new Map(tracks.map((t) => [t, currentAt(t, i)] as const));
          detected[i] = true;
          for (const [match, box] of matchDetections(tracks, found[k], (t) => before.get(t) ?? t.last)) {
            let track = match;
            if (!track && tracks.length >= MAX_FACE_TRACKS) {
              // bounded: at the limit a new face takes over a lost track (the nearest), else it is not followed
              track = nearest(tracks.filter((t) => !before.get(t) && !boxesOf(t)[i]), box);
              if (!track) continue;
            }
            if (!track) {
              const created: LiveTrack = { faces: new Array(first).fill(null), held: null, last: box };
              tracks.push(created);
              track = created;
            }
            boxesOf(track)[i] = box;
            track.last = box;
            // a face where none was tracked must prove it is one (see `isFace`)
            if (!trusted.has(track) || !(before.get(track) && iou(before.get(track)!, box) >= SAME_FACE_IOU)) fresh.push([i, track, box]);
          }
        });
        const t1 = performance.now();
        const verdicts = await this.isFace(fresh.map(([i, , box]) => ({ frame: frames[i], box })));
        timings.verify += (performance.now() - t1) / 1000;
        fresh.forEach(([i, track], k) => {
          if (!verdicts[k]) boxesOf(track)[i] = null;
        });
        // A detector's score can dip under its threshold for a frame or two on a real face (GRID's
        // lrwp9a: 0.45–0.65): where it missed a tracked face, keep that face's box if the
        // landmarks still find a face in it.
        const misses: Array<[number, LiveTrack, FaceBox]> = [];
        for (const track of tracks) {
          const b = boxesOf(track);
          let current = heldAtStart.get(track) ?? null;
          for (let i = 0; i < frames.length; i++) {
            if (!detected[i]) continue;
            if (b[i]) current = b[i];
            else if (current && indices.includes(i)) misses.push([i, track, current]);
          }
        }
        const t2 = performance.now();
        const kept = await this.isFace(misses.map(([i, , box]) => ({ frame: frames[i], box })));
        timings.verify += (performance.now() - t2) / 1000;
        misses.forEach(([i, track, box], k) => {
          if (kept[k]) boxesOf(track)[i] = box;
        });
      };
      // stride frames in one detector run; then, where every face was lost, every frame after a miss
      const following = () => tracks.some((t) => t.held);
      await detectOn(frames.map((_, i) => i).filter((i) => (first + i) % this.options.detectEvery === 0 || (i === 0 && !following())));
      const lost: number[] = [];
      for (let i = 0; i < frames.length; i++) {
        if (!detected[i] && !tracks.some((t) => currentAt(t, i + 1))) lost.push(i);
      }
      await detectOn(lost);
      // hold each track's last box over the frames the detector did not run on
      const held = (track: LiveTrack) => {
        const b = boxesOf(track);
        let current = track.held;
        for (let i = 0; i < frames.length; i++) {
          if (detected[i]) current = b[i];
          b[i] = current;
        }
        track.held = current;
      };
      tracks.forEach(held);
      const results = new Map(tracks.map((t) => [t, new Array<FrameFace | null>(frames.length).fill(null)] as const));
      const landmarks = async (items: Array<[LiveTrack, number]>) => {
        const t1 = performance.now();
        const points = await this.models.landmarks(items.map(([t, i]) => ({ frame: frames[i], box: boxesOf(t)[i]! })));
        timings.landmarks += (performance.now() - t1) / 1000;
        const implausible: Array<[LiveTrack, number]> = [];
        items.forEach(([track, i], k) => {
          const box = boxesOf(track)[i]!;
          const p = points[k];
          if (p && this.plausible(p, box)) {
            results.get(track)![i] = { box: { x: box.x, y: box.y, width: box.width, height: box.height }, score: box.score, points: p };
          } else {
            implausible.push([track, i]);
          }
        });
        return implausible;
      };
      const all = tracks.flatMap((t) => frames.map((_, i) => [t, i] as [LiveTrack, number]).filter(([, i]) => boxesOf(t)[i]));
      const doubtful = (await landmarks(all)).filter(([, i]) => !detected[i]);
      if (doubtful.length) {
        // a held box whose landmarks make no mouth: the face moved away or left; look for it again
        const again = [...new Set(doubtful.map(([, i]) => i))].sort((a, b) => a - b);
        await detectOn(again);
        await landmarks(tracks.flatMap((t) => again.filter((i) => boxesOf(t)[i]).map((i) => [t, i] as [LiveTrack, number])));
        const last = frames.length - 1;
        if (again.includes(last)) for (const track of tracks) track.held = boxesOf(track)[last];
      }
      for (const track of tracks) {
        if (track.faces.length < first) track.faces.push(...new Array(first - track.faces.length).fill(null));
        track.faces.push(...(results.get(track) ?? new Array(frames.length).fill(null)));
      }
      seen += frames.length;
    };

    const decode = {
      ffmpeg: input.ffmpeg,
      fps: input.fps,
      width: size.width,
      height: size.height,
      maxFrames: input.maxFrames,
      maxSourceFrames: input.maxSourceFrames,
      timeoutMs: input.timeoutMs,
      signal: input.signal,
      demuxers: input.demuxers,
      window: input.window,
    };
    // Pass 1: faces and landmarks. Only a batch of frames is held at a time.
    const count = await streamRgbFrames(file, decode, async (rgb, index) => {
      // the frame's buffer is only ours during this call: keep a copy
      batch.push({ data: rgb.slice(), width: size.width, height: size.height });
      if (batch.length >= this.options.batchSize) await runBatch();
      if (input.onFrames && (index + 1) % 25 === 0) input.onFrames(index + 1);
    });
    await runBatch();
    if (input.signal?.aborted) throw new TalkieError('processing_failed', { message: 'Processing was aborted.' });
    if (count === 0) throw new TalkieError('decode_failed', { message: 'The video has no decodable frames.' });

    // the tracks with a face in some frame, numbered by first appearance, then left to right
    const sx = source.width / size.width;
    const sy = source.height / size.height;
    const found = mergeSuccessive(tracks.map((t) => t.faces.slice(0, count)))
      .map((faces) => ({ faces, firstFrame: faces.findIndex(Boolean) }))
      .sort((a, b) => a.firstFrame - b.firstFrame || a.faces[a.firstFrame]!.box.x - b.faces[b.firstFrame]!.box.x);
    if (found.length === 0) throw new TalkieError('no_face_detected');
    const mouth = this.models.manifest.landmarks.mouth;
    const summaries: FaceTrackSummary[] = found.map((t, index) => {
      const quality = trackQuality(t.faces);
      const box = medianBox(t.faces);
      return {
        index,
        box: { x: box.x * sx, y: box.y * sy, width: box.width * sx, height: box.height * sy },
        quality,
        activity: mouthActivity(t.faces, mouth) * (quality.detected_frames / quality.frames),
        chosen: false,
      };
    });
    // the active speaker: the face whose mouth moves most; on a tie, the one seen longest, then the first
    const active = summaries.reduce((best, t) =>
      t.activity > best.activity || (t.activity === best.activity && t.quality.detected_frames > best.quality.detected_frames) ? t : best,
    ).index;
    const choice = input.face ?? 'active';
    if (typeof choice === 'number' && !(choice >= 0 && choice < found.length)) {
      throw new TalkieError('face_not_found', { message: `The video has ${found.length} face track${found.length === 1 ? '' : 's'} (0–${found.length - 1}); track ${choice} does not exist.` });
    }
    const selected = choice === 'all' ? summaries.map((t) => t.index) : [choice === 'active' ? active : choice];
    for (const i of selected) summaries[i].chosen = true;

    const { crop, alignment } = this.options;
    const cropSize = crop.width * crop.height;
    // an alignment reproduces a preparation whose pixels OpenCV made: they are made as OpenCV makes them
    const toGrey = alignment ? rgbToGreyOpenCv : rgbToGrey;
    const cutters = selected.map((index) => {
      const faces = found[index].faces;
      const filled = fillGaps(faces.map((f) => f?.points ?? null))!;
      const aligned: Omit<MeanFaceTransforms, 'origins'> & Partial<MeanFaceTransforms> = alignment
        ? meanFaceTransforms(filled, alignment, crop)
        : { transforms: this.alignToReference(filled), clamped: [] };
      const crops = new Uint8Array(count * cropSize);
      const { transforms, origins } = aligned;
      const cut = (grey: Uint8Array, i: number) =>
        origins
          ? warpAffineGrey(grey, size.width, size.height, transforms[i], crop.width, crop.height, crops, i * cropSize, origins[i])
          : warpGrey(grey, size.width, size.height, transforms[i], crop.width, crop.height, crops, i * cropSize);
      return { index, faces, transforms, clamped: aligned.clamped, crops, cut, quality: summaries[index].quality };
    });

    // Pass 2: decode again and cut each frame's crops (one per track read) as it comes. Smoothing
    // needs later frames' landmarks and a gap can last any length, so the crops wait for pass 1;
    // decoding twice (ffmpeg decodes about ten times faster than the tracker runs) keeps memory to
    // a batch of frames whatever the video's length, where keeping every frame would take ~390 MB
    // for two minutes at 480×270. The crops are 9 KB a frame per track read (MAX_FACE_TRACKS at most).
    const grey = new Uint8Array(size.width * size.height);
    const again = await streamRgbFrames(file, decode, (rgb, index) => {
      if (index >= count) return;
      toGrey(rgb, grey);
      for (const c of cutters) c.cut(grey, index);
    });
    if (again !== count) throw new TalkieError('decode_failed', { message: 'The video decoded differently on a second pass.' });
    timings.total = (performance.now() - started) / 1000;
    const read: TrackCrops[] = cutters.map(({ cut: _cut, ...rest }) => rest);
    const primary = read[0];
    return {
      fps: input.fps,
      width: size.width,
      height: size.height,
      sourceWidth: source.width,
      sourceHeight: source.height,
      faces: primary.faces,
      transforms: primary.transforms,
      crops: primary.crops,
      crop,
      count,
      alignment: alignment?.spec.method ?? 'reference',
      clamped: primary.clamped,
      timings,
      tracks: summaries,
      active,
      read,
    };
  }

  /** Talkie's geometry: landmarks smoothed over `smoothingRadius`, each frame onto `REFERENCE_FACE`. */
  private alignToReference(filled: Float32Array[]): Similarity[] {
    const spec = this.models.manifest.landmarks;
    return smoothSeries(filled, this.options.smoothingRadius).map((points) => alignToReference(points, spec, this.options.crop));
  }

  /**
   * Whether a detection is a face, by asking the landmark model whether its points stay on the
   * image when the crop moves. On a face, landmarks sit on features: moving the box by a tenth of
   * its size leaves them where they were. On something that only fooled the detector (face-api's
   * finds "faces" in ffmpeg's colour bars with a score of 0.8) the model falls back on its mean
   * face, which moves with the box. Measured on GRID's speaker and on testsrc: the points follow a
   * face's box by under 10% of the shift on average (single shifts up to 20%), testsrc's false face
   * by about 80%.
   */
  private async isFace(items: { frame: RgbFrame; box: FaceBox }[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    const shifts: Array<[number, number]> = [[0, 0], [SHIFT, 0], [-SHIFT, 0], [0, SHIFT], [0, -SHIFT]];
    const runs = items.flatMap(({ frame, box }) =>
      shifts.map(([dx, dy]) => ({ frame, box: { ...box, x: box.x + dx * box.width, y: box.y + dy * box.height } })),
    );
    const points = await this.models.landmarks(runs);
    return items.map(({ box }, k) => {
      const base = points[k * shifts.length];
      if (!base) return false;
      let follow = 0;
      for (let s = 1; s < shifts.length; s++) {
        const moved = points[k * shifts.length + s];
        if (!moved) return false;
        const dx = shifts[s][0] * box.width;
        const dy = shifts[s][1] * box.height;
        let mx = 0;
        let my = 0;
        const n = base.length / 2;
        for (let i = 0; i < base.length; i += 2) {
          mx += (moved[i] - base[i]) / n;
          my += (moved[i + 1] - base[i + 1]) / n;
        }
        // the share of the shift the points followed, along the shift
        follow += (mx * dx + my * dy) / (dx * dx + dy * dy) / (shifts.length - 1);
      }
      return follow < MAX_FOLLOW;
    });
  }

  /**
   * Whether landmarks describe a mouth in the face box: its centre inside the box and its width at
   * least 5% of it. Landmark models always answer; a held box the face has left gives points in a
   * heap or off in a corner.
   */
  private plausible(points: Float32Array, box: Rect): boolean {
    const mouth = this.models.manifest.landmarks.mouth;
    let minX = Infinity;
    let maxX = -Infinity;
    let sx = 0;
    let sy = 0;
    for (const i of mouth) {
      const x = points[2 * i];
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      sx += x;
      sy += points[2 * i + 1];
    }
    const cx = sx / mouth.length;
    const cy = sy / mouth.length;
    const inside = cx >= box.x && cx <= box.x + box.width && cy >= box.y && cy <= box.y + box.height;
    return Number.isFinite(cx) && Number.isFinite(cy) && inside && maxX - minX >= 0.05 * box.width;
  }

  /**
   * The lip model's input frames for a video: the aligned crops, centre-cropped to `input` (88×88
   * of 96×96 for the Auto-AVSR family). What the worker decodes instead of `decodeFrames` when the
   * manifest's ROI is `landmarks`.
   */
  async decodeMouthFrames(file: string, input: TrackInput & { size: { width: number; height: number } }): Promise<DecodedFrames> {
    return (await this.decodeFaceTracks(file, input)).read[0].frames;
  }

  /**
   * Issue 17: the lip model's input frames for each face track read (`input.face`: the active
   * speaker by default, `all`, or an index; `face_not_found` for an index with no track), with
   * every track found and each read track's quality and per-frame boxes.
   */
  async decodeFaceTracks(
    file: string,
    input: TrackInput & { size: { width: number; height: number } },
  ): Promise<{ tracks: FaceTrackSummary[]; active: number; read: FaceTrackFrames[] }> {
    const track = await this.track(file, input);
    const { size } = input;
    if (size.width > track.crop.width || size.height > track.crop.height) throw new Error('the model input is larger than the mouth crop');
    const same = size.width === track.crop.width && size.height === track.crop.height;
    const sx = track.sourceWidth / track.width;
    const sy = track.sourceHeight / track.height;
    const read = track.read.map((r) => ({
      index: r.index,
      frames: { pixels: same ? r.crops : centreCrop(r.crops, track.count, track.crop, size), count: track.count, width: size.width, height: size.height, fps: track.fps },
      quality: r.quality,
      boxes: filledBoxes(r.faces, sx, sy),
    }));
    return { tracks: track.tracks, active: track.active, read };
  }
}
