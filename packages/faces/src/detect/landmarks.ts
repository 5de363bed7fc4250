import type { Rect } from './box';
import { tensorNumbers, type GridTensor } from './tiny-yolo';

export interface Point {
  x: number;
  y: number;
}

/**
 * The crop the landmark model reads for a face box, as face-api's `extractFaceTensors` makes it:
 * the box (grown by `padding` × its size on every side; face-api uses 0) clipped to the frame and
 * floored to whole pixels. `undefined` when nothing of it is inside the frame.
 */
export function faceCrop(box: Rect, imageWidth: number, imageHeight: number, padding = 0): Rect | undefined {
  const grown = {
    x: box.x - padding * box.width,
    y: box.y - padding * box.height,
    right: box.x + box.width * (1 + padding),
    bottom: box.y + box.height * (1 + padding),
  };
  const x = Math.max(grown.x, 0);
  const y = Math.max(grown.y, 0);
  const width = Math.floor(Math.min(grown.right - x, imageWidth - x));
  const height = Math.floor(Math.min(grown.bottom - y, imageHeight - y));
  if (!(width > 0 && height > 0)) return undefined;
  return { x: Math.floor(x), y: Math.floor(y), width, height };
}

export interface LandmarkDecodeOptions {
  /** the side of the square model input (the manifest's `landmarks.input.width`) */
  inputSize: number;
  /** how the crop was fitted to the input (the manifest's `landmarks.input.resize`) */
  resize: 'pad_square' | 'pad_square_center' | 'stretch';
  /**
   * where the crop's top-left corner lies in the frame; the crop's own corner by default. face-api
   * itself adds the unclipped, unfloored detection box's corner (up to a pixel off the crop's).
   */
  origin?: Point;
}

/**
 * One batch item of a landmark model's output [B, points·2] (x0, y0, x1, y1, … relative to the
 * square input) as points in pixels of the frame, following face-api's
 * `FaceLandmark68NetBase.postProcess`: undo the centring pad (half the side difference, as face-api
 * assumes), then the scale.
 */
export function decodeLandmarks(output: GridTensor, crop: Rect, options: LandmarkDecodeOptions, batchIndex = 0): Point[] {
  if (output.dims.length !== 2) throw new Error(`expected a [batch, points·2] output, got [${output.dims.join(', ')}]`);
  const [batch, values] = output.dims;
  if (batchIndex < 0 || batchIndex >= batch) throw new Error(`batch index ${batchIndex} is outside the output's batch of ${batch}`);
  const { inputSize, resize } = options;
  const origin = options.origin ?? { x: crop.x, y: crop.y };
  let scaleX: number;
  let scaleY: number;
  let padX = 0;
  let padY = 0;
  if (resize === 'stretch') {
    scaleX = inputSize / crop.width;
    scaleY = inputSize / crop.height;
  } else {
    scaleX = scaleY = inputSize / Math.max(crop.width, crop.height);
    if (resize === 'pad_square_center') {
      const w = crop.width * scaleX;
      const h = crop.height * scaleY;
      if (w < h) padX = (h - w) / 2;
      if (h < w) padY = (w - h) / 2;
    }
  }
  const data = tensorNumbers(output);
  const points: Point[] = [];
  const base = batchIndex * values;
  for (let i = 0; i < values / 2; i++) {
    points.push({
      x: (data[base + 2 * i] * inputSize - padX) / scaleX + origin.x,
      y: (data[base + 2 * i + 1] * inputSize - padY) / scaleY + origin.y,
    });
  }
  return points;
}
