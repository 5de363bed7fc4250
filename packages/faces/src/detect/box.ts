/**
 * An axis-aligned rectangle in pixels of the frame (x, y: top-left corner). Coordinates are
 * continuous: pixel (i, j) covers [i, i+1) × [j, j+1). Landmarks are reported in the same
 * coordinates.
 */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A detected face: its box in pixels of the frame and the detector's confidence (0..1). */
export interface FaceBox extends Rect {
  score: number;
}

/** Intersection over union; 0 when either box is empty. */
export function iou(a: Rect, b: Rect): number {
  const w = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = w * h;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}
