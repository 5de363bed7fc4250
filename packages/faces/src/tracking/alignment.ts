/**
 * The similarity transform from a frame's landmarks to a reference face, and the mouth crop it
 * gives. Transforms map frame coordinates (x, y) to crop coordinates (u, v):
 * u = a·x − b·y + tx, v = b·x + a·y + ty (rotation and uniform scale, no shear, no reflection).
 */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

/**
 * The reference face in the coordinates of a 96×96 mouth crop: the mouth centre in the middle and
 * the eyes 76 px above it, 76 px apart, roughly where the Auto-AVSR family's mean face puts them
 * for its 96×96 mouth crops. Scaled for other crop sizes.
 */
export const REFERENCE_FACE = { crop: 96, eyeDistance: 76, eyeToMouth: 76, mouthWidth: 44 } as const;

type Point = [number, number];

/** Least-squares similarity taking `from[i]` to `to[i]` (Umeyama's closed form, in 2-D). */
export function fitSimilarity(from: readonly Point[], to: readonly Point[]): Similarity {
  const n = from.length;
  let fx = 0, fy = 0, gx = 0, gy = 0; // prettier-ignore
  for (let i = 0; i < n; i++) {
    fx += from[i][0] / n;
    fy += from[i][1] / n;
    gx += to[i][0] / n;
    gy += to[i][1] / n;
  }
  let dot = 0, cross = 0, norm = 0; // prettier-ignore
  for (let i = 0; i < n; i++) {
    const px = from[i][0] - fx;
    const py = from[i][1] - fy;
    const qx = to[i][0] - gx;
    const qy = to[i][1] - gy;
    dot += px * qx + py * qy;
    cross += px * qy - py * qx;
    norm += px * px + py * py;
  }
  if (!(norm > 0)) throw new Error('cannot align: the landmarks coincide');
  const a = dot / norm;
  const b = cross / norm;
  return { a, b, tx: gx - (a * fx - b * fy), ty: gy - (b * fx + a * fy) };
}

const centroid = (points: Float32Array, indices: readonly number[]): Point => {
  let x = 0;
  let y = 0;
  for (const i of indices) {
    x += points[2 * i];
    y += points[2 * i + 1];
  }
  return [x / indices.length, y / indices.length];
};

export interface AlignSpec {
  mouth: readonly number[];
  align?: { left_eye: readonly number[]; right_eye: readonly number[] };
}

/**
 * The transform to the reference for one frame's landmarks. With eye points: rotation and scale
 * from eye centres and mouth centre, the stable points (the mouth's own outline changes as it
 * opens, and would make the crop breathe). Without: from the mouth's corners (its two points
 * farthest apart). Either way the mouth centre lands in the middle of the crop.
 */
export function alignToReference(points: Float32Array, spec: AlignSpec, crop: { width: number; height: number }): Similarity {
  const scale = crop.width / REFERENCE_FACE.crop;
  const cu = crop.width / 2;
  const cv = crop.height / 2;
  const mouth = centroid(points, spec.mouth);
  let fit: Similarity;
  if (spec.align) {
    let left = centroid(points, spec.align.left_eye);
    let right = centroid(points, spec.align.right_eye);
    if (left[0] > right[0]) [left, right] = [right, left];
    const half = (REFERENCE_FACE.eyeDistance / 2) * scale;
    const up = REFERENCE_FACE.eyeToMouth * scale;
    fit = fitSimilarity([left, right, mouth], [[cu - half, cv - up], [cu + half, cv - up], [cu, cv]]);
  } else {
    let best = -1;
    let corners: [Point, Point] = [mouth, mouth];
    for (let i = 0; i < spec.mouth.length; i++) {
      for (let j = i + 1; j < spec.mouth.length; j++) {
        const p: Point = [points[2 * spec.mouth[i]], points[2 * spec.mouth[i] + 1]];
        const q: Point = [points[2 * spec.mouth[j]], points[2 * spec.mouth[j] + 1]];
        const d = (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2;
        if (d > best) {
          best = d;
          corners = p[0] <= q[0] ? [p, q] : [q, p];
        }
      }
    }
    const half = (REFERENCE_FACE.mouthWidth / 2) * scale;
    fit = fitSimilarity([corners[0], corners[1]], [[cu - half, cv], [cu + half, cv]]);
  }
  // put the mouth centre exactly in the middle, whatever the fit's residual
  return { a: fit.a, b: fit.b, tx: cu - (fit.a * mouth[0] - fit.b * mouth[1]), ty: cv - (fit.b * mouth[0] + fit.a * mouth[1]) };
}

/**
 * Warps a grey frame into a `width`×`height` crop through the inverse of `t`, bilinear, black
 * outside the frame; writes into `out` at `offset`. Pixel centres map to pixel centres.
 */
export function warpGrey(
  grey: Uint8Array,
  frameWidth: number,
  frameHeight: number,
  t: Similarity,
  width: number,
  height: number,
  out: Uint8Array,
  offset = 0,
): void {
  const det = t.a * t.a + t.b * t.b;
  // inverse: x = (a·(u − tx) + b·(v − ty)) / det, y = (−b·(u − tx) + a·(v − ty)) / det
  const ia = t.a / det;
  const ib = t.b / det;
  const maxX = frameWidth - 1;
  const maxY = frameHeight - 1;
  for (let v = 0; v < height; v++) {
    const dv = v + 0.5 - t.ty;
    // frame position of (u + 0.5, v + 0.5), minus 0.5 to index pixel centres; steps linearly in u
    let x = ia * (0.5 - t.tx) + ib * dv - 0.5;
    let y = -ib * (0.5 - t.tx) + ia * dv - 0.5;
    const o = offset + v * width;
    for (let u = 0; u < width; u++, x += ia, y -= ib) {
      if (x < -0.5 || y < -0.5 || x > maxX + 0.5 || y > maxY + 0.5) {
        out[o + u] = 0;
        continue;
      }
      const cx = x < 0 ? 0 : x > maxX ? maxX : x;
      const cy = y < 0 ? 0 : y > maxY ? maxY : y;
      const x0 = Math.min(cx | 0, maxX - 1 < 0 ? 0 : maxX - 1);
      const y0 = Math.min(cy | 0, maxY - 1 < 0 ? 0 : maxY - 1);
      const fx = cx - x0;
      const fy = cy - y0;
      const i = y0 * frameWidth + x0;
      const top = grey[i] + (grey[i + 1] - grey[i]) * fx;
      const bottom = grey[i + frameWidth] + (grey[i + frameWidth + 1] - grey[i + frameWidth]) * fx;
      out[o + u] = (top + (bottom - top) * fy + 0.5) | 0;
    }
  }
}

/** Copies the centred `width`×`height` part of each crop (e.g. 88×88 of 96×96) into `out`. */
export function centreCrop(crops: Uint8Array, count: number, from: { width: number; height: number }, to: { width: number; height: number }): Uint8Array {
  const out = new Uint8Array(count * to.width * to.height);
  const dx = Math.floor((from.width - to.width) / 2);
  const dy = Math.floor((from.height - to.height) / 2);
  for (let f = 0; f < count; f++) {
    for (let y = 0; y < to.height; y++) {
      const src = f * from.width * from.height + (y + dy) * from.width + dx;
      out.set(crops.subarray(src, src + to.width), (f * to.height + y) * to.width);
    }
  }
  return out;
}
