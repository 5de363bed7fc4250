import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadFacePackage } from '../face-package';
import { ensureFaceModels } from './face-models';

describe('ensureFaceModels', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'talkie-face-models-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('builds a valid package once, then leaves an up-to-date one alone', async () => {
    const first = await ensureFaceModels(dir);
    expect(first.built).toBe(true);
    const pkg = await loadFacePackage(dir); // the schema's own validation
    expect(pkg.manifest.name).toBe('face-api-tiny');
    expect(pkg.manifest.landmarks.mouth).toEqual([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67]);
    const before = (await stat(pkg.landmarksPath)).mtimeMs;

    const second = await ensureFaceModels(dir);
    expect(second.built).toBe(false);
    expect(second.manifest).toEqual(first.manifest);
    expect((await stat(pkg.landmarksPath)).mtimeMs).toBe(before);

    // another variant, or a package from another converter version, is rebuilt
    expect((await ensureFaceModels(dir, { landmarks: 'tiny' })).built).toBe(true);
    const json = JSON.parse(await readFile(path.join(dir, 'face.json'), 'utf8'));
    await writeFile(path.join(dir, 'face.json'), JSON.stringify({ ...json, version: '0.0.1' }));
    expect((await ensureFaceModels(dir, { landmarks: 'tiny' })).built).toBe(true);
    expect((await ensureFaceModels(dir, { landmarks: 'tiny' })).built).toBe(false);
  });

  test('the models run batched, with the names and shapes face.json declares', async () => {
    await ensureFaceModels(dir);
    const { manifest, detectorPath, landmarksPath } = await loadFacePackage(dir);
    const det = manifest.detector!;
    const detector = await ort.InferenceSession.create(detectorPath!);
    const grid = await detector.run({ [det.input.name]: new ort.Tensor('float32', new Float32Array(3 * 3 * 416 * 416), [3, 3, 416, 416]) });
    expect(grid[det.output.name].dims).toEqual([3, 25, 13, 13]);

    const lm = manifest.landmarks;
    const landmarks = await ort.InferenceSession.create(landmarksPath);
    // batch item 1 differs from 0 and 2; each item's output must not depend on the others
    const input = new Float32Array(3 * 3 * 112 * 112);
    input.fill(0.3, 3 * 112 * 112, 2 * 3 * 112 * 112);
    const out = (await landmarks.run({ [lm.input.name]: new ort.Tensor('float32', input, [3, 3, 112, 112]) }))[lm.output.name];
    expect(out.dims).toEqual([3, 136]);
    const data = out.data as Float32Array;
    const row = (i: number) => Array.from(data.subarray(i * 136, (i + 1) * 136));
    expect(row(2)).toEqual(row(0));
    expect(row(1)).not.toEqual(row(0));
    const single = (await landmarks.run({ [lm.input.name]: new ort.Tensor('float32', input.slice(3 * 112 * 112, 2 * 3 * 112 * 112), [1, 3, 112, 112]) }))[lm.output.name];
    const one = Array.from(single.data as Float32Array);
    row(1).forEach((v, i) => expect(Math.abs(v - one[i])).toBeLessThan(1e-5));
  });
});
