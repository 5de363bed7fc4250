import { GraphBuilder } from '@talkie/onnx-graph';
import { NetBuilder, type Node } from './layers';
import { weight, type WeightMap } from './weights';

/**
 * face-api's FaceLandmark68Net and FaceLandmark68TinyNet (src/faceLandmarkNet,
 * src/faceFeatureExtractor, src/faceProcessor): densely connected blocks of depthwise-separable
 * convolutions on a 112×112 face crop, an average pool and a dense layer to 136 values, the 68
 * iBUG points as x0, y0, x1, y1, … relative to the (square-padded) input.
 *
 *   full: denseBlock4 × 4 (32, 64, 128, 256 channels; 112 → 56 → 28 → 14 → 7) → avgPool 7/2 → fc 256×136
 *   tiny: denseBlock3 × 3 (32, 64, 128 channels; 112 → 56 → 28 → 14) → avgPool 14/2 → fc 128×136
 *
 * A dense block (`denseBlock4`): out1 = relu(conv0, stride 2) (a plain 3×3 conv in the first block,
 * separable after), then each further separable conv k reads relu(out1 + … + out_k) and the block
 * returns relu of the sum of all outputs.
 */

export const LANDMARK_INPUT_SIZE = 112;
/** face-api's mean for both landmark nets; it then divides by 255 */
export const FACE_LANDMARK_MEAN_RGB: [number, number, number] = [122.782, 117.001, 104.298];
export const LANDMARKS_INPUT_NAME = 'face';
export const LANDMARKS_OUTPUT_NAME = 'landmarks';
export const LANDMARK_POINTS = 68;

export type LandmarkVariant = 'full' | 'tiny';

export const LANDMARK_MODELS: Record<LandmarkVariant, { file: string; channels: number[]; convsPerBlock: number; poolKernel: number }> = {
  full: { file: 'face_landmark_68_model', channels: [32, 64, 128, 256], convsPerBlock: 4, poolKernel: 7 },
  tiny: { file: 'face_landmark_68_tiny_model', channels: [32, 64, 128], convsPerBlock: 3, poolKernel: 14 },
};

/** Builds the ONNX graph: input [batch, 3, 112, 112] (normalised RGB), output [batch, 136]. */
export function buildFaceLandmark68Graph(weights: WeightMap, variant: LandmarkVariant = 'full'): Uint8Array {
  const spec = LANDMARK_MODELS[variant];
  const g = new GraphBuilder(`face-api-${spec.file.replace(/_/g, '-')}`);
  const net = new NetBuilder(g);
  const size = LANDMARK_INPUT_SIZE;
  let x: Node = { name: g.input(LANDMARKS_INPUT_NAME, ['batch', 3, size, size]), channels: 3, height: size, width: size };

  spec.channels.forEach((cout, block) => {
    const prefix = `dense${block}`;
    const cin = x.channels;
    const separable = (input: Node, k: number, stride: number, channelsIn: number) =>
      net.separable(
        input,
        weight(weights, `${prefix}/conv${k}/depthwise_filter`, [3, 3, channelsIn, 1]),
        weight(weights, `${prefix}/conv${k}/pointwise_filter`, [1, 1, channelsIn, cout]),
        weight(weights, `${prefix}/conv${k}/bias`, [cout]),
        stride,
        'same',
      );
    const first =
      block === 0
        ? net.conv(x, weight(weights, `${prefix}/conv0/filters`, [3, 3, cin, cout]), weight(weights, `${prefix}/conv0/bias`, [cout]), 2, 'same')
        : separable(x, 0, 2, cin);
    const outs = [net.relu(first)];
    for (let k = 1; k < spec.convsPerBlock; k++) {
      const input = k === 1 ? outs[0] : net.relu(net.add(...outs));
      outs.push(separable(input, k, 1, cout));
    }
    x = net.relu(net.add(...outs));
  });

  x = net.avgPool(x, spec.poolKernel, 2);
  if (x.height !== 1 || x.width !== 1) throw new Error(`expected a 1×1 feature map before the dense layer, got ${x.height}×${x.width}`);
  const features = g.op('Flatten', [x.name]);
  const fc = weight(weights, 'fc/weights', [x.channels, LANDMARK_POINTS * 2]);
  const bias = weight(weights, 'fc/bias', [LANDMARK_POINTS * 2]);
  g.op('Gemm', [features, g.floatConst(fc.data, fc.shape), g.floatConst(bias.data, bias.shape)], [], LANDMARKS_OUTPUT_NAME);
  g.output(LANDMARKS_OUTPUT_NAME, ['batch', LANDMARK_POINTS * 2]);
  return g.toBytes();
}
