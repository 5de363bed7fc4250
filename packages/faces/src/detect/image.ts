import type { FaceModelInput } from '../face-package';
import type { Rect } from './box';

/** An RGB frame, row-major, 3 values a pixel on 0..255 (what ffmpeg's `rgb24` gives). */
export interface RgbImage {
  data: ArrayLike<number>;
  width: number;
  height: number;
}

/** The part of a manifest's input spec `toModelInput` reads. */
export type InputSpec = Pick<FaceModelInput, 'width' | 'height' | 'layout' | 'channels' | 'normalize' | 'resize'>;

/**
 * Fills one batch item of a model input from a region of a frame (the whole frame by default), the
 * way face-api's `NetInput.toBatchTensor` does: zero-pad the region to a square (`pad_square`:
 * right/bottom; `pad_square_center`: face-api's `padToSquare(…, true)`, the extra pixel after),
 * resize with TensorFlow's bilinear rule (`resizeBilinear`, no corner alignment, no half-pixel
 * centres), then normalise. Writes into `out` at `batchIndex` (allocate `batch · channels · width ·
 * height` floats); returns `out`.
 */
export function toModelInput(image: RgbImage, spec: InputSpec, out: Float32Array, batchIndex = 0, region?: Rect): Float32Array {
  const r = region ?? { x: 0, y: 0, width: image.width, height: image.height };
  if (spec.channels !== 3) throw new Error(`only 3-channel inputs are supported, not ${spec.channels}`);
  if (r.width <= 0 || r.height <= 0) throw new Error('the region is empty');
  if (r.x < 0 || r.y < 0 || r.x + r.width > image.width || r.y + r.height > image.height) throw new Error('the region leaves the frame');

  // The padded canvas: the region placed at (offX, offY) inside canvasW × canvasH, zeros elsewhere.
  let canvasW = r.width;
  let canvasH = r.height;
  let offX = 0;
  let offY = 0;
  if (spec.resize !== 'stretch') {
    const side = Math.max(r.width, r.height);
    const diff = side - Math.min(r.width, r.height);
    const before = spec.resize === 'pad_square_center' ? diff - Math.round(diff * 0.5) : 0;
    if (r.width < r.height) offX = before;
    else offY = before;
    canvasW = canvasH = side;
  }
  const pixel = (cx: number, cy: number, c: number): number => {
    const x = cx - offX;
    const y = cy - offY;
    if (x < 0 || y < 0 || x >= r.width || y >= r.height) return 0;
    return image.data[((r.y + y) * image.width + (r.x + x)) * 3 + c];
  };

  const { width: W, height: H } = spec;
  const mean = [0, 1, 2].map((c) => spec.normalize.mean[spec.normalize.mean.length === 1 ? 0 : c]);
  const std = [0, 1, 2].map((c) => spec.normalize.std[spec.normalize.std.length === 1 ? 0 : c]);
  const plane = W * H;
  const base = batchIndex * 3 * plane;
  if (out.length < base + 3 * plane) throw new Error(`the input buffer holds ${out.length} floats, batch item ${batchIndex} needs ${base + 3 * plane}`);
  const ratioY = canvasH / H;
  const ratioX = canvasW / W;
  for (let oy = 0; oy < H; oy++) {
    const fy = ratioY * oy;
    const y0 = Math.floor(fy);
    const y1 = Math.min(canvasH - 1, Math.ceil(fy));
    const dy = fy - y0;
    for (let ox = 0; ox < W; ox++) {
      const fx = ratioX * ox;
      const x0 = Math.floor(fx);
      const x1 = Math.min(canvasW - 1, Math.ceil(fx));
      const dx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const tl = pixel(x0, y0, c);
        const tr = pixel(x1, y0, c);
        const bl = pixel(x0, y1, c);
        const br = pixel(x1, y1, c);
        const top = tl + (tr - tl) * dx;
        const bottom = bl + (br - bl) * dx;
        const v = (top + (bottom - top) * dy - mean[c]) / std[c];
        const index = spec.layout === 'NCHW' ? base + c * plane + oy * W + ox : base + (oy * W + ox) * 3 + c;
        out[index] = v;
      }
    }
  }
  return out;
}
