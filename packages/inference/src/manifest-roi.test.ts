import { demoManifest } from '@talkie/demo-model';
import { ModelManifest } from './manifest';

/** `roi.alignment` of a landmarks ROI (the manifest's `RoiAlignment`). */

const UPSTREAM = {
  method: 'mean_face',
  mean_face: 'mean-face.json',
  reference_size: { width: 256, height: 256 },
  stable_points: [28, 33, 36, 39, 42, 45, 48, 54],
  smoothing_window: 12,
  mouth_points: { start: 48, stop: 68 },
};

const manifest = (alignment: object | undefined, crop = { width: 96, height: 96 }) => ({ ...demoManifest(), roi: { mode: 'landmarks', crop, ...(alignment ? { alignment } : {}) } });

/** the paths of every issue, joined with dots */
const issues = (json: unknown): string[] => {
  const parsed = ModelManifest.safeParse(json);
  return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.'));
};

describe("model.json's roi.alignment", () => {
  it("accepts Auto-AVSR's mean_face alignment as upstream parameterises it, and leaves it out when absent", () => {
    expect(ModelManifest.parse(manifest(UPSTREAM)).roi).toEqual({ mode: 'landmarks', crop: { width: 96, height: 96 }, alignment: UPSTREAM });
    expect(ModelManifest.parse(manifest(undefined)).roi).not.toHaveProperty('alignment');
    expect(issues(manifest({ ...UPSTREAM, mean_face: 'align/20words.json', smoothing_window: 0 }))).toEqual([]);
  });

  it.each<[string, object, string]>([
    ['a mean face outside the package', { mean_face: '../mean-face.json' }, 'roi.alignment.mean_face'],
    ['an absolute mean-face path', { mean_face: '/etc/mean-face.json' }, 'roi.alignment.mean_face'],
    ['a stable point past the 68 landmarks', { stable_points: [28, 33, 68] }, 'roi.alignment.stable_points.2'],
    ['a negative stable point', { stable_points: [-1, 33] }, 'roi.alignment.stable_points.0'],
    ['a fractional stable point', { stable_points: [28.5, 33] }, 'roi.alignment.stable_points.0'],
    ['a single stable point (a similarity needs two)', { stable_points: [33] }, 'roi.alignment.stable_points'],
    ['a stable point twice', { stable_points: [33, 36, 33] }, 'roi.alignment.stable_points'],
    ['mouth points ending before they start', { mouth_points: { start: 60, stop: 48 } }, 'roi.alignment.mouth_points'],
    ['mouth points past the 68 landmarks', { mouth_points: { start: 48, stop: 69 } }, 'roi.alignment.mouth_points.stop'],
    ['a negative smoothing window', { smoothing_window: -2 }, 'roi.alignment.smoothing_window'],
    ['a fractional smoothing window', { smoothing_window: 2.5 }, 'roi.alignment.smoothing_window'],
    ['a reference image smaller than the crop', { reference_size: { width: 90, height: 256 } }, 'roi.crop'],
    ['an unknown method', { method: 'procrustes' }, 'roi.alignment.method'],
  ])('refuses %s', (_, change, path) => {
    expect(issues(manifest({ ...UPSTREAM, ...change }))).toContain(path);
  });

  it('refuses an alignment missing a field (a package says what its model was trained on: no defaults)', () => {
    for (const key of ['mean_face', 'reference_size', 'stable_points', 'smoothing_window', 'mouth_points']) {
      const partial: Record<string, unknown> = { ...UPSTREAM };
      delete partial[key];
      expect(issues(manifest(partial))).toContain(`roi.alignment.${key}`);
    }
  });

  it('refuses an odd crop with a mean_face alignment (upstream cuts centre ± ⌊size/2⌋), and allows it without', () => {
    expect(issues(manifest(UPSTREAM, { width: 97, height: 96 }))).toContain('roi.crop');
    expect(issues(manifest(undefined, { width: 97, height: 96 }))).toEqual([]);
  });
});
