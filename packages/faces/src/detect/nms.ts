import { iou, type Rect } from './box';

/**
 * Greedy non-maximum suppression, as face-api's `ops/nonMaxSuppression` does it: take the best
 * remaining box, drop every other whose IoU with it is above `iouThreshold`, repeat. Returns the
 * kept boxes, best first. Among equal scores the later box wins, as in face-api (a stable
 * ascending sort, popped from the end).
 */
export function nonMaxSuppression<T extends Rect & { score: number }>(boxes: readonly T[], iouThreshold: number): T[] {
  let remaining = boxes
    .map((box, index) => ({ box, index }))
    .sort((a, b) => a.box.score - b.box.score || a.index - b.index)
    .map((c) => c.box);
  const picked: T[] = [];
  while (remaining.length > 0) {
    const best = remaining.pop() as T;
    picked.push(best);
    remaining = remaining.filter((other) => iou(best, other) <= iouThreshold);
  }
  return picked;
}
