import type { FaceBox } from './box';

/** What `decodeTinyYolo` needs besides the grid: the manifest's detector settings and the frame's size. */
export interface TinyYoloOptions {
  /** anchor sizes in grid cells, as [w, h] (the manifest's `detector.output.anchors`) */
  anchors: readonly (readonly [number, number])[];
  /** cells whose sigmoid score is not above this are dropped (face-api: `score > threshold`) */
  scoreThreshold: number;
  /** the side of the square model input (the manifest's `detector.input.width`) */
  inputSize: number;
  /** the frame the input was made from */
  imageWidth: number;
  imageHeight: number;
  /** how the frame was fitted to the input; `pad_square` (face-api's way) by default */
  resize?: 'pad_square' | 'stretch';
}

/** An output tensor as onnxruntime returns it (an `ort.Tensor` fits); its data must be numbers. */
export interface GridTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}

/** The tensor's values, checked to be numbers (an ort.Tensor may also hold strings or bigints). */
export function tensorNumbers(tensor: GridTensor): ArrayLike<number> {
  const data = tensor.data as ArrayLike<unknown> | null | undefined;
  const size = tensor.dims.reduce((a, b) => a * b, 1);
  if (!data || typeof data.length !== 'number' || (data.length > 0 && typeof data[0] !== 'number')) throw new Error('expected a tensor of numbers');
  if (data.length !== size) throw new Error(`the tensor holds ${data.length} values, its dims [${tensor.dims.join(', ')}] say ${size}`);
  return data as ArrayLike<number>;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/**
 * Decodes one batch item of a Tiny-YOLOv2 grid [B, A·5, H, W] (channel a·5 + k holds x, y, w, h,
 * score of anchor a) into face boxes in pixels of the frame, before non-maximum suppression.
 *
 * Reproduces face-api's `TinyYolov2Base.extractBoxes` and `ObjectDetection`: centres are
 * (cell + sigmoid(t)) / cells, sizes exp(t) · anchor / cells, both relative to the padded square;
 * they are made relative to the frame with face-api's correction factor `inputSize / round(side ·
 * inputSize / max(w, h))` (its rounding included) and scaled by the frame's size.
 */
export function decodeTinyYolo(grid: GridTensor, options: TinyYoloOptions, batchIndex = 0): FaceBox[] {
  const { anchors, scoreThreshold, inputSize, imageWidth, imageHeight } = options;
  if (grid.dims.length !== 4) throw new Error(`expected a [batch, anchors·5, rows, cols] grid, got [${grid.dims.join(', ')}]`);
  const [batch, channels, rows, cols] = grid.dims;
  if (channels !== anchors.length * 5) throw new Error(`the grid has ${channels} channels; ${anchors.length} anchors need ${anchors.length * 5}`);
  if (batchIndex < 0 || batchIndex >= batch) throw new Error(`batch index ${batchIndex} is outside the grid's batch of ${batch}`);

  let correctionX = 1;
  let correctionY = 1;
  if ((options.resize ?? 'pad_square') === 'pad_square') {
    const scale = inputSize / Math.max(imageWidth, imageHeight);
    correctionX = inputSize / Math.round(imageWidth * scale);
    correctionY = inputSize / Math.round(imageHeight * scale);
  }

  const plane = rows * cols;
  const base = batchIndex * channels * plane;
  const data = tensorNumbers(grid);
  const at = (anchor: number, k: number, row: number, col: number) => data[base + (anchor * 5 + k) * plane + row * cols + col];

  const boxes: FaceBox[] = [];
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      for (let a = 0; a < anchors.length; a++) {
        const score = sigmoid(at(a, 4, row, col));
        if (!(score > scoreThreshold)) continue;
        const cx = ((col + sigmoid(at(a, 0, row, col))) / cols) * correctionX;
        const cy = ((row + sigmoid(at(a, 1, row, col))) / rows) * correctionY;
        const w = ((Math.exp(at(a, 2, row, col)) * anchors[a][0]) / cols) * correctionX;
        const h = ((Math.exp(at(a, 3, row, col)) * anchors[a][1]) / rows) * correctionY;
        boxes.push({
          x: (cx - w / 2) * imageWidth,
          y: (cy - h / 2) * imageHeight,
          width: w * imageWidth,
          height: h * imageHeight,
          score,
        });
      }
    }
  }
  return boxes;
}
