import { prng } from '@talkie/demo-model';
import { attr, GraphBuilder } from '@talkie/onnx-graph';

/**
 * The inference row's model: the demo model is a few hundred operations per frame, far too light to
 * say anything about inference. This one has the shape of a real visual front-end (Auto-AVSR's ResNet
 * stem: a 5×7×7 3D convolution with 64 channels, then 2D residual stages per frame) and a linear CTC
 * head over 40 tokens, with the same input signature (N, 1, T, 88, 88) → (N, T, 40). Its weights are
 * random: only its compute matters here, about 0.17 GFLOP per frame.
 */
export const BENCH_MODEL = {
  size: 88,
  stem: 64,
  wide: 128,
  vocab: 40,
} as const;

export function buildBenchModel(): Uint8Array {
  const { size, stem, wide, vocab } = BENCH_MODEL;
  const g = new GraphBuilder('talkie-bench-frontend');
  const random = prng(7);
  /** He-uniform weights, so activations keep a sane scale through the layers */
  const weights = (dims: number[]) => {
    const fanIn = dims.slice(1).reduce((a, b) => a * b, 1);
    const bound = Math.sqrt(6 / fanIn);
    const n = dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = (random() * 2 - 1) * bound;
    return g.floatConst(values, dims);
  };
  const bias = (n: number) => g.floatConst(new Float32Array(n), [n]);
  const conv2d = (x: string, cin: number, cout: number, stride = 1) =>
    g.op('Conv', [x, weights([cout, cin, 3, 3]), bias(cout)], [
      attr.ints('kernel_shape', [3, 3]),
      attr.ints('strides', [stride, stride]),
      attr.ints('pads', [1, 1, 1, 1]),
    ]);

  const video = g.input('video', ['batch', 1, 'time', size, size]);
  // 3D stem: (N, 1, T, 88, 88) → (N, 64, T, 44, 44) → max-pool → (N, 64, T, 22, 22)
  const conv3d = g.op('Conv', [video, weights([stem, 1, 5, 7, 7]), bias(stem)], [
    attr.ints('kernel_shape', [5, 7, 7]),
    attr.ints('strides', [1, 2, 2]),
    attr.ints('pads', [2, 3, 3, 2, 3, 3]),
  ]);
  const pooled = g.op('MaxPool', [g.op('Relu', [conv3d])], [
    attr.ints('kernel_shape', [1, 3, 3]),
    attr.ints('strides', [1, 2, 2]),
    attr.ints('pads', [0, 1, 1, 0, 1, 1]),
  ]);
  // frames become the batch of the 2D stages: (N·T, 64, 22, 22)
  const perFrame = g.op('Reshape', [g.op('Transpose', [pooled], [attr.ints('perm', [0, 2, 1, 3, 4])]), g.intConst([-1, stem, size / 4, size / 4])]);
  // a residual block at 22×22, then a strided one to 11×11 with 128 channels
  const a = g.op('Relu', [conv2d(perFrame, stem, stem)]);
  const b = g.op('Relu', [g.op('Add', [conv2d(a, stem, stem), perFrame])]);
  const c = g.op('Relu', [conv2d(b, stem, wide, 2)]);
  const d = g.op('Relu', [conv2d(c, wide, wide)]);
  const features = g.op('GlobalAveragePool', [d]);
  // (N·T, 128, 1, 1) → (N, T, 128), N and T read from the input's shape at run time
  const nt = g.op('Gather', [g.op('Shape', [video]), g.intConst([0, 2])], [attr.int('axis', 0)]);
  const seq = g.op('Reshape', [features, g.op('Concat', [nt, g.intConst([wide])], [attr.int('axis', 0)])]);
  g.op('Add', [g.op('MatMul', [seq, weights([wide, vocab])]), bias(vocab)], [], 'logits');
  g.output('logits', ['batch', 'time', vocab]);
  return g.toBytes();
}

/** Multiply-adds per frame, for the figure in the docs. */
export function benchModelMacsPerFrame(): number {
  const { size, stem, wide, vocab } = BENCH_MODEL;
  const s2 = (size / 2) ** 2;
  const s4 = (size / 4) ** 2;
  const s8 = (size / 8) ** 2;
  return stem * s2 * 5 * 7 * 7 + 2 * stem * s4 * stem * 9 + wide * s8 * stem * 9 + wide * s8 * wide * 9 + wide * vocab;
}
