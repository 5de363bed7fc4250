import { fitSimilarity } from './alignment';
import type { Point } from './mean-face';
import { roundHalfEven, warpAffineGrey } from './opencv-sampling';

/**
 * For tests: Auto-AVSR's `VideoProcess` (mpc001/auto_avsr,
 * `preparation/detectors/retinaface/video_process.py`) ported step by step, in OpenCV's pixel
 * coordinates and with upstream's order of work (interpolate, smooth each frame, warp the whole
 * frame into the registered image, slice the patch out of it), so that the tracker's shortcuts
 * (one similarity frame → crop, Talkie's half-pixel convention) are checked against it. Two
 * substitutions: `cv2.estimateAffinePartial2D(method=LMEDS)` by least squares, as the tracker
 * does, and `cv2.warpAffine` by `warpAffineGrey` over the whole image (checked against OpenCV's
 * own output in opencv-sampling.test.ts).
 */

/** `interpolate_landmarks`: linear over gaps, the first and last known copied outwards. */
export function upstreamInterpolate(landmarks: readonly (Point[] | null)[]): Point[][] | null {
  const out = [...landmarks];
  const valid = out.map((l, i) => (l ? i : -1)).filter((i) => i >= 0);
  if (valid.length === 0) return null;
  for (let k = 1; k < valid.length; k++) {
    const [a, b] = [valid[k - 1], valid[k]];
    for (let i = 1; i < b - a; i++) out[a + i] = out[a]!.map(([x, y], j): Point => [x + (i / (b - a)) * (out[b]![j][0] - x), y + (i / (b - a)) * (out[b]![j][1] - y)]);
  }
  for (let i = 0; i < valid[0]; i++) out[i] = out[valid[0]];
  for (let i = valid[valid.length - 1] + 1; i < out.length; i++) out[i] = out[valid[valid.length - 1]];
  return out as Point[][];
}

const centroid = (p: readonly Point[]): Point => [p.reduce((s, q) => s + q[0], 0) / p.length, p.reduce((s, q) => s + q[1], 0) / p.length];

/** `crop_patch`'s smoothing of frame `frameIdx`: a window that shrinks at the ends, then frame's own centroid. */
export function upstreamSmoothed(landmarks: readonly Point[][], frameIdx: number, windowMargin: number): Point[] {
  const margin = Math.min(Math.floor(windowMargin / 2), frameIdx, landmarks.length - 1 - frameIdx);
  const window = landmarks.slice(frameIdx - margin, frameIdx + margin + 1);
  const smoothed = window[0].map((_, j): Point => [window.reduce((s, l) => s + l[j][0], 0) / window.length, window.reduce((s, l) => s + l[j][1], 0) / window.length]);
  const [ox, oy] = centroid(landmarks[frameIdx]);
  const [sx, sy] = centroid(smoothed);
  return smoothed.map(([x, y]): Point => [x + ox - sx, y + oy - sy]);
}

export interface UpstreamOptions {
  crop: { width: number; height: number };
  size: { width: number; height: number };
  stablePoints: readonly number[];
  mouth: { start: number; stop: number };
  windowMargin: number;
}

/**
 * `crop_patch`, frame by frame: the registered `size` image of each grey frame, and the patch cut
 * from it; throws upstream's OverflowError messages where it would.
 */
export function upstreamCrops(grey: readonly Uint8Array[], frame: { width: number; height: number }, landmarks: readonly Point[][], meanFace: readonly Point[], o: UpstreamOptions): Uint8Array[] {
  const reference = o.stablePoints.map((i) => meanFace[i]);
  return grey.map((pixels, frameIdx) => {
    const smoothed = upstreamSmoothed(landmarks, frameIdx, o.windowMargin);
    const M = fitSimilarity(o.stablePoints.map((i) => smoothed[i]), reference);
    // M maps OpenCV pixels to OpenCV pixels; warpAffineGrey takes Talkie's: t(q) = M(q − ½) + ½
    const t = { a: M.a, b: M.b, tx: M.tx + 0.5 - 0.5 * (M.a - M.b), ty: M.ty + 0.5 - 0.5 * (M.a + M.b) };
    const registered = new Uint8Array(o.size.width * o.size.height);
    warpAffineGrey(pixels, frame.width, frame.height, t, o.size.width, o.size.height, registered);
    const mouth = smoothed.slice(o.mouth.start, o.mouth.stop).map(([x, y]): Point => [M.a * x - M.b * y + M.tx, M.b * x + M.a * y + M.ty]);
    const [cx, cy] = centroid(mouth);
    const [h, w] = [Math.floor(o.crop.height / 2), Math.floor(o.crop.width / 2)];
    if (Math.abs(cy - o.size.height / 2) > h + 5) throw new Error('too much bias in height');
    if (Math.abs(cx - o.size.width / 2) > w + 5) throw new Error('too much bias in width');
    const clip = (v: number, max: number) => roundHalfEven(Math.min(Math.max(v, 0), max));
    const [y0, y1, x0, x1] = [clip(cy - h, o.size.height), clip(cy + h, o.size.height), clip(cx - w, o.size.width), clip(cx + w, o.size.width)];
    const patch = new Uint8Array((y1 - y0) * (x1 - x0));
    for (let y = y0; y < y1; y++) patch.set(registered.subarray(y * o.size.width + x0, y * o.size.width + x1), (y - y0) * (x1 - x0));
    return patch;
  });
}
