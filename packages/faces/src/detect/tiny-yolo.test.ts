import { decodeTinyYolo, type TinyYoloOptions } from './tiny-yolo';

const ANCHORS: [number, number][] = [
  [1.603231, 2.094468],
  [6.041143, 7.080126],
  [2.882459, 3.518061],
  [4.266906, 5.178857],
  [9.041765, 10.66308],
];
const CELLS = 13;

/** A [batch, 25, 13, 13] grid where every score is hopeless except the cells set. */
function grid(batch: number, set: { b: number; anchor: number; row: number; col: number; t: [number, number, number, number, number] }[]) {
  const plane = CELLS * CELLS;
  const data = new Float32Array(batch * 25 * plane).fill(0);
  for (let b = 0; b < batch; b++) for (let a = 0; a < 5; a++) for (let i = 0; i < plane; i++) data[(b * 25 + a * 5 + 4) * plane + i] = -20;
  for (const { b, anchor, row, col, t } of set) {
    t.forEach((v, k) => (data[(b * 25 + anchor * 5 + k) * plane + row * CELLS + col] = v));
  }
  return { data, dims: [batch, 25, CELLS, CELLS] };
}

const options = (w: number, h: number): TinyYoloOptions => ({ anchors: ANCHORS, scoreThreshold: 0.5, inputSize: 416, imageWidth: w, imageHeight: h });
const logit = (p: number) => Math.log(p / (1 - p));

describe('decodeTinyYolo', () => {
  test('a cell on a square frame: centre in the cell, size from the anchor', () => {
    const g = grid(1, [{ b: 0, anchor: 1, row: 6, col: 4, t: [0, 0, 0, 0, logit(0.9)] }]);
    const [box, ...rest] = decodeTinyYolo(g, options(416, 416));
    expect(rest).toHaveLength(0);
    expect(box.score).toBeCloseTo(0.9, 6);
    // centre of cell (4, 6) of 32 px cells; the anchor is in cells
    expect(box.x + box.width / 2).toBeCloseTo(4.5 * 32, 6);
    expect(box.y + box.height / 2).toBeCloseTo(6.5 * 32, 6);
    expect(box.width).toBeCloseTo(6.041143 * 32, 6);
    expect(box.height).toBeCloseTo(7.080126 * 32, 6);
  });

  test('offsets and log sizes move and scale the box', () => {
    const g = grid(1, [{ b: 0, anchor: 0, row: 0, col: 12, t: [logit(0.25), logit(0.75), Math.log(2), Math.log(0.5), 3] }]);
    const [box] = decodeTinyYolo(g, options(416, 416));
    expect(box.x + box.width / 2).toBeCloseTo(12.25 * 32, 5);
    expect(box.y + box.height / 2).toBeCloseTo(0.75 * 32, 5);
    expect(box.width).toBeCloseTo(2 * 1.603231 * 32, 5);
    expect(box.height).toBeCloseTo(0.5 * 2.094468 * 32, 5);
  });

  test('a wide frame was padded at the bottom: coordinates are frame pixels of the padded square', () => {
    // 360×288 is padded to 360×360, so one cell is 360/13 frame pixels on both axes; face-api's
    // rounding of the resized height (332.8 → 333) moves y by under 0.1 %
    const g = grid(1, [{ b: 0, anchor: 2, row: 5, col: 7, t: [0, 0, 0, 0, 2] }]);
    const [box] = decodeTinyYolo(g, options(360, 288));
    const cell = 360 / 13;
    expect(box.x + box.width / 2).toBeCloseTo(7.5 * cell, 6);
    expect(Math.abs(box.y + box.height / 2 - 5.5 * cell)).toBeLessThan(0.2);
    expect(box.width).toBeCloseTo(2.882459 * cell, 5);
    expect(Math.abs(box.height - 3.518061 * cell)).toBeLessThan(0.2);
  });

  test('stretched input: each axis scales on its own', () => {
    const g = grid(1, [{ b: 0, anchor: 0, row: 6, col: 6, t: [0, 0, 0, 0, 2] }]);
    const [box] = decodeTinyYolo(g, { ...options(640, 320), resize: 'stretch' });
    expect(box.x + box.width / 2).toBeCloseTo(320, 5);
    expect(box.y + box.height / 2).toBeCloseTo(160, 5);
  });

  test('reads its own batch item and keeps only scores above the threshold', () => {
    const g = grid(3, [
      { b: 0, anchor: 0, row: 1, col: 1, t: [0, 0, 0, 0, 5] },
      { b: 1, anchor: 3, row: 2, col: 3, t: [0, 0, 0, 0, 5] },
      { b: 1, anchor: 4, row: 9, col: 9, t: [0, 0, 0, 0, 0] }, // exactly 0.5: not above
      { b: 1, anchor: 4, row: 10, col: 9, t: [0, 0, 0, 0, 0.01] },
    ]);
    const boxes = decodeTinyYolo(g, options(416, 416), 1);
    expect(boxes.map((b) => Math.round(b.y + b.height / 2))).toEqual([2.5 * 32, 10.5 * 32]);
    expect(decodeTinyYolo(g, options(416, 416), 2)).toEqual([]);
  });

  test('rejects a grid that does not fit the anchors or the batch index', () => {
    const g = grid(1, []);
    expect(() => decodeTinyYolo(g, { ...options(416, 416), anchors: ANCHORS.slice(1) })).toThrow(/25 channels/);
    expect(() => decodeTinyYolo(g, options(416, 416), 1)).toThrow(/batch/);
    expect(() => decodeTinyYolo({ data: g.data, dims: [25, 13, 13] }, options(416, 416))).toThrow(/grid/);
    expect(() => decodeTinyYolo({ data: ['x'], dims: [1, 25, 13, 13] }, options(416, 416))).toThrow(/numbers/);
    expect(() => decodeTinyYolo({ data: g.data.subarray(1), dims: [1, 25, 13, 13] }, options(416, 416))).toThrow(/4224 values/);
  });
});
