import type { FaceModelInput } from '../face-package';
import type { Rect } from './box';

/** A packed RGB frame, row-major, 3 bytes a pixel (what ffmpeg's `rgb24` gives). */
export interface RgbFrame {
  data: Uint8Array;
  width: number;
  height: number;
}

/** The part of a manifest's input spec `toModelInput` reads. */
export type InputSpec = Pick<FaceModelInput, 'width' | 'height' | 'layout' | 'channels' | 'normalize' | 'resize'>;

/**
 * How one model input maps back to the frame: input position (u, v) is frame position
 * (x + u·sx, y + v·sy).
 */
export interface InputMapping {
  x: number;
  y: number;
  sx: number;
  sy: number;
}

/**
 * Where `toModelInput` puts a region: the zero-padded canvas (the region at (offX, offY) inside
 * canvasW × canvasH) and the canvas pixels per input pixel on each axis.
 */
function placement(r: Rect, spec: Pick<InputSpec, 'width' | 'height' | 'resize'>) {
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
  return { canvasW, canvasH, offX, offY, ratioX: canvasW / spec.width, ratioY: canvasH / spec.height };
}

/**
 * The mapping of the input `toModelInput` makes from `region`: input pixel u reads canvas pixel
 * u · ratio, and the canvas starts `off` pixels before the region.
 */
export function modelInputMapping(region: Rect, spec: Pick<InputSpec, 'width' | 'height' | 'resize'>): InputMapping {
  const p = placement(region, spec);
  return { x: region.x - p.offX, y: region.y - p.offY, sx: p.ratioX, sy: p.ratioY };
}

/**
 * Fills one batch item of a model input from a region of a frame (the whole frame by default), the
 * way face-api's `NetInput.toBatchTensor` does: zero-pad the region to a square (`pad_square`:
 * right/bottom; `pad_square_center`: face-api's `padToSquare(…, true)`, the extra pixel after),
 * resize with TensorFlow's bilinear rule (`resizeBilinear`, no corner alignment, no half-pixel
 * centres), then normalise. Writes into `out` at `batchIndex` (allocate `batch · channels · width ·
 * height` floats); returns `out`.
 */
export function toModelInput(image: RgbFrame, spec: InputSpec, out: Float32Array, batchIndex = 0, region?: Rect): Float32Array {
  const r = region ?? { x: 0, y: 0, width: image.width, height: image.height };
  if (spec.channels !== 3) throw new Error(`only 3-channel inputs are supported, not ${spec.channels}`);
  if (r.width <= 0 || r.height <= 0) throw new Error('the region is empty');
  if (r.x < 0 || r.y < 0 || r.x + r.width > image.width || r.y + r.height > image.height) throw new Error('the region leaves the frame');

  const { canvasW, canvasH, offX, offY, ratioX, ratioY } = placement(r, spec);
  const { width: W, height: H } = spec;
  const mean = [0, 1, 2].map((c) => spec.normalize.mean[spec.normalize.mean.length === 1 ? 0 : c]);
  const std = [0, 1, 2].map((c) => spec.normalize.std[spec.normalize.std.length === 1 ? 0 : c]);
  const plane = W * H;
  const base = batchIndex * 3 * plane;
  if (out.length < base + 3 * plane) throw new Error(`the input buffer holds ${out.length} floats, batch item ${batchIndex} needs ${base + 3 * plane}`);

  // Each output column's and row's two source pixels (offsets into the frame's data, -1 in the
  // padding) and weight are found once, not per pixel and channel: the detector's 416×416 input
  // then takes about a quarter of the time (it runs every 5th frame, the face checks' crops 5× per
  // new face). Same arithmetic in the same order, so the values are bit for bit the same.
  const stride = image.width * 3;
  const frameCol = (cx: number) => (cx - offX < 0 || cx - offX >= r.width ? -1 : (r.x + cx - offX) * 3);
  const frameRow = (cy: number) => (cy - offY < 0 || cy - offY >= r.height ? -1 : (r.y + cy - offY) * stride);
  const col0 = new Int32Array(W);
  const col1 = new Int32Array(W);
  const dxs = new Float64Array(W);
  for (let ox = 0; ox < W; ox++) {
    const fx = ratioX * ox;
    const x0 = Math.floor(fx);
    col0[ox] = frameCol(x0);
    col1[ox] = frameCol(Math.min(canvasW - 1, Math.ceil(fx)));
    dxs[ox] = fx - x0;
  }
  const data = image.data;
  // NCHW: a channel is a plane away, a pixel one float; NHWC: a channel one float, a pixel three
  const channelStep = spec.layout === 'NCHW' ? plane : 1;
  const pixelStep = spec.layout === 'NCHW' ? 1 : 3;
  for (let oy = 0; oy < H; oy++) {
    const fy = ratioY * oy;
    const y0 = Math.floor(fy);
    const row0 = frameRow(y0);
    const row1 = frameRow(Math.min(canvasH - 1, Math.ceil(fy)));
    const dy = fy - y0;
    for (let ox = 0; ox < W; ox++) {
      const c0 = col0[ox];
      const c1 = col1[ox];
      const dx = dxs[ox];
      const tlAt = row0 < 0 || c0 < 0 ? -1 : row0 + c0;
      const trAt = row0 < 0 || c1 < 0 ? -1 : row0 + c1;
      const blAt = row1 < 0 || c0 < 0 ? -1 : row1 + c0;
      const brAt = row1 < 0 || c1 < 0 ? -1 : row1 + c1;
      const o = base + (oy * W + ox) * pixelStep;
      for (let c = 0; c < 3; c++) {
        const tl = tlAt < 0 ? 0 : data[tlAt + c];
        const tr = trAt < 0 ? 0 : data[trAt + c];
        const bl = blAt < 0 ? 0 : data[blAt + c];
        const br = brAt < 0 ? 0 : data[brAt + c];
        const top = tl + (tr - tl) * dx;
        const bottom = bl + (br - bl) * dx;
        out[o + c * channelStep] = (top + (bottom - top) * dy - mean[c]) / std[c];
      }
    }
  }
  return out;
}
