import { GraphBuilder } from '@talkie/onnx-graph';
import { NetBuilder, type Node } from './layers';
import { weight, type WeightMap } from './weights';

/**
 * face-api's TinyFaceDetector (src/tinyFaceDetector, src/tinyYolov2): a Tiny-YOLOv2 variant with
 * depthwise-separable convolutions and one class ("face"). Its forward pass (TinyYolov2Base
 * `runMobilenet` with `isFirstLayerConv2d`):
 *
 *   leaky(conv0 3×3, valid) → maxPool 2/2 same
 *   5 × [pad 1 → separable 3×3 valid + bias → leaky] with maxPool 2/2 same after conv1–conv4 and
 *   maxPool 2/1 same after conv5 → conv8 1×1 (5 anchors × [x, y, w, h, score])
 *
 * for a 416×416 input: 414 → 207 → 104 → 52 → 26 → 13 → 13.
 */

export const TINY_FACE_DETECTOR_MODEL = 'tiny_face_detector_model';
export const DETECTOR_INPUT_SIZE = 416;
/** face-api's BOX_ANCHORS for the tiny face detector, in grid cells */
export const TINY_FACE_DETECTOR_ANCHORS: [number, number][] = [
  [1.603231, 2.094468],
  [6.041143, 7.080126],
  [2.882459, 3.518061],
  [4.266906, 5.178857],
  [9.041765, 10.66308],
];
/** face-api's MEAN_RGB; it then divides by 255 */
export const TINY_FACE_DETECTOR_MEAN_RGB: [number, number, number] = [117.001, 114.697, 97.404];
/** face-api's defaults (TinyYolov2Options' scoreThreshold, the detector's IOU_THRESHOLD) */
export const TINY_FACE_DETECTOR_SCORE_THRESHOLD = 0.5;
export const TINY_FACE_DETECTOR_IOU_THRESHOLD = 0.4;

export const DETECTOR_INPUT_NAME = 'image';
export const DETECTOR_OUTPUT_NAME = 'grid';

const FILTERS = [3, 16, 32, 64, 128, 256, 512];
const BOX_ENCODING = 5; // x, y, w, h, score: one class, so no class scores

/** Builds the ONNX graph: input [batch, 3, size, size] (normalised RGB), output [batch, 25, size/32, size/32]. */
export function buildTinyFaceDetectorGraph(weights: WeightMap, inputSize = DETECTOR_INPUT_SIZE): Uint8Array {
  if (inputSize % 32 !== 0) throw new Error(`the detector's input size must be a multiple of 32, not ${inputSize}`);
  const g = new GraphBuilder('face-api-tiny-face-detector');
  const net = new NetBuilder(g);
  let x: Node = { name: g.input(DETECTOR_INPUT_NAME, ['batch', 3, inputSize, inputSize]), channels: 3, height: inputSize, width: inputSize };

  x = net.leaky(net.conv(x, weight(weights, 'conv0/filters', [3, 3, 3, 16]), weight(weights, 'conv0/bias', [16]), 1, 'valid'));
  x = net.maxPool(x, 2, 2, 'same');
  for (let i = 1; i <= 5; i++) {
    const cin = FILTERS[i];
    const cout = FILTERS[i + 1];
    const prefix = `conv${i}`;
    x = net.pad(x, 1);
    x = net.separable(
      x,
      weight(weights, `${prefix}/depthwise_filter`, [3, 3, cin, 1]),
      weight(weights, `${prefix}/pointwise_filter`, [1, 1, cin, cout]),
      weight(weights, `${prefix}/bias`, [cout]),
      1,
      'valid',
    );
    x = net.leaky(x);
    x = net.maxPool(x, 2, i < 5 ? 2 : 1, 'same');
  }
  const channels = TINY_FACE_DETECTOR_ANCHORS.length * BOX_ENCODING;
  const grid = net.conv(x, weight(weights, 'conv8/filters', [1, 1, 512, channels]), weight(weights, 'conv8/bias', [channels]), 1, 'valid');
  g.op('Identity', [grid.name], [], DETECTOR_OUTPUT_NAME);
  g.output(DETECTOR_OUTPUT_NAME, ['batch', channels, grid.height, grid.width]);
  return g.toBytes();
}
