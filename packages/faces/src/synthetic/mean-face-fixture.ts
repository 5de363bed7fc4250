import path from 'node:path';
import { fitSimilarity, type Similarity } from '../tracking/alignment';
import type { Point } from '../tracking/mean-face';
import { RING_RADIUS, ringTemplate } from './ring-face-model';

/**
 * Mean faces for tests. Neither is Auto-AVSR's (`20words_mean_face.npy`, which is not in this
 * repository and cannot be downloaded here): a package for a real Auto-AVSR model must carry
 * upstream's file, converted to JSON (`mean-face.ts`).
 */

/**
 * Talkie's GRID mean face (`packages/faces/fixtures/grid-mean-face.json`, see the README there):
 * face-api's landmarks of GRID's speaker, averaged. Rebuilt by `node packages/faces/dist/cli/grid-mean-face.js`.
 */
export const GRID_MEAN_FACE_FIXTURE = path.resolve(__dirname, '..', '..', 'fixtures', 'grid-mean-face.json');

/**
 * Where the GRID fixture's eye centres and mouth centre are put in its 256×256 frame (OpenCV
 * pixels), by least squares: a real face's three cannot all be met (GRID's speaker's eyes come out
 * 68 px apart, the mouth at y ≈ 173, 53 px wide). The proportions of the REFERENCE_FACE, which
 * Talkie took to be roughly those of the Auto-AVSR family's mean face.
 */
export const FIXTURE_GEOMETRY = { size: 256, leftEye: [90, 94], rightEye: [166, 94], mouth: [128, 170] } as const satisfies {
  size: number;
  leftEye: Point;
  rightEye: Point;
  mouth: Point;
};

/**
 * The synthetic face package's template as a mean face, the mouth at (128, 170) of a 256×256 frame:
 * registering the moving-mouth fixture onto it changes no scale, so the 96×96 crop shows the
 * fixture's pattern as the demo model reads it (half a pixel off centre: upstream centres the
 * crop on pixel 48, not between 47 and 48).
 */
export function syntheticMeanFace(): Point[] {
  return ringTemplate().map(([x, y]): Point => [128 + RING_RADIUS * x, 170 + RING_RADIUS * y]);
}

const apply = (t: Similarity, points: Float32Array): Float32Array => {
  const out = new Float32Array(points.length);
  for (let i = 0; i < points.length; i += 2) {
    out[i] = t.a * points[i] - t.b * points[i + 1] + t.tx;
    out[i + 1] = t.b * points[i] + t.a * points[i + 1] + t.ty;
  }
  return out;
};

const centre = (p: Float32Array, from: number, to: number): Point => {
  let x = 0;
  let y = 0;
  for (let i = from; i < to; i++) {
    x += p[2 * i] / (to - from);
    y += p[2 * i + 1] / (to - from);
  }
  return [x, y];
};

/** eye centres and mouth centre, the three points `FIXTURE_GEOMETRY` pins */
const anchors = (p: Float32Array): Point[] => [centre(p, 36, 42), centre(p, 42, 48), centre(p, 48, 68)];
const pick = (p: Float32Array, indices: readonly number[]): Point[] => indices.map((i) => [p[2 * i], p[2 * i + 1]]);

/**
 * A mean face from many frames' 68 landmarks: each frame registered onto the current mean by its
 * `stablePoints` (as the alignment will register frames onto it) and averaged, a few times over;
 * after each round the mean is moved onto `FIXTURE_GEOMETRY`, so the face's size and place in the
 * frame are chosen rather than inherited from the first frame.
 */
export function buildMeanFace(frames: readonly Float32Array[], stablePoints: readonly number[], rounds = 4): Point[] {
  if (frames.length === 0) throw new Error('no landmarks to average');
  const target: Point[] = [[...FIXTURE_GEOMETRY.leftEye], [...FIXTURE_GEOMETRY.rightEye], [...FIXTURE_GEOMETRY.mouth]];
  const average = (registered: Float32Array[]) => {
    const mean = new Float32Array(registered[0].length);
    for (const p of registered) for (let i = 0; i < p.length; i++) mean[i] += p[i] / registered.length;
    return apply(fitSimilarity(anchors(mean), target), mean);
  };
  let mean = average(frames.map((p) => apply(fitSimilarity(anchors(p), target), p)));
  for (let round = 0; round < rounds; round++) {
    const reference = pick(mean, stablePoints);
    mean = average(frames.map((p) => apply(fitSimilarity(pick(p, stablePoints), reference), p)));
  }
  return Array.from({ length: mean.length / 2 }, (_, i): Point => [Math.round(mean[2 * i] * 100) / 100, Math.round(mean[2 * i + 1] * 100) / 100]);
}
