import { toModelInput, type InputSpec, type RgbFrame } from './image';

/** A w×h frame whose pixel (x, y) channel c holds 100·c + 10·y + x + 1 (never 0, unlike padding). */
function frame(w: number, h: number): RgbFrame {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = 100 * c + 10 * y + x + 1;
  return { data, width: w, height: h };
}

const spec = (size: number, resize: InputSpec['resize'], layout: InputSpec['layout'] = 'NCHW'): InputSpec => ({
  width: size,
  height: size,
  layout,
  channels: 3,
  resize,
  normalize: { mean: [0], std: [1] },
});

/** the (x, y) pixel of channel c of a single-item NCHW input */
const at = (out: Float32Array, size: number, c: number, x: number, y: number) => out[c * size * size + y * size + x];

describe('toModelInput', () => {
  test('same size: the pixels, normalised per channel, in NCHW or NHWC', () => {
    const img = frame(4, 4);
    const s = { ...spec(4, 'stretch'), normalize: { mean: [1, 2, 3], std: [2, 4, 8] } };
    const nchw = toModelInput(img, s, new Float32Array(48));
    expect(at(nchw, 4, 0, 3, 2)).toBe((24 - 1) / 2);
    expect(at(nchw, 4, 2, 1, 3)).toBe((232 - 3) / 8);
    const nhwc = toModelInput(img, { ...s, layout: 'NHWC' }, new Float32Array(48));
    expect(nhwc[(2 * 4 + 3) * 3 + 0]).toBe((24 - 1) / 2);
    expect(nhwc[(3 * 4 + 1) * 3 + 2]).toBe((232 - 3) / 8);
  });

  test('downscaling samples at dst · ratio (TensorFlow\'s rule without half-pixel centres)', () => {
    // 4 → 2: output pixel i reads source pixel 2i exactly; a half-pixel rule would blend two
    const out = toModelInput(frame(4, 4), spec(2, 'stretch'), new Float32Array(12));
    expect([at(out, 2, 0, 0, 0), at(out, 2, 0, 1, 0), at(out, 2, 0, 0, 1), at(out, 2, 0, 1, 1)]).toEqual([1, 3, 21, 23]);
  });

  test('upscaling interpolates and repeats the last row and column', () => {
    // 2 → 4: source positions 0, 0.5, 1, 1.5 (clamped to 1)
    const out = toModelInput(frame(2, 2), spec(4, 'stretch'), new Float32Array(48));
    expect([0, 1, 2, 3].map((x) => at(out, 4, 0, x, 0))).toEqual([1, 1.5, 2, 2]);
    expect([0, 1, 2, 3].map((y) => at(out, 4, 0, 0, y))).toEqual([1, 6, 11, 11]);
  });

  test('pad_square pads a wide frame at the bottom with zeros', () => {
    const out = toModelInput(frame(4, 2), spec(4, 'pad_square'), new Float32Array(48));
    expect([0, 1, 2, 3].map((y) => at(out, 4, 1, 2, y))).toEqual([103, 113, 0, 0]);
  });

  test('pad_square_center pads both sides, the odd pixel after (face-api\'s padToSquare)', () => {
    // width 2, height 5: 3 columns of padding, 1 before and 2 after
    const out = toModelInput(frame(2, 5), spec(5, 'pad_square_center'), new Float32Array(75));
    expect([0, 1, 2, 3, 4].map((x) => at(out, 5, 0, x, 4))).toEqual([0, 41, 42, 0, 0]);
  });

  test('a region of the frame, into the second batch item', () => {
    const out = toModelInput(frame(6, 6), spec(2, 'stretch'), new Float32Array(24), 1, { x: 3, y: 1, width: 2, height: 2 });
    expect(Array.from(out.subarray(12, 16))).toEqual([14, 15, 24, 25]);
    expect(Array.from(out.subarray(0, 12)).every((v) => v === 0)).toBe(true);
  });

  test('rejects a region outside the frame and a buffer too small', () => {
    expect(() => toModelInput(frame(4, 4), spec(2, 'stretch'), new Float32Array(12), 0, { x: 3, y: 0, width: 2, height: 2 })).toThrow(/leaves the frame/);
    expect(() => toModelInput(frame(4, 4), spec(2, 'stretch'), new Float32Array(12), 1)).toThrow(/buffer/);
  });
});
