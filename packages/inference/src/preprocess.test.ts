import { buildVideoFilter } from '@talkie/media';
import { demoManifest } from '@talkie/demo-model';
import type { ModelManifest } from './manifest';
import { normalizeFrames, roiFilterFor } from './preprocess';

describe('normalizeFrames', () => {
  const expected = (p: number, mean: number, std: number) => (p / 255 - mean) / std;

  it.each([
    { mean: 0.421, std: 0.165 }, // Auto-AVSR
    { mean: 0, std: 1 },
    { mean: 0.5, std: 0.5 },
  ])('maps pixels 0, 255 and 107 to (p/255 - mean)/std for mean $mean, std $std', (normalize) => {
    const pixels = Uint8Array.from([0, 255, 107, 1, 128, 254]);
    const out = normalizeFrames(pixels, normalize);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out).toHaveLength(pixels.length);
    pixels.forEach((p, i) => expect(Math.abs(out[i] - expected(p, normalize.mean, normalize.std))).toBeLessThan(1e-5));
  });

  it('gives the values of the Auto-AVSR normalisation at black, white and pixel 107', () => {
    const out = normalizeFrames(Uint8Array.from([0, 255, 107]), { mean: 0.421, std: 0.165 });
    expect(out[0]).toBeCloseTo(-2.5515152, 5);
    expect(out[1]).toBeCloseTo(3.5090909, 5);
    expect(out[2]).toBeCloseTo(-0.0084373, 5);
  });

  it('gives every pixel value exactly the float32 of its multiply-add, wherever it appears', () => {
    const normalize = { mean: 0.421, std: 0.165 };
    const scale = 1 / (255 * normalize.std);
    const offset = -normalize.mean / normalize.std;
    const pixels = Uint8Array.from({ length: 4 * 256 }, (_, i) => (i * 37) % 256);
    const out = normalizeFrames(pixels, normalize);
    pixels.forEach((p, i) => expect(out[i]).toBe(Math.fround(p * scale + offset)));
  });

  it('writes into a view of a larger tensor without touching the rest', () => {
    const batch = new Float32Array(8).fill(42);
    const view = batch.subarray(2, 5);
    const out = normalizeFrames(Uint8Array.from([0, 255, 51]), { mean: 0, std: 1 }, view);
    expect(out).toBe(view);
    expect(Array.from(batch)).toEqual([42, 42, 0, 1, expect.closeTo(0.2, 6), 42, 42, 42]);
  });
});

describe('roiFilterFor', () => {
  const manifest = (roi: ModelManifest['roi'], width = 88, height = 88): ModelManifest => ({
    ...demoManifest(),
    input: { ...demoManifest().input, width, height },
    roi,
  });

  it('crops the centred input-sized region for a "center" model', () => {
    expect(roiFilterFor(manifest({ mode: 'center' }))).toStrictEqual({ mode: 'center', width: 88, height: 88 });
  });

  it('scales the frame first, then crops the input size, for a "center" model with a scale', () => {
    const roi = roiFilterFor(manifest({ mode: 'center', scale: { width: 96, height: 96 } }));
    expect(roi).toStrictEqual({ mode: 'center', width: 88, height: 88, scale: { width: 96, height: 96 } });
    expect(buildVideoFilter(25, roi)).toBe('fps=25,scale=96:96:flags=area,crop=88:88:(iw-88)/2:(ih-88)/2:exact=1,format=gray');
  });

  it('scales the whole frame to the input size for a "full" model', () => {
    const roi = roiFilterFor(manifest({ mode: 'full' }, 112, 64));
    expect(roi).toStrictEqual({ mode: 'full', width: 112, height: 64 });
    expect(buildVideoFilter(30, roi)).toBe('fps=30,scale=112:64:flags=area,format=gray');
  });

  it('uses the input size of the demo model as is', () => {
    expect(roiFilterFor(demoManifest())).toStrictEqual({ mode: 'center', width: 88, height: 88 });
  });
});
