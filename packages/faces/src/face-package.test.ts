import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModelManifest } from '@talkie/inference';
import { demoManifest } from '@talkie/demo-model';
import { FacePackageError, loadFacePackage, parseFaceManifest } from './face-package';
import { syntheticFaceManifest } from './synthetic/ring-face-model';

describe('face.json (talkie.face/v1)', () => {
  it('accepts the synthetic package and fills defaults', () => {
    const { demo, ...rest } = syntheticFaceManifest();
    expect(demo).toBe(true);
    expect(parseFaceManifest(rest).demo).toBe(false);
  });

  it('reports every problem at once: indices past the points, normalisation of the wrong length', () => {
    const bad = syntheticFaceManifest();
    bad.landmarks.mouth = [48, 70];
    bad.landmarks.align = { left_eye: [99], right_eye: [42] };
    bad.landmarks.input.normalize.mean = [0, 0];
    let error: Error | undefined;
    try {
      parseFaceManifest(bad, 'here');
    } catch (err) {
      error = err as Error;
    }
    expect(error).toBeInstanceOf(FacePackageError);
    expect(error!.message).toMatch(/landmarks\.mouth: indices must be below 68/);
    expect(error!.message).toMatch(/landmarks\.align\.left_eye/);
    expect(error!.message).toMatch(/landmarks\.input\.normalize\.mean: needs 1 or 3 values/);
  });

  it('refuses model files outside the package, and says which folder has no face.json', async () => {
    const bad = syntheticFaceManifest();
    bad.landmarks.model_file = '../elsewhere.onnx';
    expect(() => parseFaceManifest(bad)).toThrow(/landmarks\.model_file: must be a path inside the package/);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-face-pkg-'));
    try {
      await expect(loadFacePackage(dir)).rejects.toThrow(`face package ${dir}: no readable face.json`);
      await writeFile(path.join(dir, 'face.json'), '{');
      await expect(loadFacePackage(dir)).rejects.toThrow(/not valid JSON/);
      await writeFile(path.join(dir, 'face.json'), JSON.stringify(syntheticFaceManifest()));
      const pkg = await loadFacePackage(dir);
      expect(pkg.landmarksPath).toBe(path.join(dir, 'landmarks.onnx'));
      expect(pkg.detectorPath).toBe(path.join(dir, 'detector.onnx'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("model.json's landmarks ROI", () => {
  it('defaults the crop to 96×96 and refuses a crop smaller than the input or a face package outside', () => {
    const parsed = ModelManifest.parse({ ...demoManifest(), roi: { mode: 'landmarks' } });
    expect(parsed.roi).toEqual({ mode: 'landmarks', crop: { width: 96, height: 96 } });
    expect(ModelManifest.safeParse({ ...demoManifest(), roi: { mode: 'landmarks', crop: { width: 64, height: 96 } } }).success).toBe(false);
    expect(ModelManifest.safeParse({ ...demoManifest(), roi: { mode: 'landmarks', face_package: '../faces' } }).success).toBe(false);
    expect(ModelManifest.parse({ ...demoManifest(), roi: { mode: 'landmarks', face_package: 'faces' } }).roi).toMatchObject({ face_package: 'faces' });
  });
});
