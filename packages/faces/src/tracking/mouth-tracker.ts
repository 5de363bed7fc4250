import { TalkieError } from '@talkie/contracts';
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
    const faces: (FrameFace | null)[] = [];
    const timings = { detect: 0, verify: 0, landmarks: 0, total: 0 };
    let batch: RgbFrame[] = [];
    // the box from the last detection, held until the next one; null while no face is tracked
    let held: FaceBox | null = null;

    const runBatch = async () => {
      if (batch.length === 0) return;
      const frames = batch;
      const first = faces.length;
      batch = [];
      const boxes: (FaceBox | null)[] = new Array(frames.length).fill(null);
      const detected: boolean[] = new Array(frames.length).fill(false);
      const trustedBefore = held;
      const detectOn = async (indices: number[]) => {
        if (indices.length === 0) return;
        const t0 = performance.now();
        const found = await this.models.detect(indices.map((i) => frames[i]));
        timings.detect += (performance.now() - t0) / 1000;
        indices.forEach((i, k) => {
          boxes[i] = found[k];
          detected[i] = true;
        });
        // a face where none was tracked must prove it is one (see `isFace`)
        const fresh = indices.filter((i) => boxes[i] && !(trustedBefore && iou(trustedBefore, boxes[i]!) >= SAME_FACE_IOU));
        const t1 = performance.now();
        const verdicts = await this.isFace(fresh.map((i) => ({ frame: frames[i], box: boxes[i]! })));
        timings.verify += (performance.now() - t1) / 1000;
        fresh.forEach((i, k) => {
          if (!verdicts[k]) boxes[i] = null;
        });
        // A detector's score can dip under its threshold for a frame or two on a real face (GRID's
        // lrwp9a: 0.45–0.65): where it missed while a face was tracked, keep that face's box if the
        // landmarks still find a face in it.
        const misses: Array<[number, FaceBox]> = [];
        let current = trustedBefore;
        for (let i = 0; i < frames.length; i++) {
          if (!detected[i]) continue;
          if (boxes[i]) current = boxes[i];
          else if (current && indices.includes(i)) misses.push([i, current]);
        }
        const t2 = performance.now();
        const kept = await this.isFace(misses.map(([i, box]) => ({ frame: frames[i], box })));
        timings.verify += (performance.now() - t2) / 1000;
        misses.forEach(([i, box], k) => {
          if (kept[k]) boxes[i] = box;
        });
      };
      // stride frames in one detector run; then, where the face was lost, every frame after a miss
      await detectOn(frames.map((_, i) => i).filter((i) => (first + i) % this.options.detectEvery === 0 || (i === 0 && !held)));
      const lost: number[] = [];
      let current = held;
      for (let i = 0; i < frames.length; i++) {
        if (detected[i]) current = boxes[i];
        else if (!current) lost.push(i);
      }
      await detectOn(lost);
      for (let i = 0; i < frames.length; i++) {
        if (detected[i]) held = boxes[i];
        boxes[i] = held;
      }
      const results: (FrameFace | null)[] = new Array(frames.length).fill(null);
      const landmarks = async (indices: number[]) => {
        const t1 = performance.now();
        const points = await this.models.landmarks(indices.map((i) => ({ frame: frames[i], box: boxes[i]! })));
        timings.landmarks += (performance.now() - t1) / 1000;
        const implausible: number[] = [];
        indices.forEach((i, k) => {
          const box = boxes[i]!;
          const p = points[k];
          if (p && this.plausible(p, box)) {
            results[i] = { box: { x: box.x, y: box.y, width: box.width, height: box.height }, score: box.score, points: p };
          } else {
            implausible.push(i);
          }
        });
        return implausible;
      };
      const doubtful = (await landmarks(frames.map((_, i) => i).filter((i) => boxes[i]))).filter((i) => !detected[i]);
      if (doubtful.length) {
        // a held box whose landmarks make no mouth: the face moved away or left; look for it again
        await detectOn(doubtful);
        await landmarks(doubtful.filter((i) => boxes[i]));
        const last = frames.length - 1;
        if (doubtful.includes(last)) held = boxes[last];
      }
      faces.push(...results);
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

    const filled = fillGaps(faces.map((f) => f?.points ?? null));
    if (!filled) throw new TalkieError('no_face_detected');
    const { crop, alignment } = this.options;
    const aligned: Omit<MeanFaceTransforms, 'origins'> & Partial<MeanFaceTransforms> = alignment
      ? meanFaceTransforms(filled, alignment, crop)
      : { transforms: this.alignToReference(filled), clamped: [] };
    const { transforms, clamped, origins } = aligned;
    const cropSize = crop.width * crop.height;
    // an alignment reproduces a preparation whose pixels OpenCV made: they are made as OpenCV makes them
    const toGrey = alignment ? rgbToGreyOpenCv : rgbToGrey;
    const cut = (grey: Uint8Array, index: number) =>
      origins
        ? warpAffineGrey(grey, size.width, size.height, transforms[index], crop.width, crop.height, crops, index * cropSize, origins[index])
        : warpGrey(grey, size.width, size.height, transforms[index], crop.width, crop.height, crops, index * cropSize);

    // Pass 2: decode again and cut each frame's crop as it comes. Smoothing needs later frames'
    // landmarks and a gap can last any length, so the crops wait for pass 1; decoding twice
    // (ffmpeg decodes about ten times faster than the tracker runs) keeps memory to a batch of
    // frames whatever the video's length, where keeping every frame would take ~390 MB for two
    // minutes at 480×270.
    const crops = new Uint8Array(count * cropSize);
    const grey = new Uint8Array(size.width * size.height);
    const again = await streamRgbFrames(file, decode, (rgb, index) => {
      if (index >= count) return;
      toGrey(rgb, grey);
      cut(grey, index);
    });
    if (again !== count) throw new TalkieError('decode_failed', { message: 'The video decoded differently on a second pass.' });
    timings.total = (performance.now() - started) / 1000;
    return {
      fps: input.fps,
      width: size.width,
      height: size.height,
      sourceWidth: source.width,
      sourceHeight: source.height,
      faces,
      transforms,
      crops,
      crop,
      count,
      alignment: alignment?.spec.method ?? 'reference',
      clamped,
      timings,
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
    const track = await this.track(file, input);
    const { size } = input;
    if (size.width > track.crop.width || size.height > track.crop.height) throw new Error('the model input is larger than the mouth crop');
    const pixels = size.width === track.crop.width && size.height === track.crop.height ? track.crops : centreCrop(track.crops, track.count, track.crop, size);
    return { pixels, count: track.count, width: size.width, height: size.height, fps: track.fps };
  }
}
