import { mappingFor, rgbToGrey, sampleInput, type RgbFrame } from './image';

/** A 4×2 RGB frame whose pixel (x, y) has grey level 10·(x + 4y) on every channel. */
const frame: RgbFrame = {
  width: 4,
  height: 2,
  data: Uint8Array.from({ length: 4 * 2 * 3 }, (_, i) => 10 * Math.floor(i / 3)),
};

const grey = { name: 'x', layout: 'NCHW' as const, channels: 1 as const, normalize: { mean: [0], std: [1] } };

describe('sampleInput', () => {
  it('copies pixels exactly when the input has the frame’s size', () => {
    const out = new Float32Array(8);
    sampleInput(frame, { x: 0, y: 0, width: 4, height: 2 }, { ...grey, width: 4, height: 2, resize: 'stretch' }, out, 0);
    expect(Array.from(out)).toEqual([0, 10, 20, 30, 40, 50, 60, 70].map((v) => expect.closeTo(v, 3)));
  });

  it('pads a wide region to a square at the bottom (pad_square), black, and maps back through the scale', () => {
    const out = new Float32Array(16);
    const map = sampleInput(frame, { x: 0, y: 0, width: 4, height: 2 }, { ...grey, width: 4, height: 4, resize: 'pad_square' }, out, 0);
    expect(Array.from(out.subarray(8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(out[1]).toBeCloseTo(10, 3);
    expect(map).toEqual({ x: 0, y: 0, sx: 1, sy: 1 });
    expect(mappingFor({ x: 0, y: 0, width: 4, height: 2 }, { width: 4, height: 4, resize: 'pad_square_center' })).toEqual({ x: 0, y: -1, sx: 1, sy: 1 });
  });

  it('normalises per channel and lays out NHWC', () => {
    const out = new Float32Array(8 * 3);
    sampleInput(frame, { x: 0, y: 0, width: 4, height: 2 }, { name: 'x', width: 4, height: 2, layout: 'NHWC', channels: 3, resize: 'stretch', normalize: { mean: [10, 20, 30], std: [2, 4, 5] } }, out, 0);
    expect(Array.from(out.subarray(3, 6))).toEqual([0, -2.5, -4].map((v) => expect.closeTo(v, 3)));
  });
});

describe('rgbToGrey', () => {
  it('keeps grey pixels and weighs colours as BT.601 luma', () => {
    expect(Array.from(rgbToGrey(Uint8Array.from([77, 77, 77, 255, 0, 0, 0, 255, 0, 0, 0, 255])))).toEqual([77, 76, 150, 29]);
  });
});
