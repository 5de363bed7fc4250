import { readFileSync } from 'node:fs';
import { demoManifest } from '@talkie/demo-model';
import { ModelManifest } from '@talkie/inference';
import { GRID_MEAN_FACE_FIXTURE } from '../synthetic/mean-face-fixture';
import type { Similarity } from './alignment';
import { upstreamSmoothed } from './auto-avsr-reference.testing';
import { parseMeanFace, type Point } from './mean-face';
import { autoAvsrAlignment, cropOrigin, meanFaceTransforms, smoothAsAutoAvsr } from './mean-face-alignment';

const MEAN_FACE = parseMeanFace(JSON.parse(readFileSync(GRID_MEAN_FACE_FIXTURE, 'utf8')));
const CROP = { width: 96, height: 96 };

const flat = (points: Point[]) => Float32Array.from(points.flat());
const unflat = (p: ArrayLike<number>): Point[] => Array.from({ length: p.length / 2 }, (_, i) => [p[2 * i], p[2 * i + 1]]);
const apply = (t: Similarity, [x, y]: Point): Point => [t.a * x - t.b * y + t.tx, t.b * x + t.a * y + t.ty];

function random(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
}

describe('smoothAsAutoAvsr', () => {
  it("is upstream's smoothing: the same numbers for a jittery moving face, also on a clip shorter than the window", () => {
    const rnd = random(7);
    for (const frames of [30, 5]) {
      const series = Array.from({ length: frames }, (_, k) => MEAN_FACE.map(([x, y]): Point => [x + 3 * k + 4 * rnd(), y - k + 4 * rnd()]));
      const ours = smoothAsAutoAvsr(series.map(flat), 12).map(unflat);
      // the inputs as the tracker has them (single precision)
      const single = series.map((p) => unflat(flat(p)));
      const theirs = single.map((_, i) => upstreamSmoothed(single, i, 12));
      ours.forEach((p, i) => p.forEach(([x, y], j) => expect([x, y]).toEqual([expect.closeTo(theirs[i][j][0], 9), expect.closeTo(theirs[i][j][1], 9)])));
    }
  });

  it('shrinks the window at both ends as min(window // 2, i, n - 1 - i) does', () => {
    // point 0 at k², point 1 at −k²: the centroid stays at 0, so only the window shows
    const series = Array.from({ length: 20 }, (_, k) => Float32Array.from([k * k, 0, -k * k, 0]));
    const first = smoothAsAutoAvsr(series, 12).map((p) => p[0]);
    expect(first[0]).toBe(0); // frame 0 alone
    expect(first[1]).toBeCloseTo((0 + 1 + 4) / 3, 12); // frames 0–2
    expect(first[2]).toBeCloseTo((0 + 1 + 4 + 9 + 16) / 5, 12);
    expect(first[6]).toBeCloseTo(650 / 13, 12); // the full window: frames 0–12
    expect(first[18]).toBeCloseTo((17 ** 2 + 18 ** 2 + 19 ** 2) / 3, 12);
    expect(first[19]).toBe(361);
    // window 0 or 1 (⌊1/2⌋ = 0): no smoothing
    for (const window of [0, 1]) expect(smoothAsAutoAvsr(series, window).map((p) => p[0])).toEqual(series.map((p) => p[0]));
  });

  it("keeps every frame's own centroid: a head moving steadily is not dragged behind", () => {
    const series = Array.from({ length: 15 }, (_, k) => flat(MEAN_FACE.map(([x, y]): Point => [x + 5 * k * k, y])));
    smoothAsAutoAvsr(series, 12).forEach((p, i) => {
      const cx = (q: ArrayLike<number>) => Array.from(q).filter((_, j) => j % 2 === 0).reduce((s, v) => s + v, 0) / 68;
      expect(cx(p)).toBeCloseTo(cx(series[i]), 4);
    });
  });
});

