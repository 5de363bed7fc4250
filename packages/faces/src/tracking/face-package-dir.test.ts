import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ManifestError } from '@talkie/inference';
import { syntheticMeanFace } from '../synthetic/mean-face-fixture';
import { writeSyntheticFaceModels } from '../synthetic/ring-face-model';
import { loadMouthTracker } from './face-package-dir';
import { autoAvsrAlignment } from './mean-face-alignment';

/** What the worker calls at start for a `landmarks` lip package. */
describe('loadMouthTracker', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-lip-package-'));
    await writeSyntheticFaceModels(path.join(dir, 'faces'));
    await writeFile(path.join(dir, 'align-mean-face.json'), JSON.stringify({ points: syntheticMeanFace() }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const crop = { width: 96, height: 96 };

  it("reads the package's mean face for its alignment", async () => {
    const alignment = autoAvsrAlignment('align-mean-face.json');
    const { tracker, choice } = await loadMouthTracker({ lipPackageDir: dir, roi: { face_package: 'faces', crop, alignment } });
    try {
      expect(choice).toMatchObject({ source: 'lip_package', dir: path.join(dir, 'faces') });
      expect(tracker.options.crop).toEqual(crop);
      expect(tracker.options.alignment).toEqual({ spec: alignment, meanFace: syntheticMeanFace() });
    } finally {
      await tracker.models.release();
    }
  });

  it("keeps Talkie's geometry without an alignment", async () => {
    const { tracker } = await loadMouthTracker({ lipPackageDir: dir, roi: { face_package: 'faces', crop } });
    await tracker.models.release();
    expect(tracker.options.alignment).toBeUndefined();
  });

  it('fails at start, naming the file, when the mean face is missing or malformed', async () => {
    const missing = autoAvsrAlignment('none.json');
    await expect(loadMouthTracker({ lipPackageDir: dir, roi: { face_package: 'faces', crop, alignment: missing } })).rejects.toThrow(
      new ManifestError(`mean face ${path.join(dir, 'none.json')}: not readable`),
    );
    await writeFile(path.join(dir, 'short.json'), JSON.stringify({ points: syntheticMeanFace().slice(0, 5) }));
    await expect(loadMouthTracker({ lipPackageDir: dir, roi: { face_package: 'faces', crop, alignment: autoAvsrAlignment('short.json') } })).rejects.toThrow(
      /short\.json: not a mean face of 68 finite points/,
    );
  });
});
