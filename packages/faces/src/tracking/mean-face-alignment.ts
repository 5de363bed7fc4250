import type { RoiAlignment } from '@talkie/inference';
import { fitSimilarity, type Similarity } from './alignment';
import type { Point } from './mean-face';
import { roundHalfEven } from './opencv-sampling';

/**
 * The `mean_face` alignment (Auto-AVSR's `VideoProcess`, mpc001/auto_avsr
 * `preparation/detectors/retinaface/video_process.py`) as per-frame similarities from the frame to
 * the crop. Upstream warps each frame into a whole registered image and slices the crop out of it;
 * slicing is a translation by whole pixels, so frame → crop is one similarity, and the tracker's
 * second pass samples the crop through it directly (`warpAffineGrey`, as cv2.warpAffine would
 * have sampled those pixels of the registered image).
 *
 * Where this differs from upstream, on purpose:
 * - the similarity is fitted by least squares over all stable points (`fitSimilarity`, Umeyama),
 *   not by `cv2.estimateAffinePartial2D(method=LMEDS)`, which leaves out points its best 2-point
 *   sample disagrees with before refining: the same where the landmarks fit the mean face, while
 *   one point far off moves this fit a little where LMedS would ignore it;
 * - upstream raises "too much bias" where the mouth centre lands more than half the crop + 5 px
 *   from the registered image's middle (the video is then skipped); here the centre is moved to
 *   that limit (and kept where the crop fits in the image), and the frame is reported in `clamped`;
 * - upstream refuses a clip of fewer frames than the window; here the window shrinks to the clip,
 *   as it does at any clip's ends, since a long video's last window (CHUNK_SECONDS) can be that short;
 * - the frames are the tracker's decode (longer side at most `maxSide`, 480 px by default, scaled by
 *   ffmpeg), where upstream warps the source at full size: unscaled frames for sources up to that
 *   size (LRS3's 224×224, GRID's 360×288), smoother crops than upstream's for larger sources.
 */

export type MeanFaceSpec = Extract<RoiAlignment, { method: 'mean_face' }>;

/** A `mean_face` alignment from a manifest, its mean face read (`loadMeanFace`). */
export interface MeanFaceAlignment {
  spec: MeanFaceSpec;
  meanFace: readonly Point[];
}

/** upstream's `cut_patch` threshold: how far past half the crop the centre may lie */
export const BIAS_THRESHOLD = 5;

/**
 * Upstream's smoothing: frame i averaged over i − r … i + r, r = min(⌊window/2⌋, i, n − 1 − i),
 * then moved so its centroid is frame i's own: the window steadies the face's shape without
 * dragging a moving head behind. In doubles, as numpy computes it: single precision moves the
 * fitted similarity enough to flip OpenCV's 1/32-pixel rounding of a few samples.
 */
export function smoothAsAutoAvsr(series: readonly Float32Array[], window: number): Float64Array[] {
  const n = series.length;
  return series.map((own, i) => {
    const r = Math.min(Math.floor(window / 2), i, n - 1 - i);
    const p = new Float64Array(own.length);
    for (let k = i - r; k <= i + r; k++) for (let j = 0; j < p.length; j++) p[j] += series[k][j];
    let dx = 0;
    let dy = 0;
    for (let j = 0; j < p.length; j += 2) {
      p[j] /= 2 * r + 1;
      p[j + 1] /= 2 * r + 1;
      dx += own[j] - p[j];
      dy += own[j + 1] - p[j + 1];
    }
    dx /= p.length / 2;
    dy /= p.length / 2;
    for (let j = 0; j < p.length; j += 2) {
      p[j] += dx;
      p[j + 1] += dy;
    }
    return p;
  });
}

/**
 * `cut_patch` along one axis, in OpenCV's pixel coordinates: the crop's first pixel for a centre
 * `centre` in an image `size` long (Python rounds half to even). A centre upstream would refuse is
 * moved to the nearest it accepts; `clamped` says so.
 */
export function cropOrigin(centre: number, crop: number, size: number): { origin: number; clamped: boolean } {
  const half = Math.floor(crop / 2);
  const lo = Math.max(half, size / 2 - half - BIAS_THRESHOLD);
  const hi = Math.min(size - half, size / 2 + half + BIAS_THRESHOLD);
  const c = Math.min(Math.max(centre, lo), hi);
  return { origin: roundHalfEven(c - half), clamped: c !== centre };
}

export interface MeanFaceTransforms {
  /** per frame, decoded-frame pixels → crop pixels (Talkie's convention, as `MouthTrack.transforms`) */
  transforms: Similarity[];
  /** per frame, the crop's corner in the registered image (OpenCV's sampling depends on it: `warpAffineGrey`) */
  origins: Array<{ x: number; y: number }>;
  /** frames whose crop centre was moved where upstream would have refused the video */
  clamped: number[];
}

/** Per-frame transforms for gap-filled landmark series (`fillGaps`). */
export function meanFaceTransforms(landmarks: readonly Float32Array[], alignment: MeanFaceAlignment, crop: { width: number; height: number }): MeanFaceTransforms {
  const { spec, meanFace } = alignment;
  // Talkie's pixel centres lie at +0.5, OpenCV's (the mean face's, the crop's corner's) at whole
  // numbers: a landmark on a pixel is on the same pixel in both
  const reference = spec.stable_points.map((i): Point => [meanFace[i][0] + 0.5, meanFace[i][1] + 0.5]);
  const { start, stop } = spec.mouth_points;
  const clamped: number[] = [];
  const origins: Array<{ x: number; y: number }> = [];
  const transforms = smoothAsAutoAvsr(landmarks, spec.smoothing_window).map((p, frame) => {
    const t = fitSimilarity(
      spec.stable_points.map((i): Point => [p[2 * i], p[2 * i + 1]]),
      reference,
    );
    let cx = 0;
    let cy = 0;
    for (let i = start; i < stop; i++) {
      cx += (t.a * p[2 * i] - t.b * p[2 * i + 1] + t.tx) / (stop - start);
      cy += (t.b * p[2 * i] + t.a * p[2 * i + 1] + t.ty) / (stop - start);
    }
    const x = cropOrigin(cx - 0.5, crop.width, spec.reference_size.width);
    const y = cropOrigin(cy - 0.5, crop.height, spec.reference_size.height);
    if (x.clamped || y.clamped) clamped.push(frame);
    origins.push({ x: x.origin, y: y.origin });
    return { a: t.a, b: t.b, tx: t.tx - x.origin, ty: t.ty - y.origin };
  });
  return { transforms, origins, clamped };
}

/** Upstream's `VideoProcess` defaults as `roi.alignment` (with a 96×96 `roi.crop`), its mean face at `meanFace` in the package. */
export const autoAvsrAlignment = (meanFace = 'mean-face.json'): MeanFaceSpec => ({
  method: 'mean_face',
  mean_face: meanFace,
  reference_size: { width: 256, height: 256 },
  stable_points: [28, 33, 36, 39, 42, 45, 48, 54],
  smoothing_window: 12,
  mouth_points: { start: 48, stop: 68 },
});
