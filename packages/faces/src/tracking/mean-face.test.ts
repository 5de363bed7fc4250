import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ManifestError } from '@talkie/inference';
import { GRID_MEAN_FACE_FIXTURE, syntheticMeanFace } from '../synthetic/mean-face-fixture';
import { loadMeanFace, parseMeanFace } from './mean-face';

describe('mean-face JSON', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-mean-face-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("reads Talkie's fixtures (68 points; extra keys such as a description allowed)", async () => {
    const grid = await loadMeanFace(GRID_MEAN_FACE_FIXTURE);
    expect(grid).toHaveLength(68);
    expect(grid.flat().every(Number.isFinite)).toBe(true);
    expect(parseMeanFace({ points: syntheticMeanFace(), description: 'synthetic' })).toEqual(syntheticMeanFace());
  });

  it.each([
    ['67 points', { points: syntheticMeanFace().slice(1) }, /points: .*68/],
    ['a point of three numbers', { points: [[1, 2, 3], ...syntheticMeanFace().slice(1)] }, /points\.0/],
    ['a NaN', { points: [[NaN, 2], ...syntheticMeanFace().slice(1)] }, /points\.0\.0/],
    ['a string', { points: [['1', 2], ...syntheticMeanFace().slice(1)] }, /points\.0\.0/],
    ['a bare array (upstream .npy contents, not wrapped)', syntheticMeanFace(), /\(root\)|points/],
  ])('refuses %s', (_, json, issue) => {
    expect(() => parseMeanFace(json, 'here')).toThrow(ManifestError);
    expect(() => parseMeanFace(json, 'here')).toThrow(issue);
    expect(() => parseMeanFace(json, 'here')).toThrow(/^here: not a mean face of 68 finite points/);
  });

  it('names the file it cannot read or parse', async () => {
    const missing = path.join(dir, 'none.json');
    await expect(loadMeanFace(missing)).rejects.toThrow(`mean face ${missing}: not readable`);
    const broken = path.join(dir, 'broken.json');
    await writeFile(broken, '{"points": [');
    await expect(loadMeanFace(broken)).rejects.toThrow(/^mean face .*broken\.json: not valid JSON/);
  });
});
