import { alignToReference, centreCrop, fitSimilarity, REFERENCE_FACE, warpGrey, type Similarity } from './alignment';
import { fillGaps, smoothSeries } from './landmark-series';

const apply = (t: Similarity, [x, y]: [number, number]): [number, number] => [t.a * x - t.b * y + t.tx, t.b * x + t.a * y + t.ty];

describe('fitSimilarity', () => {
  it('recovers a rotation, scale and translation from point pairs', () => {
    const truth = { a: 1.3 * Math.cos(0.4), b: 1.3 * Math.sin(0.4), tx: -20, ty: 35 };
    const from: Array<[number, number]> = [[10, 20], [80, 25], [45, 90], [30, 60]];
    const fit = fitSimilarity(from, from.map((p) => apply(truth, p)));
    expect(fit.a).toBeCloseTo(truth.a, 9);
    expect(fit.b).toBeCloseTo(truth.b, 9);
    expect(fit.tx).toBeCloseTo(truth.tx, 9);
    expect(fit.ty).toBeCloseTo(truth.ty, 9);
  });

  it('refuses points that coincide', () => {
    expect(() => fitSimilarity([[1, 1], [1, 1]], [[0, 0], [5, 5]])).toThrow(/coincide/);
  });
});

/** 68 points, zeros except eye and mouth points placed around the given centres. */
function face(left: [number, number], right: [number, number], mouth: [number, number], mouthHalfWidth: number): Float32Array {
  const p = new Float32Array(136);
  const put = (i: number, [x, y]: [number, number]) => ((p[2 * i] = x), (p[2 * i + 1] = y));
  for (let i = 36; i < 42; i++) put(i, [left[0] + Math.cos(i) * 3, left[1] + Math.sin(i) * 1]);
  for (let i = 42; i < 48; i++) put(i, [right[0] + Math.cos(i) * 3, right[1] + Math.sin(i) * 1]);
  // centre the eye points exactly on the given centres
  for (const [from, centre] of [[36, left], [42, right]] as const) {
    let sx = 0;
    let sy = 0;
    for (let i = from; i < from + 6; i++) ((sx += p[2 * i] / 6), (sy += p[2 * i + 1] / 6));
    for (let i = from; i < from + 6; i++) ((p[2 * i] += centre[0] - sx), (p[2 * i + 1] += centre[1] - sy));
  }
  for (let k = 0; k < 20; k++) {
    const a = (2 * Math.PI * k) / 20;
    put(48 + k, [mouth[0] + mouthHalfWidth * Math.cos(a), mouth[1] + 0.4 * mouthHalfWidth * Math.sin(a)]);
  }
  return p;
}

const MOUTH = Array.from({ length: 20 }, (_, i) => 48 + i);
const ALIGN = { left_eye: [36, 37, 38, 39, 40, 41], right_eye: [42, 43, 44, 45, 46, 47] };

describe('alignToReference', () => {
  it('maps the eyes onto the reference eye line and the mouth centre to the crop centre', () => {
    // a face twice the reference size, tilted by 20°
    const angle = (20 * Math.PI) / 180;
    const rot = ([x, y]: [number, number]): [number, number] => [200 + 2 * (x * Math.cos(angle) - y * Math.sin(angle)), 150 + 2 * (x * Math.sin(angle) + y * Math.cos(angle))];
    const half = REFERENCE_FACE.eyeDistance / 2;
    const points = face(rot([-half, -REFERENCE_FACE.eyeToMouth]), rot([half, -REFERENCE_FACE.eyeToMouth]), rot([0, 0]), 40);
    const t = alignToReference(points, { mouth: MOUTH, align: ALIGN }, { width: 96, height: 96 });
    expect(Math.hypot(t.a, t.b)).toBeCloseTo(0.5, 6); // undoes the ×2
    expect(Math.atan2(t.b, t.a)).toBeCloseTo(-angle, 6); // and the tilt
    const [u, v] = apply(t, rot([0, 0]));
    expect(u).toBeCloseTo(48, 6);
    expect(v).toBeCloseTo(48, 6);
    const [lu, lv] = apply(t, rot([-half, -REFERENCE_FACE.eyeToMouth]));
    expect(lu).toBeCloseTo(48 - half, 5);
    expect(lv).toBeCloseTo(48 - REFERENCE_FACE.eyeToMouth, 5);
  });

  it('without eye points, levels the mouth corners and scales the mouth to the reference width', () => {
    const points = face([0, 0], [0, 0], [120, 80], 30);
    const t = alignToReference(points, { mouth: MOUTH }, { width: 96, height: 96 });
    expect(Math.hypot(t.a, t.b) * 60).toBeCloseTo(REFERENCE_FACE.mouthWidth, 6);
    expect(apply(t, [120, 80])).toEqual([expect.closeTo(48, 6), expect.closeTo(48, 6)]);
  });
});

describe('warpGrey and centreCrop', () => {
  it('copies pixels exactly under a whole-pixel translation, black outside the frame', () => {
    const W = 20;
    const H = 10;
    const grey = Uint8Array.from({ length: W * H }, (_, i) => i % 251);
    const out = new Uint8Array(8 * 8);
    warpGrey(grey, W, H, { a: 1, b: 0, tx: -5, ty: -3 }, 8, 8, out);
    for (let v = 0; v < 8; v++) {
      for (let u = 0; u < 8; u++) {
        const y = v + 3;
        expect(out[v * 8 + u]).toBe(y < H ? grey[y * W + u + 5] : 0);
      }
    }
  });

  it('takes the centred part of each crop', () => {
    const crops = Uint8Array.from({ length: 2 * 4 * 4 }, (_, i) => i);
    expect(Array.from(centreCrop(crops, 2, { width: 4, height: 4 }, { width: 2, height: 2 }))).toEqual([5, 6, 9, 10, 21, 22, 25, 26]);
  });
});

describe('fillGaps and smoothSeries', () => {
  const p = (...v: number[]) => Float32Array.from(v);

  it('interpolates inner gaps, holds the ends, and gives null without any landmarks', () => {
    const filled = fillGaps([null, p(0, 10), null, null, p(6, 16), null])!;
    expect(filled.map((x) => Array.from(x))).toEqual([[0, 10], [0, 10], [2, 12], [4, 14], [6, 16], [6, 16]]);
    expect(fillGaps([null, null])).toBeNull();
  });

  it('reproduces steady motion exactly, even at the ends, and averages out jitter', () => {
    const steady = Array.from({ length: 9 }, (_, i) => p(3 * i, 100 - i));
    expect(smoothSeries(steady, 3).map((x) => Array.from(x))).toEqual(steady.map((x) => Array.from(x)));
    const jitter = Array.from({ length: 9 }, (_, i) => p(i % 2 ? 1 : -1));
    const smoothed = smoothSeries(jitter, 2);
    expect(Math.abs(smoothed[4][0])).toBeLessThanOrEqual(0.2 + 1e-6);
  });
});
