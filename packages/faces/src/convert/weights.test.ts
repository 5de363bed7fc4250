import { decodeWeightGroup, readWeightMap, weight } from './weights';
import { depthwiseToOnnx, hwioToOihw, tfPadding } from './layers';
import { faceApiWeightsDir } from './face-models';

describe('decodeWeightGroup', () => {
  test('dequantises uint8 as q · scale + min and reads float32 little-endian, in manifest order', () => {
    const floats = new DataView(new ArrayBuffer(8));
    floats.setFloat32(0, 1.5, true);
    floats.setFloat32(4, -2.25, true);
    const bytes = Uint8Array.from([0, 255, 10, ...new Uint8Array(floats.buffer)]);
    const map = decodeWeightGroup(
      {
        paths: ['x.bin'],
        weights: [
          { name: 'q', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
          { name: 'f', shape: [1, 2], dtype: 'float32' },
        ],
      },
      bytes,
      'test',
    );
    expect(Array.from(map.get('q')!.data)).toEqual([-1, 126.5, 4]);
    expect(map.get('f')).toEqual({ shape: [1, 2], data: Float32Array.from([1.5, -2.25]) });
  });

  test('a file too short or too long for its manifest is an error', () => {
    const group = { paths: [], weights: [{ name: 'q', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 1, min: 0 } }] };
    expect(() => decodeWeightGroup(group, new Uint8Array(3), 'test')).toThrow(/end inside q/);
    expect(() => decodeWeightGroup(group, new Uint8Array(5), 'test')).toThrow(/1 bytes left over/);
  });

  test('face-api\'s own files decode whole, with the shapes the graphs expect', async () => {
    const dir = faceApiWeightsDir();
    const detector = await readWeightMap(dir, 'tiny_face_detector_model');
    expect(weight(detector, 'conv8/filters', [1, 1, 512, 25]).data).toHaveLength(512 * 25);
    const full = await readWeightMap(dir, 'face_landmark_68_model');
    expect(weight(full, 'fc/weights', [256, 136]).data.every(Number.isFinite)).toBe(true);
    const tiny = await readWeightMap(dir, 'face_landmark_68_tiny_model');
    expect(() => weight(tiny, 'fc/weights', [256, 136])).toThrow(/\[128, 136\]/);
    expect(() => weight(tiny, 'dense3/conv0/bias', [256])).toThrow(/missing/);
  });
});

describe('TensorFlow layouts and padding in ONNX terms', () => {
  test('same padding puts the odd pixel after; valid has none', () => {
    expect(tfPadding(207, 2, 2, 'same')).toEqual({ out: 104, before: 0, after: 1 });
    expect(tfPadding(13, 2, 1, 'same')).toEqual({ out: 13, before: 0, after: 1 });
    expect(tfPadding(112, 3, 2, 'same')).toEqual({ out: 56, before: 0, after: 1 });
    expect(tfPadding(56, 3, 1, 'same')).toEqual({ out: 56, before: 1, after: 1 });
    expect(tfPadding(416, 3, 1, 'valid')).toEqual({ out: 414, before: 0, after: 0 });
    expect(tfPadding(7, 7, 2, 'valid')).toEqual({ out: 1, before: 0, after: 0 });
  });

  test('filters: [kh, kw, in, out] → [out, in, kh, kw] and depthwise [kh, kw, c, 1] → [c, 1, kh, kw]', () => {
    // element (y, x, i, o) holds 1000y + 100x + 10i + o
    const hwio = { shape: [2, 3, 2, 4], data: new Float32Array(48) };
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) for (let i = 0; i < 2; i++) for (let o = 0; o < 4; o++) hwio.data[((y * 3 + x) * 2 + i) * 4 + o] = 1000 * y + 100 * x + 10 * i + o;
    const oihw = hwioToOihw(hwio);
    expect(oihw[((3 * 2 + 1) * 2 + 1) * 3 + 2]).toBe(1000 + 200 + 10 + 3);
    // element (y, x, c) holds 100y + 10x + c; ONNX puts it at (c·kh + y)·kw + x
    const dw = { shape: [2, 3, 2, 1], data: new Float32Array(12) };
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) for (let c = 0; c < 2; c++) dw.data[(y * 3 + x) * 2 + c] = 100 * y + 10 * x + c;
    const onnx = depthwiseToOnnx(dw);
    expect(onnx[(1 * 2 + 0) * 3 + 2]).toBe(21);
    expect(onnx[(0 * 2 + 1) * 3 + 1]).toBe(110);
  });
});
