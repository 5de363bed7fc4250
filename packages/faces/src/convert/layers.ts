import { attr, GraphBuilder } from '@talkie/onnx-graph';
import type { WeightTensor } from './weights';

/**
 * TensorFlow layers as ONNX operators. face-api runs NHWC tensors with TensorFlow's filter layouts
 * and padding rules; the ONNX graphs are NCHW, so filters are transposed here and TensorFlow's
 * `same` padding (the odd pixel goes after, on the bottom/right) is written out as explicit pads
 * for the fixed spatial size each layer sees.
 */

export type Padding = 'same' | 'valid';

/** A tensor in the graph being built: its name and its (batch-free) NCHW shape. */
export interface Node {
  name: string;
  channels: number;
  height: number;
  width: number;
}

/** TensorFlow's output size and [before, after] padding for one spatial axis. */
export function tfPadding(size: number, kernel: number, stride: number, padding: Padding): { out: number; before: number; after: number } {
  if (padding === 'valid') return { out: Math.floor((size - kernel) / stride) + 1, before: 0, after: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/** [kh, kw, in, out] (TensorFlow conv2d) → [out, in, kh, kw] (ONNX Conv). */
export function hwioToOihw(w: WeightTensor): Float32Array {
  const [kh, kw, cin, cout] = w.shape;
  const out = new Float32Array(w.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = w.data[((y * kw + x) * cin + i) * cout + o];
  return out;
}

/** [kh, kw, channels, 1] (TensorFlow depthwise) → [channels, 1, kh, kw] (ONNX Conv with group = channels). */
export function depthwiseToOnnx(w: WeightTensor): Float32Array {
  const [kh, kw, c, multiplier] = w.shape;
  if (multiplier !== 1) throw new Error(`depthwise multiplier ${multiplier} is not supported`);
  const out = new Float32Array(w.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let ch = 0; ch < c; ch++) out[(ch * kh + y) * kw + x] = w.data[(y * kw + x) * c + ch];
  return out;
}

export class NetBuilder {
  constructor(readonly g: GraphBuilder) {}

  /** tf.conv2d(x, filters, stride, padding) + bias */
  conv(x: Node, filters: WeightTensor, bias: WeightTensor | undefined, stride: number, padding: Padding): Node {
    const [kh, kw, cin, cout] = filters.shape;
    if (cin !== x.channels) throw new Error(`conv: ${x.channels} channels in, filters expect ${cin}`);
    const inputs = [x.name, this.g.floatConst(hwioToOihw(filters), [cout, cin, kh, kw])];
    if (bias) inputs.push(this.g.floatConst(bias.data, [cout]));
    return this.convOp(x, inputs, kh, kw, stride, padding, 1, cout);
  }

  /** tf.separableConv2d(x, depthwise, pointwise, stride, padding) + bias: a grouped 3×3 Conv, then a 1×1 Conv */
  separable(x: Node, depthwise: WeightTensor, pointwise: WeightTensor, bias: WeightTensor, stride: number, padding: Padding): Node {
    const [kh, kw, c] = depthwise.shape;
    if (c !== x.channels) throw new Error(`separable conv: ${x.channels} channels in, filters expect ${c}`);
    const dw = this.convOp(x, [x.name, this.g.floatConst(depthwiseToOnnx(depthwise), [c, 1, kh, kw])], kh, kw, stride, padding, c, c);
    return this.conv(dw, pointwise, bias, 1, 'valid');
  }

  private convOp(x: Node, inputs: string[], kh: number, kw: number, stride: number, padding: Padding, group: number, cout: number): Node {
    const py = tfPadding(x.height, kh, stride, padding);
    const px = tfPadding(x.width, kw, stride, padding);
    const name = this.g.op('Conv', inputs, [
      attr.ints('kernel_shape', [kh, kw]),
      attr.ints('strides', [stride, stride]),
      attr.ints('pads', [py.before, px.before, py.after, px.after]),
      attr.int('group', group),
    ]);
    return { name, channels: cout, height: py.out, width: px.out };
  }

  /** tf.pad with zeros on the spatial axes */
  pad(x: Node, amount: number): Node {
    const pads = this.g.intConst([0, 0, amount, amount, 0, 0, amount, amount]);
    return { ...x, name: this.g.op('Pad', [x.name, pads]), height: x.height + 2 * amount, width: x.width + 2 * amount };
  }

  /** tf.maxPool; padded cells never win (ONNX MaxPool pads with -∞, as TensorFlow does) */
  maxPool(x: Node, kernel: number, stride: number, padding: Padding): Node {
    return this.pool('MaxPool', x, kernel, stride, padding);
  }

  /** tf.avgPool; only used with `valid` here, where TensorFlow and ONNX agree on the divisor */
  avgPool(x: Node, kernel: number, stride: number): Node {
    return this.pool('AveragePool', x, kernel, stride, 'valid');
  }

  private pool(op: string, x: Node, kernel: number, stride: number, padding: Padding): Node {
    const py = tfPadding(x.height, kernel, stride, padding);
    const px = tfPadding(x.width, kernel, stride, padding);
    const name = this.g.op(op, [x.name], [
      attr.ints('kernel_shape', [kernel, kernel]),
      attr.ints('strides', [stride, stride]),
      attr.ints('pads', [py.before, px.before, py.after, px.after]),
    ]);
    return { ...x, name, height: py.out, width: px.out };
  }

  relu(x: Node): Node {
    return { ...x, name: this.g.op('Relu', [x.name]) };
  }

  /** face-api's `leaky`: relu(x − 0.1x) + 0.1x, i.e. a leaky ReLU with slope 0.1 */
  leaky(x: Node): Node {
    return { ...x, name: this.g.op('LeakyRelu', [x.name], [attr.float('alpha', 0.10000000149011612)]) };
  }

  add(...xs: Node[]): Node {
    let out = xs[0];
    for (const x of xs.slice(1)) out = { ...out, name: this.g.op('Add', [out.name, x.name]) };
    return out;
  }
}
