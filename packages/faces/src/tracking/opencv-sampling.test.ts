import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Similarity } from './alignment';
import { rgbToGreyOpenCv, roundHalfEven, warpAffineGrey } from './opencv-sampling';

/** OpenCV 4.6's own output (fixtures/README.md says how it was made) */
const GOLDEN = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'opencv-golden.json'), 'utf8')) as {
  frame: { width: number; height: number };
  warps: Array<{ M: number[][]; out: number[] }>;
  grey: { rgb: number[][]; grey: number[] };
};

/** OpenCV's matrix (pixel centres at whole numbers) as Talkie's similarity: t(q) = M(q − ½) + ½. */
const fromOpenCv = ([[a, m01, m02], [b, m11, m12]]: number[][]): Similarity => ({ a, b, tx: m02 + 0.5 - 0.5 * (a + m01), ty: m12 + 0.5 - 0.5 * (b + m11) });

const frame = () => Uint8Array.from({ length: GOLDEN.frame.width * GOLDEN.frame.height }, (_, i) => (37 * i) % 256);

describe('warpAffineGrey', () => {
  it.each(GOLDEN.warps.map((w, i) => [i, w] as const))("reproduces cv2.warpAffine's pixels exactly, border included (case %i)", (_, { M, out }) => {
    const got = new Uint8Array(20 * 16);
    warpAffineGrey(frame(), GOLDEN.frame.width, GOLDEN.frame.height, fromOpenCv(M), 20, 16, got);
    expect(Array.from(got)).toEqual(out);
  });

  it('cuts from a larger warped image what slicing it would: OpenCV rounds by the place in the whole image', () => {
    const M = GOLDEN.warps[1].M;
    const whole = new Uint8Array(20 * 16);
    warpAffineGrey(frame(), 12, 10, fromOpenCv(M), 20, 16, whole);
    const t = fromOpenCv(M);
    const part = new Uint8Array(7 * 5);
    // the part from (6, 4): the crop's transform is the whole image's moved by the origin
    warpAffineGrey(frame(), 12, 10, { ...t, tx: t.tx - 6, ty: t.ty - 4 }, 7, 5, part, 0, { x: 6, y: 4 });
    for (let v = 0; v < 5; v++) for (let u = 0; u < 7; u++) expect(part[v * 7 + u]).toBe(whole[(v + 4) * 20 + u + 6]);
  });
});

describe('rgbToGreyOpenCv and roundHalfEven', () => {
  it("matches cv2.cvtColor's COLOR_RGB2GRAY", () => {
    expect(Array.from(rgbToGreyOpenCv(Uint8Array.from(GOLDEN.grey.rgb.flat())))).toEqual(GOLDEN.grey.grey);
  });

  it("rounds halves to even, as Python's round does", () => {
    expect([0.5, 1.5, 2.5, -1.5, -2.5, 79.5, 80.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, -2, -2, 80, 80, 2, 3]);
  });
});
