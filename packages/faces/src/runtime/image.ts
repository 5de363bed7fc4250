import type { FaceModelInput } from '../face-package';
import type { Rect } from '../detect/box';
import type { InputMapping, RgbFrame } from '../detect/image';

export type { Rect } from '../detect/box';
export type { InputMapping, RgbFrame } from '../detect/image';

/**
 * The mapping that fits `rect` into the model's input: `stretch` scales each axis; `pad_square`
 * keeps the aspect ratio, fills the input from its top-left corner and leaves the rest black (as
 * face-api's Tiny YOLO input does); `pad_square_center` centres it instead. This is how
 * `sampleInput` samples; inputs made by `toModelInput` map back through `modelInputMapping`.
 */
export function mappingFor(rect: Rect, spec: Pick<FaceModelInput, 'width' | 'height' | 'resize'>): InputMapping {
  if (spec.resize === 'stretch') return { x: rect.x, y: rect.y, sx: rect.width / spec.width, sy: rect.height / spec.height };
  const s = Math.max(rect.width / spec.width, rect.height / spec.height);
  if (spec.resize === 'pad_square') return { x: rect.x, y: rect.y, sx: s, sy: s };
  return { x: rect.x - (spec.width * s - rect.width) / 2, y: rect.y - (spec.height * s - rect.height) / 2, sx: s, sy: s };
}

/**
 * Writes one image of the model's input into `out` at `offset` (one batch item): bilinear samples
 * of the frame at the mapped positions, black outside `limit` (the rectangle for `pad_square`,
 * the frame always), normalised and laid out as the manifest says. One pass with per-column
 * tables; no allocation per pixel.
 */
export function sampleInput(
  frame: RgbFrame,
  rect: Rect,
  spec: FaceModelInput,
  out: Float32Array,
  offset: number,
): InputMapping {
  const map = mappingFor(rect, spec);
  const { width: W, height: H, channels, layout } = spec;
  const mean = [0, 1, 2].map((c) => spec.normalize.mean[Math.min(c, spec.normalize.mean.length - 1)]);
  const inv = [0, 1, 2].map((c) => 1 / spec.normalize.std[Math.min(c, spec.normalize.std.length - 1)]);
  // the part of the input that shows the rectangle (all of it for `stretch`)
  const padded = spec.resize !== 'stretch';
  const minX = padded ? rect.x : -Infinity;
  const minY = padded ? rect.y : -Infinity;
  const maxX = padded ? rect.x + rect.width : Infinity;
  const maxY = padded ? rect.y + rect.height : Infinity;

  const x0 = new Int32Array(W);
  const wx = new Float32Array(W);
  const validX = new Uint8Array(W);
  for (let u = 0; u < W; u++) {
    const fx = map.x + (u + 0.5) * map.sx;
    validX[u] = fx >= 0 && fx <= frame.width && fx >= minX && fx <= maxX ? 1 : 0;
    const px = Math.min(Math.max(fx - 0.5, 0), frame.width - 1);
    x0[u] = Math.min(Math.floor(px), frame.width - 2 < 0 ? 0 : frame.width - 2);
    wx[u] = frame.width > 1 ? px - x0[u] : 0;
  }
  const data = frame.data;
  const stride = frame.width * 3;
  const plane = W * H;
  const step = frame.width > 1 ? 3 : 0;
  for (let v = 0; v < H; v++) {
    const fy = map.y + (v + 0.5) * map.sy;
    const rowValid = fy >= 0 && fy <= frame.height && fy >= minY && fy <= maxY;
    const py = Math.min(Math.max(fy - 0.5, 0), frame.height - 1);
    const y0 = Math.min(Math.floor(py), Math.max(0, frame.height - 2));
    const wy = frame.height > 1 ? py - y0 : 0;
    const row0 = y0 * stride;
    const row1 = frame.height > 1 ? row0 + stride : row0;
    for (let u = 0; u < W; u++) {
      let r = 0;
      let g = 0;
      let b = 0;
      if (rowValid && validX[u]) {
        const a = row0 + x0[u] * 3;
        const c = row1 + x0[u] * 3;
        const fx = wx[u];
        const w00 = (1 - fx) * (1 - wy);
        const w01 = fx * (1 - wy);
        const w10 = (1 - fx) * wy;
        const w11 = fx * wy;
        r = data[a] * w00 + data[a + step] * w01 + data[c] * w10 + data[c + step] * w11;
        g = data[a + 1] * w00 + data[a + 1 + step] * w01 + data[c + 1] * w10 + data[c + 1 + step] * w11;
        b = data[a + 2] * w00 + data[a + 2 + step] * w01 + data[c + 2] * w10 + data[c + 2 + step] * w11;
      }
      const pixel = v * W + u;
      if (channels === 1) {
        out[offset + pixel] = (0.299 * r + 0.587 * g + 0.114 * b - mean[0]) * inv[0];
      } else if (layout === 'NCHW') {
        out[offset + pixel] = (r - mean[0]) * inv[0];
        out[offset + plane + pixel] = (g - mean[1]) * inv[1];
        out[offset + 2 * plane + pixel] = (b - mean[2]) * inv[2];
      } else {
        const o = offset + pixel * 3;
        out[o] = (r - mean[0]) * inv[0];
        out[o + 1] = (g - mean[1]) * inv[1];
        out[o + 2] = (b - mean[2]) * inv[2];
      }
    }
  }
  return map;
}

/** BT.601 luma of a packed RGB frame, rounded to 8 bits. */
export function rgbToGrey(rgb: Uint8Array, out: Uint8Array = new Uint8Array(rgb.length / 3)): Uint8Array {
  for (let i = 0, j = 0; i < out.length; i++, j += 3) {
    out[i] = (rgb[j] * 19595 + rgb[j + 1] * 38470 + rgb[j + 2] * 7471 + 32768) >> 16;
  }
  return out;
}
