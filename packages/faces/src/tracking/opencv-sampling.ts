import type { Similarity } from './alignment';

/**
 * Pixels as OpenCV makes them, for alignments that reproduce a Python preparation which used it
 * (Auto-AVSR's): a model is trained on those exact pixels. Talkie's own path (`warpGrey`,
 * `rgbToGrey`) differs from these by a grey level here and there and at the frame's edges.
 */

/** Python's `round` (and OpenCV's `cvRound`): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** `cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)` on 8-bit pixels: OpenCV 4's 15-bit fixed-point weights. */
export function rgbToGreyOpenCv(rgb: Uint8Array, out: Uint8Array = new Uint8Array(rgb.length / 3)): Uint8Array {
  for (let i = 0, j = 0; i < out.length; i++, j += 3) {
    out[i] = (rgb[j] * 9798 + rgb[j + 1] * 19235 + rgb[j + 2] * 3735 + 16384) >> 15;
  }
  return out;
}

/** OpenCV's warp arithmetic: map coordinates in 1/1024 px, sample positions on a 1/32-px grid. */
const AB_SCALE = 1024;
const TAB = 32;

/**
 * `cv2.warpAffine(frame, M, …, flags=INTER_LINEAR, borderMode=BORDER_CONSTANT, borderValue=0)`,
 * sliced at `origin`: the `width`×`height` part from (origin.x, origin.y) of the warped image,
 * written into `out` at `offset`. `t` is the same frame-to-crop similarity that `warpGrey` takes
 * (Talkie's convention: pixel centres at +0.5); M is t moved back by `origin`, in OpenCV's
 * convention (pixel centres at whole numbers). Reproduces OpenCV's fixed-point steps (positions
 * rounded to 1/32 px from coordinates in 1/1024 px, integer bilinear weights), which depend on a
 * pixel's place in the whole warped image (hence `origin`, not just t), and its border: a neighbour
 * outside the frame counts as black, so the frame's edge fades out over a pixel.
 */
export function warpAffineGrey(
  grey: Uint8Array,
  frameWidth: number,
  frameHeight: number,
  t: Similarity,
  width: number,
  height: number,
  out: Uint8Array,
  offset = 0,
  origin: { x: number; y: number } = { x: 0, y: 0 },
): void {
  // M in OpenCV's convention: p ↦ t(p + ½) − ½ + origin
  const m0 = t.a;
  const m1 = -t.b;
  const m2 = t.tx + origin.x + 0.5 * (t.a - t.b) - 0.5;
  const m3 = t.b;
  const m4 = t.a;
  const m5 = t.ty + origin.y + 0.5 * (t.a + t.b) - 0.5;
  // its inverse, computed as warpAffine computes it (dst → src)
  const d = m0 * m4 - m1 * m3;
  const D = d !== 0 ? 1 / d : 0;
  const i0 = m4 * D;
  const i1 = -m1 * D;
  const i3 = -m3 * D;
  const i4 = m0 * D;
  const i2 = -i0 * m2 - i1 * m5;
  const i5 = -i3 * m2 - i4 * m5;
  const adelta = new Int32Array(width);
  const bdelta = new Int32Array(width);
  for (let u = 0; u < width; u++) {
    adelta[u] = roundHalfEven(i0 * (u + origin.x) * AB_SCALE);
    bdelta[u] = roundHalfEven(i3 * (u + origin.x) * AB_SCALE);
  }
  const roundDelta = AB_SCALE / TAB / 2;
  const pixel = (x: number, y: number) => (x >= 0 && y >= 0 && x < frameWidth && y < frameHeight ? grey[y * frameWidth + x] : 0);
  for (let v = 0; v < height; v++) {
    const x0 = roundHalfEven((i1 * (v + origin.y) + i2) * AB_SCALE) + roundDelta;
    const y0 = roundHalfEven((i4 * (v + origin.y) + i5) * AB_SCALE) + roundDelta;
    const o = offset + v * width;
    for (let u = 0; u < width; u++) {
      // in 1/32 px: floor division, as OpenCV's arithmetic shift is
      const X = Math.floor((x0 + adelta[u]) / (AB_SCALE / TAB));
      const Y = Math.floor((y0 + bdelta[u]) / (AB_SCALE / TAB));
      const sx = Math.floor(X / TAB);
      const sy = Math.floor(Y / TAB);
      const fx = X - sx * TAB;
      const fy = Y - sy * TAB;
      // weights in 1/32768, as INTER_REMAP_COEF_BITS: they sum to exactly 32768
      const w00 = (TAB - fx) * (TAB - fy) * 32;
      const w01 = fx * (TAB - fy) * 32;
      const w10 = (TAB - fx) * fy * 32;
      const w11 = fx * fy * 32;
      let sum: number;
      if (sx >= 0 && sy >= 0 && sx < frameWidth - 1 && sy < frameHeight - 1) {
        const i = sy * frameWidth + sx;
        sum = grey[i] * w00 + grey[i + 1] * w01 + grey[i + frameWidth] * w10 + grey[i + frameWidth + 1] * w11;
      } else if (sx >= frameWidth || sx + 1 < 0 || sy >= frameHeight || sy + 1 < 0) {
        sum = 0;
      } else {
        sum = pixel(sx, sy) * w00 + pixel(sx + 1, sy) * w01 + pixel(sx, sy + 1) * w10 + pixel(sx + 1, sy + 1) * w11;
      }
      out[o + u] = (sum + 16384) >> 15;
    }
  }
}
