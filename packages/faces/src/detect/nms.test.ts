import { iou } from './box';
import { nonMaxSuppression } from './nms';

const box = (x: number, y: number, w: number, h: number, score: number, id = '') => ({ x, y, width: w, height: h, score, id });

describe('iou', () => {
  test('identical, disjoint, half-overlapping and empty boxes', () => {
    expect(iou(box(0, 0, 10, 10, 0), box(0, 0, 10, 10, 0))).toBe(1);
    expect(iou(box(0, 0, 10, 10, 0), box(20, 0, 10, 10, 0))).toBe(0);
    expect(iou(box(0, 0, 10, 10, 0), box(5, 0, 10, 10, 0))).toBeCloseTo(50 / 150, 12);
    expect(iou(box(0, 0, 0, 0, 0), box(0, 0, 0, 0, 0))).toBe(0);
  });
});

describe('nonMaxSuppression', () => {
  test('keeps the best of overlapping boxes and every separate one, best first', () => {
    const kept = nonMaxSuppression(
      [box(0, 0, 10, 10, 0.6, 'a'), box(1, 1, 10, 10, 0.9, 'b'), box(100, 100, 10, 10, 0.7, 'c'), box(2, 0, 10, 10, 0.8, 'd')],
      0.4,
    );
    expect(kept.map((b) => b.id)).toEqual(['b', 'c']);
  });

  test('an IoU exactly at the threshold is kept, above it is suppressed', () => {
    // IoU of boxes offset by 5 of 10: 50 / 150 = 1/3
    const pair = [box(0, 0, 10, 10, 0.9, 'a'), box(5, 0, 10, 10, 0.8, 'b')];
    expect(nonMaxSuppression(pair, 1 / 3).map((b) => b.id)).toEqual(['a', 'b']);
    expect(nonMaxSuppression(pair, 0.33).map((b) => b.id)).toEqual(['a']);
  });

  test('equal scores: the later box wins, as in face-api', () => {
    expect(nonMaxSuppression([box(0, 0, 10, 10, 0.8, 'first'), box(1, 0, 10, 10, 0.8, 'second')], 0.4).map((b) => b.id)).toEqual(['second']);
  });

  test('no boxes, no picks', () => {
    expect(nonMaxSuppression([], 0.4)).toEqual([]);
  });
});