describe('cropOrigin (cut_patch along one axis)', () => {
  it("rounds the crop's corner half to even, as Python does", () => {
    expect(cropOrigin(127.5, 96, 256)).toEqual({ origin: 80, clamped: false }); // round(79.5)
    expect(cropOrigin(128.5, 96, 256)).toEqual({ origin: 80, clamped: false }); // round(80.5)
    expect(cropOrigin(128.6, 96, 256)).toEqual({ origin: 81, clamped: false });
  });

  it('clamps a centre past upstream\'s "too much bias" limit (half the crop + 5 px from the middle) to that limit', () => {
    expect(cropOrigin(128 + 53, 96, 256)).toEqual({ origin: 133, clamped: false });
    expect(cropOrigin(128 + 53.01, 96, 256)).toEqual({ origin: 133, clamped: true });
    expect(cropOrigin(-40, 96, 256)).toEqual({ origin: 27, clamped: true });
    // and keeps a crop nearly the image's size inside it
    expect(cropOrigin(250, 250, 256)).toEqual({ origin: 6, clamped: true });
  });
});

describe('meanFaceTransforms', () => {
  // a face: the mean face in a frame, 1.7 times larger, tilted by 10°, moving; Talkie's pixels (+0.5)
  const angle = (10 * Math.PI) / 180;
  const place = (k: number): Similarity => ({ a: 1.7 * Math.cos(angle), b: 1.7 * Math.sin(angle), tx: 40 + 2 * k, ty: -30 + k });
  const faces = (meanFace: Point[]) => Array.from({ length: 20 }, (_, k) => flat(meanFace.map((p) => apply(place(k), p)).map(([x, y]): Point => [x + 0.5, y + 0.5])));
  const mouthCentre = (points: Point[]): Point => [points.slice(48, 68).reduce((s, p) => s + p[0], 0) / 20, points.slice(48, 68).reduce((s, p) => s + p[1], 0) / 20];

  it("registers each frame onto the mean face and centres the crop on the mouth's pixel, as cut_patch does", () => {
    const { transforms, origins, clamped } = meanFaceTransforms(faces(MEAN_FACE), { spec: autoAvsrAlignment(), meanFace: MEAN_FACE }, CROP);
    expect(clamped).toEqual([]);
    const [mx, my] = mouthCentre(MEAN_FACE);
    transforms.forEach((t, k) => {
      expect(origins[k]).toEqual({ x: Math.round(mx - 48), y: Math.round(my - 48) });
      // every point lands where the mean face has it, moved by the crop's corner
      const registered = unflat(faces(MEAN_FACE)[k]).map((p) => apply(t, p));
      registered.forEach(([u, v], i) => {
        expect(u).toBeCloseTo(MEAN_FACE[i][0] + 0.5 - origins[k].x, 3);
        expect(v).toBeCloseTo(MEAN_FACE[i][1] + 0.5 - origins[k].y, 3);
      });
      const [cu, cv] = mouthCentre(registered);
      // the mouth's pixel is 48 (±½ for the rounding): its centre 48.5 in Talkie's pixels
      expect(Math.abs(cu - 48.5)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(cv - 48.5)).toBeLessThanOrEqual(0.5);
    });
  });

  it('reports the frames whose crop was clamped, and keeps the crop at the limit', () => {
    // a face whose mouth lies 80 px (in the mean face's pixels) lower than the mean face's, registered by eyes and nose
    const lowered = MEAN_FACE.map(([x, y], i): Point => [x, i >= 48 && i < 68 ? y + 80 : y]);
    const spec = { ...autoAvsrAlignment(), stable_points: [28, 33, 36, 39, 42, 45] };
    const { clamped, origins } = meanFaceTransforms(faces(lowered), { spec, meanFace: MEAN_FACE }, CROP);
    expect(clamped).toEqual(Array.from({ length: 20 }, (_, k) => k));
    for (const origin of origins) expect(origin.y).toBe(256 / 2 + 53 - 48);
  });
});

describe("model.json's mean_face alignment", () => {
  it("accepts upstream's parameters", () => {
    const roi = { mode: 'landmarks', crop: CROP, alignment: autoAvsrAlignment() };
    expect(ModelManifest.parse({ ...demoManifest(), roi }).roi).toEqual(roi);
  });
});
